//! Where a batch is run: one worker per executor slot claims the next batch, runs it on the
//! executor and records the outcome.

use crate::config::SlotConfig;
use crate::executor::{Executor, Progress};
use crate::queue::Queue;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Sink<'a> {
    queue: &'a Queue,
    batch_id: &'a str,
}

impl Progress for Sink<'_> {
    fn report(&self, progress: f64, line: Option<String>) {
        self.queue.report_progress(self.batch_id, progress, line);
    }
}

/// Claim and run one batch if one is ready; false when there was nothing to do.
pub async fn step(queue: &Queue, executor: &dyn Executor, slot: &SlotConfig) -> bool {
    let name = slot.name.as_deref().unwrap_or("slot");
    let claimed = match queue.claim_next(name) {
        Ok(Some(c)) => c,
        Ok(None) => return false,
        Err(e) => {
            tracing::error!(error = %e, "could not claim a batch");
            tokio::time::sleep(Duration::from_secs(1)).await;
            return false;
        }
    };
    let id = claimed.batch.id.clone();
    tracing::info!(batch = %id, slot = name, jobs = claimed.jobs.len(), controls = ?claimed.batch.controls, "batch started");
    queue.metrics().executor_started();
    let started = Instant::now();
    let sink = Sink {
        queue,
        batch_id: &id,
    };
    let result = executor.run(&claimed, slot, &sink).await;
    let measured = started.elapsed().as_secs_f64();
    queue.metrics().executor_finished();
    queue.finish_batch(&id, result, measured);
    tracing::info!(batch = %id, seconds = measured, "batch finished");
    true
}

/// A worker for one executor slot: run batches until the queue stops.
pub async fn worker(queue: Arc<Queue>, executor: Arc<dyn Executor>, slot: SlotConfig) {
    while !queue.is_stopping() {
        if !step(&queue, executor.as_ref(), &slot).await {
            queue.wait_for_work().await;
        }
    }
}
