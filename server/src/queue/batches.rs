//! Batches: preview, execute a previewed plan, and the claim/finish cycle of the workers.

use super::{Live, Queue, State, LOG_TAIL, REMEMBERED_PREVIEWS};
use crate::error::ApiError;
use crate::executor::{BatchResult, JobOutcome};
use crate::ids;
use crate::store::{BatchRecord, JobRecord};
use cosmosq_shared::api::{
    Batch, BatchStatus, ErrorBody, Event, ExecuteReply, Job, JobStatus, Prompt,
};
use cosmosq_shared::plan::{plan, Limits, Plan, PlanJob, PlanMode, PlannedBatch};
use std::collections::VecDeque;
use std::path::PathBuf;
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

/// The planner's view of a job: settings from the job, video facts from its prompt.
fn plan_job(record: &JobRecord, prompt: Option<&Prompt>) -> PlanJob {
    let job = &record.job;
    let mut p = PlanJob::new(job.id.clone(), &[]);
    p.kind = job.kind;
    p.config = job.config.clone();
    if let Some(prompt) = prompt {
        p.negative_prompt = prompt.negative_prompt.clone();
        p.frames = prompt.video.frames;
        p.bucket = prompt.video.aspect_bucket;
        p.control_inputs = prompt.control_videos.keys().copied().collect();
    }
    p
}

impl State {
    /// Queued jobs not yet taken by an executed plan, in queue order.
    fn free_jobs(&self) -> Vec<PlanJob> {
        self.order
            .values()
            .map(|id| &self.jobs[id])
            .filter(|r| r.job.batch_id.is_none())
            .map(|r| plan_job(r, self.prompts.get(&r.job.prompt_id)))
            .collect()
    }

