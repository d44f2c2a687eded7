//! How close mixed mode comes to the true optimum.
//!
//! An independent exhaustive planner (a DP over subsets, written only against the public API:
//! `PlanJob`'s fields, `safe_batch_size` and `CostModel::estimate`) finds the cheapest grouping
//! of small random queues under random cost models and limits. Mixed mode must come within 1%
//! of it on every instance; strict must never beat it (the DP is a lower bound).
//!
//! Run with `cargo test -p cosmosq-shared --test optimality -- --nocapture` to see the gaps.

mod baseline;
mod rng;
use rng::Rng;

use cosmosq_shared::cost::JobLoad;
use cosmosq_shared::plan::LearnedCaps;
use cosmosq_shared::{
    plan, AspectBucket, Control, ControlSet, CostModel, JobKind, Limits, Plan, PlanJob, PlanMode,
    Profile,
};
use std::collections::{BTreeMap, HashMap};

/// The bound mixed mode must meet on every instance.
const MAX_GAP: f64 = 0.01;

/// The order controls enter an instance's pool: common ones first.
const POOL: [Control; 7] = [
    Control::Edge,
    Control::Depth,
    Control::Vis,
    Control::Seg,
    Control::Keypoint,
    Control::Hdmap,
    Control::Lidar,
];

fn random_cost(rng: &mut Rng) -> CostModel {
    if rng.chance(0.15) {
        return CostModel::default();
    }
    let map = |rng: &mut Rng, hi: f64| -> BTreeMap<Control, f64> {
        Control::ALL
            .into_iter()
            .map(|c| (c, rng.float(0.0, hi)))
            .collect()
    };
    CostModel {
        startup_seconds: rng.float(0.0, 300.0),
        control_load_seconds: map(rng, 150.0),
        step_seconds: rng.float(0.1, 10.0),
        control_step_seconds: map(rng, 5.0),
        batched_pass_efficiency: rng.float(0.3, 1.0),
        preprocess_seconds: map(rng, 60.0),
    }
}

fn random_queue(rng: &mut Rng, jobs: (u64, u64)) -> Vec<PlanJob> {
    let n = rng.int(jobs.0, jobs.1) as usize;
    let pool = &POOL[..rng.int(2, 7) as usize];
    let vary_seed = rng.chance(0.25);
    let vary_steps = rng.chance(0.1);
    let mut jobs: Vec<PlanJob> = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("j{i}");
        // Copies of earlier jobs make identical jobs (batched passes) and shared signatures.
        if i > 0 && rng.chance(0.3) {
            let mut copy = jobs[rng.int(0, i as u64 - 1) as usize].clone();
            copy.id = id;
            if rng.chance(0.3) {
                copy.frames = rng.pick(&[57, 121, 242]);
            }
            jobs.push(copy);
            continue;
        }
        let mut signature = Vec::new();
        while signature.is_empty() {
            signature = pool.iter().copied().filter(|_| rng.chance(0.4)).collect();
        }
        let weights: Vec<(Control, f64)> = signature
            .iter()
            .map(|&c| (c, rng.pick(&[0.5, 1.0])))
            .collect();
        let mut job = PlanJob::new(id, &weights);
        job.frames = rng.pick(&[57, 121, 242]);
        if rng.chance(0.2) {
            job.bucket = AspectBucket::Square960;
        }
        if rng.chance(0.3) {
            job.control_inputs = signature
                .iter()
                .copied()
                .filter(|_| rng.chance(0.5))
                .collect();
        }
        // hdmap and lidar must come with the prompt (the daemon refuses a job without them);
        // some prompts carry them for jobs that do not ask for them.
        for c in pool.iter().copied().filter(|c| !c.can_generate()) {
            if signature.contains(&c) || rng.chance(0.3) {
                job.control_inputs.insert(c);
            }
        }
        if vary_seed {
            job.config.seed = rng.int(1, 2);
        }
        if vary_steps {
            job.config.num_steps = rng.pick(&[10, 35]);
        }
        if rng.chance(0.05) {
            job.kind = rng.pick(&[JobKind::Enhance, JobKind::Upscale]);
        }
        jobs.push(job);
    }
    jobs
}

