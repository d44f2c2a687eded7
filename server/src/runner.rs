//! Where a batch is run: one worker per executor slot claims the next batch, runs it on the
//! executor and records the outcome.

use crate::config::SlotConfig;
use crate::executor::{BatchResult, Claimed, Executor, Handle, JobOutcome, Progress};
use crate::queue::Queue;
use cosmosq_shared::api::ErrorBody;
use cosmosq_shared::ErrorCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Sink<'a> {
    queue: &'a Queue,
    batch_id: &'a str,
}

impl Progress for Sink<'_> {
    fn report(&self, progress: Option<f64>, line: Option<String>) {
        self.queue.report_progress(self.batch_id, progress, line);
    }

    fn launcher_state(&self, state: &str, reason: Option<&str>) {
        self.queue
            .report_launcher_state(self.batch_id, state, reason);
    }

    fn found(&self, handle: &Handle) {
        if let Err(e) = self.queue.record_handle(self.batch_id, handle) {
            tracing::error!(batch = self.batch_id, error = %e, "could not record the batch's handle");
        }
    }
}

/// The videos of a batch's jobs are checked again before it runs: a path may have been
/// swapped for a symlink out of `allowed_roots`, or removed, since its prompt was created.
/// Such jobs fail with the reason; the others go back to the queue unharmed.
fn refused_inputs(queue: &Queue, claimed: &Claimed) -> Option<BatchResult> {
    let roots = &queue.config().allowed_roots;
    let mut refused = Vec::new();
    for (job, prompt) in &claimed.jobs {
        // An `input_from` job's input is the daemon's own output of another job: it must
        // still be there, wherever `allowed_roots` point.
        if job.input_from.is_some() && !std::path::Path::new(&prompt.input_video).is_file() {
            refused.push((
                job.id.clone(),
                crate::error::Error::new(
                    ErrorCode::InputRefused,
                    format!("the output it upscales is gone: {}", prompt.input_video),
                ),
            ));
            continue;
        }
        let own_input = job
            .input_from
            .is_none()
            .then_some(prompt.input_video.as_str());
        let videos = own_input
            .map(|v| ("input_video".to_string(), v))
            .into_iter()
            .chain(
                prompt
                    .control_videos
                    .iter()
                    .map(|(c, p)| (format!("control_videos.{c}"), p.as_str())),
            );
        for (what, path) in videos {
            if let Err(e) = crate::probe::recheck(path, &what, roots) {
                refused.push((job.id.clone(), e));
                break;
            }
        }
    }
    if refused.is_empty() {
        return None;
    }
    let mut result = BatchResult {
        error: Some(ErrorBody {
            code: ErrorCode::InputRefused,
            message: format!(
                "{} of the batch's jobs have a video that no longer passes the checks; the others went back to the queue",
                refused.len()
            ),
        }),
        ..BatchResult::default()
    };
    for (job, _) in &claimed.jobs {
        result
            .outcomes
            .insert(job.id.clone(), JobOutcome::NotStarted);
    }
    for (id, e) in refused {
        tracing::warn!(job = %id, code = %e.code, "a job's video failed its check before the batch ran");
        result.outcomes.insert(
            id,
            JobOutcome::Failed(ErrorBody {
                code: e.code,
                message: e.message,
            }),
        );
    }
    Some(result)
}

/// Whether the program of a batch could not be started at all (its jobs went back).
fn never_started(result: &BatchResult) -> bool {
    !result.outcomes.is_empty()
        && result
            .outcomes
            .values()
            .all(|o| *o == JobOutcome::NotStarted)
}

