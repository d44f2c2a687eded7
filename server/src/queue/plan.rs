//! Plans: previews of smart batches and the execution of exactly a previewed plan; the
//! batch of the first free job for automatic runs. Plans are made outside the queue lock.

use super::state::State;
use super::Queue;
use crate::error::Error;
use crate::ids;
use crate::store::BatchRecord;
use cosmosq_shared::api::{Batch, BatchStatus, ExecuteReply, QueueSettings};
use cosmosq_shared::plan::{plan, Limits, Plan, PlanJob, PlanMode, PlannedBatch};
use cosmosq_shared::ErrorCode;
use cosmosq_shared::{preview, CostModel};
use std::sync::Arc;

/// How many previews are remembered for execution by `plan_id`.
const REMEMBERED_PREVIEWS: usize = 64;

/// The free queued jobs and what planning them needs, copied under the queue lock so that the
/// planning itself (0.1 s for 100,000 jobs) runs outside it and stalls no other request.
pub(super) struct Free {
    /// The state version it was copied from: a plan made from it holds while that is current.
    pub(super) version: u64,
    pub(super) jobs: Vec<Arc<PlanJob>>,
    pub(super) cost: CostModel,
    pub(super) settings: QueueSettings,
    /// The queue's planner limits (settings and executor).
    pub(super) limits: Limits,
    pub(super) paused: bool,
    /// Queued jobs that wait for others, with why no plan takes them.
    pub(super) waiting: Vec<cosmosq_shared::plan::Excluded>,
}

impl State {
    /// Queued jobs not yet taken by an executed plan, in queue order, with what planning needs.
    pub(super) fn free(&self) -> Free {
        // Under the lock only the shared planner views are taken; the copies the planner
        // needs are made outside it (see `Free::plan`).
        let jobs = self
            .order
            .values()
            .filter(|id| preview::plans(&self.jobs[*id].job))
            .map(|id| self.plan_jobs[id].clone())
            .collect();
        let waiting = if self.with_after.is_empty() {
            Vec::new()
        } else {
            preview::waiting(self.order.values().map(|id| &self.jobs[id].job))
        };
        Free {
            waiting,
            version: self.version,
            jobs,
            cost: self.cost.clone(),
            settings: self.meta().settings,
            limits: self.limits(),
            paused: self.meta().paused,
        }
    }

    pub(super) fn new_batch(
        &self,
        planned: &PlannedBatch,
        mode: PlanMode,
        plan_id: Option<&str>,
    ) -> Batch {
        Batch {
            id: ids::new_id("bt"),
            mode,
            plan_id: plan_id.map(str::to_string),
            job_ids: planned.job_ids.clone(),
            controls: planned.controls.clone(),
            batch_size: planned.batch_size,
            reason: planned.reason.clone(),
            status: BatchStatus::Pending,
            executor: self.profile,
            slot: None,
            estimated_seconds: planned.estimated_seconds,
            measured_seconds: None,
            progress: 0.0,
            created_at: ids::now(),
            started_at: None,
            finished_at: None,
            log_path: None,
            slurm: None,
            error: None,
        }
    }
}

impl Free {
    fn plan(&self, mode: PlanMode, limits: Limits) -> Result<Plan, Error> {
        let jobs: Vec<PlanJob> = self.jobs.iter().map(|j| PlanJob::clone(j)).collect();
        let mut plan = plan(&jobs, mode, limits, &self.cost)?;
        plan.excluded.extend(self.waiting.iter().cloned());
        Ok(plan)
    }

    /// The plan with id `plan_id` among the candidates (the remembered preview's mode and
    /// limits, then the settings' mode and the other one): `Err` holds the fresh plan of the
    /// first candidate when none matches.
    fn find(
        &self,
        plan_id: &str,
        remembered: Option<(PlanMode, Limits)>,
    ) -> Result<Result<Plan, Plan>, Error> {
        let mode = self.settings.mode();
        let other = match mode {
            PlanMode::Strict => PlanMode::Mixed,
            PlanMode::Mixed => PlanMode::Strict,
        };
        let candidates = remembered
            .into_iter()
            .chain([(mode, self.limits), (other, self.limits)]);
        let mut fresh = None;
        for (mode, limits) in candidates {
            let p = self.plan(mode, limits)?;
            if p.plan_id == plan_id {
                return Ok(Ok(p));
            }
            fresh.get_or_insert(p);
        }
        Ok(Err(fresh.expect("at least one candidate is planned")))
    }

