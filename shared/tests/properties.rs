//! Property tests of the planner: on random queues, in both modes, with the default and with
//! random cost models, every plan is an exact, limit-respecting, settings-safe partition whose
//! estimates agree with the cost model, and neither mode ever does worse than filling each
//! signature's batches in queue order (what the tool cosmosq replaces does); mixed never does
//! worse than strict.

use cosmosq_shared::cost::JobLoad;
use cosmosq_shared::plan::{LearnedCaps, PlannedBatch};
use cosmosq_shared::{
    plan, AspectBucket, Control, ControlSet, CostModel, JobKind, Limits, Plan, PlanJob, PlanMode,
    Profile, Strength,
};
use proptest::prelude::*;

mod baseline;
use baseline::{capacity, chunking_cost, globals, identical};
use std::collections::{BTreeMap, HashMap};

/// The controls random signatures draw from (a small pool, so signatures repeat and overlap).
const POOL: [Control; 4] = [Control::Edge, Control::Depth, Control::Seg, Control::Vis];
/// A small set of weights, so identical jobs (batched passes) occur.
const WEIGHTS: [f64; 3] = [0.25, 0.5, 1.0];

/// One random job before it becomes a `PlanJob`.
#[derive(Debug, Clone)]
struct Spec {
    /// Bits over `POOL`; 0 means "all seven controls".
    signature: u8,
    /// Index into `WEIGHTS` per control of the signature (cycled).
    weights: Vec<usize>,
    /// Bits over `Control::ALL`: a control the job names with weight 0 (never active).
    zero: u8,
    seed: u64,
    num_steps: u32,
    frames: u32,
    square: bool,
    kind: JobKind,
    /// Bits over `Control::ALL`: inputs the job supplies.
    supplied: u8,
    negative: bool,
    canny_high: bool,
    /// 0: left to the program; 1: the program's default named; 2: another value.
    sigma: u8,
    distilled: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        // 1..=15 are subsets of the pool; 0 stands for all seven controls (rarer).
        prop_oneof![9 => 1u8..16, 1 => Just(0u8)],
        prop::collection::vec(0usize..3, 1..4),
        prop_oneof![4 => Just(0u8), 1 => any::<u8>()],
        prop::sample::select(vec![1u64, 2]),
        prop::sample::select(vec![10u32, 35]),
        prop::sample::select(vec![57u32, 121, 242]),
        any::<bool>(),
        prop_oneof![
            18 => Just(JobKind::Inference),
            1 => Just(JobKind::Enhance),
            1 => Just(JobKind::Upscale)
        ],
        prop_oneof![2 => Just(0u8), 1 => any::<u8>()],
        prop::bool::weighted(0.1),
        (prop::bool::weighted(0.1), 0u8..3, prop::bool::weighted(0.1)),
    )
        .prop_map(
            |(
                signature,
                weights,
                zero,
                seed,
                num_steps,
                frames,
                square,
                kind,
                supplied,
                negative,
                (canny_high, sigma, distilled),
            )| Spec {
                signature,
                weights,
                zero,
                seed,
                num_steps,
                frames,
                square,
                kind,
                supplied,
                negative,
                canny_high,
                sigma,
                distilled,
            },
        )
}

fn controls_of(bits: u8, over: &[Control]) -> Vec<Control> {
    over.iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, c)| *c)
        .collect()
}

fn build(specs: &[Spec]) -> Vec<PlanJob> {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let active = if s.signature == 0 {
                Control::ALL.to_vec()
            } else {
                controls_of(s.signature, &POOL)
            };
            let mut job = PlanJob::new(format!("job-{i}"), &[]);
            // Named-but-zero weights first, so an active control overrides them.
            for c in controls_of(s.zero & 0x7f, &Control::ALL) {
                job.config.weights.insert(c, 0.0);
            }
            for (k, c) in active.iter().enumerate() {
                job.config
                    .weights
                    .insert(*c, WEIGHTS[s.weights[k % s.weights.len()]]);
            }
            job.kind = s.kind;
            job.config.seed = s.seed;
            job.config.num_steps = s.num_steps;
            if s.canny_high {
                job.config.canny_threshold = Strength::High;
            }
            job.negative_prompt = s.negative.then(|| "blurry".to_string());
            job.config.sigma_max = [None, Some(70.0), Some(80.0)][s.sigma as usize];
            job.config.distilled = s.distilled;
            job.frames = s.frames;
            job.bucket = if s.square {
                AspectBucket::Square960
            } else {
                AspectBucket::Landscape1280x704
            };
            job.control_inputs = controls_of(s.supplied & 0x7f, &Control::ALL)
                .into_iter()
                .collect();
            job
        })
        .collect()
}