/// Claim and run one batch if one is ready. `None` when there was nothing to do; else whether
/// the slot's program started.
pub async fn step(queue: &Queue, executor: &dyn Executor, slot: &SlotConfig) -> Option<bool> {
    let name = slot.name.as_deref().unwrap_or("slot");
    let claimed = match queue.claim_next(name) {
        Ok(Some(c)) => c,
        Ok(None) => return None,
        Err(e) => {
            tracing::error!(error = %e, "could not claim a batch");
            tokio::time::sleep(Duration::from_secs(1)).await;
            return None;
        }
    };
    let id = claimed.batch.id.clone();
    if let Some(result) = refused_inputs(queue, &claimed) {
        queue.finish_batch(&id, result, 0.0);
        return Some(true);
    }
    tracing::info!(batch = %id, slot = name, jobs = claimed.jobs.len(), controls = ?claimed.batch.controls, "batch started");
    let started = Instant::now();
    let handle = match executor.submit(&claimed, slot).await {
        Ok(handle) => handle,
        Err(result) => {
            let ran = !never_started(&result);
            queue.finish_batch(&id, result, started.elapsed().as_secs_f64());
            return Some(ran);
        }
    };
    // Recorded before the batch is watched: a daemon killed from here on finds it again.
    if let Err(e) = queue.record_handle(&id, &handle) {
        tracing::error!(batch = %id, error = %e, "could not record the batch's handle");
    }
    Some(watch(queue, executor, &claimed, slot, Some(&handle), started).await)
}

/// Watch a submitted batch to its end and record how it ended; whether its program started.
async fn watch(
    queue: &Queue,
    executor: &dyn Executor,
    claimed: &Claimed,
    slot: &SlotConfig,
    handle: Option<&Handle>,
    started: Instant,
) -> bool {
    let id = &claimed.batch.id;
    queue.metrics().executor_started();
    let sink = Sink {
        queue,
        batch_id: id,
    };
    let finished = executor.watch(claimed, slot, handle, &sink).await;
    // The program's own run time when the launcher knows it (Slurm: without the wait for
    // resources), else the wall time since it was submitted.
    let measured = finished
        .run_seconds
        .unwrap_or_else(|| started.elapsed().as_secs_f64());
    queue.metrics().executor_finished();
    let ran = !never_started(&finished.result);
    queue.finish_batch(id, finished.result, measured);
    tracing::info!(batch = %id, seconds = measured, "batch finished");
    ran
}

/// At start: watch every batch the last run submitted to a launcher that outlives the daemon
/// (Slurm) to its end, collecting its outputs; nothing is canceled or submitted again.
pub fn adopt_all(
    queue: Arc<Queue>,
    executor: Arc<dyn Executor>,
) -> Vec<tokio::task::JoinHandle<()>> {
    if !executor.outlives_daemon() {
        return Vec::new();
    }
    let slots = queue.config().executor.slots.list();
    queue
        .adoptable()
        .into_iter()
        .filter_map(|id| match queue.adopt(&id) {
            Ok(adopted) => Some(adopted),
            Err(e) => {
                tracing::error!(batch = %id, error = %e, "cannot adopt a submitted batch");
                None
            }
        })
        .map(|(claimed, handle)| {
            let (queue, executor) = (queue.clone(), executor.clone());
            let slot = slots
                .iter()
                .find(|s| s.name == claimed.batch.slot)
                .cloned()
                .unwrap_or_default();
            tracing::info!(batch = %claimed.batch.id, handle = ?handle, "adopting a batch the last run submitted");
            tokio::spawn(async move {
                let started = Instant::now();
                watch(&queue, executor.as_ref(), &claimed, &slot, handle.as_ref(), started).await;
            })
        })
        .collect()
}

/// A slot whose program could not start waits this long before it tries again, doubling up
/// to [`MAX_BACKOFF`], so a missing program does not spin through the queue.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A worker for one executor slot: run batches until the queue stops.
pub async fn worker(queue: Arc<Queue>, executor: Arc<dyn Executor>, slot: SlotConfig) {
    let mut backoff = FIRST_BACKOFF;
    while !queue.is_stopping() {
        match step(&queue, executor.as_ref(), &slot).await {
            None => queue.wait_for_work().await,
            Some(true) => backoff = FIRST_BACKOFF,
            Some(false) => {
                tracing::warn!(
                    slot = slot.name.as_deref().unwrap_or("slot"),
                    seconds = backoff.as_secs(),
                    "the slot's program could not start; its jobs went back to the queue"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
