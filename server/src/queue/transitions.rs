//! Every change of a job's or a batch's status, in one place, each keeping the record's
//! invariants: a running job has its batch and start time; a queued job waiting in no batch
//! has neither; a finished job has its finish time, and a job that ran in a batch keeps the
//! batch's log whether it succeeded or failed; a failure carries its reason.

use crate::store::{BatchRecord, JobRecord};
use cosmosq_shared::api::{BatchStatus, ErrorBody, JobOutputs, JobStatus};
use cosmosq_shared::{ErrorCode, Profile};

impl JobRecord {
    /// A batch starts it: running in `batch_id`, one more attempt.
    pub fn start(&mut self, batch_id: &str, now: &str) {
        let job = &mut self.job;
        job.status = JobStatus::Running;
        job.attempts += 1;
        job.started_at = Some(now.to_string());
        job.batch_id = Some(batch_id.to_string());
    }

    /// Its output was produced and verified; `log` is its batch's.
    pub fn succeed(&mut self, mut outputs: JobOutputs, log: Option<String>, now: &str) {
        outputs.log = log;
        let job = &mut self.job;
        job.status = JobStatus::Succeeded;
        job.outputs = outputs;
        job.finished_at = Some(now.to_string());
        job.error = None;
    }

    /// It failed with `error`; `log` is its batch's when it ran in one.
    pub fn fail(&mut self, error: ErrorBody, log: Option<String>, now: &str) {
        let job = &mut self.job;
        job.status = JobStatus::Failed;
        if log.is_some() {
            job.outputs.log = log;
        }
        job.error = Some(error);
        job.finished_at = Some(now.to_string());
    }

    /// Back to the queue at order key `order` (its place, or the nearest free key), out of
    /// any batch. `counted` false: the start that is undone did not count as an attempt.
    pub fn requeue(&mut self, order: u64, counted: bool) {
        self.order = order;
        let job = &mut self.job;
        if !counted {
            job.attempts = job.attempts.saturating_sub(1);
        }
        job.status = JobStatus::Queued;
        job.batch_id = None;
        job.started_at = None;
    }

    /// Queued at `order`, waiting in the pending batch `batch_id` (an executed plan's, or a
    /// part of a batch split after running out of memory).
    pub fn wait_in(&mut self, batch_id: &str, order: u64) {
        self.order = order;
        let job = &mut self.job;
        job.status = JobStatus::Queued;
        job.batch_id = Some(batch_id.to_string());
        job.started_at = None;
    }

    /// Out of the pending batch it waited in, still queued at its place.
    pub fn leave_batch(&mut self) {
        self.job.batch_id = None;
    }

    /// Canceled by a user.
    pub fn cancel(&mut self, now: &str) {
        let job = &mut self.job;
        job.status = JobStatus::Canceled;
        job.finished_at = Some(now.to_string());
        job.error = Some(ErrorBody::new(ErrorCode::Canceled, "canceled by a user"));
    }

    /// Queued again at `order` as if new: no attempts, outputs or error.
    pub fn reset_for_retry(&mut self, order: u64) {
        self.order = order;
        let job = &mut self.job;
        job.status = JobStatus::Queued;
        job.attempts = 0;
        job.started_at = None;
        job.finished_at = None;
        job.batch_id = None;
        job.outputs = JobOutputs::default();
        job.error = None;
    }
}

impl BatchRecord {
    /// A worker starts it on `slot` with the executor of `profile` (a pending batch may
    /// predate a profile switch).
    pub fn start(&mut self, slot: &str, profile: Profile, now: &str) {
        let batch = &mut self.batch;
        batch.status = BatchStatus::Running;
        batch.executor = profile;
        batch.slot = Some(slot.to_string());
        batch.started_at = Some(now.to_string());
    }

    /// It ended: `status`, what it measured, its log and why it failed (if it did).
    pub fn finish(
        &mut self,
        status: BatchStatus,
        progress: f64,
        measured_seconds: f64,
        log: Option<String>,
        error: Option<ErrorBody>,
        now: &str,
    ) {
        let batch = &mut self.batch;
        batch.status = status;
        batch.progress = if status == BatchStatus::Succeeded {
            1.0
        } else {
            progress
        };
        batch.measured_seconds = Some((measured_seconds * 1000.0).round() / 1000.0);
        batch.finished_at = Some(now.to_string());
        batch.log_path = log;
        batch.error = error;
    }

    /// The daemon stopped before it finished: a running batch failed, a pending one (of an
    /// executed plan, dissolved after an unclean stop) is canceled.
    pub fn interrupt(&mut self, now: &str) {
        let batch = &mut self.batch;
        batch.status = if batch.status == BatchStatus::Pending {
            BatchStatus::Canceled
        } else {
            BatchStatus::Failed
        };
        batch.finished_at = Some(now.to_string());
        batch.error = Some(ErrorBody::new(
            ErrorCode::Interrupted,
            "the daemon stopped before this batch finished; its jobs went back to the queue",
        ));
    }

    /// Take a job out of this pending batch; emptied, the batch is canceled.
    pub fn remove_job(&mut self, job_id: &str, now: &str) {
        let batch = &mut self.batch;
        batch.job_ids.retain(|j| j != job_id);
        if batch.job_ids.is_empty() {
            batch.status = BatchStatus::Canceled;
            batch.finished_at = Some(now.to_string());
        }
    }

    /// A new pending batch from this one, keeping its place in the run order (a part of it
    /// split after it ran out of memory: `sub` orders the parts).
    pub fn part(&self, id: String, sub: u32, now: &str) -> BatchRecord {
        let mut part = self.clone();
        let batch = &mut part.batch;
        batch.id = id;
        batch.status = BatchStatus::Pending;
        batch.slot = None;
        batch.progress = 0.0;
        batch.created_at = now.to_string();
        batch.started_at = None;
        batch.finished_at = None;
        batch.measured_seconds = None;
        batch.log_path = None;
        batch.error = None;
        batch.slurm = None;
        part.sub = sub;
        part.handle = None;
        part
    }
}
