//! `batch run --watch`: progress bars for the batches of an executed plan, fed by the event
//! stream (reconnecting and reloading when it breaks), and the watch's outcome.

use super::batch::{controls_label, EXIT_BATCH_FAILED};
use super::http::{segment, Client, API};
use super::output::truncate;
use super::sse::EventStream;
use super::CliError;
use cosmosq_shared::api::{Batch, BatchStatus, Event};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// Progress bars count in thousandths.
const BAR_LENGTH: u64 = 1000;
/// A broken event stream is reopened this many times in a row before the watch gives up.
const MAX_RECONNECTS: u32 = 10;

/// One line describing a batch's state, for logs and scripts.
pub fn state_line(b: &Batch) -> String {
    match b.status {
        BatchStatus::Succeeded => match b.measured_seconds {
            Some(s) => format!(
                "batch {} succeeded in {s:.1} s (estimated {:.1} s)",
                b.id, b.estimated_seconds
            ),
            None => format!("batch {} succeeded", b.id),
        },
        BatchStatus::Failed => match &b.error {
            Some(e) => format!("batch {} failed: {}: {}", b.id, e.code, e.message),
            None => format!("batch {} failed", b.id),
        },
        status => format!("batch {} {}", b.id, status.as_str()),
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:.bold} [{bar:30.cyan/blue}] {percent:>3}% {elapsed:>4} {wide_msg}",
    )
    .expect("the progress template is valid")
    .progress_chars("=> ")
}

struct Tracked {
    batch: Batch,
    bar: ProgressBar,
    /// Last tenth of progress reported as a plain line.
    tenth: u32,
}

/// The batches a `--watch` follows, with one progress bar each.
pub struct Watch {
    tracked: Vec<Tracked>,
}

impl Watch {
    /// Start following `batches`; returns the watch and a line per batch's current state.
    pub fn new(batches: &[Batch], multi: &MultiProgress) -> (Self, Vec<String>) {
        let mut watch = Watch {
            tracked: Vec::with_capacity(batches.len()),
        };
        let mut lines = Vec::new();
        for b in batches {
            let bar = multi.add(
                ProgressBar::new(BAR_LENGTH)
                    .with_style(bar_style())
                    .with_prefix(format!(
                        "{} ({} jobs, {})",
                        b.id,
                        b.job_ids.len(),
                        controls_label(b)
                    )),
            );
            if !multi.is_hidden() {
                bar.enable_steady_tick(Duration::from_millis(250));
            }
            // Start from `pending`, then apply the given state (which may already be later).
            let mut initial = b.clone();
            initial.status = BatchStatus::Pending;
            bar.set_message("pending");
            watch.tracked.push(Tracked {
                batch: initial,
                bar,
                tenth: 0,
            });
            if b.status == BatchStatus::Pending {
                lines.push(state_line(b));
            } else {
                lines.extend(watch.update(b));
            }
        }
        (watch, lines)
    }

    /// Apply an event; returns the plain lines it causes (state changes, each tenth of progress).
    pub fn apply(&mut self, event: &Event) -> Vec<String> {
        match event {
            Event::Batch { batch } => self.update(batch),
            Event::Progress {
                batch_id,
                progress,
                log_tail,
            } => self.progress(batch_id, *progress, log_tail),
            _ => Vec::new(),
        }
    }

    /// Apply a batch's newer state. A finished batch never changes again (a late event or
    /// an older snapshot cannot bring it back).
    pub fn update(&mut self, batch: &Batch) -> Vec<String> {
        let Some(t) = self.tracked.iter_mut().find(|t| t.batch.id == batch.id) else {
            return Vec::new();
        };
        if t.batch.status.is_terminal() {
            return Vec::new();
        }
        let old = t.batch.status;
        let progress = t.batch.progress;
        t.batch = batch.clone();
        t.batch.progress = progress; // progress only moves forward
        let mut lines = Vec::new();
        if batch.status == BatchStatus::Running {
            lines.extend(Self::set_progress(t, batch.progress));
        }
        if batch.status != old {
            let line = state_line(batch);
            match batch.status {
                BatchStatus::Pending => t.bar.set_message("pending"),
                BatchStatus::Running => t.bar.set_message("running"),
                BatchStatus::Succeeded => {
                    t.bar.set_position(BAR_LENGTH);
                    t.bar.finish_with_message(match batch.measured_seconds {
                        Some(s) => format!(
                            "succeeded in {s:.1} s (estimated {:.1} s)",
                            batch.estimated_seconds
                        ),
                        None => "succeeded".to_string(),
                    });
                }
                BatchStatus::Failed | BatchStatus::Canceled => {
                    let prefix = format!("batch {} ", batch.id);
                    t.bar.abandon_with_message(
                        line.strip_prefix(&prefix).unwrap_or(&line).to_string(),
                    );
                }
            }
            lines.push(line);
        }
        lines
    }

