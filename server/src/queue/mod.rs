//! The queue: every state change of prompts, jobs and batches goes through here.
//!
//! State lives in memory for fast reads and is written to the [`Store`] before it changes in
//! memory: an operation computes a [`Change`] from the current state, commits it (one flushed
//! transaction), then applies it and publishes events. A failed commit changes nothing.
//! The HTTP layer and the workers only call the public methods; nothing here knows HTTP.

mod batches;
mod jobs;
mod recovery;

use crate::config::Config;
use crate::error::ApiError;
use crate::events::Events;
use crate::metrics::Metrics;
use crate::store::{BatchRecord, Change, JobRecord, Meta, Store};
use cosmosq_shared::api::{
    Batch, BatchStatus, Event, Job, JobCounts, JobStatus, Prompt, QueueView,
};
use cosmosq_shared::plan::{Limits, PlanMode};
use cosmosq_shared::CostModel;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use batches::Claimed;

/// Spacing of queue-order keys, so a move can usually take the midpoint of its neighbours.
const ORDER_GAP: u64 = 1 << 20;
/// How many previews are remembered for execution by `plan_id`.
const REMEMBERED_PREVIEWS: usize = 64;
/// Log lines kept per running batch for progress events.
const LOG_TAIL: usize = 20;

/// A batch being run: how to stop it and what it has reported.
struct Live {
    cancel: CancellationToken,
    progress: f64,
    log_tail: VecDeque<String>,
}

#[derive(Default)]
struct State {
    prompts: HashMap<String, Prompt>,
    jobs: HashMap<String, JobRecord>,
    /// Queued jobs by order key.
    order: BTreeMap<u64, String>,
    batches: HashMap<String, BatchRecord>,
    /// Pending batches by run order.
    pending: BTreeMap<(u64, u32), String>,
    counts: JobCounts,
    meta: Option<Meta>,
    cost: CostModel,
    /// Recently previewed plans: (plan_id, mode, limits).
    previews: VecDeque<(String, PlanMode, Limits)>,
    live: HashMap<String, Live>,
}

impl State {
    fn meta(&self) -> &Meta {
        self.meta.as_ref().expect("meta is loaded at start")
    }

    fn job(&self, id: &str) -> Result<&JobRecord, ApiError> {
        self.jobs
            .get(id)
            .ok_or_else(|| ApiError::not_found("job", id))
    }

    fn batch(&self, id: &str) -> Result<&BatchRecord, ApiError> {
        self.batches
            .get(id)
            .ok_or_else(|| ApiError::not_found("batch", id))
    }

    /// 1-based place of a queued job.
    fn position(&self, record: &JobRecord) -> Option<u32> {
        (record.job.status == JobStatus::Queued)
            .then(|| self.order.range(..record.order).count() as u32 + 1)
    }

    fn job_view(&self, record: &JobRecord) -> Job {
        let mut job = record.job.clone();
        job.position = self.position(record);
        job
    }

    fn batch_view(&self, record: &BatchRecord) -> Batch {
        let mut batch = record.batch.clone();
        if let Some(live) = self.live.get(&batch.id) {
            batch.progress = live.progress;
        }
        batch
    }

