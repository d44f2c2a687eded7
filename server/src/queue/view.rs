//! What the queue shows: the queue view (paged, or whole and cached per state version with
//! its entity tag).

use super::state::State;
use super::Queue;
use crate::store::JobRecord;
use cosmosq_shared::api::{Job, QueueView};

/// The serialized queue view of one state version (`GET /api/v1/queue` without paging).
#[derive(Clone)]
pub struct ViewBytes {
    /// Strong entity tag: this daemon run's instance id and the state version.
    pub etag: String,
    pub body: actix_web::web::Bytes,
    version: u64,
}

impl Queue {
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
}
