//! The cost model: how many GPU seconds a batch takes, from a handful of per-profile parameters.
//!
//! Estimated seconds of a batch that loads the controls `U`:
//!
//! ```text
//! startup + Σ_{c∈U} load[c]
//!   + Σ_jobs chunks · num_steps · (step + Σ_{c∈B(job)} control_step[c]) · (eff if batch_size > 1 else 1)
//!   + Σ_jobs Σ_{c asked for by the job, input not supplied} preprocess[c]
//! ```
//!
//! where `B(job)` is every loaded branch on Transfer1 (a branch of weight 0 still computes) and
//! the job's own controls on Transfer2.5 (a branch without a control input is skipped). A
//! control the job did not ask for is never preprocessed: Transfer1 would generate it on the
//! fly, weight 0 included, so the daemon gives it the job's own video as input instead (any
//! valid video: a weight-0 branch's output is multiplied by 0), and Transfer2.5 never sees it.
//! `chunks` counts the program's chunk length (121 frames, 93 on Transfer2.5) and `num_steps`
//! is 1 on the distilled model.
//!
//! The defaults are leads for Cosmos-Transfer1-7B on one 80 GB GPU, taken from the public
//! figures in the interface notes (multi-minute model builds, a 7B build per control branch,
//! 3-block control branches). They are not measurements: the daemon refits them from measured
//! batch durations.

use crate::control::{Control, ControlSet};
use crate::error::{ErrorCode, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Parameters of the cost model, all in seconds except the efficiency factor.
/// A control missing from one of the maps costs 0 there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct CostModel {
    /// Process start plus building the base model, text encoder and safety models (once a batch).
    pub startup_seconds: f64,
    /// Building one control branch (once a batch, for each loaded control).
    pub control_load_seconds: BTreeMap<Control, f64>,
    /// Base model, one job, one 121-frame chunk, one step (both guidance passes).
    pub step_seconds: f64,
    /// Added per loaded control branch, per job, chunk and step.
    pub control_step_seconds: BTreeMap<Control, f64>,
    /// Multiplier on per-job compute when jobs share one batched forward pass (0 < e <= 1).
    pub batched_pass_efficiency: f64,
    /// Per job, for each loaded control whose input video the job did not supply (generated on
    /// the fly: Canny, blur, Depth-Anything, GroundingDINO + SAM2, pose).
    pub preprocess_seconds: BTreeMap<Control, f64>,
}

fn per_control(values: [(Control, f64); 7]) -> BTreeMap<Control, f64> {
    values.into_iter().collect()
}

impl Default for CostModel {
    /// Leads for Cosmos-Transfer1-7B on one 80 GB GPU (see the module docs).
    fn default() -> Self {
        use Control::*;
        CostModel {
            startup_seconds: 180.0,
            control_load_seconds: per_control([
                (Depth, 90.0),
                (Edge, 90.0),
                (Hdmap, 90.0),
                (Keypoint, 90.0),
                (Lidar, 90.0),
                (Seg, 90.0),
                (Vis, 90.0),
            ]),
            step_seconds: 8.0,
            control_step_seconds: per_control([
                (Depth, 1.0),
                (Edge, 1.0),
                (Hdmap, 1.0),
                (Keypoint, 1.0),
                (Lidar, 1.0),
                (Seg, 1.0),
                (Vis, 1.0),
            ]),
            batched_pass_efficiency: 0.85,
            preprocess_seconds: per_control([
                (Depth, 15.0),
                (Edge, 2.0),
                (Hdmap, 0.0),
                (Keypoint, 20.0),
                (Lidar, 0.0),
                (Seg, 60.0),
                (Vis, 2.0),
            ]),
        }
    }
}

/// What one job contributes to a batch's cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobLoad {
    /// Controls the job asked for (weight > 0).
    pub signature: ControlSet,
    /// Controls whose input video the job supplies (no preprocessing needed).
    pub supplied: ControlSet,
    pub chunks: u32,
    pub num_steps: u32,
    /// What the job loads when it runs on its own (its signature; Transfer2.5's multibranch
    /// model loads all four branches).
    pub alone: ControlSet,
    /// Every branch a batch loads computes for this job (Transfer1), or only its own.
    pub all_branches: bool,
}

