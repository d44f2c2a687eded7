//! Planner speed: 100 / 1,000 / 10,000 / 100,000 realistic jobs in both modes, plus an adversarial
//! 10,000-job queue (every one of the 127 signatures over 7 controls, one settings group) and a
//! fragmented one (10,000 jobs in groups of 12, each solved on the small-group path).
//!
//! `cargo bench -p cosmosq-shared --bench planner` prints, before the timings, each queue's
//! estimated total under strict and mixed planning (the plan quality the timings buy).

#[path = "../tests/rng/mod.rs"]
mod rng;
use rng::Rng;

use cosmosq_shared::{plan, AspectBucket, Control, CostModel, JobKind, Limits, PlanJob, PlanMode};
use criterion::{black_box, criterion_group, BenchmarkId, Criterion, SamplingMode};
use std::time::Duration;

const FRAMES: [u32; 3] = [57, 121, 242];
const WEIGHTS: [f64; 3] = [0.5, 0.75, 1.0];

/// A queue as users build it: 1–3 of the four common controls, a few weight values, 2–4
/// settings groups (seed × steps), three video lengths, ~5% enhance/upscale jobs.
fn realistic(n: usize, seed: u64) -> Vec<PlanJob> {
    let mut rng = Rng(seed);
    let groups = 2 + rng.below(3);
    let settings: Vec<(u64, u32)> = (0..groups)
        .map(|g| (1 + g as u64 % 2, if g < 2 { 35 } else { 20 }))
        .collect();
    (0..n)
        .map(|i| {
            let weights = rng::common_weights(&mut rng);
            let mut job = PlanJob::new(format!("job-{i}"), &weights);
            let (seed, steps) = settings[rng.below(groups)];
            job.config.seed = seed;
            job.config.num_steps = steps;
            job.frames = rng.pick(&FRAMES);
            if rng.below(5) == 0 {
                job.bucket = AspectBucket::Portrait704x1280;
            }
            if rng.below(20) == 0 {
                job.kind = rng.pick(&[JobKind::Enhance, JobKind::Upscale]);
            }
            job
        })
        .collect()
}

/// Every non-empty subset of the 7 controls in one settings group: the most signatures (and
/// the most mixing candidates) a queue can have.
fn adversarial(n: usize, seed: u64) -> Vec<PlanJob> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let bits = 1 + rng.below(127);
            let weights: Vec<(Control, f64)> = Control::ALL
                .into_iter()
                .enumerate()
                .filter(|(k, _)| bits & (1 << k) != 0)
                .map(|(_, c)| (c, rng.pick(&WEIGHTS)))
                .collect();
            let mut job = PlanJob::new(format!("job-{i}"), &weights);
            job.frames = rng.pick(&FRAMES);
            job
        })
        .collect()
}

/// The realistic mix split into ~830 settings groups of 12 (a seed each): the small-group path
/// (local search, exact re-solving of a few batches, kicks) runs until its budget is spent.
fn fragmented(n: usize, seed: u64) -> Vec<PlanJob> {
    let mut jobs = realistic(n, seed);
    for (i, job) in jobs.iter_mut().enumerate() {
        job.config.seed = (i / 12) as u64;
        job.config.num_steps = 35;
    }
    jobs
}

fn queues() -> Vec<(String, Vec<PlanJob>)> {
    let mut out: Vec<(String, Vec<PlanJob>)> = [100, 1_000, 10_000, 100_000]
        .into_iter()
        .map(|n| (format!("realistic/{n}"), realistic(n, 0x5eed + n as u64)))
        .collect();
    out.push(("adversarial/10000".to_string(), adversarial(10_000, 0xad5e)));
    out.push(("fragmented/10000".to_string(), fragmented(10_000, 0xf4a9)));
    out
}

fn quality() {
    let cost = CostModel::default();
    println!("plan quality (default cost model, max batch size 8):");
    for (name, jobs) in queues() {
        let total = |mode| {
            let p = plan(&jobs, mode, Limits::default(), &cost).unwrap();
            (p.metrics.estimated_batched_seconds, p.metrics.batch_count)
        };
        let (strict, strict_batches) = total(PlanMode::Strict);
        let (mixed, mixed_batches) = total(PlanMode::Mixed);
        println!(
            "  {name}: strict {strict:.0} s in {strict_batches} batches, mixed {mixed:.0} s in \
             {mixed_batches} batches ({:.2}% less)",
            (1.0 - mixed / strict) * 100.0
        );
    }
}

fn bench(c: &mut Criterion) {
    let cost = CostModel::default();
    let mut group = c.benchmark_group("plan");
    // Iterations take milliseconds: equal-sized samples fit the short measurement time.
    group.sampling_mode(SamplingMode::Flat);
    for (name, jobs) in queues() {
        for mode in [PlanMode::Strict, PlanMode::Mixed] {
            group.bench_with_input(BenchmarkId::new(mode.as_str(), &name), &jobs, |b, jobs| {
                b.iter(|| plan(black_box(jobs), mode, Limits::default(), &cost).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs: the whole bench finishes in a couple of minutes on 2 cores.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}

fn main() {
    quality();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
