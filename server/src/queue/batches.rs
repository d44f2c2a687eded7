//! Batches: preview, execute a previewed plan, and the claim/finish cycle of the workers.

use super::{
    Live, Queue, State, LOG_TAIL, LOG_TAIL_BYTES, LOG_TAIL_LINE_BYTES, REMEMBERED_PREVIEWS,
};
use crate::error::Error;
use crate::executor::{BatchResult, JobOutcome};
use crate::ids;
use crate::store::{BatchRecord, JobRecord};
use cosmosq_shared::api::CostModelView;
use cosmosq_shared::api::{
    Batch, BatchStatus, ErrorBody, Event, ExecuteReply, Job, JobStatus, Prompt, QueueSettings,
};
use cosmosq_shared::plan::{plan, Limits, Plan, PlanJob, PlanMode, PlannedBatch};
use cosmosq_shared::refit::{mean_error, refit, Sample};
use cosmosq_shared::ErrorCode;
use cosmosq_shared::{preview, CostModel, JobKind, Profile};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A batch handed to a worker: everything the executor needs, and how to stop it.
pub struct Claimed {
    pub batch: Batch,
    /// The batch's jobs in run order, each with its prompt.
    pub jobs: Vec<(Job, Prompt)>,
    /// `<data_dir>/batches/<batch id>`, for the executor's files.
    pub dir: PathBuf,
    pub cancel: CancellationToken,
}

/// The planner's view of a job (see [`PlanJob::from_job`]).
fn plan_job(record: &JobRecord, prompt: Option<&Prompt>) -> PlanJob {
    PlanJob::from_job(&record.job, prompt)
}

/// The free queued jobs and what planning them needs, copied under the queue lock so that the
/// planning itself (0.1 s for 100,000 jobs) runs outside it and stalls no other request.
struct Free {
    /// The state version it was copied from: a plan made from it holds while that is current.
    version: u64,
    jobs: Vec<Arc<PlanJob>>,
    cost: CostModel,
    settings: QueueSettings,
    /// The queue's planner limits (settings and executor).
    limits: Limits,
    paused: bool,
}

impl State {
    /// Queued jobs not yet taken by an executed plan, in queue order, with what planning needs.
    fn free(&self) -> Free {
        // Under the lock only the shared planner views are taken; the copies the planner
        // needs are made outside it (see `Free::plan`).
        let jobs = self
            .order
            .values()
            .filter(|id| preview::plans(&self.jobs[*id].job))
            .map(|id| self.plan_jobs[id].clone())
            .collect();
        Free {
            version: self.version,
            jobs,
            cost: self.cost.clone(),
            settings: self.meta().settings,
            limits: self.limits(),
            paused: self.meta().paused,
        }
    }

    fn new_batch(&self, planned: &PlannedBatch, mode: PlanMode, plan_id: Option<&str>) -> Batch {
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
            error: None,
        }
    }
}

