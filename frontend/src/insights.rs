//! The Insights page's numbers and the Runs page's time breakdown, from the batches the daemon
//! recorded and its cost model: estimate vs measured seconds, a timeline per slot, jobs per
//! hour and the GPU time batching saved. Pure (no browser APIs), so it is tested natively.

use crate::preview::PromptIndex;
use cosmosq_shared::api::{Batch, BatchStatus, Job};
use cosmosq_shared::cost::{Estimate, JobLoad};
use cosmosq_shared::plan::PlanJob;
use cosmosq_shared::{Control, ControlSet, CostModel};
use std::collections::HashMap;

const HOUR_MS: f64 = 3_600_000.0;

/// Milliseconds since the Unix epoch of an RFC 3339 time (`2026-01-02T03:04:05.678Z`, or
/// with an offset such as `+02:00`); `None` when it is not one.
pub fn timestamp_ms(text: &str) -> Option<f64> {
    let b = text.trim().as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let mut at = 19;
    let mut fraction = 0.0;
    if b.get(at) == Some(&b'.') {
        let start = at + 1;
        at = start;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        let digits = std::str::from_utf8(&b[start..at]).ok()?;
        fraction = format!("0.{digits}").parse().ok()?;
    }
    let offset_minutes = match b.get(at) {
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if at + 6 == b.len() && b[at + 3] == b':' => {
            let m = num(at + 1, 2)? * 60 + num(at + 4, 2)?;
            if *sign == b'+' {
                m
            } else {
                -m
            }
        }
        _ => return None,
    };
    let days = cosmosq_shared::time::days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some((seconds as f64 + fraction) * 1000.0)
}

/// One finished batch on the accuracy chart.
#[derive(Debug, Clone, PartialEq)]
pub struct AccuracyPoint {
    pub batch_id: String,
    pub estimated: f64,
    pub measured: f64,
    pub status: BatchStatus,
    pub jobs: usize,
}

/// Every batch with a measured duration, oldest first.
pub fn accuracy_points(batches: &[Batch]) -> Vec<AccuracyPoint> {
    let mut points: Vec<AccuracyPoint> = batches
        .iter()
        .filter_map(|b| {
            Some(AccuracyPoint {
                batch_id: b.id.clone(),
                estimated: b.estimated_seconds,
                measured: b.measured_seconds?,
                status: b.status,
                jobs: b.job_ids.len(),
            })
        })
        .collect();
    points.reverse();
    points
}

/// A logarithmic axis over whole powers of ten that covers every value (seconds; values
/// below 0.1 s are drawn at 0.1 s).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogAxis {
    pub lo_exp: i32,
    pub hi_exp: i32,
}

pub const LOG_AXIS_MIN: f64 = 0.1;

impl LogAxis {
    pub fn covering(values: impl IntoIterator<Item = f64>) -> LogAxis {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.into_iter().filter(|v| v.is_finite()) {
            let v = v.max(LOG_AXIS_MIN);
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if !lo.is_finite() {
            return LogAxis {
                lo_exp: 0,
                hi_exp: 3,
            };
        }
        let lo_exp = lo.log10().floor() as i32;
        let hi_exp = (hi.log10().ceil() as i32).max(lo_exp + 1);
        LogAxis { lo_exp, hi_exp }
    }

    /// Where `v` falls, 0 (low end) to 1 (high end).
    pub fn fraction(&self, v: f64) -> f64 {
        let v = v.max(LOG_AXIS_MIN);
        ((v.log10() - f64::from(self.lo_exp)) / f64::from(self.hi_exp - self.lo_exp))
            .clamp(0.0, 1.0)
    }

    /// The powers of ten on the axis, with labels (`0.1 s`, `10 s`, `1000 s`).
    pub fn ticks(&self) -> Vec<(f64, String)> {
        (self.lo_exp..=self.hi_exp)
            .map(|e| {
                let v = 10f64.powi(e);
                let label = if e < 0 {
                    format!("{v} s")
                } else {
                    format!("{} s", v as u64)
                };
                (v, label)
            })
            .collect()
    }
}

/// One batch on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineBar {
    pub batch_id: String,
    pub slot: String,
    pub start_ms: f64,
    pub end_ms: f64,
    /// Still running: it ends "now".
    pub running: bool,
    pub status: BatchStatus,
    pub jobs: usize,
    pub controls: Vec<Control>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// Rows, by slot name.
    pub slots: Vec<String>,
    pub bars: Vec<TimelineBar>,
    pub from_ms: f64,
    pub to_ms: f64,
}