/// A user maximum of 1–8, and sometimes a size learned from running out of memory.
fn random_limits(rng: &mut Rng) -> Limits {
    let mut learned_caps = LearnedCaps::default();
    if rng.chance(0.15) {
        learned_caps.lower(rng.int(1, 4) as usize, rng.int(1, 3) as u32);
    }
    Limits {
        max_batch_size: rng.int(1, 8) as u32,
        learned_caps,
        profile: rng.pick(&[Profile::Simulated, Profile::Transfer1, Profile::Transfer25]),
    }
}

/// The cost of running `batch` as one batch, or `None` if it may not be one.
fn batch_cost(batch: &[&PlanJob], limits: Limits, cost: &CostModel) -> Option<f64> {
    let first = batch[0];
    if batch.iter().any(|j| {
        j.kind != JobKind::Inference
            || baseline::globals(first, limits.profile) != baseline::globals(j, limits.profile)
    }) {
        return None;
    }
    let profile = limits.profile;
    let union = batch
        .iter()
        .fold(ControlSet::EMPTY, |u, j| u.union(j.signature()));
    let loaded = profile.loads(profile.family(&first.config), union);
    if batch.len() > baseline::capacity(&limits, loaded.len()) {
        return None;
    }
    let batched = profile.batched_pass();
    let batch_size =
        if batched && batch.len() > 1 && batch.iter().all(|j| baseline::identical(first, j)) {
            batch.len() as u32
        } else {
            1
        };
    let loads: Vec<JobLoad> = batch.iter().map(|j| j.load(profile)).collect();
    Some(cost.estimate(&loads, loaded, batch_size).total_seconds)
}

/// The cheapest partition of the inference jobs into feasible batches: its cost and batches.
fn optimum(jobs: &[PlanJob], limits: Limits, cost: &CostModel) -> (f64, Vec<Vec<String>>) {
    let items: Vec<&PlanJob> = jobs
        .iter()
        .filter(|j| j.kind == JobKind::Inference)
        .collect();
    let n = items.len();
    let full = (1usize << n) - 1;
    let single: Vec<f64> = (0..=full)
        .map(|mask| {
            if mask == 0 {
                return f64::INFINITY;
            }
            let batch: Vec<&PlanJob> = (0..n)
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| items[i])
                .collect();
            batch_cost(&batch, limits, cost).unwrap_or(f64::INFINITY)
        })
        .collect();
    // best[mask]: cheapest cover of `mask`; the batch holding its lowest job is chosen first.
    let mut best = vec![f64::INFINITY; full + 1];
    let mut choice = vec![0usize; full + 1];
    best[0] = 0.0;
    for mask in 1..=full {
        let low = mask & mask.wrapping_neg();
        let rest = mask ^ low;
        let mut sub = rest;
        loop {
            let batch = sub | low;
            let c = single[batch] + best[mask ^ batch];
            if c < best[mask] {
                best[mask] = c;
                choice[mask] = batch;
            }
            if sub == 0 {
                break;
            }
            sub = (sub - 1) & rest;
        }
    }
    let mut batches = Vec::new();
    let mut mask = full;
    while mask != 0 {
        let batch = choice[mask];
        batches.push(
            (0..n)
                .filter(|i| batch & (1 << i) != 0)
                .map(|i| items[i].id.clone())
                .collect(),
        );
        mask ^= batch;
    }
    (best[full], batches)
}