    fn progress(&mut self, batch_id: &str, progress: f64, log_tail: &[String]) -> Vec<String> {
        let Some(t) = self.tracked.iter_mut().find(|t| t.batch.id == batch_id) else {
            return Vec::new();
        };
        if t.batch.status.is_terminal() {
            return Vec::new();
        }
        if let Some(last) = log_tail.iter().rev().find(|l| !l.trim().is_empty()) {
            t.bar.set_message(truncate(last.trim(), 100));
        }
        Self::set_progress(t, progress)
    }

    fn set_progress(t: &mut Tracked, progress: f64) -> Vec<String> {
        let progress = if progress.is_finite() {
            progress.clamp(0.0, 1.0)
        } else {
            0.0
        }
        .max(t.batch.progress);
        t.batch.progress = progress;
        t.bar
            .set_position((progress * BAR_LENGTH as f64).round() as u64);
        let tenth = (progress * 10.0).floor() as u32;
        if tenth > t.tenth && tenth < 10 {
            t.tenth = tenth;
            vec![format!("batch {} {}%", t.batch.id, tenth * 10)]
        } else {
            Vec::new()
        }
    }

    /// Ids of the batches not finished yet.
    pub fn unfinished(&self) -> Vec<String> {
        self.tracked
            .iter()
            .filter(|t| !t.batch.status.is_terminal())
            .map(|t| t.batch.id.clone())
            .collect()
    }

    pub fn is_done(&self) -> bool {
        self.tracked.iter().all(|t| t.batch.status.is_terminal())
    }

    /// Once done: a summary when every batch succeeded, else an error (exit 1) naming the others.
    pub fn outcome(&self) -> Result<String, CliError> {
        let total = self.tracked.len();
        let bad: Vec<String> = self
            .tracked
            .iter()
            .filter(|t| t.batch.status != BatchStatus::Succeeded)
            .map(|t| {
                let b = &t.batch;
                match (&b.status, &b.error) {
                    (BatchStatus::Failed, Some(e)) => {
                        format!("{} failed ({}: {})", b.id, e.code, e.message)
                    }
                    (status, _) => format!("{} {}", b.id, status.as_str()),
                }
            })
            .collect();
        if bad.is_empty() {
            Ok(match total {
                1 => "the batch succeeded".to_string(),
                n => format!("all {n} batches succeeded"),
            })
        } else {
            Err(CliError {
                message: format!(
                    "{} of {total} batches did not succeed: {}",
                    bad.len(),
                    bad.join("; ")
                ),
                exit_code: EXIT_BATCH_FAILED,
            })
        }
    }
}

/// Refresh the unfinished batches from the daemon (after a `resync` or a reconnection).
fn resync(client: &Client, watch: &mut Watch) -> Result<Vec<String>, CliError> {
    let mut lines = Vec::new();
    for id in watch.unfinished() {
        let batch: Batch = client.get(&format!("{API}/batches/{}", segment(&id)))?;
        lines.extend(watch.update(&batch));
    }
    Ok(lines)
}

