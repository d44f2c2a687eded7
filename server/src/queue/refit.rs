//! The cost model refitted to the measured durations of the batches that ran.

use super::state::State;
use super::Queue;
use crate::store::BatchRecord;
use cosmosq_shared::api::{BatchStatus, CostModelView};
use cosmosq_shared::refit::{mean_error, refit, Sample};
use cosmosq_shared::{CostModel, JobKind, PlanJob, Profile};

/// Most recent successful batches the cost model is refitted to.
const REFIT_WINDOW: usize = 200;

impl State {
    /// Refit samples: successful batches of this profile, newest `REFIT_WINDOW`, in model
    /// seconds (measured wall seconds / time_scale), plus `extra`.
    pub(super) fn refit_samples(
        &self,
        profile: Profile,
        time_scale: f64,
        extra: Option<&BatchRecord>,
    ) -> Vec<Sample> {
        let mut records: Vec<&BatchRecord> = self
            .batches
            .values()
            .filter(|r| Some(r.batch.id.as_str()) != extra.map(|e| e.batch.id.as_str()))
            .chain(extra)
            .filter(|r| r.batch.status == BatchStatus::Succeeded && r.batch.executor == profile)
            .filter(|r| r.batch.measured_seconds.is_some())
            // Upscale and enhance runs load models the cost model does not describe.
            .filter(|r| {
                r.batch.job_ids.iter().all(|id| {
                    self.jobs
                        .get(id)
                        .is_some_and(|j| j.job.kind == JobKind::Inference)
                })
            })
            .collect();
        records.sort_by_key(|r| std::cmp::Reverse(r.run_order()));
        records.truncate(REFIT_WINDOW);
        records
            .into_iter()
            .filter_map(|r| {
                let jobs: Vec<_> = r
                    .batch
                    .job_ids
                    .iter()
                    .map(|id| {
                        let j = self.jobs.get(id)?;
                        let job = PlanJob::from_job(&j.job, self.prompts.get(&j.job.prompt_id));
                        Some(job.load(profile))
                    })
                    .collect::<Option<_>>()?;
                Some(Sample {
                    loaded: r.batch.controls.iter().copied().collect(),
                    jobs,
                    batch_size: r.batch.batch_size,
                    seconds: r.batch.measured_seconds? / time_scale,
                })
            })
            .collect()
    }
}

impl Queue {
    pub(super) fn refit(&self, state: &State, finished: &BatchRecord) -> CostModel {
        let e = &self.config.executor;
        let samples = state.refit_samples(e.profile, e.time_scale.max(1e-9), Some(finished));
        refit(&self.config.cost_model, &samples)
    }

    /// The cost model refitted to every recorded batch of this profile, or `None` when there
    /// is none.
    pub(super) fn refit_recorded(&self, state: &State) -> Option<CostModel> {
        let e = &self.config.executor;
        let samples = state.refit_samples(e.profile, e.time_scale.max(1e-9), None);
        (!samples.is_empty()).then(|| refit(&self.config.cost_model, &samples))
    }

    /// The cost model now in use, with how well it fits the measured batches.
    pub fn cost_model_view(&self) -> CostModelView {
        let state = self.lock();
        let e = &self.config.executor;
        let samples = state.refit_samples(e.profile, e.time_scale.max(1e-9), None);
        CostModelView {
            executor: e.profile,
            mean_error: (mean_error(&state.cost, &samples) * 10_000.0).round() / 10_000.0,
            cost_model: state.cost.clone(),
            refit: e.refit_enabled(),
            samples: samples.len(),
        }
    }
}
