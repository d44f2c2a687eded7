//! Prompts and jobs: add, list, move, cancel, retry, delete.

use super::{Queue, State, ORDER_GAP};
use crate::error::Error;
use crate::ids;
use crate::probe;
use crate::store::{Change, JobRecord};
use cosmosq_shared::api::{
    BatchStatus, ErrorBody, Job, JobInput, JobOutputs, JobStatus, Prompt, PromptInput,
};
use cosmosq_shared::ErrorCode;
use cosmosq_shared::{Control, JobConfig};
use std::collections::BTreeMap;

const MAX_TEXT: usize = 10_000;
const MAX_NAME: usize = 200;

fn check_text(field: &str, value: &str, max: usize) -> Result<(), Error> {
    if value.chars().count() > max {
        return Err(Error::new(
            ErrorCode::TextTooLong,
            format!("{field} must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(Error::new(
            ErrorCode::TextHasControlCharacters,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(())
}

/// A short default name: the first words of the prompt text.
fn default_name(text: &str) -> String {
    let mut name = String::new();
    for word in text.split_whitespace().take(8) {
        if name.chars().count() + word.chars().count() > 60 {
            break;
        }
        if !name.is_empty() {
            name.push(' ');
        }
        name.push_str(word);
    }
    if name.is_empty() {
        "prompt".into()
    } else {
        name
    }
}

impl Queue {
    /// Check the input, probe the video (outside the lock: it runs ffprobe), store the prompt.
    pub fn add_prompt(&self, input: PromptInput) -> Result<Prompt, Error> {
        let text = input.text.trim().to_string();
        if text.is_empty() {
            return Err(Error::new(
                ErrorCode::TextRequired,
                "text must not be empty",
            ));
        }
        check_text("text", &text, MAX_TEXT)?;
        let name = match input.name.as_deref().map(str::trim) {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => default_name(&text),
        };
        check_text("name", &name, MAX_NAME)?;
        let negative_prompt = input.negative_prompt.filter(|n| !n.trim().is_empty());
        if let Some(n) = &negative_prompt {
            check_text("negative_prompt", n, MAX_TEXT)?;
        }
        let roots = &self.config.allowed_roots;
        let mut control_videos = BTreeMap::new();
        for (key, path) in &input.control_videos {
            let control: Control =
                key.parse()
                    .map_err(|e: cosmosq_shared::control::UnknownControl| {
                        Error::new(ErrorCode::UnknownControl, e.to_string())
                    })?;
            let path = probe::check_path(path, &format!("control_videos.{key}"), roots)?;
            control_videos.insert(control, path.display().to_string());
        }
        let input_video = probe::check_path(&input.input_video, "input_video", roots)?;
        let timeout = std::time::Duration::from_secs_f64(self.config.probe_timeout_seconds);
        let video = probe::probe(&self.config.ffprobe, &input_video, timeout)?;
        let prompt = Prompt {
            id: ids::new_id("ps"),
            name,
            text,
            negative_prompt,
            input_video: input_video.display().to_string(),
            video,
            control_videos,
            created_at: ids::now(),
        };
        self.mutate(|_, change| {
            change
                .prompts
                .push((prompt.id.clone(), Some(prompt.clone())));
            Ok(())
        })?;
        Ok(prompt)
    }

    /// Prompts, newest first.
    pub fn prompts(&self) -> Vec<Prompt> {
        let state = self.lock();
        let mut prompts: Vec<Prompt> = state.prompts.values().cloned().collect();
        prompts.sort_by(|a, b| (&b.created_at, &b.id).cmp(&(&a.created_at, &a.id)));
        prompts
    }

    pub fn prompt(&self, id: &str) -> Result<Prompt, Error> {
        self.lock()
            .prompts
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found(ErrorCode::PromptNotFound, "prompt", id))
    }

    /// Delete a prompt no queued or running job needs (finished jobs keep their history).
    pub fn delete_prompt(&self, id: &str) -> Result<(), Error> {
        self.mutate(|state, change| {
            if !state.prompts.contains_key(id) {
                return Err(Error::not_found(ErrorCode::PromptNotFound, "prompt", id));
            }
            let busy = state
                .jobs
                .values()
                .any(|r| r.job.prompt_id == id && !r.job.status.is_terminal());
            if busy {
                return Err(Error::new(
                    ErrorCode::PromptInUse,
                    "queued or running jobs use this prompt; cancel them first",
                ));
            }
            change.prompts.push((id.to_string(), None));
            Ok(())
        })
    }

    /// Add one job at the bottom of the queue.
    pub fn add_job(&self, input: JobInput) -> Result<Job, Error> {
        let kind = input.kind.unwrap_or_default();
        let profile = self.config.executor.profile;
        let config = JobConfig::from_input_with(input.config, kind, &profile.defaults())?;
        profile.check(kind, &config)?;
        // The reply's view is taken right after the change applies: the new job is then the
        // last one, so its position needs no count of the whole queue.
        let mut added = None;
        self.mutate_then(|state, change| {
            let prompt = state.prompts.get(&input.prompt_id).ok_or_else(|| {
                Error::new(ErrorCode::UnknownPromptId,
                    format!("no prompt with id `{}`", input.prompt_id),
                )
            })?;
            for control in config.signature().iter() {
                if !control.can_generate() && !prompt.control_videos.contains_key(&control) {
                    return Err(Error::new(ErrorCode::ControlVideoRequired,
                        format!(
                            "{control} cannot be generated from the video: add a {control} control video to the prompt"
                        ),
                    ));
                }
            }
            if state.counts.queued as usize >= self.config.queue.max_queued_jobs {
                return Err(Error::new(ErrorCode::QueueFull,
                    format!(
                        "the queue already holds {} jobs (queue.max_queued_jobs)",
                        self.config.queue.max_queued_jobs
                    ),
                ));
            }
            let mut meta = state.meta().clone();
            let order = state.free_order_key(meta.next_order, change);
            meta.next_order = order + ORDER_GAP;
            change.meta = Some(meta);
            let job = Job {
                id: ids::new_id("jb"),
                prompt_id: prompt.id.clone(),
                kind,
                config,
                status: JobStatus::Queued,
                position: None,
                attempts: 0,
                created_at: ids::now(),
                started_at: None,
                finished_at: None,
                batch_id: None,
                outputs: JobOutputs::default(),
                error: None,
            };
            let id = job.id.clone();
            change.jobs.push(JobRecord { job, order });
            Ok(id)
        }, |state, id: &String| added = Some(state.job_view(&state.jobs[id])))?;
        Ok(added.expect("a committed add records its view"))
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
            let mut canceled = record.clone();
            canceled.job.status = cosmosq_shared::api::JobStatus::Canceled;
            canceled.job.finished_at = Some(ids::now());
            canceled.job.error = Some(ErrorBody {
                code: ErrorCode::Canceled,
                message: "canceled by a user".into(),
            });
            let mut stop = None;
            if let Some(batch_id) = &record.job.batch_id {
                let batch = state.batch(batch_id)?;
                match batch.batch.status {
                    BatchStatus::Pending => {
                        // Take it out of the waiting batch; an emptied batch is canceled.
                        let mut b = batch.clone();
                        b.batch.job_ids.retain(|j| j != id);
                        if b.batch.job_ids.is_empty() {
                            b.batch.status = BatchStatus::Canceled;
                            b.batch.finished_at = Some(ids::now());
                        }
                        change.batches.push(b);
                    }
                    BatchStatus::Running => stop = Some(batch_id.clone()),
                    _ => {}
                }
            }
            change.jobs.push(canceled);
            Ok(stop)
        })?;
        if let Some(batch_id) = stop {
            if let Some(live) = self.lock().live.get(&batch_id) {
                live.cancel.cancel();
            }
        }
        self.job(id)
    }

    /// Put a failed or canceled job back at the bottom of the queue, with a fresh attempt count.
    pub fn retry_job(&self, id: &str) -> Result<Job, Error> {
        self.mutate(|state, change| {
            let record = state.job(id)?;
            if !matches!(record.job.status, JobStatus::Failed | JobStatus::Canceled) {
                return Err(Error::new(
                    ErrorCode::JobNotRetryable,
                    format!(
                        "only failed or canceled jobs can be retried; this one is {}",
                        record.job.status
                    ),
                ));
            }
            if !state.prompts.contains_key(&record.job.prompt_id) {
                return Err(Error::new(
                    ErrorCode::PromptDeleted,
                    "the job's prompt was deleted",
                ));
            }
            // The executor may have changed since the job was added.
            self.config
                .executor
                .profile
                .check(record.job.kind, &record.job.config)?;
            let mut meta = state.meta().clone();
            let order = state.free_order_key(meta.next_order, change);
            meta.next_order = order + ORDER_GAP;
            change.meta = Some(meta);
            let mut retried = record.clone();
            retried.order = order;
            let job = &mut retried.job;
            job.status = JobStatus::Queued;
            job.attempts = 0;
            job.started_at = None;
            job.finished_at = None;
            job.batch_id = None;
            job.outputs = JobOutputs::default();
            job.error = None;
            change.jobs.push(retried);
            Ok(())
        })?;
        self.job(id)
    }
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
