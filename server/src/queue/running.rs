//! Running batches: the claim of the next batch by a worker, its progress, and how it ended
//! (each job succeeded, failed or went back to its place).

use super::state::{Live, State};
use super::Queue;
use crate::error::Error;
use crate::executor::{BatchResult, Claimed, JobOutcome};
use crate::ids;
use crate::store::{BatchRecord, JobRecord};
use cosmosq_shared::api::{Batch, BatchStatus, ErrorBody, Event, JobStatus};
use cosmosq_shared::ErrorCode;
use std::collections::VecDeque;
use tokio_util::sync::CancellationToken;

/// Log lines kept per running batch for progress events, and their total size: every event
/// in the hub's backlog (1,024) carries a tail, so this bounds what slow clients can hold.
const LOG_TAIL: usize = 20;
const LOG_TAIL_BYTES: usize = 16 << 10;
/// A line longer than this is shortened in the tail (the batch's `run.log` keeps it whole).
const LOG_TAIL_LINE_BYTES: usize = 4 << 10;

impl Queue {
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
            if !Self::accepts(&state, slot) {
                return Ok(None);
            }
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
                if self.is_stopping()
                    || state.live.len() >= self.config.executor.slots.len()
                    || !Self::accepts(state, slot)
                {
                    return Ok(None);
                }
                let mut record = match state.pending.values().next() {
                    Some(id) => state.batches[id].clone(),
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
                        BatchRecord {
                            batch: state.new_batch(&planned, mode, None),
                            seq,
                            sub: 0,
                            handle: None,
                        }
                    }
                };
                let now = ids::now();
                record.start(slot, state.profile, &now);
                let mut jobs = Vec::new();
                for id in &record.batch.job_ids {
                    let mut job = state.jobs[id].clone();
                    job.start(&record.batch.id, &now);
                    let prompt = state.run_prompt(&job.job)?;
                    jobs.push((job.job.clone(), prompt));
                    change.jobs.push(job);
                }
                let batch = record.batch.clone();
                change.batches.push(record);
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
                            launcher_state: None,
                            slot_stopped: false,
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

    /// A running batch's progress (0..=1, when known) and, optionally, a new log line.
    pub fn report_progress(&self, batch_id: &str, progress: Option<f64>, line: Option<String>) {
        let mut state = self.lock();
        let Some(live) = state.live.get_mut(batch_id) else {
            return;
        };
        if let Some(p) = progress.filter(|p| *p >= 0.0) {
            live.progress = p.min(1.0).max(live.progress);
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
                // Stopped because its slot was disabled, or failed for a cause of its slot:
                // its jobs go back without an attempt counted.
                let uncounted = result.slot_fault.is_some()
                    || state.live.get(batch_id).is_some_and(|l| l.slot_stopped);
                let now = ids::now();
                let mut all_succeeded = true;
                let mut smaller: Vec<JobRecord> = Vec::new();
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
                        Some(JobOutcome::Succeeded(outputs)) => job.succeed(outputs, log, &now),
                        Some(JobOutcome::Failed(error)) => {
                            all_succeeded = false;
                            job.fail(error, log, &now);
                        }
                        Some(outcome @ (JobOutcome::Requeue | JobOutcome::NotStarted)) => {
                            all_succeeded = false;
                            let order = state.free_order_key(job.order, change);
                            job.requeue(order, outcome == JobOutcome::Requeue && !uncounted);
                        }
                        Some(JobOutcome::RetrySmaller) => {
                            all_succeeded = false;
                            smaller.push(job);
                            continue;
                        }
                        None => {
                            // The executor said nothing of it: it did not run, back to its
                            // place.
                            all_succeeded = false;
                            let order = state.free_order_key(job.order, change);
                            job.requeue(order, !uncounted);
                        }
                    }
                    change.jobs.push(job);
                }
                if !smaller.is_empty() {
                    let log = result.log_path.clone();
                    self.split_after_oom(state, change, &record, smaller, log, &now);
                }
                let progress = state.live.get(batch_id).map_or(0.0, |l| l.progress);
                let status = if all_succeeded {
                    BatchStatus::Succeeded
                } else if stopped {
                    BatchStatus::Canceled
                } else {
                    BatchStatus::Failed
                };
                let (log, mut error) = (result.log_path.clone(), result.error.take());
                let slot = record.batch.slot.clone().unwrap_or_default();
                let refused = error
                    .as_ref()
                    .is_some_and(|e| e.code == ErrorCode::InputRefused);
                let health = self.slot_after_batch(
                    state,
                    &slot,
                    result.slot_fault.as_deref(),
                    !stopped && !refused,
                );
                let quarantined = health.as_ref().is_some_and(|(_, q)| *q);
                if let Some((slot_record, _)) = health {
                    let mut meta = change.meta.clone().unwrap_or_else(|| state.meta().clone());
                    if quarantined {
                        tracing::warn!(slot = %slot, why = ?slot_record.last_error, "slot quarantined");
                        error = Some(ErrorBody {
                            code: ErrorCode::SlotQuarantined,
                            message: slot_record.last_error.clone().unwrap_or_default(),
                        });
                    }
                    meta.slots.insert(slot.clone(), slot_record);
                    change.meta = Some(meta);
                }
                let stalled = error.as_ref().is_some_and(|e| e.code == ErrorCode::Stalled);
                record.finish(status, progress, measured_seconds, log, error, &now);
                let b = &record.batch;
                let summary = (
                    b.status,
                    b.job_ids.len(),
                    b.estimated_seconds,
                    measured_seconds,
                    (stalled, quarantined),
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
            Ok((status, jobs, estimated, measured, (stalled, quarantined))) => {
                self.metrics.record_batch(status, jobs, estimated, measured);
                if stalled {
                    self.metrics.record_stall();
                }
                if quarantined {
                    self.metrics.record_quarantine();
                }
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
