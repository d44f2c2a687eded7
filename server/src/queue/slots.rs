//! Executor slots' service state and health: an operator drains, disables or enables a slot;
//! the daemon quarantines one whose batches fail `quarantine_after` times in a row for a
//! cause of the slot. Stored in the queue's meta record, so a restart keeps them.

use super::state::State;
use super::Queue;
use crate::error::Error;
use crate::ids;
use crate::store::{SlotAdmin, SlotRecord};
use cosmosq_shared::api::{BatchStatus, SlotState, SlotView};
use cosmosq_shared::ErrorCode;

/// What an operator does to a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotAction {
    /// Finish the current batch, take no other.
    Drain,
    /// Take no work; a batch it runs is stopped and its jobs go back without an attempt.
    Disable,
    /// Back in service, its failure count reset.
    Enable,
}

impl Queue {
    /// The launcher label of slots: `simulated`, `local` or `slurm`.
    fn launcher_label(&self) -> &'static str {
        if self.config.executor.profile == cosmosq_shared::Profile::Simulated {
            "simulated"
        } else {
            self.config.executor.launcher.as_str()
        }
    }

    fn slot_names(&self) -> Vec<String> {
        self.config
            .executor
            .slots
            .list()
            .into_iter()
            .filter_map(|s| s.name)
            .collect()
    }

    fn slot_view(&self, state: &State, name: &str) -> SlotView {
        let record = state.meta().slots.get(name).cloned().unwrap_or_default();
        let running = state
            .live
            .keys()
            .filter_map(|id| state.batches.get(id))
            .find(|r| {
                r.batch.status == BatchStatus::Running && r.batch.slot.as_deref() == Some(name)
            });
        let batch = running.map(|r| state.batch_view(r));
        let busy = batch.is_some();
        let slot_state = match record.admin {
            SlotAdmin::Enabled if busy => SlotState::Busy,
            SlotAdmin::Enabled => SlotState::Idle,
            SlotAdmin::Draining if busy => SlotState::Draining,
            SlotAdmin::Draining | SlotAdmin::Disabled => SlotState::Disabled,
            SlotAdmin::Quarantined => SlotState::Quarantined,
        };
        SlotView {
            name: name.to_string(),
            launcher: self.launcher_label().to_string(),
            state: slot_state,
            batch_id: batch.as_ref().map(|b| b.id.clone()),
            consecutive_failures: record.consecutive_failures,
            last_error: record.last_error,
            changed_at: record.changed_at,
            slurm: batch.and_then(|b| b.slurm),
        }
    }

    /// Every configured slot, in configuration order.
    pub fn slots(&self) -> Vec<SlotView> {
        let state = self.lock();
        self.slot_names()
            .iter()
            .map(|n| self.slot_view(&state, n))
            .collect()
    }

    pub fn slot(&self, name: &str) -> Result<SlotView, Error> {
        self.known_slot(name)?;
        let state = self.lock();
        Ok(self.slot_view(&state, name))
    }

    fn known_slot(&self, name: &str) -> Result<(), Error> {
        if self.slot_names().iter().any(|n| n == name) {
            return Ok(());
        }
        Err(Error::new(
            ErrorCode::SlotNotFound,
            format!(
                "no executor slot {name:?} (slots: {})",
                self.slot_names().join(", ")
            ),
        ))
    }

    /// Whether the slot takes new batches.
    pub fn slot_accepts(&self, name: &str) -> bool {
        Self::accepts(&self.lock(), name)
    }

    pub(super) fn accepts(state: &State, name: &str) -> bool {
        state
            .meta()
            .slots
            .get(name)
            .is_none_or(|r| r.admin == SlotAdmin::Enabled)
    }

    /// Drain, disable or enable a slot (durable before it returns).
    pub fn slot_action(&self, name: &str, action: SlotAction) -> Result<SlotView, Error> {
        self.known_slot(name)?;
        let stop = self.mutate(|state, change| {
            let mut meta = state.meta().clone();
            let record = meta.slots.entry(name.to_string()).or_default();
            let before = record.clone();
            match action {
                SlotAction::Drain => {
                    // A slot out of service stays out as it is (a quarantine keeps its reason).
                    if record.admin == SlotAdmin::Enabled {
                        record.admin = SlotAdmin::Draining;
                    }
                }
                SlotAction::Disable => record.admin = SlotAdmin::Disabled,
                SlotAction::Enable => {
                    record.admin = SlotAdmin::Enabled;
                    record.consecutive_failures = 0;
                }
            }
            if *record != before {
                record.changed_at = Some(ids::now());
                change.meta = Some(meta);
            }
            // A disabled slot's running batch is stopped.
            Ok((action == SlotAction::Disable)
                .then(|| self.slot_view(state, name).batch_id)
                .flatten())
        })?;
        if let Some(batch_id) = stop {
            let mut state = self.lock();
            if let Some(live) = state.live.get_mut(&batch_id) {
                live.slot_stopped = true;
                live.cancel.cancel();
            }
        }
        tracing::info!(slot = name, action = ?action, "slot state changed");
        self.slot(name)
    }

    /// The slot's record after a batch of it ended: a slot fault counts towards quarantine
    /// (`Some(reason)` when this one quarantines it); a batch that ran resets the count.
    /// `None` when nothing changes.
    pub(super) fn slot_after_batch(
        &self,
        state: &State,
        slot: &str,
        fault: Option<&str>,
        ran: bool,
    ) -> Option<(SlotRecord, bool)> {
        let mut record = state.meta().slots.get(slot).cloned().unwrap_or_default();
        let limit = self.config.executor.quarantine_after;
        match fault {
            Some(why) => {
                record.consecutive_failures += 1;
                record.last_error = Some(why.to_string());
                let quarantine = limit > 0
                    && record.consecutive_failures >= limit
                    && record.admin != SlotAdmin::Quarantined;
                if quarantine {
                    record.admin = SlotAdmin::Quarantined;
                    record.changed_at = Some(ids::now());
                    record.last_error = Some(format!(
                        "quarantined after {} batches in a row failed for a cause of the slot; last: {why}",
                        record.consecutive_failures
                    ));
                }
                Some((record, quarantine))
            }
            None if ran && record.consecutive_failures > 0 => {
                record.consecutive_failures = 0;
                Some((record, false))
            }
            None => None,
        }
    }
}
