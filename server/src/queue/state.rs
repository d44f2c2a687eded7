//! The queue's state in memory and its indexes, kept in step with every applied change.

use crate::error::Error;
use crate::store::{BatchRecord, Change, JobRecord, Meta};
use cosmosq_shared::api::{Batch, BatchStatus, Event, Job, JobCounts, JobStatus, Prompt};
use cosmosq_shared::plan::{Limits, PlanJob, PlanMode};
use cosmosq_shared::ErrorCode;
use cosmosq_shared::{CostModel, Profile};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Spacing of queue-order keys, so a move can usually take the midpoint of its neighbours.
pub(super) const ORDER_GAP: u64 = 1 << 20;

/// A batch being run: how to stop it and what it has reported.
pub(super) struct Live {
    pub(super) cancel: CancellationToken,
    pub(super) progress: f64,
    pub(super) log_tail: VecDeque<String>,
    /// The launcher's state of the batch (Slurm's state and reason), when it has one.
    pub(super) launcher_state: Option<(String, Option<String>)>,
    /// Stopped because its slot was disabled: its jobs go back without an attempt counted.
    pub(super) slot_stopped: bool,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) prompts: HashMap<String, Prompt>,
    pub(super) jobs: HashMap<String, JobRecord>,
    /// Queued jobs by order key.
    pub(super) order: BTreeMap<u64, String>,
    /// Ids of the running jobs (so the queue view need not scan every job).
    pub(super) running: HashSet<String>,
    /// Notifications waiting for delivery, by key (see `notify`).
    pub(super) notify_outbox: BTreeMap<String, crate::store::Outgoing>,
    /// Ids of the jobs that name others in `after` (see `dependencies`).
    pub(super) with_after: HashSet<String>,
    /// The planner's view of each queued job, kept with the job, so a plan's input is taken
    /// under the lock by sharing (100,000 copies took 60 ms there).
    pub(super) plan_jobs: HashMap<String, Arc<PlanJob>>,
    pub(super) batches: HashMap<String, BatchRecord>,
    /// Pending batches by run order.
    pub(super) pending: BTreeMap<(u64, u32), String>,
    pub(super) counts: JobCounts,
    pub(super) meta: Option<Meta>,
    pub(super) cost: CostModel,
    /// The executor's profile (what it can run, whether it has a batched pass).
    pub(super) profile: Profile,
    /// Recently previewed plans: (plan_id, mode, limits).
    pub(super) previews: VecDeque<(String, PlanMode, Limits)>,
    pub(super) live: HashMap<String, Live>,
    /// Bumped by every applied change: the version of everything `view` shows.
    pub(super) version: u64,
    /// Events of applied changes, by version, waiting for a flush that covers them.
    pub(super) outbox: VecDeque<(u64, Event)>,
}

impl State {
    pub(super) fn meta(&self) -> &Meta {
        self.meta.as_ref().expect("meta is loaded at start")
    }

    /// The planner's limits: the queue settings' and what the executor can do.
    pub(super) fn limits(&self) -> Limits {
        self.meta().settings.limits(self.profile)
    }

    pub(super) fn job(&self, id: &str) -> Result<&JobRecord, Error> {
        self.jobs
            .get(id)
            .ok_or_else(|| Error::not_found(ErrorCode::JobNotFound, "job", id))
    }

    pub(super) fn batch(&self, id: &str) -> Result<&BatchRecord, Error> {
        self.batches
            .get(id)
            .ok_or_else(|| Error::not_found(ErrorCode::BatchNotFound, "batch", id))
    }

    /// 1-based place of a queued job.
    pub(super) fn position(&self, record: &JobRecord) -> Option<u32> {
        if record.job.status != JobStatus::Queued {
            return None;
        }
        // The last job (every add lands there) without counting the whole queue.
        if self.order.last_key_value().map(|(k, _)| *k) == Some(record.order) {
            return Some(self.order.len() as u32);
        }
        Some(self.order.range(..record.order).count() as u32 + 1)
    }

    pub(super) fn job_view(&self, record: &JobRecord) -> Job {
        let mut job = record.job.clone();
        job.position = self.position(record);
        job
    }

