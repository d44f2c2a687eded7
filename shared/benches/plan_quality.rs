//! Plan quality against the tool cosmosq replaces, measured in one run: on many seeded queues
//! of 2–200 jobs, priced with one cost model, the estimated GPU seconds of the strict and mixed
//! plans divided by those of queue-order chunking (each signature's jobs in fixed chunks of the
//! batch size, as the original tool ran them), per executor profile and batch size. A ratio
//! above 1 would mean the plan lost to that tool.
//!
//! Then what giving a weight-0 control the job's own video (instead of a null input, which
//! Transfer1 generates on the fly) saves on realistic mixed queues: the same plans priced with
//! the preprocessing of every loaded control the job did not supply.
//!
//! `cargo bench -p cosmosq-shared --bench plan_quality`

#[path = "../tests/baseline/mod.rs"]
mod baseline;

#[path = "../tests/rng/mod.rs"]
mod rng;
use rng::Rng;

use cosmosq_shared::cost::JobLoad;
use cosmosq_shared::{
    plan, AspectBucket, ControlSet, CostModel, Limits, PlanJob, PlanMode, Profile,
};

/// 1–3 of the common controls with weights from a few values (so identical jobs occur), two
/// seeds, three video lengths, some portrait videos, some control videos supplied.
fn queue(n: usize, seed: u64) -> Vec<PlanJob> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let weights = rng::common_weights(&mut rng);
            let mut job = PlanJob::new(format!("job-{i}"), &weights);
            job.config.seed = 1 + rng.below(2) as u64;
            job.frames = rng.pick(&[57, 121, 242]);
            if rng.below(5) == 0 {
                job.bucket = AspectBucket::Portrait704x1280;
            }
            if rng.below(4) == 0 {
                job.control_inputs = ControlSet::single(rng.pick(&rng::COMMON));
            }
            job
        })
        .collect()
}

struct Ratios {
    sum: f64,
    worst: f64,
    losses: usize,
    count: usize,
}

impl Ratios {
    fn new() -> Self {
        Ratios {
            sum: 0.0,
            worst: 0.0,
            losses: 0,
            count: 0,
        }
    }

    fn add(&mut self, ratio: f64) {
        self.sum += ratio;
        self.worst = self.worst.max(ratio);
        self.losses += usize::from(ratio > 1.0 + 1e-9);
        self.count += 1;
    }

    fn line(&self) -> String {
        format!(
            "mean {:.4}, worst {:.4}, lost on {}/{}",
            self.sum / self.count as f64,
            self.worst,
            self.losses,
            self.count
        )
    }
}

fn total(p: &cosmosq_shared::Plan) -> f64 {
    p.batches.iter().map(|b| b.estimated_seconds).sum()
}

fn main() {
    let queues: Vec<Vec<PlanJob>> = (0..500u64)
        .map(|s| {
            let mut rng = Rng(0x9e37_79b9 + s);
            queue(2 + rng.below(199), 0x5eed + s)
        })
        .collect();
    let cost = CostModel::default();
    println!(
        "plan / queue-order chunking, {} seeded queues of 2-200 jobs, default cost model:",
        queues.len()
    );
    for profile in [Profile::Transfer1, Profile::Transfer25] {
        for max_batch_size in [2, 4, 8] {
            let limits = Limits {
                max_batch_size,
                profile,
                ..Limits::default()
            };
            let (mut strict, mut mixed, mut best) = (Ratios::new(), Ratios::new(), Ratios::new());
            for jobs in &queues {
                let chunked = baseline::chunking_cost(jobs, limits, &cost, max_batch_size as usize);
                // The luckiest fixed chunk size at or below the batch size.
                let luckiest = (1..=max_batch_size as usize)
                    .map(|k| baseline::chunking_cost(jobs, limits, &cost, k))
                    .fold(f64::INFINITY, f64::min);
                let s = plan(jobs, PlanMode::Strict, limits, &cost).unwrap();
                let m = plan(jobs, PlanMode::Mixed, limits, &cost).unwrap();
                strict.add(total(&s) / chunked);
                mixed.add(total(&m) / chunked);
                best.add(total(&s) / luckiest);
            }
            println!(
                "  {profile} max batch size {max_batch_size}: strict {}; mixed {}; strict / luckiest chunk size {}",
                strict.line(),
                mixed.line(),
                best.line()
            );
        }
    }

    // Zero-weight controls: the same mixed Transfer1 plans, priced as if every loaded control a
    // job did not supply were generated for it (a null input_control).
    let limits = Limits {
        profile: Profile::Transfer1,
        ..Limits::default()
    };
    let (mut planned, mut generated, mut mixed_batches) = (0.0, 0.0, 0);
    for jobs in &queues {
        let p = plan(jobs, PlanMode::Mixed, limits, &cost).unwrap();
        planned += total(&p);
        for b in &p.batches {
            let loaded: ControlSet = b.controls.iter().copied().collect();
            let members: Vec<&PlanJob> = b
                .job_ids
                .iter()
                .map(|id| jobs.iter().find(|j| &j.id == id).unwrap())
                .collect();
            mixed_batches += usize::from(members.iter().any(|j| j.signature() != loaded));
            let loads: Vec<JobLoad> = members.iter().map(|j| j.load(limits.profile)).collect();
            let extra: f64 = loads
                .iter()
                .map(|l| {
                    loaded
                        .difference(l.signature)
                        .difference(l.supplied)
                        .iter()
                        .map(|c| cost.preprocess(c))
                        .sum::<f64>()
                })
                .sum();
            generated += b.estimated_seconds + extra;
        }
    }
    println!(
        "zero-weight controls, mixed Transfer1 plans of the same queues ({mixed_batches} mixed batches):"
    );
    println!(
        "  planned {planned:.0} s; with their control videos generated {generated:.0} s; saved {:.0} s ({:.2}%, {:.1} s per mixed batch)",
        generated - planned,
        (generated - planned) / generated * 100.0,
        (generated - planned) / mixed_batches.max(1) as f64
    );
}
