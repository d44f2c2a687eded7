//! Start-up: load the store and repair what the last run left behind.

use super::state::ORDER_GAP;
use super::Queue;
use crate::error::Error;
use crate::ids;
use crate::store::{Change, Meta};
use cosmosq_shared::api::{BatchStatus, ErrorBody, JobStatus};
use cosmosq_shared::ErrorCode;

impl Queue {
    /// Stop the programs a killed daemon left running, load everything, then: jobs left
    /// `running` go back to their queue places (or fail once they were started
    /// `max_attempts` times), batches left `running` are marked interrupted, and after an
    /// unclean stop the executed-but-unstarted batches are dissolved and the queue starts
    /// paused with the reason.
    pub(super) fn recover(&self) -> Result<(), Error> {
        // First of all, stop the programs a killed daemon left running: their jobs go back
        // to the queue below and must not run twice at once.
        // Under Slurm a submitted batch is adopted below instead; a local program (the last
        // run's launcher may have been `local`) is stopped all the same (Slurm jobs do not
        // carry the local marker).
        let adopt = self.config.executor.launcher == crate::config::LauncherKind::Slurm;
        let grace = std::time::Duration::from_secs_f64(self.config.executor.cancel_grace_seconds);
        let left = crate::executor::leftovers::stop_all(&self.batches_dir, grace);
        if !left.is_empty() {
            tracing::warn!(
                count = left.len(),
                "stopped programs the last run left behind"
            );
        }
        let snapshot = self
            .store
            .load()
            .map_err(|e| Error::internal(e.to_string()))?;
        {
            let mut state = self.lock();
            state.apply(Change {
                prompts: snapshot
                    .prompts
                    .into_iter()
                    .map(|p| (p.id.clone(), Some(p)))
                    .collect(),
                jobs: snapshot.jobs,
                removed_jobs: Vec::new(),
                batches: snapshot.batches,
                meta: None,
                outbox: snapshot
                    .outbox
                    .into_iter()
                    .map(|o| (o.key.clone(), Some(o)))
                    .collect(),
            });
            state.meta = Some(snapshot.meta.unwrap_or_else(|| Meta {
                settings: self.config.queue.initial_settings(),
                paused: false,
                paused_reason: None,
                next_order: ORDER_GAP,
                next_batch_seq: 1,
                clean_shutdown: true,
                fitted_cost_model: None,
                presets: Default::default(),
                next_event_seq: 0,
                slots: Default::default(),
            }));
            // Refit from the recorded batches rather than trusting the stored fit: that may
            // be another profile's or another time scale's, and the configured prior may have
            // changed.
            if self.config.executor.refit_enabled() {
                if let Some(fitted) = self.refit_recorded(&state) {
                    state.cost = fitted;
                }
            }
        }
        if !adopt {
            self.stop_interrupted();
        }
        let max_attempts = self.config.queue.max_attempts;
        self.mutate(|state, change| {
            let mut meta = state.meta().clone();
            let unclean = !meta.clean_shutdown;
            let now = ids::now();
            let (mut returned, mut failed, mut dissolved) = (0, 0, 0);
            // A batch submitted to a launcher that outlives the daemon is adopted (see
            // `adopt`): it and its jobs stay running.
            // A batch the local launcher ran (the launcher changed meanwhile) is not.
            let adopted = |batch: Option<&String>| {
                adopt
                    && batch.and_then(|b| state.batches.get(b)).is_some_and(|b| {
                        b.batch.status == BatchStatus::Running
                            && !matches!(b.handle, Some(crate::executor::Handle::Local { .. }))
                    })
            };
            let adopted_batches = state
                .batches
                .values()
                .filter(|b| adopted(Some(&b.batch.id)))
                .count();
            let mut running: Vec<_> = state
                .jobs
                .values()
                .filter(|r| r.job.status == JobStatus::Running && !adopted(r.job.batch_id.as_ref()))
                .collect();
            running.sort_by_key(|r| r.order);
            for record in running {
                let mut r = record.clone();
                if r.job.attempts >= max_attempts {
                    r.fail(attempts_exhausted(r.job.attempts), None, &now);
                    failed += 1;
                } else {
                    let order = state.free_order_key(r.order, change);
                    r.requeue(order, true);
                    returned += 1;
                }
                change.jobs.push(r);
            }
            for record in state.batches.values() {
                let interrupted = match record.batch.status {
                    BatchStatus::Running => !adopted(Some(&record.batch.id)),
                    BatchStatus::Pending => unclean,
                    _ => false,
                };
                if !interrupted {
                    continue;
                }
                let mut b = record.clone();
                if b.batch.status == BatchStatus::Pending {
                    dissolved += 1;
                    for id in &b.batch.job_ids {
                        let job = &state.jobs[id];
                        if job.job.status == JobStatus::Queued {
                            let mut j = job.clone();
                            j.leave_batch();
                            change.jobs.push(j);
                        }
                    }
                }
                b.interrupt(&now);
                change.batches.push(b);
            }
            if unclean {
                meta.paused = true;
                meta.paused_reason = Some(format!(
                    "the daemon stopped uncleanly before {now}: {returned} running jobs went back to the queue, \
                     {failed} failed after too many attempts, {dissolved} executed batches were dissolved, \
                     {adopted_batches} submitted batches are watched again; review the queue, then resume"
                ));
                tracing::warn!(returned, failed, dissolved, adopted_batches, "recovered from an unclean stop; the queue starts paused");
            }
            meta.clean_shutdown = false;
            change.meta = Some(meta);
            Ok(())
        })?;
        self.fail_unrunnable()
    }

