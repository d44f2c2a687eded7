//! The queue: every state change of prompts, jobs and batches goes through here.
//!
//! State lives in memory for fast reads and is written to the [`Store`] before it changes in
//! memory: an operation computes a [`Change`] from the current state, writes it (one sled
//! transaction), applies it, and then waits until a flush to disk covers it before it
//! publishes its events and returns: nothing is acknowledged before it is durable. A failed
//! write changes nothing.
//!
//! **Group commit.** The flush happens after the state lock is released, so operations that
//! arrive while one flush runs share the next one: one thread flushes for everyone whose
//! change was written before the flush began (see [`Queue::flush_through`]). Later operations
//! compute on top of earlier, not yet flushed changes; sled keeps its log in order, so the
//! flush that makes a later change durable makes the earlier ones durable too. Reads (views,
//! lists) see a change as soon as it is applied, which can be a few milliseconds before it is
//! durable; its reply and its events wait (and the API's reads wait for the flush in flight).
//!
//! **Fail-stop.** A store that failed a write or a flush cannot be trusted with the next one
//! (sled's I/O errors are sticky) and memory may hold a change the disk does not: the queue
//! marks the store broken (`/healthz` answers 503), refuses every later change, and calls
//! its [`OnStorageFailure`], which in the daemon logs the reason and exits with status 74, so
//! that systemd restarts it and recovery rebuilds the state from what is on disk. Nothing of
//! the failed change was acknowledged: its reply and events wait for a flush that never came.
//! The HTTP layer and the workers only call the public methods; nothing here knows HTTP.

mod commit;
mod dependencies;
mod jobs;
mod launched;
mod notify;
mod oom;
mod plan;
mod presets;
mod prompts;
mod recovery;
mod refit;
mod retention;
mod running;
mod slots;
pub use slots::SlotAction;
mod state;
#[cfg(test)]
mod tests;
mod transitions;
mod view;

use crate::config::Config;
use crate::error::Error;
use crate::events::Events;
use crate::metrics::Metrics;
use crate::store::Store;
use commit::Flushing;
use cosmosq_shared::api::{JobCounts, QueueView};
use cosmosq_shared::plan::Limits;
use cosmosq_shared::Profile;
use state::State;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use commit::{exit_on_storage_failure, OnStorageFailure, STORAGE_FAILURE_EXIT};
pub use notify::{deliver_loop, signature};
pub use retention::retention_loop;
pub use view::ViewBytes;

/// The queue of prompts, jobs and batches: its state in memory, kept in step with the store.
pub struct Queue {
    store: Store,
    /// Set once the store failed; every later change is refused.
    store_broken: AtomicBool,
    on_storage_failure: OnStorageFailure,
    state: Mutex<State>,
    /// The highest version whose store write has completed (set under the state lock).
    written: AtomicU64,
    flushing: Mutex<Flushing>,
    flushed: Condvar,
    /// The last serialized full view; rebuilt by one request at a time when stale.
    view_cache: Mutex<Option<ViewBytes>>,
    /// Random per run, so an entity tag never survives a restart.
    instance: String,
    events: Events,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    wake: Notify,
    stopping: AtomicBool,
    batches_dir: PathBuf,
}

impl Queue {
    /// Open the store, recover from the last run (see `recovery`), and return the queue; a
    /// storage failure exits the process (see [`exit_on_storage_failure`]).
    pub fn open(
        config: Arc<Config>,
        events: Events,
        metrics: Arc<Metrics>,
    ) -> Result<Queue, String> {
        Self::open_with(config, events, metrics, exit_on_storage_failure())
    }

    /// [`Queue::open`] with another reaction to a storage failure (tests observe it).
    pub fn open_with(
        config: Arc<Config>,
        events: Events,
        metrics: Arc<Metrics>,
        on_storage_failure: OnStorageFailure,
    ) -> Result<Queue, String> {
        let store = Store::open(&config.data_dir).map_err(|e| e.to_string())?;
        let batches_dir = config.data_dir.join("batches");
        std::fs::create_dir_all(&batches_dir)
            .map_err(|e| format!("cannot create {}: {e}", batches_dir.display()))?;
        let queue = Queue {
            store,
            store_broken: AtomicBool::new(false),
            on_storage_failure,
            state: Mutex::new(State {
                cost: config.cost_model.clone(),
                profile: config.executor.profile,
                ..State::default()
            }),
            written: AtomicU64::new(0),
            flushing: Mutex::new(Flushing::default()),
            flushed: Condvar::new(),
            view_cache: Mutex::new(None),
            instance: crate::ids::new_id("q"),
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

    /// The run log of batch `batch_id` (it may not exist yet).
    pub fn batch_log_path(&self, batch_id: &str) -> PathBuf {
        self.batches_dir.join(batch_id).join("run.log")
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

    pub fn executor_profile(&self) -> Profile {
        self.config.executor.profile
    }

    pub fn counts(&self) -> JobCounts {
        self.lock().counts
    }

    pub fn running_batches(&self) -> usize {
        self.lock().live.len()
    }

    /// Pause: the running batch finishes, nothing new starts (except batches of an executed plan).
    pub fn pause(&self, reason: &str) -> Result<QueueView, Error> {
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

    pub fn resume(&self) -> Result<QueueView, Error> {
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
    ) -> Result<QueueView, Error> {
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
        // Batches of a launcher that outlives the daemon (Slurm) keep running: the next start
        // adopts them. Nothing is canceled.
        let outlive = self.config.executor.launcher == crate::config::LauncherKind::Slurm;
        let grace = if outlive { Duration::ZERO } else { grace };
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
        if outlive && !tokens.is_empty() {
            tracing::info!(
                batches = tokens.len(),
                "leaving submitted batches to Slurm; the next start adopts them"
            );
        } else if !tokens.is_empty() {
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
