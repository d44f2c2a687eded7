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

mod batches;
mod jobs;
mod recovery;

use crate::config::Config;
use crate::error::Error;
use crate::events::Events;
use crate::metrics::Metrics;
use crate::store::{BatchRecord, Change, JobRecord, Meta, Store, StoreError};
use cosmosq_shared::api::{
    Batch, BatchStatus, Event, Job, JobCounts, JobStatus, Prompt, QueueView,
};
use cosmosq_shared::plan::{Limits, PlanJob, PlanMode};
use cosmosq_shared::ErrorCode;
use cosmosq_shared::{CostModel, Profile};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use batches::Claimed;

/// Spacing of queue-order keys, so a move can usually take the midpoint of its neighbours.
const ORDER_GAP: u64 = 1 << 20;
/// How many previews are remembered for execution by `plan_id`.
const REMEMBERED_PREVIEWS: usize = 64;
/// Log lines kept per running batch for progress events, and their total size: every event
/// in the hub's backlog (1,024) carries a tail, so this bounds what slow clients can hold.
const LOG_TAIL: usize = 20;
const LOG_TAIL_BYTES: usize = 16 << 10;
/// A line longer than this is shortened in the tail (the batch's `run.log` keeps it whole).
const LOG_TAIL_LINE_BYTES: usize = 4 << 10;

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
    /// Ids of the running jobs (so the queue view need not scan every job).
    running: HashSet<String>,
    /// The planner's view of each queued job, kept with the job, so a plan's input is taken
    /// under the lock by sharing (100,000 copies took 60 ms there).
    plan_jobs: HashMap<String, Arc<PlanJob>>,
    batches: HashMap<String, BatchRecord>,
    /// Pending batches by run order.
    pending: BTreeMap<(u64, u32), String>,
    counts: JobCounts,
    meta: Option<Meta>,
    cost: CostModel,
    /// The executor's profile (what it can run, whether it has a batched pass).
    profile: Profile,
    /// Recently previewed plans: (plan_id, mode, limits).
    previews: VecDeque<(String, PlanMode, Limits)>,
    live: HashMap<String, Live>,
    /// Bumped by every applied change: the version of everything `view` shows.
    version: u64,
    /// Events of applied changes, by version, waiting for a flush that covers them.
    outbox: VecDeque<(u64, Event)>,
}

impl State {
    fn meta(&self) -> &Meta {
        self.meta.as_ref().expect("meta is loaded at start")
    }

    /// The planner's limits: the queue settings' and what the executor can do.
    fn limits(&self) -> Limits {
        cosmosq_shared::preview::limits(&self.meta().settings, self.profile)
    }

    fn job(&self, id: &str) -> Result<&JobRecord, Error> {
        self.jobs
            .get(id)
            .ok_or_else(|| Error::not_found(ErrorCode::JobNotFound, "job", id))
    }

    fn batch(&self, id: &str) -> Result<&BatchRecord, Error> {
        self.batches
            .get(id)
            .ok_or_else(|| Error::not_found(ErrorCode::BatchNotFound, "batch", id))
    }

    /// 1-based place of a queued job.
    fn position(&self, record: &JobRecord) -> Option<u32> {
        if record.job.status != JobStatus::Queued {
            return None;
        }
        // The last job (every add lands there) without counting the whole queue.
        if self.order.last_key_value().map(|(k, _)| *k) == Some(record.order) {
            return Some(self.order.len() as u32);
        }
        Some(self.order.range(..record.order).count() as u32 + 1)
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

fn storage_unavailable() -> Error {
    Error::new(
        ErrorCode::StorageFailed,
        "the daemon's store failed a write; the daemon is stopping and nothing more is accepted",
    )
}

/// The serialized queue view of one state version (`GET /api/v1/queue` without paging).
#[derive(Clone)]
pub struct ViewBytes {
    /// Strong entity tag: this daemon run's instance id and the state version.
    pub etag: String,
    pub body: actix_web::web::Bytes,
    version: u64,
}

/// What the queue does once its store failed (see the module docs).
pub type OnStorageFailure = Arc<dyn Fn(&StoreError) + Send + Sync>;

/// Exit status of a daemon stopped by a storage failure (`EX_IOERR` of sysexits.h).
pub const STORAGE_FAILURE_EXIT: i32 = 74;

/// The daemon's [`OnStorageFailure`]: say why on stderr and exit with status 74.
pub fn exit_on_storage_failure() -> OnStorageFailure {
    Arc::new(|e: &StoreError| {
        tracing::error!(error = %e, "the store failed: stopping (systemd restarts the daemon; recovery rebuilds the state from disk)");
        eprintln!("cosmosq: stopping after a storage failure: {e}");
        std::process::exit(STORAGE_FAILURE_EXIT);
    })
}

/// Group commit bookkeeping (see the module docs).
#[derive(Default)]
struct Flushing {
    /// Every change with a version up to this one is on disk.
    flushed: u64,
    /// A thread is flushing now; the others wait on `Queue::flushed`.
    busy: bool,
}

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
        f: impl FnOnce(&State, &mut Change) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.mutate_then(f, |_, _| {})
    }