/// A valid cost model; some controls left out of the maps (they cost 0 there).
fn cost_model() -> impl Strategy<Value = CostModel> {
    let map = |hi: f64| {
        prop::collection::vec(prop::option::weighted(0.85, 0.0..hi), 7).prop_map(|v| {
            Control::ALL
                .into_iter()
                .zip(v)
                .filter_map(|(c, x)| x.map(|x| (c, x)))
                .collect::<BTreeMap<_, _>>()
        })
    };
    (
        0.0..300.0,
        map(150.0),
        0.1..10.0,
        map(5.0),
        0.3..=1.0,
        map(60.0),
    )
        .prop_map(|(startup, load, step, control_step, eff, pre)| CostModel {
            startup_seconds: startup,
            control_load_seconds: load,
            step_seconds: step,
            control_step_seconds: control_step,
            batched_pass_efficiency: eff,
            preprocess_seconds: pre,
        })
}

/// Limits: a user maximum, and sometimes sizes learned from out-of-memory failures.
fn limits() -> impl Strategy<Value = Limits> {
    (
        1u32..=10,
        prop_oneof![3 => Just(vec![]), 1 => prop::collection::vec((1usize..=8, 1u32..=4), 1..3)],
        prop::sample::select(Profile::ALL.to_vec()),
    )
        .prop_map(|(max_batch_size, learned, profile)| {
            let mut learned_caps = LearnedCaps::default();
            for (controls, cap) in learned {
                learned_caps.lower(controls, cap);
            }
            Limits {
                max_batch_size,
                learned_caps,
                profile,
            }
        })
}

fn batch_jobs<'a>(
    b: &PlannedBatch,
    by_id: &HashMap<&str, (usize, &'a PlanJob)>,
) -> Vec<(usize, &'a PlanJob)> {
    b.job_ids.iter().map(|id| by_id[id.as_str()]).collect()
}

/// Plans twice (the plans must be equal) and checks every invariant.
fn check(jobs: &[PlanJob], mode: PlanMode, limits: Limits, cost: &CostModel) -> Plan {
    let p = plan(jobs, mode, limits, cost).expect("valid input plans");
    assert_invariants(&p, jobs, mode, limits, cost);
    let again = plan(jobs, mode, limits, cost).unwrap();
    assert_eq!(p, again, "planning is deterministic");
    p
}

fn assert_invariants(p: &Plan, jobs: &[PlanJob], mode: PlanMode, limits: Limits, cost: &CostModel) {
    assert_eq!(p.mode, mode);
    let by_id: HashMap<&str, (usize, &PlanJob)> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.id.as_str(), (i, j)))
        .collect();

    // Partition exactness.
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for b in &p.batches {
        for id in &b.job_ids {
            *seen.entry(id.as_str()).or_default() += 1;
        }
    }
    let inference = jobs.iter().filter(|j| j.kind == JobKind::Inference).count();
    for j in jobs {
        let times = seen.get(j.id.as_str()).copied().unwrap_or(0);
        if j.kind == JobKind::Inference {
            assert_eq!(times, 1, "inference job {} in exactly one batch", j.id);
        } else {
            assert_eq!(times, 0, "{} job {} in no batch", j.kind, j.id);
        }
    }
    assert_eq!(seen.len(), inference, "no unknown ids in batches");
    let excluded: Vec<&str> = p.excluded.iter().map(|e| e.job_id.as_str()).collect();
    let expected: Vec<&str> = jobs
        .iter()
        .filter(|j| j.kind != JobKind::Inference)
        .map(|j| j.id.as_str())
        .collect();
    assert_eq!(
        excluded, expected,
        "exactly the enhance/upscale jobs are excluded"
    );
    assert_eq!(p.metrics.job_count, inference);
    assert_eq!(p.metrics.batch_count, p.batches.len());

    let mut previous_first = None;
    let mut total = 0.0;
    for b in &p.batches {
        let members = batch_jobs(b, &by_id);
        assert!(!members.is_empty(), "no empty batch");

        // Queue order inside the batch, and batches by their earliest job.
        let indices: Vec<usize> = members.iter().map(|(i, _)| *i).collect();
        assert!(
            indices.windows(2).all(|w| w[0] < w[1]),
            "queue order in {b:?}"
        );
        if let Some(prev) = previous_first {
            assert!(prev < indices[0], "batches ordered by earliest job");
        }
        previous_first = Some(indices[0]);

        // Controls: the sorted union (Transfer2.5's multibranch model: all four); strict
        // batches share one signature.
        let profile = limits.profile;
        let union = members
            .iter()
            .fold(ControlSet::EMPTY, |u, (_, j)| u.union(j.signature()));
        let loaded = profile.loads(profile.family(&members[0].1.config), union);
        assert_eq!(b.controls, loaded.to_vec(), "controls are the union");
        assert!(
            b.controls.windows(2).all(|w| w[0] < w[1]),
            "sorted controls"
        );
        if mode == PlanMode::Strict {
            assert!(
                members.iter().all(|(_, j)| j.signature() == union),
                "strict signature"
            );
        }

        // Limits.
        let cap = capacity(&limits, b.controls.len());
        assert!(
            members.len() <= cap,
            "{} jobs over the cap of {cap}",
            members.len()
        );

        // Models and process-global settings never mix.
        let g = globals(members[0].1, profile);
        assert!(
            members.iter().all(|(_, j)| globals(j, profile) == g),
            "settings or models mixed in {b:?}"
        );

        // Batched pass exactly when the jobs are identical.
        let first = members[0].1;
        let uniform = members.len() > 1 && members.iter().all(|(_, j)| identical(first, j));
        let batch_size = if uniform && profile.batched_pass() {
            members.len() as u32
        } else {
            1
        };
        assert_eq!(b.batch_size, batch_size, "batch_size of {b:?}");

        // The estimate is the cost model's, recomputed independently.
        let loads: Vec<JobLoad> = members.iter().map(|(_, j)| j.load(profile)).collect();
        let estimate = cost.estimate(&loads, loaded, batch_size).total_seconds;
        assert!(
            (b.estimated_seconds - estimate).abs() <= 0.002,
            "estimate {} vs recomputed {estimate}",
            b.estimated_seconds
        );
        total += b.estimated_seconds;
    }
    let tolerance = 0.001 * (p.batches.len() as f64 + 1.0);
    assert!(
        (p.metrics.estimated_batched_seconds - total).abs() <= tolerance,
        "metrics {} vs sum of batches {total}",
        p.metrics.estimated_batched_seconds
    );
}

