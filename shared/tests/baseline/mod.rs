//! The rules a plan must keep, written from the documentation against the public API only, and
//! the baseline it must beat: the queue-order chunking of the tool cosmosq replaces. Shared by
//! the property tests and the plan-quality bench.

#![allow(dead_code)]

use cosmosq_shared::cost::JobLoad;
use cosmosq_shared::{
    safe_batch_size, ControlSet, CostModel, Family, JobKind, Limits, PlanJob, Profile, Strength,
};

/// Most jobs a batch loading `controls` controls may hold, from the documented rules: the safe
/// size under the user's maximum, and the learned size (entry 7 covers 7+ controls) if any.
/// (Transfer2.5 runs a batch's jobs one at a time, so only the user's maximum applies there.)
pub fn capacity(limits: &Limits, controls: usize) -> usize {
    let safe = if limits.profile == Profile::Transfer25 {
        limits.max_batch_size as usize
    } else {
        safe_batch_size(controls, limits.max_batch_size) as usize
    };
    match limits.learned_caps.0[controls.min(7)] {
        0 => safe,
        learned => safe.min(learned as usize),
    }
}

/// The model and the process-global settings as the program resolves them, compared exactly
/// (f64s by bits).
pub type Globals = (
    Family,
    u32,
    u64,
    u64,
    Option<u64>,
    Strength,
    Strength,
    Option<u32>,
    Option<String>,
);

pub fn globals(j: &PlanJob, profile: Profile) -> Globals {
    let c = profile.resolve(&j.config);
    (
        profile.family(&c),
        c.num_steps,
        c.guidance.to_bits(),
        c.seed,
        c.sigma_max.map(f64::to_bits),
        c.blur_strength,
        c.canny_threshold,
        c.fps,
        j.negative_prompt.clone(),
    )
}

/// Identical in weights (a missing weight is 0), frames and bucket: eligible for one pass.
pub fn identical(a: &PlanJob, b: &PlanJob) -> bool {
    !a.config.weights_differ(&b.config) && a.frames == b.frames && a.bucket == b.bucket
}

/// What filling each (model and settings, signature) group's batches in queue order, `chunk`
/// jobs at a time (at most the batch's capacity), costs: the strict chunking of the tool
/// cosmosq replaces at batch size `chunk`.
pub fn chunking_cost(jobs: &[PlanJob], limits: Limits, cost: &CostModel, chunk: usize) -> f64 {
    let profile = limits.profile;
    let mut groups: Vec<(Globals, ControlSet, Vec<&PlanJob>)> = Vec::new();
    for j in jobs.iter().filter(|j| j.kind == JobKind::Inference) {
        let key = (globals(j, profile), j.signature());
        match groups
            .iter_mut()
            .find(|(g, s, _)| (g, s) == (&key.0, &key.1))
        {
            Some((_, _, members)) => members.push(j),
            None => groups.push((key.0, key.1, vec![j])),
        }
    }
    let mut total = 0.0;
    for (_, signature, members) in groups {
        let loaded = profile.loads(profile.family(&members[0].config), signature);
        let size = capacity(&limits, loaded.len()).min(chunk).max(1);
        for chunk in members.chunks(size) {
            let uniform = chunk.len() > 1 && chunk.iter().all(|j| identical(chunk[0], j));
            let batch_size = if uniform && profile.batched_pass() {
                chunk.len() as u32
            } else {
                1
            };
            let loads: Vec<JobLoad> = chunk.iter().map(|j| j.load(profile)).collect();
            total += cost.estimate(&loads, loaded, batch_size).total_seconds;
        }
    }
    total
}