    /// [`Queue::mutate`], then `after` on the new state before the lock is released.
    fn mutate_then<T>(
        &self,
        f: impl FnOnce(&State, &mut Change) -> Result<T, Error>,
        after: impl FnOnce(&mut State, &T),
    ) -> Result<T, Error> {
        let mut state = self.lock();
        if self.store_broken() {
            return Err(storage_unavailable());
        }
        let mut change = Change::default();
        let out = f(&state, &mut change)?;
        if change.is_empty() {
            after(&mut state, &out);
            return Ok(out);
        }
        if let Err(e) = self.store.write(&change) {
            return Err(self.storage_failed(e));
        }
        let job_ids: Vec<String> = change.jobs.iter().map(|r| r.job.id.clone()).collect();
        let batch_ids: Vec<String> = change.batches.iter().map(|r| r.batch.id.clone()).collect();
        state.apply(change);
        let version = state.version;
        self.written.store(version, Ordering::SeqCst);
        after(&mut state, &out);
        for id in batch_ids {
            let batch = state.batch_view(&state.batches[&id]);
            state.outbox.push_back((version, Event::Batch { batch }));
        }
        for id in job_ids {
            let job = state.job_view(&state.jobs[&id]);
            state.outbox.push_back((version, Event::Job { job }));
        }
        let queue_event = state.queue_event();
        state.outbox.push_back((version, queue_event));
        drop(state);
        self.flush_through(version)?;
        self.publish_flushed();
        self.wake.notify_waiters();
        Ok(out)
    }

    /// Return once every change up to `version` is on disk. The first caller to find no
    /// flush running flushes everything written so far; callers arriving meanwhile wait for
    /// it and, when it did not cover them, one of them flushes next (group commit).
    fn flush_through(&self, version: u64) -> Result<(), Error> {
        let mut f = self.lock_flushing();
        loop {
            if f.flushed >= version {
                return Ok(());
            }
            if self.store_broken() {
                return Err(storage_unavailable());
            }
            if f.busy {
                f = self
                    .flushed
                    .wait(f)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                continue;
            }
            f.busy = true;
            // Every version up to `target` finished its store write before this flush starts.
            let target = self.written.load(Ordering::SeqCst);
            drop(f);
            let result = self.store.flush();
            f = self.lock_flushing();
            f.busy = false;
            if result.is_ok() {
                f.flushed = f.flushed.max(target);
            }
            self.flushed.notify_all();
            if let Err(e) = result {
                drop(f);
                return Err(self.storage_failed(e));
            }
        }
    }

    /// The store failed: refuse every later change, and react (the daemon exits).
    fn storage_failed(&self, e: StoreError) -> Error {
        self.store_broken.store(true, Ordering::SeqCst);
        self.flushed.notify_all();
        (self.on_storage_failure)(&e);
        storage_unavailable()
    }

    /// Whether the store failed a write or a flush (the daemon is stopping).
    pub fn store_broken(&self) -> bool {
        self.store_broken.load(Ordering::SeqCst)
    }

    /// Whether every change applied so far is on disk (no read can show a change that a
    /// crash would undo).
    pub fn is_settled(&self) -> bool {
        self.written.load(Ordering::SeqCst) <= self.lock_flushing().flushed
    }

    /// Wait until every change applied so far is on disk (blocking: run it off the async
    /// workers). Reads call this first, so they show only durable state.
    pub fn settle(&self) -> Result<(), Error> {
        let version = self.written.load(Ordering::SeqCst);
        self.flush_through(version)?;
        self.publish_flushed();
        Ok(())
    }

    fn lock_flushing(&self) -> MutexGuard<'_, Flushing> {
        self.flushing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Publish, in order, the queued events of every change a flush has covered.
    fn publish_flushed(&self) {
        let flushed = self.lock_flushing().flushed;
        let mut state = self.lock();
        while state.outbox.front().is_some_and(|(v, _)| *v <= flushed) {
            let (_, event) = state.outbox.pop_front().expect("checked above");
            self.events.publish(event);
        }
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
        self.view_page(0, None)
    }

    /// [`Queue::view`] with only `limit` jobs (all when `None`) after the first `offset`
    /// (running jobs first, then queued ones by position); counts stay those of the whole queue.
    pub fn view_page(&self, offset: usize, limit: Option<usize>) -> QueueView {
        let state = self.lock();
        Self::view_of(&state, offset, limit)
    }

