//! `plan_id`: a digest of everything a plan depends on, identical natively and in wasm.

use super::{Limits, PlanJob, PlanMode};
use crate::control::Control;
use crate::cost::CostModel;
use sha2::{Digest, Sha256};

/// Bump when the planner's output for the same input changes, so old ids go stale.
const PLANNER_VERSION: u32 = 4;

struct Canonical(Sha256);

impl Canonical {
    fn u64(&mut self, x: u64) {
        self.0.update(x.to_le_bytes());
    }
    fn f64(&mut self, x: f64) {
        // -0.0 and 0.0 plan the same.
        self.u64(if x == 0.0 { 0 } else { x.to_bits() });
    }
    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.update(s.as_bytes());
    }
}

/// `pl_` + 32 hex digits of SHA-256 over the jobs (ids, order, kinds, settings, video facts,
/// supplied inputs), the mode, the limits and the cost model.
pub(super) fn plan_id(
    jobs: &[PlanJob],
    mode: PlanMode,
    limits: Limits,
    cost: &CostModel,
) -> String {
    let mut h = Canonical(Sha256::new());
    h.u64(PLANNER_VERSION as u64);
    h.str(mode.as_str());
    h.u64(limits.max_batch_size as u64);
    for cap in limits.learned_caps.0 {
        h.u64(cap as u64);
    }
    h.str(limits.profile.as_str());
    h.f64(cost.startup_seconds);
    h.f64(cost.step_seconds);
    h.f64(cost.batched_pass_efficiency);
    for c in Control::ALL {
        h.f64(cost.control_load(c));
        h.f64(cost.control_step(c));
        h.f64(cost.preprocess(c));
    }
    h.u64(jobs.len() as u64);
    for j in jobs {
        let c = &j.config;
        h.str(&j.id);
        h.str(j.kind.as_str());
        for k in Control::ALL {
            h.f64(c.weight(k));
        }
        h.u64(c.num_steps as u64);
        h.f64(c.guidance);
        h.u64(c.seed);
        h.f64(c.sigma_max.unwrap_or(-1.0));
        h.str(c.blur_strength.as_str());
        h.str(c.canny_threshold.as_str());
        h.u64(c.fps.map_or(u64::MAX, u64::from));
        h.u64(c.distilled as u64);
        match &j.negative_prompt {
            None => h.u64(0),
            Some(n) => {
                h.u64(1);
                h.str(n);
            }
        }
        h.u64(j.frames as u64);
        h.str(j.bucket.as_str());
        h.u64(j.control_inputs.bits() as u64);
    }
    let digest = h.0.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("pl_{hex}")
}