/// Inference jobs in the largest settings group (the planner solves groups of up to 8 exactly).
fn largest_group(jobs: &[PlanJob], profile: Profile) -> usize {
    let inference: Vec<&PlanJob> = jobs
        .iter()
        .filter(|j| j.kind == JobKind::Inference)
        .collect();
    inference
        .iter()
        .map(|a| {
            inference
                .iter()
                .filter(|b| baseline::globals(a, profile) == baseline::globals(b, profile))
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// One line per job: what the planner sees of it.
fn describe(jobs: &[PlanJob]) -> String {
    jobs.iter()
        .map(|j| {
            format!(
                "  {} {} weights {:?} frames {} {} supplies [{}] seed {} steps {}",
                j.id,
                j.kind,
                j.config.weights,
                j.frames,
                j.bucket,
                j.control_inputs,
                j.config.seed,
                j.config.num_steps
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A plan's total, recomputed unrounded from its batches (checking each batch is feasible).
fn plan_cost(p: &Plan, jobs: &[PlanJob], limits: Limits, cost: &CostModel) -> f64 {
    let by_id: HashMap<&str, &PlanJob> = jobs.iter().map(|j| (j.id.as_str(), j)).collect();
    p.batches
        .iter()
        .map(|b| {
            let batch: Vec<&PlanJob> = b.job_ids.iter().map(|id| by_id[id.as_str()]).collect();
            batch_cost(&batch, limits, cost).expect("the planner formed an infeasible batch")
        })
        .sum()
}

/// Plans `instances` random queues of `jobs.0..=jobs.1` jobs, compares each with the optimum,
/// prints the gaps and fails if any is above `MAX_GAP`. `COSMOSQ_OPTIMALITY_RUNS=k` (k > 1)
/// checks k times as many instances from another seed: slow, for measuring rather than CI.
fn check_instances(label: &str, instances: usize, jobs: (u64, u64), seed: u64) {
    let runs = std::env::var("COSMOSQ_OPTIMALITY_RUNS")
        .ok()
        .and_then(|k| k.parse::<usize>().ok())
        .filter(|&k| k > 1);
    let (instances, seed) = match runs {
        Some(k) => (
            instances * k,
            seed ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        ),
        None => (instances, seed),
    };
    let mut rng = Rng(seed);
    let mut worst = (0.0f64, 0usize);
    let mut worst_details = String::new();
    let mut gap_sum = 0.0;
    let mut optimal = 0usize;
    let mut strict_beaten = 0usize;
    // Worst gap by inference-job count, to see where the search struggles.
    let mut by_size: BTreeMap<usize, (usize, f64)> = BTreeMap::new();
    for instance in 0..instances {
        let jobs = random_queue(&mut rng, jobs);
        let cost = random_cost(&mut rng);
        let limits = random_limits(&mut rng);
        let (best, best_batches) = optimum(&jobs, limits, &cost);
        let strict = plan(&jobs, PlanMode::Strict, limits, &cost).unwrap();
        let mixed = plan(&jobs, PlanMode::Mixed, limits, &cost).unwrap();
        let strict_cost = plan_cost(&strict, &jobs, limits, &cost);
        let mixed_cost = plan_cost(&mixed, &jobs, limits, &cost);
        let slack = 1e-9 * best.max(1.0);
        assert!(
            best <= mixed_cost + slack,
            "instance {instance}: the DP ({best}) must be a lower bound of mixed ({mixed_cost})"
        );
        assert!(
            best <= strict_cost + slack,
            "instance {instance}: strict ({strict_cost}) below the optimum ({best})"
        );
        assert!(
            mixed_cost <= strict_cost + slack,
            "instance {instance}: mixed ({mixed_cost}) worse than strict ({strict_cost})"
        );
        // Below 1e-9 the difference is float noise in summing the same batches.
        let gap = if best > 0.0 {
            (mixed_cost - best) / best
        } else {
            0.0
        };
        let gap = if gap > 1e-9 { gap } else { 0.0 };
        if gap > worst.0 {
            worst = (gap, instance);
            worst_details = format!(
                "instance {instance}: mixed {mixed_cost} is {:.3}% above the optimum {best}\n\
                 limits {limits:?}\ncost {cost:?}\njobs:\n{}\nmixed: {:?}\noptimum: {best_batches:?}",
                gap * 100.0,
                describe(&jobs),
                mixed.batches.iter().map(|b| &b.job_ids).collect::<Vec<_>>()
            );
        }
        gap_sum += gap;
        optimal += usize::from(gap == 0.0);
        strict_beaten += usize::from(mixed_cost < strict_cost - slack);
        let n = largest_group(&jobs, limits.profile);
        let entry = by_size.entry(n).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(gap);
    }
    for (n, (count, gap)) in &by_size {
        println!(
            "  {label}: largest settings group {n:>2} jobs: {count:>4} instances, worst gap {:.4}%",
            gap * 100.0
        );
    }
    let at = if worst.0 > 0.0 {
        format!(" (instance {})", worst.1)
    } else {
        String::new()
    };
    println!(
        "optimality ({label}): {instances} instances, worst gap {:.4}%{at}, mean {:.7}%, \
         optimal on {optimal}, mixed beats strict on {strict_beaten}",
        worst.0 * 100.0,
        gap_sum / instances as f64 * 100.0
    );
    assert!(worst.0 <= MAX_GAP, "{worst_details}");
}

/// Queues of 2–10 jobs: most settings groups here are solved exactly by the planner, the
/// largest ones (9–10 jobs) by its search.
#[test]
fn mixed_mode_is_within_one_percent_of_the_optimum() {
    check_instances("2-10 jobs", 3000, (2, 10), 0x9e37_79b9_7f4a_7c15);
}

/// Queues of 11–12 jobs: beyond the planner's exact range, so this measures its search alone
/// (the DP here costs up to 3^12 steps, hence fewer instances).
#[test]
fn mixed_mode_search_is_within_one_percent_of_the_optimum() {
    check_instances("11-12 jobs", 1000, (11, 12), 0x0dd_ba11_5eed);
}

/// Instance 9448 of the ×10 search run: the optimum moves one job into another batch and
/// merges two others, each step costing more than it saves alone, over more jobs than the
/// exact re-solving takes. Mixed mode once stopped 4.7% above it.
#[test]
fn a_move_then_merge_chain_is_found() {
    use Control::{Depth, Edge, Hdmap, Keypoint, Lidar, Seg, Vis};
    let per = |v: [f64; 7]| -> BTreeMap<Control, f64> {
        [Depth, Edge, Hdmap, Keypoint, Lidar, Seg, Vis]
            .into_iter()
            .zip(v)
            .collect()
    };
    let cost = CostModel {
        startup_seconds: 208.62964833916047,
        control_load_seconds: per([
            148.75616002453629,
            142.28059314470775,
            29.791516494398056,
            144.46600013728465,
            70.63403372681147,
            102.30038127463826,
            21.418192291096005,
        ]),
        step_seconds: 1.3130187905660184,
        control_step_seconds: per([
            0.14014785089319137,
            4.281043066844337,
            2.4720397778822765,
            2.709871700162716,
            2.7232196671429785,
            1.8933040785158373,
            2.5348843912839243,
        ]),
        batched_pass_efficiency: 0.8301480054708443,
        preprocess_seconds: per([
            16.253407516531528,
            12.602402979386511,
            32.444295758340445,
            43.394566023855006,
            12.218300216002305,
            28.275848356775427,
            46.71235527178007,
        ]),
    };
    let mut learned_caps = LearnedCaps::default();
    learned_caps.lower(4, 2);
    let limits = Limits {
        max_batch_size: 6,
        learned_caps,
        profile: Profile::Transfer1,
    };
    // (weights, frames, square, supplied)
    type Spec<'a> = (&'a [(Control, f64)], u32, bool, &'a [Control]);
    let specs: [Spec; 12] = [
        (&[(Depth, 1.0)], 57, false, &[Depth]),
        (&[(Edge, 1.0)], 121, false, &[]),
        (&[(Depth, 1.0)], 57, false, &[Depth]),
        (&[(Depth, 0.5), (Edge, 1.0)], 242, false, &[]),
        (&[(Depth, 1.0)], 57, false, &[]),
        (&[(Depth, 0.5)], 242, false, &[]),
        (&[(Depth, 1.0)], 242, false, &[]),
        (&[(Edge, 1.0)], 121, true, &[]),
        (&[(Depth, 1.0), (Edge, 0.5)], 121, false, &[]),
        (&[(Depth, 1.0), (Edge, 0.5)], 57, false, &[Depth, Edge]),
        (&[(Depth, 0.5)], 121, false, &[]),
        (&[(Depth, 1.0)], 242, true, &[]),
    ];
    let jobs: Vec<PlanJob> = specs
        .iter()
        .enumerate()
        .map(|(i, (weights, frames, square, supplied))| {
            let mut j = PlanJob::new(format!("j{i}"), weights);
            j.frames = *frames;
            if *square {
                j.bucket = AspectBucket::Square960;
            }
            j.control_inputs = supplied.iter().copied().collect();
            j
        })
        .collect();
    let (best, _) = optimum(&jobs, limits, &cost);
    let mixed = plan(&jobs, PlanMode::Mixed, limits, &cost).unwrap();
    let got = plan_cost(&mixed, &jobs, limits, &cost);
    assert!(
        got <= best + 1e-6,
        "mixed {got} above the optimum {best}: {:?}",
        mixed.batches.iter().map(|b| &b.job_ids).collect::<Vec<_>>()
    );
}
