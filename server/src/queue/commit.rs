//! Making changes: compute, write, apply, flush (shared by concurrent changes: group commit),
//! then publish; and what happens when the store fails (see the module docs of `queue`).

use super::state::State;
use super::Queue;
use crate::error::Error;
use crate::store::{Change, StoreError};
use cosmosq_shared::api::Event;
use cosmosq_shared::ErrorCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

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
pub(super) struct Flushing {
    /// Every change with a version up to this one is on disk.
    pub(super) flushed: u64,
    /// A thread is flushing now; the others wait on `Queue::flushed`.
    pub(super) busy: bool,
}

fn storage_unavailable() -> Error {
    Error::new(
        ErrorCode::StorageFailed,
        "the daemon's store failed a write; the daemon is stopping and nothing more is accepted",
    )
}

impl Queue {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves memory as it was before the failed change
        // (changes apply only after commit), so the state is still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Compute a change from the current state, make it durable, apply it, publish events.
    pub(super) fn mutate<T>(
        &self,
        f: impl FnOnce(&State, &mut Change) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.mutate_then(f, |_, _| {})
    }

    /// [`Queue::mutate`], then `after` on the new state before the lock is released.
    pub(super) fn mutate_then<T>(
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
        super::dependencies::propagate(&state, &mut change);
        super::notify::enqueue(&state, &mut change, &self.config);
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
    /// workers). API reads call this after reading, so they show only durable state.
    pub fn settle(&self) -> Result<(), Error> {
        let version = self.written.load(Ordering::SeqCst);
        self.flush_through(version)?;
        self.publish_flushed();
        Ok(())
    }

    pub(super) fn lock_flushing(&self) -> MutexGuard<'_, Flushing> {
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
}