    fn plan_free(&self, mode: PlanMode, limits: Limits) -> Result<Plan, ApiError> {
        Ok(plan(&self.free_jobs(), mode, limits, &self.cost)?)
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
            executor: String::new(),
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

    /// The next batch to run when nothing is pending: the batch of the first free job.
    fn next_automatic(&self) -> Result<Option<Batch>, ApiError> {
        let meta = self.meta();
        if meta.paused {
            return Ok(None);
        }
        let free = self.free_jobs();
        let Some(first) = free.first() else {
            return Ok(None);
        };
        let settings = meta.settings;
        let planned = if first.batchable() && settings.auto_batch {
            let plan = plan(&free, settings.mode(), settings.limits(), &self.cost)?;
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
        Ok(Some(self.new_batch(&planned, settings.mode(), None)))
    }
}

impl Queue {
    /// Preview smart batches of the free queued jobs (mode and limit default to the settings).
    pub fn preview(
        &self,
        mode: Option<PlanMode>,
        max_batch_size: Option<u32>,
    ) -> Result<Plan, ApiError> {
        let mut state = self.lock();
        let settings = state.meta().settings;
        let mode = mode.unwrap_or(settings.mode());
        let limits = Limits {
            max_batch_size: max_batch_size.unwrap_or(settings.max_batch_size),
        };
        let plan = state.plan_free(mode, limits)?;
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

    /// Execute exactly the previewed plan `plan_id`: its batches wait for executor slots (and
    /// run even while the queue is paused). A plan the queue no longer gives is refused with
    /// the fresh preview.
    pub fn execute(&self, plan_id: &str) -> Result<ExecuteReply, ApiError> {
        let profile = self.config.executor.profile.clone();
        let batches = self.mutate(|state, change| {
            let settings = state.meta().settings;
            let remembered = state
                .previews
                .iter()
                .find(|(id, _, _)| id == plan_id)
                .map(|(_, m, l)| (*m, *l));
            let other = match settings.mode() {
                PlanMode::Strict => PlanMode::Mixed,
                PlanMode::Mixed => PlanMode::Strict,
            };
            let candidates = remembered.into_iter().chain([
                (settings.mode(), settings.limits()),
                (other, settings.limits()),
            ]);
            let mut fresh = None;
            for (mode, limits) in candidates {
                let p = state.plan_free(mode, limits)?;
                if p.plan_id == plan_id {
                    fresh = Some(p);
                    break;
                }
                fresh.get_or_insert(p);
            }
            let plan = fresh.expect("at least one candidate is planned");
            if plan.plan_id != plan_id {
                return Err(ApiError::stale_plan(plan));
            }
            if plan.batches.is_empty() {
                return Err(ApiError::conflict(
                    "nothing_to_run",
                    "the plan has no batches: no free queued inference jobs",
                ));
            }
            let mut meta = state.meta().clone();
            let mut created = Vec::new();
            for planned in &plan.batches {
                let mut batch = state.new_batch(planned, plan.mode, Some(plan_id));
                batch.executor = profile.clone();
                for job_id in &batch.job_ids {
                    let mut record = state.jobs[job_id].clone();
                    record.job.batch_id = Some(batch.id.clone());
                    change.jobs.push(record);
                }
                change.batches.push(BatchRecord {
                    batch: batch.clone(),
                    seq: meta.next_batch_seq,
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

    pub fn batch(&self, id: &str) -> Result<Batch, ApiError> {
        let state = self.lock();
        Ok(state.batch_view(state.batch(id)?))
    }

    /// Take the next batch to run, if any and if a slot is free: the oldest pending batch of
    /// an executed plan, else (unless paused) the batch of the first free queued job. Its jobs
    /// become `running` (attempts + 1) in the same transaction.
    pub fn claim_next(&self) -> Result<Option<Claimed>, ApiError> {
        let cancel = CancellationToken::new();
        let token = cancel.clone();
        let claimed = self.mutate_then(
            |state, change| {
                if self.is_stopping() || state.live.len() >= self.config.executor.slots {
                    return Ok(None);
                }
                let (mut batch, seq) = match state.pending.values().next() {
                    Some(id) => {
                        let r = &state.batches[id];
                        (r.batch.clone(), r.seq)
                    }
                    None => match state.next_automatic()? {
                        Some(batch) => {
                            let mut meta = state.meta().clone();
                            let seq = meta.next_batch_seq;
                            meta.next_batch_seq += 1;
                            change.meta = Some(meta);
                            (batch, seq)
                        }
                        None => return Ok(None),
                    },
                };
                let now = ids::now();
                batch.status = BatchStatus::Running;
                batch.executor = self.config.executor.profile.clone();
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
                        .ok_or_else(|| ApiError::internal(format!("job {id} has no prompt")))?;
                    jobs.push((record.job.clone(), prompt));
                    change.jobs.push(record);
                }
                change.batches.push(BatchRecord {
                    batch: batch.clone(),
                    seq,
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

    /// A running batch's progress (0..=1) and, optionally, a new log line.
    pub fn report_progress(&self, batch_id: &str, progress: f64, line: Option<String>) {
        let mut state = self.lock();
        let Some(live) = state.live.get_mut(batch_id) else {
            return;
        };
        live.progress = progress.clamp(0.0, 1.0);
        if let Some(line) = line {
            live.log_tail.push_back(line);
            if live.log_tail.len() > LOG_TAIL {
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
                        Some(JobOutcome::Requeue) | None => {
                            all_succeeded = false;
                            job.job.status = JobStatus::Queued;
                            job.job.batch_id = None;
                            job.job.started_at = None;
                            job.order = state.free_order_key(job.order, change);
                        }
                    }
                    change.jobs.push(job);
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
                change.batches.push(record);
                Ok(summary)
            },
            |state, _| {
                state.live.remove(batch_id);
            },
        );
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

/// Failure recorded on jobs a recovery found running too often.
pub(super) fn attempts_exhausted(attempts: u32) -> ErrorBody {
    ErrorBody {
        code: "attempts_exhausted".into(),
        message: format!(
            "the daemon stopped while this job ran, {attempts} times; not retrying it (queue.max_attempts)"
        ),
    }
}