/// The name of the timeline row of batches that name no slot.
pub const NO_SLOT: &str = "(no slot)";

/// Batches that started within `window_ms` before `now_ms` (or still run), a row per slot; the
/// time axis runs from the earliest start to now.
pub fn timeline(batches: &[Batch], now_ms: f64, window_ms: f64) -> Timeline {
    let mut bars: Vec<TimelineBar> = batches
        .iter()
        .filter_map(|b| {
            let start_ms = timestamp_ms(b.started_at.as_deref()?)?;
            let finished = b.finished_at.as_deref().and_then(timestamp_ms);
            let running = finished.is_none() && !b.status.is_terminal();
            let end_ms = match finished {
                Some(f) => f,
                None if running => now_ms,
                // Finished without a time: its measured seconds say how long it took.
                None => start_ms + b.measured_seconds.unwrap_or(0.0) * 1000.0,
            };
            (running || end_ms >= now_ms - window_ms).then(|| TimelineBar {
                batch_id: b.id.clone(),
                slot: b.slot.clone().unwrap_or_else(|| NO_SLOT.to_string()),
                start_ms,
                end_ms: end_ms.max(start_ms),
                running,
                status: b.status,
                jobs: b.job_ids.len(),
                controls: b.controls.clone(),
            })
        })
        .collect();
    bars.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    let mut slots: Vec<String> = bars.iter().map(|b| b.slot.clone()).collect();
    slots.sort();
    slots.dedup();
    let from_ms = bars
        .iter()
        .map(|b| b.start_ms)
        .fold(f64::INFINITY, f64::min);
    let to_ms = bars.iter().map(|b| b.end_ms).fold(now_ms, f64::max);
    Timeline {
        slots,
        bars,
        from_ms: if from_ms.is_finite() {
            from_ms.min(to_ms - 1000.0)
        } else {
            now_ms - window_ms
        },
        to_ms,
    }
}

/// The cost model's view of a batch's jobs (as the planner sees them, with their prompts);
/// `None` when one of its jobs is no longer known (deleted).
pub fn batch_loads(
    batch: &Batch,
    jobs: &HashMap<&str, &Job>,
    prompts: &PromptIndex,
) -> Option<Vec<JobLoad>> {
    batch
        .job_ids
        .iter()
        .map(|id| {
            let job = jobs.get(id.as_str())?;
            Some(PlanJob::from_job(job, prompts.get(&job.prompt_id)).load(batch.executor))
        })
        .collect()
}

/// Jobs by id.
pub fn index_jobs(jobs: &[Job]) -> HashMap<&str, &Job> {
    jobs.iter().map(|j| (j.id.as_str(), j)).collect()
}

/// Where a batch's time goes by the cost model: the batch's parts, and each job's own part
/// (its compute and control-video generation).
#[derive(Debug, Clone, PartialEq)]
pub struct Breakdown {
    pub estimate: Estimate,
    /// Job id → its compute + preprocessing seconds in this batch.
    pub per_job: Vec<(String, f64)>,
}

pub fn breakdown(
    batch: &Batch,
    jobs: &HashMap<&str, &Job>,
    prompts: &PromptIndex,
    cost: &CostModel,
) -> Option<Breakdown> {
    let loads = batch_loads(batch, jobs, prompts)?;
    let loaded: ControlSet = batch.controls.iter().copied().collect();
    let estimate = cost.estimate(&loads, loaded, batch.batch_size);
    let per_job = batch
        .job_ids
        .iter()
        .zip(&loads)
        .map(|(id, load)| {
            let one = cost.estimate(std::slice::from_ref(load), loaded, batch.batch_size);
            (id.clone(), one.compute_seconds + one.preprocess_seconds)
        })
        .collect();
    Some(Breakdown { estimate, per_job })
}

/// What batching saved in one finished batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchSaving {
    pub batch_id: String,
    pub finished_ms: Option<f64>,
    pub jobs: usize,
    pub measured: f64,
    /// Its jobs run one by one, by the cost model, scaled by the batch's measured/estimated.
    pub alone: f64,
}

