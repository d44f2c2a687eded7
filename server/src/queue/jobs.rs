//! Jobs: add, list, move, cancel, retry.

use super::state::{State, ORDER_GAP};
use super::Queue;
use crate::error::Error;
use crate::ids;
use crate::store::{BatchRecord, Change, JobRecord};
use cosmosq_shared::api::{
    BatchStatus, ErrorBody, Job, JobFilter, JobInput, JobOutputs, JobStatus,
};
use cosmosq_shared::ErrorCode;
use cosmosq_shared::{JobConfig, JobConfigInput};
use std::collections::BTreeMap;

impl Queue {
    /// Add one job at the bottom of the queue.
    pub fn add_job(&self, input: JobInput) -> Result<Job, Error> {
        let mut added = self
            .add_all(vec![input])
            .map_err(|e| Error { index: None, ..e })?;
        Ok(added.pop().expect("one job was added"))
    }

    /// Add jobs at the bottom of the queue in their order, all or none: one change, one
    /// flush. The error for an item that cannot be added carries its index, and names it.
    pub fn add_jobs(&self, inputs: Vec<JobInput>) -> Result<Vec<Job>, Error> {
        self.add_all(inputs).map_err(|e| match e.index {
            Some(i) => Error {
                message: format!("jobs[{i}]: {}", e.message),
                ..e
            },
            None => e,
        })
    }