fn plan_both(jobs: &[PlanJob], limits: Limits, cost: &CostModel) {
    let strict = check(jobs, PlanMode::Strict, limits, cost);
    let mixed = check(jobs, PlanMode::Mixed, limits, cost);
    for chunk in 1..=limits.max_batch_size as usize {
        let chunked = chunking_cost(jobs, limits, cost, chunk);
        let tolerance = 0.001 * (strict.batches.len() as f64 + 1.0) + 1e-9 * chunked;
        assert!(
            strict.metrics.estimated_batched_seconds <= chunked + tolerance,
            "strict {} worse than queue-order chunks of {chunk}: {chunked}",
            strict.metrics.estimated_batched_seconds
        );
    }
    assert!(
        mixed.metrics.estimated_batched_seconds <= strict.metrics.estimated_batched_seconds + 0.002,
        "mixed {} worse than strict {}",
        mixed.metrics.estimated_batched_seconds,
        strict.metrics.estimated_batched_seconds
    );
    assert_ne!(
        strict.plan_id, mixed.plan_id,
        "the mode is part of the plan id"
    );
}

proptest! {
    // 256 random queues per test; failures are shrunk and printed, not written to files.
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn plans_are_exact_safe_and_consistent_with_the_default_cost_model(
        specs in prop::collection::vec(spec(), 0..60),
        limits in limits(),
    ) {
        let jobs = build(&specs);
        plan_both(&jobs, limits, &CostModel::default());
    }

    #[test]
    fn plans_are_exact_safe_and_consistent_with_any_cost_model(
        specs in prop::collection::vec(spec(), 0..60),
        limits in limits(),
        cost in cost_model(),
    ) {
        let jobs = build(&specs);
        plan_both(&jobs, limits, &cost);
    }

    #[test]
    fn no_batch_size_limit_makes_a_plan_worse_than_queue_order_chunking(
        specs in prop::collection::vec(spec(), 0..40),
        limits in limits(),
        cost in cost_model(),
    ) {
        let jobs = build(&specs);
        for max_batch_size in 1..=10 {
            plan_both(&jobs, Limits { max_batch_size, ..limits }, &cost);
        }
    }

    #[test]
    fn strict_never_loses_to_queue_order_chunking_of_one_signature(
        weights in prop::collection::vec(prop::bool::weighted(0.5), 2..40),
        profile in prop::sample::select(Profile::ALL.to_vec()),
        cost in cost_model(),
    ) {
        // Where batched passes are found or lost: one signature, two weights in any order.
        let jobs: Vec<PlanJob> = weights
            .iter()
            .enumerate()
            .map(|(i, high)| PlanJob::new(format!("j{i}"), &[(Control::Edge, if *high { 0.75 } else { 0.5 })]))
            .collect();
        for max_batch_size in 1..=10 {
            let limits = Limits { max_batch_size, profile, ..Limits::default() };
            plan_both(&jobs, limits, &cost);
        }
    }
}