/// Each succeeded batch with a measured time whose jobs are all known: its jobs' estimates
/// alone (`CostModel::estimate_alone`), scaled by the batch's measured / estimated seconds
/// (both by the same model), against what it measured.
pub fn savings(
    batches: &[Batch],
    jobs: &HashMap<&str, &Job>,
    prompts: &PromptIndex,
    cost: &CostModel,
) -> Vec<BatchSaving> {
    batches
        .iter()
        .filter(|b| b.status == BatchStatus::Succeeded)
        .filter_map(|b| {
            let measured = b.measured_seconds?;
            let loads = batch_loads(b, jobs, prompts)?;
            let loaded: ControlSet = b.controls.iter().copied().collect();
            let estimated = cost.estimate(&loads, loaded, b.batch_size).total_seconds;
            if !(estimated > 0.0 && measured.is_finite()) {
                return None;
            }
            let ratio = measured / estimated;
            let alone = loads.iter().map(|l| cost.estimate_alone(l)).sum::<f64>() * ratio;
            Some(BatchSaving {
                batch_id: b.id.clone(),
                finished_ms: b.finished_at.as_deref().and_then(timestamp_ms),
                jobs: b.job_ids.len(),
                measured,
                alone,
            })
        })
        .collect()
}

/// Totals of [`savings`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SavingsTotal {
    pub batches: usize,
    pub jobs: usize,
    pub measured: f64,
    pub alone: f64,
}

impl SavingsTotal {
    pub fn of<'a>(items: impl IntoIterator<Item = &'a BatchSaving>) -> SavingsTotal {
        items
            .into_iter()
            .fold(SavingsTotal::default(), |t, s| SavingsTotal {
                batches: t.batches + 1,
                jobs: t.jobs + s.jobs,
                measured: t.measured + s.measured,
                alone: t.alone + s.alone,
            })
    }

    pub fn saved(&self) -> f64 {
        self.alone - self.measured
    }

    /// Saved / alone (0..1, negative when batching cost time); `None` without data.
    pub fn share(&self) -> Option<f64> {
        (self.alone > 0.0).then(|| self.saved() / self.alone)
    }
}

/// One hour of the throughput chart.
#[derive(Debug, Clone, PartialEq)]
pub struct HourBar {
    pub start_ms: f64,
    pub jobs: usize,
    pub saving: SavingsTotal,
}

/// Jobs of succeeded batches per hour over the last `hours` hours (the current one last),
/// with what batching saved in each hour.
pub fn throughput(
    batches: &[Batch],
    savings: &[BatchSaving],
    now_ms: f64,
    hours: usize,
) -> Vec<HourBar> {
    let current = (now_ms / HOUR_MS).floor() * HOUR_MS;
    let first = current - HOUR_MS * (hours.saturating_sub(1)) as f64;
    let mut bars: Vec<HourBar> = (0..hours)
        .map(|i| HourBar {
            start_ms: first + HOUR_MS * i as f64,
            jobs: 0,
            saving: SavingsTotal::default(),
        })
        .collect();
    let slot = |ms: f64| -> Option<usize> {
        let i = ((ms - first) / HOUR_MS).floor();
        (i >= 0.0 && (i as usize) < hours).then_some(i as usize)
    };
    for b in batches
        .iter()
        .filter(|b| b.status == BatchStatus::Succeeded)
    {
        if let Some(i) = b
            .finished_at
            .as_deref()
            .and_then(timestamp_ms)
            .and_then(slot)
        {
            bars[i].jobs += b.job_ids.len();
        }
    }
    for s in savings {
        if let Some(i) = s.finished_ms.and_then(slot) {
            let t = &mut bars[i].saving;
            *t = SavingsTotal {
                batches: t.batches + 1,
                jobs: t.jobs + s.jobs,
                measured: t.measured + s.measured,
                alone: t.alone + s.alone,
            };
        }
    }
    bars
}