impl Free {
    fn plan(&self, mode: PlanMode, limits: Limits) -> Result<Plan, Error> {
        let jobs: Vec<PlanJob> = self.jobs.iter().map(|j| PlanJob::clone(j)).collect();
        Ok(plan(&jobs, mode, limits, &self.cost)?)
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
    fn next_automatic(&self) -> Result<Option<(PlannedBatch, PlanMode)>, Error> {
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
            let load = first.load();
            PlannedBatch {
                job_ids: vec![first.id.clone()],
                controls: load.signature.to_vec(),
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
                    record.job.batch_id = Some(batch.id.clone());
                    change.jobs.push(record);
                }
                change.batches.push(BatchRecord {
                    batch: batch.clone(),
                    seq: meta.next_batch_seq,
                    sub: 0,
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

    /// Batches, newest first.
    pub fn batches(&self) -> Vec<Batch> {
        let state = self.lock();
        let mut records: Vec<&BatchRecord> = state.batches.values().collect();
        records.sort_by_key(|r| std::cmp::Reverse(r.seq));
        records.into_iter().map(|r| state.batch_view(r)).collect()
    }

    pub fn batch(&self, id: &str) -> Result<Batch, Error> {
        let state = self.lock();
        Ok(state.batch_view(state.batch(id)?))
    }

    /// Take the next batch to run, if any and if a slot is free: the oldest pending batch of
    /// an executed plan, else (unless paused) the batch of the first free queued job. Its jobs
    /// become `running` (attempts + 1) in the same transaction.
    pub fn claim_next(&self, slot: &str) -> Result<Option<Claimed>, Error> {
        // The automatic batch is planned outside the lock (again inside only when the queue
        // changed meanwhile).
        let automatic = {
            let state = self.lock();
            let needed = state.pending.is_empty()
                && Self::automatic_possible(&state)
                && state.live.len() < self.config.executor.slots.len();
            needed.then(|| state.free())
        }
        .map(|free| free.next_automatic().map(|planned| (free.version, planned)))
        .transpose()?;
        let cancel = CancellationToken::new();
        let token = cancel.clone();
        let claimed = self.mutate_then(
            |state, change| {
                if self.is_stopping() || state.live.len() >= self.config.executor.slots.len() {
                    return Ok(None);
                }
                let (mut batch, (seq, sub)) = match state.pending.values().next() {
                    Some(id) => {
                        let r = &state.batches[id];
                        (r.batch.clone(), r.run_order())
                    }
                    None if !Self::automatic_possible(state) => return Ok(None),
                    None => {
                        let planned = match &automatic {
                            Some((version, planned)) if *version == state.version => {
                                planned.clone()
                            }
                            _ => state.free().next_automatic()?,
                        };
                        let Some((planned, mode)) = planned else {
                            return Ok(None);
                        };
                        let mut meta = state.meta().clone();
                        let seq = meta.next_batch_seq;
                        meta.next_batch_seq += 1;
                        change.meta = Some(meta);
                        (state.new_batch(&planned, mode, None), (seq, 0))
                    }
                };
                let now = ids::now();
                batch.status = BatchStatus::Running;
                // The executor that runs it now (a pending batch may predate a profile switch).
                batch.executor = state.profile;
                batch.slot = Some(slot.to_string());
                batch.started_at = Some(now.clone());
                let mut jobs = Vec::new();
                for id in &batch.job_ids {
                    let mut record = state.jobs[id].clone();
                    record.job.status = JobStatus::Running;
                    record.job.attempts += 1;
                    record.job.started_at = Some(now.clone());
                    record.job.batch_id = Some(batch.id.clone());
                    let prompt = state
                        .prompts
                        .get(&record.job.prompt_id)
                        .cloned()
                        .ok_or_else(|| Error::internal(format!("job {id} has no prompt")))?;
                    jobs.push((record.job.clone(), prompt));
                    change.jobs.push(record);
                }
                change.batches.push(BatchRecord {
                    batch: batch.clone(),
                    seq,
                    sub,
                });
                let dir = self.batches_dir.join(&batch.id);
                Ok(Some(Claimed {
                    batch,
                    jobs,
                    dir,
                    cancel: token,
                }))
            },
            |state, claimed| {
                if let Some(c) = claimed {
                    state.live.insert(
                        c.batch.id.clone(),
                        Live {
                            cancel,
                            progress: 0.0,
                            log_tail: VecDeque::new(),
                        },
                    );
                }
            },
        )?;
        Ok(claimed)
    }

    /// Whether an automatic batch could be formed now (not paused, a job queued): checked
    /// before copying the free jobs, which costs O(queue) while the queue lock is held.
    fn automatic_possible(state: &State) -> bool {
        !state.meta().paused && !state.order.is_empty()
    }

    /// A running batch's progress (0..=1) and, optionally, a new log line.
    pub fn report_progress(&self, batch_id: &str, progress: f64, line: Option<String>) {
        let mut state = self.lock();
        let Some(live) = state.live.get_mut(batch_id) else {
            return;
        };
        if progress >= 0.0 {
            live.progress = progress.min(1.0).max(live.progress);
        }
        if let Some(mut line) = line {
            if line.len() > LOG_TAIL_LINE_BYTES {
                let mut cut = LOG_TAIL_LINE_BYTES;
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.truncate(cut);
                line.push('…');
            }
            live.log_tail.push_back(line);
            while live.log_tail.len() > LOG_TAIL
                || live.log_tail.iter().map(String::len).sum::<usize>() > LOG_TAIL_BYTES
            {
                live.log_tail.pop_front();
            }
        }
        let event = Event::Progress {
            batch_id: batch_id.to_string(),
            progress: live.progress,
            log_tail: live.log_tail.iter().cloned().collect(),
        };
        drop(state);
        self.events.publish(event);
    }

    /// Record how a batch ended: each job succeeded, failed, or went back to its place in the
    /// queue (a job canceled meanwhile stays canceled).
    pub fn finish_batch(&self, batch_id: &str, mut result: BatchResult, measured_seconds: f64) {
        let outcome = self.mutate_then(
            |state, change| {
                let mut record = state.batch(batch_id)?.clone();
                let stopped = state
                    .live
                    .get(batch_id)
                    .is_some_and(|l| l.cancel.is_cancelled());
                let now = ids::now();
                let mut all_succeeded = true;
                let mut unfinished: Vec<JobRecord> = Vec::new();
                for id in &record.batch.job_ids {
                    let mut job = state.jobs[id].clone();
                    if job.job.status != JobStatus::Running
                        || job.job.batch_id.as_deref() != Some(batch_id)
                    {
                        all_succeeded = false;
                        continue;
                    }
                    let log = result.log_path.clone();
                    match result.outcomes.remove(id) {
                        Some(JobOutcome::Succeeded(mut outputs)) => {
                            outputs.log = log;
                            job.job.status = JobStatus::Succeeded;
                            job.job.outputs = outputs;
                            job.job.finished_at = Some(now.clone());
                            job.job.error = None;
                        }
                        Some(JobOutcome::Failed(error)) => {
                            all_succeeded = false;
                            job.job.status = JobStatus::Failed;
                            job.job.outputs.log = log;
                            job.job.error = Some(error);
                            job.job.finished_at = Some(now.clone());
                        }
                        Some(outcome @ (JobOutcome::Requeue | JobOutcome::NotStarted)) => {
                            all_succeeded = false;
                            if outcome == JobOutcome::NotStarted {
                                job.job.attempts = job.job.attempts.saturating_sub(1);
                            }
                            job.job.status = JobStatus::Queued;
                            job.job.batch_id = None;
                            job.job.started_at = None;
                            job.order = state.free_order_key(job.order, change);
                        }
                        None => {
                            all_succeeded = false;
                            unfinished.push(job);
                            continue;
                        }
                    }
                    change.jobs.push(job);
                }
                if result.out_of_memory {
                    self.split_after_oom(state, change, &record, unfinished, &now);
                } else {
                    // Jobs the executor said nothing about did not run: back to their places.
                    for mut job in unfinished {
                        job.job.status = JobStatus::Queued;
                        job.job.batch_id = None;
                        job.job.started_at = None;
                        job.order = state.free_order_key(job.order, change);
                        change.jobs.push(job);
                    }
                }
                let progress = state.live.get(batch_id).map_or(0.0, |l| l.progress);
                let b = &mut record.batch;
                b.status = if all_succeeded {
                    BatchStatus::Succeeded
                } else if stopped {
                    BatchStatus::Canceled
                } else {
                    BatchStatus::Failed
                };
                b.progress = if all_succeeded { 1.0 } else { progress };
                b.measured_seconds = Some((measured_seconds * 1000.0).round() / 1000.0);
                b.finished_at = Some(now);
                b.log_path = result.log_path.clone();
                b.error = result.error.take();
                let summary = (
                    b.status,
                    b.job_ids.len(),
                    b.estimated_seconds,
                    measured_seconds,
                );
                let refitted = (b.status == BatchStatus::Succeeded
                    && self.config.executor.refit_enabled())
                .then(|| {
                    let fitted = self.refit(state, &record);
                    let mut meta = change.meta.clone().unwrap_or_else(|| state.meta().clone());
                    meta.fitted_cost_model = Some(fitted.clone());
                    change.meta = Some(meta);
                    fitted
                });
                change.batches.push(record);
                Ok((summary, refitted))
            },
            |state, (_, refitted)| {
                state.live.remove(batch_id);
                if let Some(fitted) = refitted {
                    state.cost = fitted.clone();
                }
            },
        );
        let outcome = outcome.map(|(summary, _)| summary);
        match outcome {
            Ok((status, jobs, estimated, measured)) => {
                self.metrics.record_batch(status, jobs, estimated, measured);
            }
            Err(e) => {
                // Keep the batch live-free so shutdown does not wait forever; recovery at the
                // next start puts its jobs back.
                self.lock().live.remove(batch_id);
                tracing::error!(batch = batch_id, error = %e, "could not record a finished batch");
            }
        }
    }
}

/// Most recent successful batches the cost model is refitted to.
const REFIT_WINDOW: usize = 200;

impl State {
    /// Refit samples: successful batches of this profile, newest `REFIT_WINDOW`, in model
    /// seconds (measured wall seconds / time_scale), plus `extra`.
    fn refit_samples(
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
                        Some(plan_job(j, self.prompts.get(&j.job.prompt_id)).load())
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
    fn refit(&self, state: &State, finished: &BatchRecord) -> CostModel {
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

    /// After CUDA ran out of memory: the jobs that did not finish are split in halves, each a
    /// new batch that runs next (a single job fails with `out_of_memory`), and, where jobs can
    /// share a batched pass, half the batch's job count becomes the most jobs a batch of this
    /// many controls may hold.
    fn split_after_oom(
        &self,
        state: &State,
        change: &mut crate::store::Change,
        record: &BatchRecord,
        unfinished: Vec<JobRecord>,
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
            for mut job in unfinished {
                job.job.status = JobStatus::Failed;
                job.job.finished_at = Some(now.to_string());
                job.job.error = Some(ErrorBody {
                    code: ErrorCode::OutOfMemory,
                    message: format!(
                        "CUDA ran out of memory even with this job alone (controls: {})",
                        record
                            .batch
                            .controls
                            .iter()
                            .map(|c| c.as_str())
                            .collect::<Vec<_>>()
                            .join("+")
                    ),
                });
                change.jobs.push(job);
            }
            return;
        }
        let half = unfinished.len().div_ceil(2);
        for (k, part) in unfinished.chunks(half).enumerate() {
            let loads: Vec<_> = part
                .iter()
                .map(|j| plan_job(j, state.prompts.get(&j.job.prompt_id)).load())
                .collect();
            let loaded: cosmosq_shared::ControlSet = loads
                .iter()
                .fold(cosmosq_shared::ControlSet::EMPTY, |u, l| {
                    u.union(l.signature)
                });
            let batch_size = record.batch.batch_size.min(part.len() as u32).max(1);
            let mut batch = record.batch.clone();
            batch.id = ids::new_id("bt");
            batch.job_ids = part.iter().map(|j| j.job.id.clone()).collect();
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
                part.len()
            );
            batch.status = BatchStatus::Pending;
            batch.slot = None;
            batch.progress = 0.0;
            batch.created_at = now.to_string();
            batch.started_at = None;
            batch.finished_at = None;
            batch.measured_seconds = None;
            batch.log_path = None;
            batch.error = None;
            for job in part {
                let mut j = job.clone();
                j.job.status = JobStatus::Queued;
                j.job.started_at = None;
                j.job.batch_id = Some(batch.id.clone());
                j.order = state.free_order_key(j.order, change);
                change.jobs.push(j);
            }
            change.batches.push(BatchRecord {
                batch,
                seq: record.seq,
                sub: record.sub * 2 + k as u32 + 1,
            });
        }
    }
}

/// Failure recorded on jobs a recovery found running too often.
pub(super) fn attempts_exhausted(attempts: u32) -> ErrorBody {
    ErrorBody {
        code: ErrorCode::AttemptsExhausted,
        message: format!(
            "the daemon stopped while this job ran, {attempts} times; not retrying it (queue.max_attempts)"
        ),
    }
}