    /// The prompt a job runs with: its own, with the input video of the job it takes its
    /// input from (`input_from`: that job's output) when it names one.
    pub(super) fn run_prompt(&self, job: &Job) -> Result<Prompt, Error> {
        let mut prompt = self
            .prompts
            .get(&job.prompt_id)
            .cloned()
            .ok_or_else(|| Error::internal(format!("job {} has no prompt", job.id)))?;
        if let Some(from) = &job.input_from {
            let video = self
                .jobs
                .get(from)
                .and_then(|r| r.job.outputs.video.clone())
                .ok_or_else(|| Error::internal(format!("job {from} left no output video")))?;
            prompt.input_video = video;
        }
        Ok(prompt)
    }

    pub(super) fn batch_view(&self, record: &BatchRecord) -> Batch {
        let mut batch = record.batch.clone();
        let live = self.live.get(&batch.id);
        if let Some(live) = live {
            batch.progress = live.progress;
        }
        if let Some(job_id) = record.handle.as_ref().and_then(|h| h.slurm_job()) {
            let (state, reason) = live
                .and_then(|l| l.launcher_state.clone())
                .map_or((None, None), |(s, r)| (Some(s), r));
            batch.slurm = Some(cosmosq_shared::api::SlurmJob {
                job_id: job_id.to_string(),
                state,
                reason,
            });
        }
        batch
    }

    /// An order key at or after `desired` that no queued job holds.
    pub(super) fn free_order_key(&self, desired: u64, change: &Change) -> u64 {
        let taken = |k: u64| {
            self.order.contains_key(&k)
                || change
                    .jobs
                    .iter()
                    .any(|r| r.order == k && r.job.status == JobStatus::Queued)
        };
        let mut key = desired;
        while taken(key) {
            key += 1;
        }
        key
    }

    pub(super) fn apply(&mut self, change: Change) {
        self.version += 1;
        for (id, prompt) in change.prompts {
            match prompt {
                Some(p) => self.prompts.insert(id, p),
                None => self.prompts.remove(&id),
            };
        }
        // Take every changed job out of the order first: a renumbering may hand one job the
        // key another job held until this change.
        for record in &change.jobs {
            if let Some(old) = self.jobs.get(&record.job.id) {
                *self.counts.get_mut(old.job.status) -= 1;
                match old.job.status {
                    JobStatus::Queued => {
                        self.order.remove(&old.order);
                    }
                    JobStatus::Running => {
                        self.running.remove(&old.job.id);
                    }
                    _ => {}
                }
            }
        }
        for record in change.jobs {
            *self.counts.get_mut(record.job.status) += 1;
            if !record.job.after.is_empty() {
                self.with_after.insert(record.job.id.clone());
            }
            match record.job.status {
                JobStatus::Queued => {
                    self.order.insert(record.order, record.job.id.clone());
                }
                JobStatus::Running => {
                    self.running.insert(record.job.id.clone());
                }
                _ => {}
            }
            if record.job.status == JobStatus::Queued {
                let view = PlanJob::from_job(&record.job, self.prompts.get(&record.job.prompt_id));
                self.plan_jobs.insert(record.job.id.clone(), Arc::new(view));
            } else {
                self.plan_jobs.remove(&record.job.id);
            }
            self.jobs.insert(record.job.id.clone(), record);
        }
        for (key, out) in change.outbox {
            match out {
                Some(o) => self.notify_outbox.insert(key, o),
                None => self.notify_outbox.remove(&key),
            };
        }
        for id in change.removed_jobs {
            if let Some(old) = self.jobs.remove(&id) {
                *self.counts.get_mut(old.job.status) -= 1;
                if old.job.status == JobStatus::Queued {
                    self.order.remove(&old.order);
                }
                self.running.remove(&id);
                self.plan_jobs.remove(&id);
                self.with_after.remove(&id);
            }
        }
        for record in change.batches {
            if let Some(old) = self.batches.get(&record.batch.id) {
                if old.batch.status == BatchStatus::Pending {
                    self.pending.remove(&old.run_order());
                }
            }
            if record.batch.status == BatchStatus::Pending {
                self.pending
                    .insert(record.run_order(), record.batch.id.clone());
            }
            self.batches.insert(record.batch.id.clone(), record);
        }
        if let Some(meta) = change.meta {
            self.meta = Some(meta);
        }
    }

    pub(super) fn queue_event(&self) -> Event {
        let meta = self.meta();
        Event::Queue {
            paused: meta.paused,
            paused_reason: meta.paused_reason.clone(),
            settings: meta.settings,
            counts: self.counts,
        }
    }
}