impl JobLoad {
    /// The branches that compute for this job in a batch that loads `loaded`.
    pub fn branches(&self, loaded: ControlSet) -> ControlSet {
        if self.all_branches {
            loaded
        } else {
            self.signature
        }
    }

    /// The controls whose video is generated for this job: those it asked for without
    /// supplying their input.
    pub fn preprocessed(&self) -> ControlSet {
        self.signature.difference(self.supplied)
    }
}

/// A batch estimate split into its parts, for explanations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Estimate {
    /// Process start and model build.
    pub startup_seconds: f64,
    /// Control branch builds.
    pub load_seconds: f64,
    /// Denoising compute of every job.
    pub compute_seconds: f64,
    /// Control-video generation of every job.
    pub preprocess_seconds: f64,
    /// The part of compute and preprocessing spent on controls a job did not ask for.
    pub control_overhead_seconds: f64,
    pub total_seconds: f64,
}

impl CostModel {
    fn get(map: &BTreeMap<Control, f64>, c: Control) -> f64 {
        map.get(&c).copied().unwrap_or(0.0)
    }

    pub fn control_load(&self, c: Control) -> f64 {
        Self::get(&self.control_load_seconds, c)
    }

    pub fn control_step(&self, c: Control) -> f64 {
        Self::get(&self.control_step_seconds, c)
    }

    pub fn preprocess(&self, c: Control) -> f64 {
        Self::get(&self.preprocess_seconds, c)
    }

    /// Seconds to load a batch's models: startup plus every control branch in `loaded`.
    pub fn load_seconds(&self, loaded: ControlSet) -> f64 {
        self.startup_seconds + loaded.iter().map(|c| self.control_load(c)).sum::<f64>()
    }

    /// Per job, chunk and step, with the controls in `loaded`.
    pub fn step_with(&self, loaded: ControlSet) -> f64 {
        self.step_seconds + loaded.iter().map(|c| self.control_step(c)).sum::<f64>()
    }

    /// Preprocessing of one job: the controls it asked for whose input it did not supply.
    pub fn preprocess_of(&self, job: &JobLoad) -> f64 {
        job.preprocessed().iter().map(|c| self.preprocess(c)).sum()
    }

    /// Estimate a batch of `jobs` that loads `loaded` (which must cover every job's signature)
    /// and passes `batch_size` to the program.
    pub fn estimate(&self, jobs: &[JobLoad], loaded: ControlSet, batch_size: u32) -> Estimate {
        let efficiency = if batch_size > 1 {
            self.batched_pass_efficiency
        } else {
            1.0
        };
        let mut e = Estimate {
            startup_seconds: self.startup_seconds,
            load_seconds: self.load_seconds(loaded) - self.startup_seconds,
            ..Estimate::default()
        };
        for job in jobs {
            let work = job.chunks as f64 * job.num_steps as f64 * efficiency;
            let branches = job.branches(loaded);
            e.compute_seconds += work * self.step_with(branches);
            e.preprocess_seconds += self.preprocess_of(job);
            let extra = branches.difference(job.signature);
            e.control_overhead_seconds +=
                work * extra.iter().map(|c| self.control_step(c)).sum::<f64>();
        }
        e.total_seconds =
            e.startup_seconds + e.load_seconds + e.compute_seconds + e.preprocess_seconds;
        e
    }

    /// Estimate of one job run on its own (it loads [`JobLoad::alone`]).
    pub fn estimate_alone(&self, job: &JobLoad) -> f64 {
        self.estimate(std::slice::from_ref(job), job.alone, 1)
            .total_seconds
    }

