//! The smart-batching engine: `(ordered jobs, mode, limits, cost model) -> Plan`.
//!
//! A pure function. The same input always gives the same plan and the same `plan_id`, natively
//! and in the browser, so a preview is exactly what runs.

mod explain;
mod file;
mod id;
mod search;

pub use file::{parse_plan_file, parse_plan_file_with};

use crate::control::{Control, ControlSet};
use crate::cost::{CostModel, JobLoad};
use crate::error::{ErrorCode, ValidationError};
use crate::job::{JobConfig, JobKind};
use crate::profile::Profile;
use crate::video::{self, AspectBucket};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// How jobs may be grouped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PlanMode {
    /// Only jobs with identical control signatures share a batch.
    #[default]
    Strict,
    /// A batch may load the union of its jobs' controls (each job gets weight 0 for controls it
    /// did not ask for); the grouping minimises the estimated total time.
    Mixed,
}

impl PlanMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanMode::Strict => "strict",
            PlanMode::Mixed => "mixed",
        }
    }
}

impl fmt::Display for PlanMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The largest `max_batch_size` a user may set.
pub const MAX_BATCH_SIZE_LIMIT: u32 = 64;

/// Lower batch sizes learned from out-of-memory failures: `caps[n]` is the most jobs a batch
/// loading `n` controls may hold (0 = nothing learned; 7+ controls share the last entry).
/// Serialised as a map `{"2": 3}` of the learned entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct LearnedCaps(pub [u32; 8]);

impl LearnedCaps {
    pub fn get(&self, controls: usize) -> Option<u32> {
        let cap = self.0[controls.min(7)];
        (cap > 0).then_some(cap)
    }

    /// Remember that batches of `controls` controls must hold at most `cap` jobs.
    pub fn lower(&mut self, controls: usize, cap: u32) {
        let slot = &mut self.0[controls.min(7)];
        let cap = cap.max(1);
        *slot = if *slot == 0 { cap } else { (*slot).min(cap) };
    }
}

impl Serialize for LearnedCaps {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        for (n, cap) in self.0.iter().enumerate().filter(|(_, c)| **c > 0) {
            map.serialize_entry(&n.to_string(), cap)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for LearnedCaps {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<String, u32>::deserialize(d)?;
        let mut caps = LearnedCaps::default();
        for (k, v) in map {
            let n: usize = k
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("`{k}` is not a control count")))?;
            caps.lower(n, v);
        }
        Ok(caps)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for LearnedCaps {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .description(Some(
                "Most jobs per batch learned from out-of-memory failures, keyed by control count",
            ))
            .additional_properties(Some(
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::Integer),
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for LearnedCaps {}

/// User limits on batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Limits {
    /// At most this many jobs in one batch (1..=64); the safe size by control count applies too.
    pub max_batch_size: u32,
    /// Lower sizes learned from out-of-memory failures.
    #[serde(default)]
    pub learned_caps: LearnedCaps,
    /// The executor profile the plan is for: its models (which jobs may share a process), its
    /// chunk length, whether identical jobs share a batched forward pass, what a batch loads
    /// and computes (see [`Profile`]).
    #[serde(default)]
    pub profile: Profile,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_batch_size: 8,
            learned_caps: LearnedCaps::default(),
            profile: Profile::default(),
        }
    }
}

impl Limits {
    pub fn new(max_batch_size: u32) -> Self {
        Limits {
            max_batch_size,
            ..Limits::default()
        }
    }

    /// Most jobs a batch loading `controls` controls may hold: the safe size (where jobs share
    /// a batched pass; see [`Profile::safe_batch_size`]), capped by the user's maximum and by
    /// what out-of-memory failures taught.
    pub fn capacity(&self, controls: usize) -> u32 {
        let safe = self.profile.safe_batch_size(controls, self.max_batch_size);
        match self.learned_caps.get(controls) {
            Some(cap) => safe.min(cap),
            None => safe,
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        if (1..=MAX_BATCH_SIZE_LIMIT).contains(&self.max_batch_size) {
            Ok(())
        } else {
            Err(ValidationError::new(
                ErrorCode::MaxBatchSizeOutOfRange,
                format!(
                    "max_batch_size must be from 1 to {MAX_BATCH_SIZE_LIMIT}, got {}",
                    self.max_batch_size
                ),
            ))
        }
    }
}

/// Conservative number of jobs per batch by the batch's control count: 1 → 8, 2 → 4, 3+ → 2,
/// never above the user's maximum (and never below 1).
pub fn safe_batch_size(controls: usize, user_max: u32) -> u32 {
    let safe = match controls {
        0 | 1 => 8,
        2 => 4,
        _ => 2,
    };
    safe.min(user_max).max(1)
}

/// One queued job as the planner sees it. The order of a job list is the queue order.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanJob {
    pub id: String,
    pub kind: JobKind,
    pub config: JobConfig,
    /// The prompt's negative prompt (process-global for Cosmos); `None` = the program's default.
    pub negative_prompt: Option<String>,
    /// Frame count of the input video.
    pub frames: u32,
    pub bucket: AspectBucket,
    /// Controls whose input video the job supplies (the rest are generated on the fly).
    pub control_inputs: ControlSet,
}