    fn add_all(&self, inputs: Vec<JobInput>) -> Result<Vec<Job>, Error> {
        let profile = self.config.executor.profile;
        let defaults = profile.defaults();
        let items = inputs
            .into_iter()
            .enumerate()
            .map(|(i, input)| {
                let kind = input.kind.unwrap_or_default();
                let config = JobConfig::from_input_with(input.config, kind, &defaults)
                    .map_err(|e| Error::from(e).at(i))?;
                if input.input_from.is_some() && kind != cosmosq_shared::JobKind::Upscale {
                    return Err(Error::new(
                        ErrorCode::InputFromNeedsUpscale,
                        "input_from is for upscale jobs: their input video is that job's output",
                    )
                    .at(i));
                }
                let mut after = input.after;
                if let Some(from) = &input.input_from {
                    if !after.contains(from) {
                        after.push(from.clone());
                    }
                }
                let mut seen = std::collections::HashSet::new();
                after.retain(|a| seen.insert(a.clone()));
                Ok((input.prompt_id, kind, config, after, input.input_from))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let count = items.len();
        let mut added = Vec::with_capacity(count);
        self.mutate_then(|state, change| {
            let max = self.config.queue.max_queued_jobs;
            if state.counts.queued as usize + count > max {
                let message = if count == 1 {
                    format!("the queue already holds {max} jobs (queue.max_queued_jobs)")
                } else {
                    format!(
                        "the queue holds {} jobs: {count} more would pass queue.max_queued_jobs ({max})",
                        state.counts.queued
                    )
                };
                return Err(Error::new(ErrorCode::QueueFull, message));
            }
            let mut meta = state.meta().clone();
            let now = ids::now();
            let mut ids = Vec::with_capacity(count);
            for (i, (prompt_id, kind, config, after, input_from)) in items.into_iter().enumerate() {
                let prompt = state.prompts.get(&prompt_id).ok_or_else(|| {
                    Error::new(
                        ErrorCode::UnknownPromptId,
                        format!("no prompt with id `{prompt_id}`"),
                    )
                    .at(i)
                })?;
                runnable(profile, kind, &config, prompt).map_err(|e| e.at(i))?;
                // Only existing jobs can be named, so jobs never wait for each other in a circle.
                let mut waiting_for = Vec::new();
                let mut dead = None;
                for a in &after {
                    let Some(dep) = state.jobs.get(a) else {
                        return Err(Error::new(
                            ErrorCode::DependencyNotFound,
                            format!("after/input_from: no job with id `{a}`"),
                        )
                        .at(i));
                    };
                    match dep.job.status {
                        JobStatus::Succeeded => {}
                        s @ (JobStatus::Failed | JobStatus::Canceled) => {
                            dead.get_or_insert((a.clone(), s));
                            waiting_for.push(a.clone());
                        }
                        _ => waiting_for.push(a.clone()),
                    }
                }
                // Each key lies past every key of this change (`next_order` only grows), so
                // only the stored order can hold it.
                let order = state.free_order_key(meta.next_order, &Change::default());
                meta.next_order = order + ORDER_GAP;
                let job = Job {
                    id: ids::new_id("jb"),
                    prompt_id,
                    kind,
                    effective_weights: profile.effective_weights(&config),
                    config,
                    status: JobStatus::Queued,
                    position: None,
                    attempts: 0,
                    created_at: now.clone(),
                    started_at: None,
                    finished_at: None,
                    batch_id: None,
                    outputs: JobOutputs::default(),
                    error: None,
                    after,
                    waiting_for,
                    input_from,
                    pinned: false,
                    pruned: false,
                };
                let mut record = JobRecord { job, order };
                // Waiting for a job that failed or was canceled: it fails at once (retrying
                // that job queues it again).
                if let Some((a, s)) = dead {
                    record.fail(
                        ErrorBody::new(
                            ErrorCode::DependencyFailed,
                            format!("{a}, which this job waits for, {s}; retry it to queue this job again"),
                        ),
                        None,
                        &now,
                    );
                }
                ids.push(record.job.id.clone());
                change.jobs.push(record);
            }
            change.meta = Some(meta);
            Ok(ids)
        }, |state, ids: &Vec<String>| {
            // The new queued jobs are the last ones, in order: their positions need no count
            // (one that failed at once, its dependency dead, has none).
            let queued = ids
                .iter()
                .filter(|id| state.jobs[*id].job.status == JobStatus::Queued)
                .count();
            let mut next = state.order.len() - queued;
            added = ids
                .iter()
                .map(|id| {
                    let mut job = state.jobs[id].job.clone();
                    if job.status == JobStatus::Queued {
                        next += 1;
                        job.position = Some(next as u32);
                    }
                    job
                })
                .collect();
        })?;
        Ok(added)
    }

    pub fn job(&self, id: &str) -> Result<Job, Error> {
        let state = self.lock();
        Ok(state.job_view(state.job(id)?))
    }

    /// Jobs with `status` (all when `None`): queued ones by position, the rest newest first.
    pub fn jobs(&self, status: Option<JobStatus>) -> Vec<Job> {
        let state = self.lock();
        let mut jobs: Vec<Job> = Vec::new();
        if status.is_none() || status == Some(JobStatus::Queued) {
            jobs.extend(state.order.values().enumerate().map(|(i, id)| {
                let mut job = state.jobs[id].job.clone();
                job.position = Some(i as u32 + 1);
                job
            }));
        }
        let mut rest: Vec<&JobRecord> = state
            .jobs
            .values()
            .filter(|r| {
                r.job.status != JobStatus::Queued && status.is_none_or(|s| s == r.job.status)
            })
            .collect();
        rest.sort_by(|a, b| (&b.job.created_at, &b.job.id).cmp(&(&a.job.created_at, &a.job.id)));
        jobs.extend(rest.into_iter().map(|r| r.job.clone()));
        jobs
    }

    /// Move a queued job to a 1-based position (past the end = bottom).
    pub fn move_job(&self, id: &str, position: u32) -> Result<Job, Error> {
        if position == 0 {
            return Err(Error::new(
                ErrorCode::PositionOutOfRange,
                "position is 1-based: 1 is the top",
            ));
        }
        self.mutate(|state, change| {
            let record = state.job(id)?;
            if record.job.status != JobStatus::Queued {
                return Err(Error::new(ErrorCode::JobNotQueued,
                    format!("only queued jobs can move; this one is {}", record.job.status),
                ));
            }
            if let Some(batch) = &record.job.batch_id {
                return Err(Error::new(ErrorCode::JobInPendingBatch,
                    format!("the job waits in batch {batch} of an executed plan; cancel it to take it out"),
                ));
            }
            let others: Vec<u64> = state
                .order
                .keys()
                .copied()
                .filter(|k| *k != record.order)
                .collect();
            let index = (position as usize - 1).min(others.len());
            let before = index.checked_sub(1).map(|i| others[i]);
            let after = others.get(index).copied();
            let key = match (before, after) {
                (None, None) => Some(record.order),
                (None, Some(next)) => (next > 0).then_some(next / 2),
                (Some(prev), None) => prev.checked_add(ORDER_GAP),
                (Some(prev), Some(next)) => (next - prev >= 2).then_some(prev + (next - prev) / 2),
            };
            match key {
                Some(key) => {
                    if key != record.order {
                        let mut moved = record.clone();
                        moved.order = key;
                        if key >= state.meta().next_order {
                            let mut meta = state.meta().clone();
                            meta.next_order = key + ORDER_GAP;
                            change.meta = Some(meta);
                        }
                        change.jobs.push(moved);
                    }
                }
                None => renumber(state, change, id, index),
            }
            Ok(())
        })?;
        self.job(id)
    }

    /// Replace the settings of a queued job that waits in no batch (validated as for a new
    /// job; settings left out take their defaults); it keeps its place.
    pub fn edit_job(&self, id: &str, input: JobConfigInput) -> Result<Job, Error> {
        let profile = self.config.executor.profile;
        self.mutate(|state, change| {
            let record = state.job(id)?;
            if record.job.status != JobStatus::Queued {
                return Err(Error::new(
                    ErrorCode::JobNotQueued,
                    format!(
                        "only queued jobs can be edited; this one is {}",
                        record.job.status
                    ),
                ));
            }
            if let Some(batch) = &record.job.batch_id {
                return Err(Error::new(
                    ErrorCode::JobInPendingBatch,
                    format!("the job waits in batch {batch} of an executed plan"),
                ));
            }
            let kind = record.job.kind;
            let config = JobConfig::from_input_with(input, kind, &profile.defaults())?;
            let prompt = state.prompts.get(&record.job.prompt_id).ok_or_else(|| {
                Error::new(ErrorCode::PromptDeleted, "the job's prompt was deleted")
            })?;
            runnable(profile, kind, &config, prompt)?;
            let mut edited = record.clone();
            edited.job.effective_weights = profile.effective_weights(&config);
            edited.job.config = config;
            change.jobs.push(edited);
            Ok(())
        })?;
        self.job(id)
    }

    /// Cancel a queued job, or a running one (its batch stops; the batch's other jobs go back
    /// to their places when it has stopped).
    pub fn cancel_job(&self, id: &str) -> Result<Job, Error> {
        let stop = self.mutate(|state, change| {
            let record = state.job(id)?;
            if record.job.status.is_terminal() {
                return Err(Error::new(
                    ErrorCode::JobFinished,
                    format!("the job already {}", record.job.status),
                ));
            }
            let mut pending = BTreeMap::new();
            let stop = cancel_into(state, change, &mut pending, record, &ids::now())?;
            change.batches.extend(pending.into_values());
            Ok(stop)
        })?;
        self.stop_batches(stop);
        self.job(id)
    }

    /// Cancel every unfinished job `filter` takes, in one change; the jobs canceled.
    pub fn cancel_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>, Error> {
        let (ids, stop) = self.mutate(|state, change| {
            let now = ids::now();
            let mut pending = BTreeMap::new();
            let (mut ids, mut stop) = (Vec::new(), Vec::new());
            for record in matching(state, filter)? {
                if record.job.status.is_terminal() {
                    continue;
                }
                stop.extend(cancel_into(state, change, &mut pending, record, &now)?);
                ids.push(record.job.id.clone());
            }
            change.batches.extend(pending.into_values());
            Ok((ids, stop))
        })?;
        self.stop_batches(stop);
        ids.iter().map(|id| self.job(id)).collect()
    }

    /// Stop the running batches of jobs just canceled.
    fn stop_batches(&self, batches: impl IntoIterator<Item = String>) {
        let state = self.lock();
        for batch_id in batches {
            if let Some(live) = state.live.get(&batch_id) {
                live.cancel.cancel();
            }
        }
    }

    /// Put a failed or canceled job back at the bottom of the queue, with a fresh attempt count.
    pub fn retry_job(&self, id: &str) -> Result<Job, Error> {
        self.mutate(|state, change| {
            let record = state.job(id)?;
            let mut meta = state.meta().clone();
            self.retry_into(state, change, &mut meta, record)?;
            change.meta = Some(meta);
            Ok(())
        })?;
        self.job(id)
    }

    /// Retry every failed or canceled job `filter` takes that can run again (its prompt is
    /// there, the executor takes it), in one change, at the bottom in their order; the jobs
    /// retried.
    pub fn retry_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>, Error> {
        let ids = self.mutate(|state, change| {
            let mut meta = state.meta().clone();
            let mut ids = Vec::new();
            for record in matching(state, filter)? {
                if self.retry_into(state, change, &mut meta, record).is_ok() {
                    ids.push(record.job.id.clone());
                }
            }
            change.meta = Some(meta);
            Ok(ids)
        })?;
        ids.iter().map(|id| self.job(id)).collect()
    }

    /// Queue `record` again at the bottom (`meta.next_order`), or say why it cannot be.
    fn retry_into(
        &self,
        state: &State,
        change: &mut Change,
        meta: &mut crate::store::Meta,
        record: &JobRecord,
    ) -> Result<(), Error> {
        if !matches!(record.job.status, JobStatus::Failed | JobStatus::Canceled) {
            return Err(Error::new(
                ErrorCode::JobNotRetryable,
                format!(
                    "only failed or canceled jobs can be retried; this one is {}",
                    record.job.status
                ),
            ));
        }
        let Some(prompt) = state.prompts.get(&record.job.prompt_id) else {
            return Err(Error::new(
                ErrorCode::PromptDeleted,
                "the job's prompt was deleted",
            ));
        };
        // The executor may have changed since the job was added.
        let profile = self.config.executor.profile;
        profile.check(record.job.kind, &record.job.config, prompt.video.frames)?;
        // Past every key of this change (`next_order` only grows): only stored keys matter.
        let order = state.free_order_key(meta.next_order, &Change::default());
        meta.next_order = order + ORDER_GAP;
        let mut retried = record.clone();
        retried.reset_for_retry(order);
        retried.job.effective_weights = profile.effective_weights(&retried.job.config);
        change.jobs.push(retried);
        Ok(())
    }
}

/// Whether `profile` can run a job of `kind` with `config` on `prompt`: the program takes it,
/// and every control it cannot generate has its video on the prompt.
fn runnable(
    profile: cosmosq_shared::Profile,
    kind: cosmosq_shared::JobKind,
    config: &JobConfig,
    prompt: &cosmosq_shared::api::Prompt,
) -> Result<(), Error> {
    profile.check(kind, config, prompt.video.frames)?;
    for control in config.signature().iter() {
        if !control.can_generate() && !prompt.control_videos.contains_key(&control) {
            return Err(Error::new(
                ErrorCode::ControlVideoRequired,
                format!(
                    "{control} cannot be generated from the video: add a {control} control video to the prompt"
                ),
            ));
        }
    }
    Ok(())
}

/// Cancel `record` (unfinished) into `change`: out of its pending batch (kept in `pending`,
/// so several jobs of one batch leave it together), or the id of its running batch to stop.
fn cancel_into(
    state: &State,
    change: &mut Change,
    pending: &mut BTreeMap<String, BatchRecord>,
    record: &JobRecord,
    now: &str,
) -> Result<Option<String>, Error> {
    let mut canceled = record.clone();
    canceled.cancel(now);
    change.jobs.push(canceled);
    let Some(batch_id) = &record.job.batch_id else {
        return Ok(None);
    };
    let batch = state.batch(batch_id)?;
    match batch.batch.status {
        BatchStatus::Pending => {
            pending
                .entry(batch_id.clone())
                .or_insert_with(|| batch.clone())
                .remove_job(&record.job.id, now);
            Ok(None)
        }
        BatchStatus::Running => Ok(Some(batch_id.clone())),
        _ => Ok(None),
    }
}

/// The jobs `filter` takes: the listed ones in their order (each must exist), else every
/// job, queued ones first by position; then only those of the status and prompt given.
fn matching<'a>(state: &'a State, filter: &JobFilter) -> Result<Vec<&'a JobRecord>, Error> {
    if filter.ids.is_none() && filter.status.is_none() && filter.prompt_id.is_none() {
        return Err(Error::new(
            ErrorCode::FilterRequired,
            "give ids, status or prompt_id: an empty filter would take every job",
        ));
    }
    let listed: Vec<&JobRecord> = match &filter.ids {
        Some(ids) => ids
            .iter()
            .enumerate()
            .map(|(i, id)| state.job(id).map_err(|e| e.at(i)))
            .collect::<Result<_, _>>()?,
        None => {
            let mut all: Vec<&JobRecord> = state.jobs.values().collect();
            all.sort_by_key(|r| {
                (
                    r.job.status != JobStatus::Queued,
                    r.order,
                    r.job.created_at.clone(),
                )
            });
            all
        }
    };
    Ok(listed
        .into_iter()
        .filter(|r| filter.status.is_none_or(|s| r.job.status == s))
        .filter(|r| {
            filter
                .prompt_id
                .as_ref()
                .is_none_or(|p| &r.job.prompt_id == p)
        })
        .collect())
}

/// No room between neighbours: give every queued job a fresh, evenly spaced key, with `id`
/// at `index`.
fn renumber(state: &State, change: &mut Change, id: &str, index: usize) {
    let mut ids: Vec<&String> = state.order.values().filter(|j| *j != id).collect();
    let moved = id.to_string();
    ids.insert(index, &moved);
    for (i, job_id) in ids.iter().enumerate() {
        let mut record = state.jobs[*job_id].clone();
        record.order = (i as u64 + 1) * ORDER_GAP;
        change.jobs.push(record);
    }
    let mut meta = state.meta().clone();
    meta.next_order = meta.next_order.max((ids.len() as u64 + 1) * ORDER_GAP);
    change.meta = Some(meta);
}