    /// The next batch to run when nothing is pending: the batch of the first free job.
    pub(super) fn next_automatic(&self) -> Result<Option<(PlannedBatch, PlanMode)>, Error> {
        if self.paused {
            return Ok(None);
        }
        let Some(first) = self.jobs.first() else {
            return Ok(None);
        };
        let mode = self.settings.mode();
        let planned = if first.batchable() && self.settings.auto_batch {
            let plan = self.plan(mode, self.limits)?;
            plan.batches.into_iter().next()
        } else {
            None
        };
        let planned = planned.unwrap_or_else(|| {
            let load = first.load(self.limits.profile);
            PlannedBatch {
                job_ids: vec![first.id.clone()],
                controls: load.alone.to_vec(),
                effective_weights: Default::default(),
                batch_size: 1,
                estimated_seconds: self.cost.estimate_alone(&load),
                reason: if first.batchable() {
                    "Automatic batching is off: one job at a time.".into()
                } else {
                    format!("{} jobs always run alone.", first.kind)
                },
            }
        });
        Ok(Some((planned, mode)))
    }
}

impl Queue {
    /// Preview smart batches of the free queued jobs (mode and limit default to the settings).
    /// The plan is made outside the queue lock.
    pub fn preview(
        &self,
        mode: Option<PlanMode>,
        max_batch_size: Option<u32>,
    ) -> Result<Plan, Error> {
        let free = self.lock().free();
        let mode = mode.unwrap_or(free.settings.mode());
        let limits = Limits {
            max_batch_size: max_batch_size.unwrap_or(free.settings.max_batch_size),
            ..free.limits
        };
        let plan = free.plan(mode, limits)?;
        let mut state = self.lock();
        if !state.previews.iter().any(|(id, _, _)| *id == plan.plan_id) {
            state
                .previews
                .push_back((plan.plan_id.clone(), mode, limits));
            if state.previews.len() > REMEMBERED_PREVIEWS {
                state.previews.pop_front();
            }
        }
        Ok(plan)
    }

    fn remembered(state: &State, plan_id: &str) -> Option<(PlanMode, Limits)> {
        state
            .previews
            .iter()
            .find(|(id, _, _)| id == plan_id)
            .map(|(_, m, l)| (*m, *l))
    }

    /// Execute exactly the previewed plan `plan_id`: its batches wait for executor slots (and
    /// run even while the queue is paused). A plan the queue no longer gives is refused with
    /// the fresh preview. The plans are made outside the lock, and again inside it only when
    /// the queue changed meanwhile.
    pub fn execute(&self, plan_id: &str) -> Result<ExecuteReply, Error> {
        let (free, remembered) = {
            let state = self.lock();
            (state.free(), Self::remembered(&state, plan_id))
        };
        let found = free.find(plan_id, remembered)?;
        let batches = self.mutate(|state, change| {
            let found = if state.version == free.version {
                found
            } else {
                state
                    .free()
                    .find(plan_id, Self::remembered(state, plan_id))?
            };
            let plan = found.map_err(Error::stale_plan)?;
            if plan.batches.is_empty() {
                return Err(Error::new(
                    ErrorCode::NothingToRun,
                    "the plan has no batches: no free queued inference jobs",
                ));
            }
            let mut meta = state.meta().clone();
            let mut created = Vec::new();
            for planned in &plan.batches {
                let batch = state.new_batch(planned, plan.mode, Some(plan_id));
                for job_id in &batch.job_ids {
                    let mut record = state.jobs[job_id].clone();
                    let order = record.order;
                    record.wait_in(&batch.id, order);
                    change.jobs.push(record);
                }
                change.batches.push(BatchRecord {
                    batch: batch.clone(),
                    seq: meta.next_batch_seq,
                    sub: 0,
                    handle: None,
                });
                meta.next_batch_seq += 1;
                created.push(batch);
            }
            change.meta = Some(meta);
            Ok(created)
        })?;
        Ok(ExecuteReply {
            plan_id: plan_id.to_string(),
            batches,
        })
    }
}
