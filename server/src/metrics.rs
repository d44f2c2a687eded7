//! Prometheus metrics (`GET /metrics`), names prefixed `cosmosq_`.

use cosmosq_shared::api::{BatchStatus, JobCounts, JobStatus};
use std::fmt::Write;
use std::sync::Mutex;

/// Upper bounds of the batch-size histogram buckets (jobs per batch).
const SIZE_BUCKETS: [usize; 7] = [1, 2, 3, 4, 8, 16, 64];

#[derive(Default)]
struct Data {
    batches: [u64; 3],
    size_buckets: [u64; SIZE_BUCKETS.len()],
    size_sum: u64,
    size_count: u64,
    estimated_seconds: f64,
    measured_seconds: f64,
    busy: u64,
    stalled: u64,
    quarantines: u64,
}

#[derive(Default)]
pub struct Metrics {
    data: Mutex<Data>,
}

fn status_index(status: BatchStatus) -> Option<usize> {
    match status {
        BatchStatus::Succeeded => Some(0),
        BatchStatus::Failed => Some(1),
        BatchStatus::Canceled => Some(2),
        _ => None,
    }
}

impl Metrics {
    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn executor_started(&self) {
        self.data().busy += 1;
    }

    pub fn executor_finished(&self) {
        let mut d = self.data();
        d.busy = d.busy.saturating_sub(1);
    }

    pub fn record_batch(&self, status: BatchStatus, jobs: usize, estimated: f64, measured: f64) {
        let mut d = self.data();
        if let Some(i) = status_index(status) {
            d.batches[i] += 1;
        }
        for (i, bound) in SIZE_BUCKETS.iter().enumerate() {
            if jobs <= *bound {
                d.size_buckets[i] += 1;
            }
        }
        d.size_sum += jobs as u64;
        d.size_count += 1;
        d.estimated_seconds += estimated;
        d.measured_seconds += measured;
    }

    /// A batch was stopped as stalled.
    pub fn record_stall(&self) {
        self.data().stalled += 1;
    }

    /// A slot was quarantined.
    pub fn record_quarantine(&self) {
        self.data().quarantines += 1;
    }

    /// The exposition text, with queue depth from `counts`.
    pub fn render(&self, counts: JobCounts, slots: usize, sse_clients: usize) -> String {
        let d = self.data();
        let mut out = String::new();
        out += "# HELP cosmosq_jobs Jobs by status.\n# TYPE cosmosq_jobs gauge\n";
        let mut counts = counts;
        for status in JobStatus::ALL {
            let _ = writeln!(
                out,
                "cosmosq_jobs{{status=\"{status}\"}} {}",
                counts.get_mut(status)
            );
        }
        out += "# HELP cosmosq_batches_total Batches finished, by outcome.\n# TYPE cosmosq_batches_total counter\n";
        for (i, s) in ["succeeded", "failed", "canceled"].iter().enumerate() {
            let _ = writeln!(
                out,
                "cosmosq_batches_total{{status=\"{s}\"}} {}",
                d.batches[i]
            );
        }
        out += "# HELP cosmosq_batch_jobs Jobs per finished batch.\n# TYPE cosmosq_batch_jobs histogram\n";
        for (i, bound) in SIZE_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "cosmosq_batch_jobs_bucket{{le=\"{bound}\"}} {}",
                d.size_buckets[i]
            );
        }
        let _ = writeln!(
            out,
            "cosmosq_batch_jobs_bucket{{le=\"+Inf\"}} {}",
            d.size_count
        );
        let _ = writeln!(out, "cosmosq_batch_jobs_sum {}", d.size_sum);
        let _ = writeln!(out, "cosmosq_batch_jobs_count {}", d.size_count);
        out += "# HELP cosmosq_batch_estimated_seconds_total Cost-model estimate of finished batches.\n# TYPE cosmosq_batch_estimated_seconds_total counter\n";
        let _ = writeln!(
            out,
            "cosmosq_batch_estimated_seconds_total {}",
            d.estimated_seconds
        );
        out += "# HELP cosmosq_batch_measured_seconds_total Wall-clock seconds of finished batches.\n# TYPE cosmosq_batch_measured_seconds_total counter\n";
        let _ = writeln!(
            out,
            "cosmosq_batch_measured_seconds_total {}",
            d.measured_seconds
        );
        out += "# HELP cosmosq_executor_busy Executor slots running a batch.\n# TYPE cosmosq_executor_busy gauge\n";
        let _ = writeln!(out, "cosmosq_executor_busy {}", d.busy);
        out += "# HELP cosmosq_executor_slots Executor slots configured.\n# TYPE cosmosq_executor_slots gauge\n";
        let _ = writeln!(out, "cosmosq_executor_slots {slots}");
        out += "# HELP cosmosq_sse_clients Connected event-stream clients.\n# TYPE cosmosq_sse_clients gauge\n";
        let _ = writeln!(out, "cosmosq_sse_clients {sse_clients}");
        out += "# HELP cosmosq_batches_stalled_total Batches stopped because their program printed nothing for stall_seconds.\n# TYPE cosmosq_batches_stalled_total counter\n";
        let _ = writeln!(out, "cosmosq_batches_stalled_total {}", d.stalled);
        out += "# HELP cosmosq_slot_quarantines_total Times a slot was quarantined.\n# TYPE cosmosq_slot_quarantines_total counter\n";
        let _ = writeln!(out, "cosmosq_slot_quarantines_total {}", d.quarantines);
        out
    }
}