    fn view_of(state: &State, offset: usize, limit: Option<usize>) -> QueueView {
        let meta = state.meta();
        let limit = limit.unwrap_or(usize::MAX);
        let mut running: Vec<&JobRecord> = state.running.iter().map(|id| &state.jobs[id]).collect();
        running.sort_by(|a, b| (&a.job.started_at, a.order).cmp(&(&b.job.started_at, b.order)));
        let running_count = running.len();
        let mut jobs: Vec<Job> = running
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|r| r.job.clone())
            .collect();
        let queued_offset = offset.saturating_sub(running_count);
        let room = limit - jobs.len();
        jobs.extend(
            state
                .order
                .values()
                .enumerate()
                .skip(queued_offset)
                .take(room)
                .map(|(i, id)| {
                    let mut job = state.jobs[id].job.clone();
                    job.position = Some(i as u32 + 1);
                    job
                }),
        );
        QueueView {
            paused: meta.paused,
            paused_reason: meta.paused_reason.clone(),
            settings: meta.settings,
            counts: state.counts,
            executor: state.profile,
            jobs,
        }
    }

    /// The entity tag of the current full view, without building it.
    pub fn view_etag(&self) -> String {
        let version = self.lock().version;
        format!("\"{}-{version}\"", self.instance)
    }

    /// The full view serialized, from the cache when no change happened since it was built.
    /// One request at a time rebuilds a stale cache; the state lock is held only while the
    /// jobs are copied, not while they are serialized.
    pub fn view_bytes(&self) -> ViewBytes {
        let mut cache = self
            .view_cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (view, version) = {
            let state = self.lock();
            if let Some(hit) = cache.as_ref().filter(|c| c.version == state.version) {
                return hit.clone();
            }
            (Self::view_of(&state, 0, None), state.version)
        };
        let body = serde_json::to_vec(&view).expect("the queue view always serialises");
        let fresh = ViewBytes {
            etag: format!("\"{}-{version}\"", self.instance),
            body: body.into(),
            version,
        };
        *cache = Some(fresh.clone());
        fresh
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

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &std::path::Path, events: Events) -> Queue {
        let config = Config {
            data_dir: dir.to_path_buf(),
            ..Config::default()
        };
        Queue::open(Arc::new(config), events, Arc::new(Metrics::default())).unwrap()
    }

    /// Concurrent changes share flushes (group commit), yet each one computes on the one
    /// before it, is durable when it returns, and publishes its events exactly once.
    #[test]
    fn concurrent_changes_are_serial_durable_and_published_once() {
        let dir = tempfile::tempdir().unwrap();
        let events = Events::default();
        let mut rx = events.subscribe();
        let queue = Arc::new(open(dir.path(), events));
        while rx.try_recv().is_ok() {} // start-up's own change
        let start = queue.lock().meta().next_batch_seq;
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let queue = queue.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        queue
                            .mutate(|state, change| {
                                let mut meta = state.meta().clone();
                                meta.next_batch_seq += 1;
                                change.meta = Some(meta);
                                Ok(())
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(queue.lock().meta().next_batch_seq, start + 400);
        assert!(queue.lock().outbox.is_empty(), "every event was published");
        let flushed = queue.lock_flushing().flushed;
        assert!(flushed >= queue.written.load(Ordering::SeqCst));
        let mut published = 0;
        while let Ok(event) = rx.try_recv() {
            if matches!(event, Event::Queue { .. }) {
                published += 1;
            }
        }
        assert_eq!(published, 400);
        drop(queue);
        let reopened = open(dir.path(), Events::default());
        assert_eq!(reopened.lock().meta().next_batch_seq, start + 400);
    }

    #[test]
    fn a_failed_flush_stops_everything_and_acknowledges_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let events = Events::default();
        let failures = Arc::new(Mutex::new(Vec::new()));
        let seen = failures.clone();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let queue = Queue::open_with(
            Arc::new(config),
            events.clone(),
            Arc::new(Metrics::default()),
            Arc::new(move |e: &StoreError| seen.lock().unwrap().push(e.to_string())),
        )
        .unwrap();
        queue.pause("test").unwrap();
        let mut rx = events.subscribe();
        queue.store.fail_flushes.store(true, Ordering::SeqCst);
        let e = queue.resume().unwrap_err();
        assert_eq!(
            (e.code.http_status(), e.code.as_str()),
            (503, "storage_failed")
        );
        assert!(queue.store_broken());
        assert_eq!(
            failures.lock().unwrap().len(),
            1,
            "the daemon's reaction ran"
        );
        assert!(failures.lock().unwrap()[0].contains("No space left"));
        assert!(
            rx.try_recv().is_err(),
            "the unflushed change published nothing"
        );
        // Every later change is refused at once, even when the disk came back.
        queue.store.fail_flushes.store(false, Ordering::SeqCst);
        let e = queue.pause("again").unwrap_err();
        assert_eq!(e.code, "storage_failed");
        let e = queue.settle().unwrap_err();
        assert_eq!(
            e.code, "storage_failed",
            "reads wait for a flush that never comes"
        );
        assert_eq!(failures.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_view_cache_follows_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let queue = open(dir.path(), Events::default());
        let first = queue.view_bytes();
        assert_eq!(first.etag, queue.view_etag());
        assert_eq!(
            queue.view_bytes().body,
            first.body,
            "unchanged: served from the cache"
        );
        queue.pause("test").unwrap();
        let second = queue.view_bytes();
        assert_ne!(second.etag, first.etag);
        let view: QueueView = serde_json::from_slice(&second.body).unwrap();
        assert_eq!(view, queue.view());
        assert!(view.paused);
    }
}