    /// Every parameter finite and non-negative; efficiency in (0, 1].
    pub fn validate(&self) -> Result<(), ValidationError> {
        let bad = |what: &str, v: f64| {
            ValidationError::new(
                ErrorCode::InvalidCostModel,
                format!("{what} must be a finite number of seconds >= 0, got {v}"),
            )
        };
        let check = |what: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(bad(what, v))
            }
        };
        check("startup_seconds", self.startup_seconds)?;
        check("step_seconds", self.step_seconds)?;
        for (name, map) in [
            ("control_load_seconds", &self.control_load_seconds),
            ("control_step_seconds", &self.control_step_seconds),
            ("preprocess_seconds", &self.preprocess_seconds),
        ] {
            for (c, v) in map {
                check(&format!("{name}.{c}"), *v)?;
            }
        }
        let e = self.batched_pass_efficiency;
        if !(e.is_finite() && e > 0.0 && e <= 1.0) {
            return Err(ValidationError::new(
                ErrorCode::InvalidCostModel,
                format!("batched_pass_efficiency must be above 0 and at most 1, got {e}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(sig: &[Control], supplied: &[Control], chunks: u32) -> JobLoad {
        let signature: ControlSet = sig.iter().copied().collect();
        JobLoad {
            signature,
            supplied: supplied.iter().copied().collect(),
            chunks,
            num_steps: 10,
            alone: signature,
            all_branches: true,
        }
    }

    fn simple() -> CostModel {
        use Control::*;
        CostModel {
            startup_seconds: 100.0,
            control_load_seconds: [(Edge, 10.0), (Depth, 20.0)].into_iter().collect(),
            step_seconds: 1.0,
            control_step_seconds: [(Edge, 0.5), (Depth, 0.25)].into_iter().collect(),
            batched_pass_efficiency: 0.5,
            preprocess_seconds: [(Edge, 3.0), (Depth, 7.0)].into_iter().collect(),
        }
    }

    #[test]
    fn estimate_follows_the_formula() {
        use Control::*;
        let m = simple();
        let a = job(&[Edge], &[], 1);
        // 100 + 10 + 1*10*(1 + 0.5) + 3
        assert_eq!(m.estimate_alone(&a), 128.0);
        let b = job(&[Depth], &[Depth], 2);
        // 100 + 20 + 2*10*(1.25) + 0 (supplied)
        assert_eq!(m.estimate_alone(&b), 145.0);
        let both: ControlSet = [Edge, Depth].into_iter().collect();
        let e = m.estimate(&[a, b], both, 1);
        // load 130; compute (10 + 20) * 1.75 = 52.5; preprocessing only of what each asked
        // for and did not supply: a edge 3, b nothing (the extra control gets the job's own
        // video as input, so nothing is generated for it)
        assert_eq!(e.total_seconds, 130.0 + 52.5 + 3.0);
        // overhead: a computes depth 10*0.25; b computes edge 20*0.5
        assert_eq!(e.control_overhead_seconds, 2.5 + 10.0);
        // Only its own branches compute for a job (Transfer2.5): no overhead, less compute.
        let own = |j: JobLoad| JobLoad {
            all_branches: false,
            ..j
        };
        let e = m.estimate(&[own(a), own(b)], both, 1);
        assert_eq!(e.compute_seconds, 10.0 * 1.5 + 20.0 * 1.25);
        assert_eq!(e.control_overhead_seconds, 0.0);
    }

    #[test]
    fn batched_pass_applies_efficiency_to_compute_only() {
        use Control::*;
        let m = simple();
        let a = job(&[Edge], &[], 1);
        let e = m.estimate(&[a, a], ControlSet::single(Edge), 2);
        assert_eq!(e.compute_seconds, 2.0 * 10.0 * 1.5 * 0.5);
        assert_eq!(e.preprocess_seconds, 6.0);
        assert_eq!(e.total_seconds, 110.0 + 15.0 + 6.0);
    }

    #[test]
    fn defaults_are_valid_and_bad_values_are_rejected() {
        assert!(CostModel::default().validate().is_ok());
        let m = CostModel {
            batched_pass_efficiency: 0.0,
            ..CostModel::default()
        };
        assert_eq!(m.validate().unwrap_err().code, ErrorCode::InvalidCostModel);
        let mut m = CostModel::default();
        m.control_step_seconds.insert(Control::Seg, -1.0);
        assert!(m
            .validate()
            .unwrap_err()
            .message
            .contains("control_step_seconds.seg"));
        let m = CostModel {
            startup_seconds: f64::NAN,
            ..CostModel::default()
        };
        assert!(m.validate().is_err());
    }

    #[test]
    fn partial_cost_model_files_keep_other_defaults() {
        let m: CostModel = serde_json::from_str(r#"{"startup_seconds": 5}"#).unwrap();
        assert_eq!(m.startup_seconds, 5.0);
        assert_eq!(m.step_seconds, CostModel::default().step_seconds);
        assert!(serde_json::from_str::<CostModel>(r#"{"startup": 5}"#).is_err());
    }
}