    /// An order key at or after `desired` that no queued job holds.
    fn free_order_key(&self, desired: u64, change: &Change) -> u64 {
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

    fn apply(&mut self, change: Change) {
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
                if old.job.status == JobStatus::Queued {
                    self.order.remove(&old.order);
                }
            }
        }
        for record in change.jobs {
            *self.counts.get_mut(record.job.status) += 1;
            if record.job.status == JobStatus::Queued {
                self.order.insert(record.order, record.job.id.clone());
            }
            self.jobs.insert(record.job.id.clone(), record);
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

    fn queue_event(&self) -> Event {
        let meta = self.meta();
        Event::Queue {
            paused: meta.paused,
            paused_reason: meta.paused_reason.clone(),
            settings: meta.settings,
            counts: self.counts,
        }
    }
}

pub struct Queue {
    store: Store,
    state: Mutex<State>,
    events: Events,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    wake: Notify,
    stopping: AtomicBool,
    batches_dir: PathBuf,
}

impl Queue {
    /// Open the store, recover from the last run (see `recovery`), and return the queue.
    pub fn open(
        config: Arc<Config>,
        events: Events,
        metrics: Arc<Metrics>,
    ) -> Result<Queue, String> {
        let store = Store::open(&config.data_dir).map_err(|e| e.to_string())?;
        let batches_dir = config.data_dir.join("batches");
        std::fs::create_dir_all(&batches_dir)
            .map_err(|e| format!("cannot create {}: {e}", batches_dir.display()))?;
        let queue = Queue {
            store,
            state: Mutex::new(State {
                cost: config.cost_model.clone(),
                ..State::default()
            }),
            events,
            config,
            metrics,
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
            batches_dir,
        };
        queue.recover().map_err(|e| e.message)?;
        Ok(queue)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves memory as it was before the failed change
        // (changes apply only after commit), so the state is still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Compute a change from the current state, make it durable, apply it, publish events.
    fn mutate<T>(
        &self,
        f: impl FnOnce(&State, &mut Change) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.mutate_then(f, |_, _| {})
    }

    /// [`Queue::mutate`], then `after` on the new state before the lock is released.
    fn mutate_then<T>(
        &self,
        f: impl FnOnce(&State, &mut Change) -> Result<T, ApiError>,
        after: impl FnOnce(&mut State, &T),
    ) -> Result<T, ApiError> {
        let mut state = self.lock();
        let mut change = Change::default();
        let out = f(&state, &mut change)?;
        if change.is_empty() {
            after(&mut state, &out);
            return Ok(out);
        }
        self.store.commit(&change)?;
        let job_ids: Vec<String> = change.jobs.iter().map(|r| r.job.id.clone()).collect();
        let batch_ids: Vec<String> = change.batches.iter().map(|r| r.batch.id.clone()).collect();
        state.apply(change);
        after(&mut state, &out);
        for id in batch_ids {
            let batch = state.batch_view(&state.batches[&id]);
            self.events.publish(Event::Batch { batch });
        }
        for id in job_ids {
            let job = state.job_view(&state.jobs[&id]);
            self.events.publish(Event::Job { job });
        }
        self.events.publish(state.queue_event());
        drop(state);
        self.wake.notify_waiters();
        Ok(out)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn events(&self) -> &Events {
        &self.events
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn executor_profile(&self) -> &str {
        &self.config.executor.profile
    }

    pub fn cost_model(&self) -> CostModel {
        self.lock().cost.clone()
    }

    pub fn counts(&self) -> JobCounts {
        self.lock().counts
    }

    pub fn running_batches(&self) -> usize {
        self.lock().live.len()
    }

    pub fn store_size(&self) -> u64 {
        self.store.size_on_disk()
    }

    /// The queue as `GET /api/v1/queue` shows it.
    pub fn view(&self) -> QueueView {
        let state = self.lock();
        let meta = state.meta();
        let mut running: Vec<&JobRecord> = state
            .jobs
            .values()
            .filter(|r| r.job.status == JobStatus::Running)
            .collect();
        running.sort_by(|a, b| (&a.job.started_at, a.order).cmp(&(&b.job.started_at, b.order)));
        let mut jobs: Vec<Job> = running.into_iter().map(|r| r.job.clone()).collect();
        jobs.extend(state.order.values().enumerate().map(|(i, id)| {
            let mut job = state.jobs[id].job.clone();
            job.position = Some(i as u32 + 1);
            job
        }));
        QueueView {
            paused: meta.paused,
            paused_reason: meta.paused_reason.clone(),
            settings: meta.settings,
            counts: state.counts,
            executor: self.config.executor.profile.clone(),
            jobs,
        }
    }

    /// Pause: the running batch finishes, nothing new starts (except batches of an executed plan).
    pub fn pause(&self, reason: &str) -> Result<QueueView, ApiError> {
        self.mutate(|state, change| {
            let mut meta = state.meta().clone();
            if !meta.paused {
                meta.paused = true;
                meta.paused_reason = Some(reason.to_string());
                change.meta = Some(meta);
            }
            Ok(())
        })?;
        Ok(self.view())
    }

    pub fn resume(&self) -> Result<QueueView, ApiError> {
        self.mutate(|state, change| {
            let mut meta = state.meta().clone();
            if meta.paused {
                meta.paused = false;
                meta.paused_reason = None;
                change.meta = Some(meta);
            }
            Ok(())
        })?;
        Ok(self.view())
    }

    pub fn update_settings(
        &self,
        patch: cosmosq_shared::api::QueueSettingsPatch,
    ) -> Result<QueueView, ApiError> {
        self.mutate(|state, change| {
            let mut meta = state.meta().clone();
            if let Some(m) = patch.mix_controls {
                meta.settings.mix_controls = m;
            }
            if let Some(a) = patch.auto_batch {
                meta.settings.auto_batch = a;
            }
            if let Some(n) = patch.max_batch_size {
                Limits::new(n).validate()?;
                meta.settings.max_batch_size = n;
            }
            if &meta != state.meta() {
                change.meta = Some(meta);
            }
            Ok(())
        })?;
        Ok(self.view())
    }

    /// Wait until something may have changed for the workers (or a short while passed).
    pub async fn wait_for_work(&self) {
        let _ = tokio::time::timeout(Duration::from_millis(500), self.wake.notified()).await;
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Graceful shutdown: start no new batch, give running ones `grace` to finish, stop the
    /// rest (their jobs go back to the queue), then record a clean stop.
    pub async fn shutdown(&self, grace: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
        let deadline = tokio::time::Instant::now() + grace;
        while self.running_batches() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let tokens: Vec<CancellationToken> = self
            .lock()
            .live
            .values()
            .map(|l| l.cancel.clone())
            .collect();
        if !tokens.is_empty() {
            tracing::warn!(
                batches = tokens.len(),
                "grace period over: stopping running batches"
            );
            for t in tokens {
                t.cancel();
            }
            while self.running_batches() > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let result = self.mutate(|state, change| {
            let mut meta = state.meta().clone();
            meta.clean_shutdown = true;
            change.meta = Some(meta);
            Ok(())
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "could not record the clean stop");
        }
    }
}