impl PlanJob {
    /// An inference job with default settings and the given weights (convenient in tests).
    pub fn new(id: impl Into<String>, weights: &[(Control, f64)]) -> Self {
        PlanJob {
            id: id.into(),
            kind: JobKind::Inference,
            config: JobConfig {
                weights: weights.iter().copied().collect(),
                ..JobConfig::default()
            },
            negative_prompt: None,
            frames: video::DEFAULT_FRAMES,
            bucket: AspectBucket::default(),
            control_inputs: ControlSet::EMPTY,
        }
    }

    pub fn signature(&self) -> ControlSet {
        self.config.signature()
    }

    /// Whether this job may share a batch (inference only).
    pub fn batchable(&self) -> bool {
        self.kind.batchable()
    }

    /// What this job adds to a batch's cost on `profile`'s program: its chunks of that
    /// program's length, its steps (one on the distilled model), what it loads on its own.
    pub fn load(&self, profile: Profile) -> JobLoad {
        let signature = self.signature();
        JobLoad {
            signature,
            supplied: self.control_inputs,
            chunks: profile.chunks(self.frames),
            num_steps: if self.config.distilled {
                1
            } else {
                self.config.num_steps
            },
            alone: profile.loads(profile.family(&self.config), signature),
            all_branches: profile.runs_every_loaded_branch(),
        }
    }

    fn validate(&self) -> Result<(), ValidationError> {
        if self.id.trim().is_empty() {
            return Err(ValidationError::new(
                ErrorCode::EmptyJobId,
                "every job needs a non-empty id",
            ));
        }
        self.config.validate(self.kind)?;
        if self.frames == 0 || self.frames > video::MAX_FRAMES {
            return Err(ValidationError::new(
                ErrorCode::FramesOutOfRange,
                format!(
                    "frames must be from 1 to {}, got {}",
                    video::MAX_FRAMES,
                    self.frames
                ),
            ));
        }
        Ok(())
    }
}

/// One planned executor invocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlannedBatch {
    /// Jobs in queue order.
    pub job_ids: Vec<String>,
    /// Controls the batch loads (sorted by name); jobs get weight 0 for those they did not ask for.
    pub controls: Vec<Control>,
    /// The `--batch_size` passed to the program: the job count when every job has identical
    /// weights, frame count and aspect bucket (one batched forward pass), otherwise 1.
    pub batch_size: u32,
    pub estimated_seconds: f64,
    /// For each job whose weights run otherwise than it asked (Transfer1 divides weights
    /// summing above 1 by their sum and runs them in bfloat16), the weights it runs with.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub effective_weights: BTreeMap<String, BTreeMap<Control, f64>>,
    /// Why the batch was formed this way, in plain words.
    pub reason: String,
}

/// Totals of a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanMetrics {
    /// Jobs placed in batches (excluded jobs not counted).
    pub job_count: usize,
    pub batch_count: usize,
    /// Every planned job run on its own, loading its own controls.
    pub estimated_sequential_seconds: f64,
    pub estimated_batched_seconds: f64,
    /// Sequential / batched estimate.
    pub speedup: f64,
    /// Compute and preprocessing spent on controls that jobs did not ask for.
    pub control_overhead_seconds: f64,
}

/// A job the planner left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Excluded {
    pub job_id: String,
    pub reason: String,
}

/// The result of planning: the batches to run, in queue order of their earliest job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Plan {
    /// Identifies this exact input (jobs, their order and settings, mode, limits, cost model).
    pub plan_id: String,
    pub mode: PlanMode,
    pub batches: Vec<PlannedBatch>,
    pub metrics: PlanMetrics,
    pub excluded: Vec<Excluded>,
}

/// Plan `jobs` (in queue order). Errors only on invalid input (bad settings, duplicate ids,
/// bad limits or cost model); never panics.
pub fn plan(
    jobs: &[PlanJob],
    mode: PlanMode,
    limits: Limits,
    cost: &CostModel,
) -> Result<Plan, ValidationError> {
    limits.validate()?;
    cost.validate()?;
    let mut seen = HashSet::with_capacity(jobs.len());
    for job in jobs {
        job.validate()
            .map_err(|e| e.context(format!("job `{}`", job.id)))?;
        if !seen.insert(job.id.as_str()) {
            return Err(ValidationError::new(
                ErrorCode::DuplicateJobId,
                format!("job id `{}` appears more than once", job.id),
            ));
        }
    }

    let excluded = jobs
        .iter()
        .filter(|j| !j.batchable())
        .map(|j| Excluded {
            job_id: j.id.clone(),
            reason: format!(
                "{} jobs always run alone: only inference jobs are batched",
                j.kind
            ),
        })
        .collect();

    let problem = search::Problem::new(jobs, limits, cost);
    let groups = problem.solve(mode);
    let (batches, metrics) = explain::describe(&problem, &groups, mode);

    Ok(Plan {
        plan_id: id::plan_id(jobs, mode, limits, cost),
        mode,
        batches,
        metrics,
        excluded,
    })
}

#[cfg(test)]
mod tests;