    /// Queued jobs the executor cannot run (the profile changed since they were added: an
    /// `enhance` job, or a keypoint job on Transfer2.5) fail with the reason instead of
    /// running as something they are not; the others get the weights this executor runs them
    /// with.
    fn fail_unrunnable(&self) -> Result<(), Error> {
        let profile = self.config.executor.profile;
        self.mutate(|state, change| {
            let now = ids::now();
            let queued = state
                .jobs
                .values()
                .filter(|r| r.job.status == JobStatus::Queued && r.job.batch_id.is_none());
            for record in queued {
                let job = &record.job;
                let frames = state
                    .prompts
                    .get(&job.prompt_id)
                    .map_or(cosmosq_shared::video::DEFAULT_FRAMES, |p| p.video.frames);
                if let Err(e) = profile.check(job.kind, &job.config, frames) {
                    tracing::warn!(job = %job.id, code = %e.code, "a queued job cannot run on this executor");
                    let mut r = record.clone();
                    r.fail(ErrorBody::new(e.code, e.message), None, &now);
                    change.jobs.push(r);
                    continue;
                }
                let weights = profile.effective_weights(&job.config);
                if weights != job.effective_weights {
                    let mut r = record.clone();
                    r.job.effective_weights = weights;
                    change.jobs.push(r);
                }
            }
            Ok(())
        })
    }
}

/// Failure recorded on jobs a recovery found running too often.
impl Queue {
    /// Run the slot's `stop` command for every batch the last run left `running`: what it
    /// wrapped (a container, a process on another host) is out of reach of the process
    /// groups stopped above, and its jobs go back to the queue now.
    fn stop_interrupted(&self) {
        let executor = &self.config.executor;
        let slots = executor.slots.list();
        let running: Vec<(String, Option<String>, usize)> = {
            let state = self.lock();
            // A Slurm job of an earlier run under `launcher = "slurm"`: its jobs go back to
            // the queue now, so the job must not run on (scancel's own status says nothing).
            for r in state.batches.values() {
                let job = r.handle.as_ref().and_then(|h| h.slurm_job());
                if let (BatchStatus::Running, Some(job)) = (r.batch.status, job) {
                    let canceled = std::process::Command::new("scancel").arg(job).status();
                    tracing::warn!(batch = %r.batch.id, job, ?canceled, "canceled the Slurm job of a batch the last run submitted (the launcher is local now)");
                }
            }
            state
                .batches
                .values()
                .filter(|r| r.batch.status == BatchStatus::Running)
                .map(|r| {
                    (
                        r.batch.id.clone(),
                        r.batch.slot.clone(),
                        r.batch.job_ids.len(),
                    )
                })
                .collect()
        };
        for (id, slot_name, jobs) in running {
            let Some(slot) = slots.iter().find(|s| s.name == slot_name) else {
                continue;
            };
            let dir = self.batches_dir.join(&id);
            let Some(note) = crate::executor::stop_wrapped(executor, slot, &id, &dir, jobs) else {
                continue;
            };
            tracing::warn!(batch = %id, "ran the slot's stop command for a batch the last run left running");
            if let Ok(mut log) = std::fs::OpenOptions::new()
                .append(true)
                .open(dir.join("run.log"))
            {
                use std::io::Write;
                let _ = writeln!(log, "{note} (at the next start)");
            }
        }
    }
}

fn attempts_exhausted(attempts: u32) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::AttemptsExhausted,
        format!(
            "the daemon stopped while this job ran, {attempts} times; not retrying it (queue.max_attempts)"
        ),
    )
}