/// Follow `created` to the end over the event stream, reconnecting when it drops.
pub(super) fn watch_batches(
    client: &Client,
    mut events: EventStream,
    created: &[Batch],
) -> Result<(), CliError> {
    let bars = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    let multi = MultiProgress::with_draw_target(if bars {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    // Bars show the state on a terminal; otherwise print it line by line for scripts.
    let emit = |lines: Vec<String>| {
        if !bars {
            for line in lines {
                println!("{line}");
            }
        }
    };
    eprintln!("watching; Ctrl-C stops watching, the batches keep running");
    let (mut watch, lines) = Watch::new(created, &multi);
    emit(lines);
    let mut failures = 0u32;
    while !watch.is_done() {
        let lost = match events.next_event() {
            Ok(Some(Event::Resync)) => match resync(client, &mut watch) {
                Ok(lines) => {
                    emit(lines);
                    None
                }
                Err(e) => Some(e),
            },
            Ok(Some(event)) => {
                emit(watch.apply(&event));
                None
            }
            Ok(None) => Some(CliError::unavailable("the daemon closed the event stream")),
            Err(e) => Some(e),
        };
        let Some(mut error) = lost else { continue };
        // Reconnect, then catch up on what the gap hid.
        loop {
            failures += 1;
            if failures > MAX_RECONNECTS {
                return Err(CliError::unavailable(format!(
                    "{}; gave up watching (the batches keep running: see `cosmosq batch ls`)",
                    error.message
                )));
            }
            std::thread::sleep(Duration::from_secs(u64::from(failures.min(5))));
            match client.events().and_then(|stream| {
                let lines = resync(client, &mut watch)?;
                Ok((stream, lines))
            }) {
                Ok((stream, lines)) => {
                    events = stream;
                    emit(lines);
                    failures = 0;
                    break;
                }
                Err(e) => error = e,
            }
        }
    }
    let outcome = watch.outcome();
    if let Ok(summary) = &outcome {
        println!("{summary}");
    }
    outcome.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::batch::tests::batch;
    use cosmosq_shared::api::ErrorBody;
    use cosmosq_shared::ErrorCode;

    fn hidden() -> MultiProgress {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    }

    fn progress(id: &str, p: f64, tail: &[&str]) -> Event {
        Event::Progress {
            batch_id: id.into(),
            progress: p,
            log_tail: tail.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn watch_follows_progress_and_state_changes() {
        let multi = hidden();
        let (mut watch, lines) = Watch::new(
            &[
                batch("bt_1", BatchStatus::Pending),
                batch("bt_2", BatchStatus::Pending),
            ],
            &multi,
        );
        assert_eq!(lines, vec!["batch bt_1 pending", "batch bt_2 pending"]);
        let mut running = batch("bt_1", BatchStatus::Running);
        running.progress = 0.05;
        assert_eq!(
            watch.apply(&Event::Batch { batch: running }),
            vec!["batch bt_1 running"]
        );
        assert_eq!(
            watch.apply(&progress("bt_1", 0.25, &["step 1", "step 2", ""])),
            vec!["batch bt_1 20%"]
        );
        assert_eq!(watch.tracked[0].bar.position(), 250);
        assert_eq!(watch.tracked[0].bar.message(), "step 2");
        assert!(watch.apply(&progress("bt_1", 0.29, &[])).is_empty());
        assert!(watch.apply(&progress("bt_other", 0.5, &[])).is_empty());
        assert!(!watch.is_done());

        let mut done = batch("bt_1", BatchStatus::Succeeded);
        done.progress = 1.0;
        done.measured_seconds = Some(12.34);
        assert_eq!(
            watch.apply(&Event::Batch { batch: done }),
            vec!["batch bt_1 succeeded in 12.3 s (estimated 10.0 s)"]
        );
        assert!(watch.tracked[0].bar.is_finished());
        // A stale snapshot cannot bring a finished batch back.
        assert!(watch
            .update(&batch("bt_1", BatchStatus::Running))
            .is_empty());
        assert_eq!(watch.unfinished(), vec!["bt_2"]);

        let mut failed = batch("bt_2", BatchStatus::Failed);
        failed.error = Some(ErrorBody {
            code: ErrorCode::ExecutorFailed,
            message: "exit status 1".into(),
        });
        assert_eq!(
            watch.apply(&Event::Batch { batch: failed }),
            vec!["batch bt_2 failed: executor_failed: exit status 1"]
        );
        assert!(watch.is_done());
        let e = watch.outcome().unwrap_err();
        assert_eq!(e.exit_code, EXIT_BATCH_FAILED);
        assert_eq!(
            e.message,
            "1 of 2 batches did not succeed: bt_2 failed (executor_failed: exit status 1)"
        );
    }

    #[test]
    fn watch_succeeds_when_every_batch_succeeds() {
        let multi = hidden();
        let mut already = batch("bt_2", BatchStatus::Succeeded);
        already.progress = 1.0;
        let (mut watch, lines) =
            Watch::new(&[batch("bt_1", BatchStatus::Running), already], &multi);
        assert_eq!(lines, vec!["batch bt_1 running", "batch bt_2 succeeded"]);
        assert!(watch
            .apply(&Event::Batch {
                batch: batch("bt_1", BatchStatus::Succeeded)
            })
            .contains(&"batch bt_1 succeeded".to_string()));
        assert!(watch.is_done());
        assert_eq!(watch.outcome().unwrap(), "all 2 batches succeeded");
    }

    #[test]
    fn canceled_batches_fail_the_watch() {
        let multi = hidden();
        let (mut watch, _) = Watch::new(&[batch("bt_1", BatchStatus::Pending)], &multi);
        assert_eq!(
            watch.apply(&Event::Batch {
                batch: batch("bt_1", BatchStatus::Canceled)
            }),
            vec!["batch bt_1 canceled"]
        );
        assert_eq!(
            watch.outcome().unwrap_err().message,
            "1 of 1 batches did not succeed: bt_1 canceled"
        );
    }
}