/// `14:00` of a UTC hour start, shifted by the browser's offset (minutes east of UTC).
pub fn clock(ms: f64, offset_minutes: f64) -> String {
    let minutes = ((ms / 60_000.0 + offset_minutes).floor() as i64).rem_euclid(24 * 60);
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmosq_shared::api::{JobOutputs, JobStatus};
    use cosmosq_shared::plan::PlanMode;
    use cosmosq_shared::{JobConfig, JobKind, Profile};

    fn batch(id: &str, jobs: &[&str], status: BatchStatus) -> Batch {
        Batch {
            id: id.into(),
            mode: PlanMode::Strict,
            plan_id: None,
            job_ids: jobs.iter().map(|s| s.to_string()).collect(),
            controls: vec![Control::Edge],
            batch_size: jobs.len() as u32,
            reason: String::new(),
            status,
            executor: Profile::Simulated,
            slot: Some("slot0".into()),
            estimated_seconds: 600.0,
            measured_seconds: None,
            progress: 0.0,
            created_at: "2026-01-01T00:00:00Z".into(),
            started_at: None,
            finished_at: None,
            log_path: None,
            error: None,
            slurm: None,
        }
    }

    fn job(id: &str) -> Job {
        Job {
            id: id.into(),
            prompt_id: "ps_1".into(),
            kind: JobKind::Inference,
            config: JobConfig {
                weights: [(Control::Edge, 0.5)].into_iter().collect(),
                ..JobConfig::default()
            },
            effective_weights: Default::default(),
            status: JobStatus::Succeeded,
            position: None,
            attempts: 1,
            created_at: String::new(),
            started_at: None,
            finished_at: None,
            batch_id: None,
            outputs: JobOutputs::default(),
            error: None,
            after: Vec::new(),
            waiting_for: Vec::new(),
            input_from: None,
            pinned: false,
            pruned: false,
        }
    }

    #[test]
    fn parses_rfc3339() {
        assert_eq!(timestamp_ms("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(timestamp_ms("1970-01-02T00:00:01.5Z"), Some(86_401_500.0));
        assert_eq!(
            timestamp_ms("2026-03-01T12:00:00+02:00"),
            timestamp_ms("2026-03-01T10:00:00Z")
        );
        // 2024-02-29 is a day after 2024-02-28.
        let a = timestamp_ms("2024-02-28T00:00:00.000Z").unwrap();
        let b = timestamp_ms("2024-02-29T00:00:00.000Z").unwrap();
        assert_eq!(b - a, 86_400_000.0);
        assert_eq!(
            timestamp_ms("2026-11-28T19:31:02Z"),
            Some(1_795_894_262_000.0)
        );
        assert_eq!(timestamp_ms("yesterday"), None);
        assert_eq!(timestamp_ms("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn log_axis_covers_both_ends() {
        let axis = LogAxis::covering([1.8, 640.0]);
        assert_eq!((axis.lo_exp, axis.hi_exp), (0, 3));
        assert_eq!(axis.fraction(1.0), 0.0);
        assert_eq!(axis.fraction(1000.0), 1.0);
        assert!((axis.fraction(10f64.powf(1.5)) - 0.5).abs() < 1e-9);
        assert_eq!(axis.ticks().len(), 4);
        assert_eq!(LogAxis::covering([]).ticks()[0].1, "1 s");
    }

    #[test]
    fn timeline_has_a_row_per_slot_and_running_batches_end_now() {
        let mut a = batch("bt_a", &["jb_1"], BatchStatus::Succeeded);
        a.started_at = Some("2026-01-01T10:00:00Z".into());
        a.finished_at = Some("2026-01-01T10:05:00Z".into());
        let mut b = batch("bt_b", &["jb_2"], BatchStatus::Running);
        b.slot = Some("slot1".into());
        b.started_at = Some("2026-01-01T10:06:00Z".into());
        let pending = batch("bt_c", &["jb_3"], BatchStatus::Pending);
        let mut old = batch("bt_old", &["jb_4"], BatchStatus::Failed);
        old.started_at = Some("2025-12-01T10:00:00Z".into());
        old.finished_at = Some("2025-12-01T10:01:00Z".into());
        let now = timestamp_ms("2026-01-01T10:10:00Z").unwrap();
        let t = timeline(&[b, a, pending, old], now, 24.0 * HOUR_MS);
        assert_eq!(t.slots, ["slot0", "slot1"]);
        let ids: Vec<&str> = t.bars.iter().map(|b| b.batch_id.as_str()).collect();
        assert_eq!(ids, ["bt_a", "bt_b"]);
        assert_eq!(t.bars[1].end_ms, now);
        assert!(t.bars[1].running);
        assert_eq!(t.from_ms, timestamp_ms("2026-01-01T10:00:00Z").unwrap());
        assert_eq!(t.to_ms, now);
    }

    #[test]
    fn batching_saves_the_repeated_model_loads() {
        let cost = CostModel::default();
        let jobs = [job("jb_1"), job("jb_2"), job("jb_3")];
        let index = index_jobs(&jobs);
        let prompts = PromptIndex::new();
        let mut b = batch("bt_1", &["jb_1", "jb_2", "jb_3"], BatchStatus::Succeeded);
        b.finished_at = Some("2026-01-01T10:30:00Z".into());
        let loads = batch_loads(&b, &index, &prompts).unwrap();
        let estimated = cost
            .estimate(&loads, ControlSet::single(Control::Edge), 3)
            .total_seconds;
        // It took twice the estimate: the jobs alone would have too.
        b.measured_seconds = Some(estimated * 2.0);
        let s = savings(std::slice::from_ref(&b), &index, &prompts, &cost);
        assert_eq!(s.len(), 1);
        let alone: f64 = loads.iter().map(|l| cost.estimate_alone(l)).sum();
        assert!((s[0].alone - alone * 2.0).abs() < 1e-6);
        let total = SavingsTotal::of(&s);
        let share = total.share().unwrap();
        assert!(share > 0.3 && share < 1.0, "{share}");
        assert!((total.saved() - (alone - estimated) * 2.0).abs() < 1e-6);

        // A batch with a deleted job, or one still running, counts nowhere.
        let mut gone = batch("bt_2", &["jb_9"], BatchStatus::Succeeded);
        gone.measured_seconds = Some(10.0);
        let running = batch("bt_3", &["jb_1"], BatchStatus::Running);
        assert!(savings(&[gone, running], &index, &prompts, &cost).is_empty());

        let now = timestamp_ms("2026-01-01T11:10:00Z").unwrap();
        let hours = throughput(std::slice::from_ref(&b), &s, now, 6);
        assert_eq!(hours.len(), 6);
        assert_eq!(hours[4].jobs, 3);
        assert_eq!(hours[4].saving.batches, 1);
        assert_eq!(hours[5].jobs, 0);
        assert_eq!(clock(hours[4].start_ms, 0.0), "10:00");
        assert_eq!(clock(hours[4].start_ms, -90.0), "08:30");
    }

    #[test]
    fn breakdown_adds_up_to_the_estimate() {
        let cost = CostModel::default();
        let jobs = [job("jb_1"), job("jb_2")];
        let index = index_jobs(&jobs);
        let b = batch("bt_1", &["jb_1", "jb_2"], BatchStatus::Succeeded);
        let d = breakdown(&b, &index, &PromptIndex::new(), &cost).unwrap();
        let e = d.estimate;
        assert_eq!(e.startup_seconds, cost.startup_seconds);
        assert_eq!(e.load_seconds, cost.control_load(Control::Edge));
        let parts = e.startup_seconds + e.load_seconds + e.compute_seconds + e.preprocess_seconds;
        assert!((parts - e.total_seconds).abs() < 1e-9);
        let per_job: f64 = d.per_job.iter().map(|(_, s)| s).sum();
        assert!((per_job - e.compute_seconds - e.preprocess_seconds).abs() < 1e-9);
        assert_eq!(d.per_job.len(), 2);
    }

    #[test]
    fn accuracy_points_are_the_measured_batches_oldest_first() {
        let mut a = batch("bt_a", &["jb_1"], BatchStatus::Succeeded);
        a.measured_seconds = Some(2.0);
        let b = batch("bt_b", &["jb_2"], BatchStatus::Running);
        let mut c = batch("bt_c", &["jb_3"], BatchStatus::Failed);
        c.measured_seconds = Some(1.0);
        // Newest first, as the daemon lists them.
        let points = accuracy_points(&[c, b, a]);
        let ids: Vec<&str> = points.iter().map(|p| p.batch_id.as_str()).collect();
        assert_eq!(ids, ["bt_a", "bt_c"]);
    }
}
