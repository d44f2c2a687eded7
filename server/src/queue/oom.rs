//! Out of GPU memory: the unfinished jobs of a batch split in halves that run next, and the
//! safe batch size learned.

use super::state::State;
use super::Queue;
use crate::ids;
use crate::store::{BatchRecord, Change, JobRecord};
use cosmosq_shared::api::ErrorBody;
use cosmosq_shared::{ControlSet, ErrorCode, PlanJob};

impl Queue {
    /// After CUDA ran out of memory: the jobs that did not finish are split in halves, each a
    /// new batch that runs next (a single job fails with `out_of_memory`, keeping the batch's
    /// `log`), and, where jobs can share a batched pass, half the batch's job count becomes the
    /// most jobs a batch of this many controls may hold.
    pub(super) fn split_after_oom(
        &self,
        state: &State,
        change: &mut Change,
        record: &BatchRecord,
        unfinished: Vec<JobRecord>,
        log: Option<String>,
        now: &str,
    ) {
        // Without a batched pass (Transfer2.5) the jobs run one after another on one model:
        // their number does not drive GPU memory, so there is no smaller size to learn.
        if state.profile.batched_pass() {
            let controls = record.batch.controls.len();
            let mut meta = change.meta.clone().unwrap_or_else(|| state.meta().clone());
            let lowered = (record.batch.job_ids.len() as u32 / 2).max(1);
            meta.settings.learned_caps.lower(controls, lowered);
            change.meta = Some(meta);
        }
        if unfinished.len() <= 1 {
            let controls: Vec<&str> = record.batch.controls.iter().map(|c| c.as_str()).collect();
            let error = ErrorBody::new(
                ErrorCode::OutOfMemory,
                format!(
                    "CUDA ran out of memory even with this job alone (controls: {})",
                    controls.join("+")
                ),
            );
            for mut job in unfinished {
                job.fail(error.clone(), log.clone(), now);
                change.jobs.push(job);
            }
            return;
        }
        let half = unfinished.len().div_ceil(2);
        for (k, jobs) in unfinished.chunks(half).enumerate() {
            let loads: Vec<_> = jobs
                .iter()
                .map(|j| {
                    PlanJob::from_job(&j.job, state.prompts.get(&j.job.prompt_id))
                        .load(state.profile)
                })
                .collect();
            let loaded = loads
                .iter()
                .fold(ControlSet::EMPTY, |u, l| u.union(l.alone));
            let batch_size = record.batch.batch_size.min(jobs.len() as u32).max(1);
            let mut part = record.part(ids::new_id("bt"), record.sub * 2 + k as u32 + 1, now);
            let batch = &mut part.batch;
            batch.job_ids = jobs.iter().map(|j| j.job.id.clone()).collect();
            batch.controls = loaded.to_vec();
            batch.batch_size = batch_size;
            batch.estimated_seconds = state
                .cost
                .estimate(&loads, loaded, batch_size)
                .total_seconds;
            batch.reason = format!(
                "Part {} of 2 of batch {}, which ran out of GPU memory: retried with {} jobs.",
                k + 1,
                record.batch.id,
                jobs.len()
            );
            for job in jobs {
                let mut j = job.clone();
                let order = state.free_order_key(j.order, change);
                j.wait_in(&part.batch.id, order);
                change.jobs.push(j);
            }
            change.batches.push(part);
        }
    }
}
