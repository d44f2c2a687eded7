//! Submitted batches: the launcher's handle recorded on the batch, the launcher's own state of
//! it, and the adoption at start of batches a launcher keeps running without the daemon.

use super::state::Live;
use super::Queue;
use crate::error::Error;
use crate::executor::{Claimed, Handle};
use cosmosq_shared::api::{BatchStatus, Event, JobStatus};
use std::collections::VecDeque;
use tokio_util::sync::CancellationToken;

impl Queue {
    /// Record what names a submitted batch to its launcher (durable before it returns).
    pub fn record_handle(&self, batch_id: &str, handle: &Handle) -> Result<(), Error> {
        self.mutate(|state, change| {
            let mut record = state.batch(batch_id)?.clone();
            record.handle = Some(handle.clone());
            change.batches.push(record);
            Ok(())
        })
    }

    /// The launcher's state of a running batch changed (Slurm's `PENDING` with its reason,
    /// then `RUNNING`, ...): shown on the batch, announced as a batch event.
    pub fn report_launcher_state(&self, batch_id: &str, state_name: &str, reason: Option<&str>) {
        let mut state = self.lock();
        let Some(live) = state.live.get_mut(batch_id) else {
            return;
        };
        live.launcher_state = Some((state_name.to_string(), reason.map(str::to_string)));
        let Ok(record) = state.batch(batch_id) else {
            return;
        };
        let batch = state.batch_view(record);
        drop(state);
        self.events.publish(Event::Batch { batch });
    }

    /// Running batches: how many wait for the launcher's resources (Slurm's `PENDING` and
    /// `CONFIGURING`) and how many run.
    pub fn launched_counts(&self) -> (usize, usize) {
        let state = self.lock();
        let pending = state
            .live
            .values()
            .filter(|l| {
                l.launcher_state
                    .as_ref()
                    .is_some_and(|(s, _)| s == "PENDING" || s == "CONFIGURING")
            })
            .count();
        (pending, state.live.len() - pending)
    }

    /// Running batches the last run left to a launcher that outlives the daemon: their ids,
    /// oldest first (see `recover`, which leaves them running).
    pub fn adoptable(&self) -> Vec<String> {
        let state = self.lock();
        let mut running: Vec<_> = state
            .batches
            .values()
            .filter(|r| {
                r.batch.status == BatchStatus::Running && !state.live.contains_key(&r.batch.id)
            })
            .collect();
        running.sort_by_key(|r| r.run_order());
        running.into_iter().map(|r| r.batch.id.clone()).collect()
    }

    /// Take over a running batch the last run submitted: its jobs stay running (no attempt
    /// counted again), its slot stays taken, and cancel reaches it as for any running batch.
    pub fn adopt(&self, batch_id: &str) -> Result<(Claimed, Option<Handle>), Error> {
        let mut state = self.lock();
        let record = state.batch(batch_id)?.clone();
        let mut jobs = Vec::new();
        for id in &record.batch.job_ids {
            let job = &state.jobs[id];
            if job.job.status != JobStatus::Running || job.job.batch_id.as_deref() != Some(batch_id)
            {
                continue;
            }
            let prompt = state.run_prompt(&job.job)?;
            jobs.push((job.job.clone(), prompt));
        }
        let cancel = CancellationToken::new();
        state.live.insert(
            batch_id.to_string(),
            Live {
                cancel: cancel.clone(),
                progress: record.batch.progress,
                log_tail: VecDeque::new(),
                launcher_state: None,
                slot_stopped: false,
            },
        );
        let claimed = Claimed {
            batch: record.batch.clone(),
            jobs,
            dir: self.batches_dir.join(batch_id),
            cancel,
        };
        Ok((claimed, record.handle))
    }
}