/// Executor slots by state, and each slot's failures in a row.
pub fn render_slots(out: &mut String, slots: &[cosmosq_shared::api::SlotView]) {
    use cosmosq_shared::api::SlotState;
    *out += "# HELP cosmosq_slots Executor slots by state.\n# TYPE cosmosq_slots gauge\n";
    for state in [
        SlotState::Idle,
        SlotState::Busy,
        SlotState::Draining,
        SlotState::Disabled,
        SlotState::Quarantined,
    ] {
        let n = slots.iter().filter(|s| s.state == state).count();
        let _ = writeln!(out, "cosmosq_slots{{state=\"{}\"}} {n}", state.as_str());
    }
    *out += "# HELP cosmosq_slot_consecutive_failures Batches in a row a slot failed for a cause of its own.\n# TYPE cosmosq_slot_consecutive_failures gauge\n";
    for s in slots {
        let _ = writeln!(
            out,
            "cosmosq_slot_consecutive_failures{{slot=\"{}\"}} {}",
            s.name.replace('\\', "\\\\").replace('"', "\\\""),
            s.consecutive_failures
        );
    }
}

/// Submitted batches by launcher: `pending` waits for the cluster's resources (Slurm's
/// PENDING), `running` runs.
pub fn render_launcher(out: &mut String, launcher: &str, pending: usize, running: usize) {
    *out += "# HELP cosmosq_launcher_batches Submitted batches by launcher and state (pending: waiting for the cluster's resources).\n# TYPE cosmosq_launcher_batches gauge\n";
    for (state, n) in [("pending", pending), ("running", running)] {
        let _ = writeln!(
            out,
            "cosmosq_launcher_batches{{launcher=\"{launcher}\",state=\"{state}\"}} {n}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        m.record_batch(BatchStatus::Succeeded, 3, 100.0, 1.5);
        m.record_batch(BatchStatus::Failed, 1, 10.0, 0.5);
        let text = m.render(
            JobCounts {
                queued: 4,
                ..Default::default()
            },
            2,
            0,
        );
        assert!(text.contains("cosmosq_jobs{status=\"queued\"} 4"));
        assert!(text.contains("cosmosq_batches_total{status=\"succeeded\"} 1"));
        assert!(text.contains("cosmosq_batch_jobs_bucket{le=\"1\"} 1"));
        assert!(text.contains("cosmosq_batch_jobs_bucket{le=\"4\"} 2"));
        assert!(text.contains("cosmosq_batch_jobs_count 2"));
        assert!(text.contains("cosmosq_batch_estimated_seconds_total 110"));
        assert!(text.contains("cosmosq_executor_slots 2"));
    }
}
