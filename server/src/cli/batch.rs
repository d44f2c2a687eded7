//! `cosmosq batch ...`: client subcommands over the REST API.

use super::client::{
    pretty_json, render_table, segment, short_time, truncate, Align, Client, EventStream, API,
};
use super::plan::{table as plan_table, Format};
use super::{CliError, Remote};
use clap::{Args, Subcommand};
use cosmosq_shared::api::{Batch, BatchStatus, Event, ExecuteInput, ExecuteReply};
use cosmosq_shared::plan::{Plan, MAX_BATCH_SIZE_LIMIT};
use cosmosq_shared::ErrorCode;
use cosmosq_shared::PlanMode;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;
use std::io::IsTerminal;
use std::time::Duration;

/// Exit code of `batch run --watch` when a batch failed or was canceled.
pub const EXIT_BATCH_FAILED: u8 = 1;

/// Progress bars count in thousandths.
const BAR_LENGTH: u64 = 1000;
/// Reconnection attempts in a row before `--watch` gives up.
const MAX_RECONNECTS: u32 = 10;

#[derive(Subcommand)]
pub enum BatchCommand {
    /// Preview the smart batches of the queued jobs (nothing runs).
    Preview {
        #[command(flatten)]
        plan: PlanOptions,
        /// A table with the reason of each batch, or the plan as JSON.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Execute the smart batches of the queued jobs (they run even while the queue is paused).
    Run {
        #[command(flatten)]
        plan: PlanOptions,
        /// Follow the batches with progress bars until they finish; exit 1 if any fails.
        #[arg(long)]
        watch: bool,
    },
    /// List batches.
    Ls {
        /// Print the batches as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print one batch as JSON.
    Show {
        /// Batch id (`bt_...`).
        id: String,
    },
}

/// How the daemon should plan.
#[derive(Args, Clone, Copy)]
pub struct PlanOptions {
    /// Mixed mode: a batch may load the union of its jobs' controls (default: the queue's
    /// "Mix Control Inputs" setting).
    #[arg(long, conflicts_with = "strict")]
    mix: bool,
    /// Strict mode: identical controls only (default: the queue's setting).
    #[arg(long)]
    strict: bool,
    /// Most jobs in one batch (1..=64; default: the queue's setting).
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_BATCH_SIZE_LIMIT))
    )]
    max_batch_size: Option<u32>,
}

impl PlanOptions {
    /// The mode asked for; `None` leaves it to the queue's setting.
    pub fn mode(&self) -> Option<PlanMode> {
        if self.mix {
            Some(PlanMode::Mixed)
        } else if self.strict {
            Some(PlanMode::Strict)
        } else {
            None
        }
    }

    /// The query of `GET /api/v1/batches/preview`.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(mode) = self.mode() {
            query.push(("mode", mode.as_str().to_string()));
        }
        if let Some(n) = self.max_batch_size {
            query.push(("max_batch_size", n.to_string()));
        }
        query
    }
}

/// The 409 answer to executing a plan that no longer matches the queue.
#[derive(Deserialize)]
struct StalePlan {
    code: ErrorCode,
    preview: Plan,
}

/// The fresh preview inside a `stale_plan` refusal, if that is what `body` is.
pub fn stale_preview(status: u16, body: &str) -> Option<Plan> {
    if status != 409 {
        return None;
    }
    serde_json::from_str::<StalePlan>(body)
        .ok()
        .filter(|s| s.code == ErrorCode::StalePlan)
        .map(|s| s.preview)
}

fn controls_label(b: &Batch) -> String {
    if b.controls.is_empty() {
        "-".to_string()
    } else {
        let names: Vec<&str> = b.controls.iter().map(|c| c.as_str()).collect();
        names.join("+")
    }
}

/// Batches as a table.
pub fn table(batches: &[Batch]) -> String {
    let rows: Vec<Vec<String>> = batches
        .iter()
        .map(|b| {
            vec![
                b.id.clone(),
                b.status.as_str().to_string(),
                b.mode.to_string(),
                b.job_ids.len().to_string(),
                controls_label(b),
                b.batch_size.to_string(),
                format!("{:.0}%", b.progress.clamp(0.0, 1.0) * 100.0),
                format!("{:.1}", b.estimated_seconds),
                b.measured_seconds
                    .map_or_else(|| "-".to_string(), |s| format!("{s:.1}")),
                short_time(&b.created_at),
            ]
        })
        .collect();
    render_table(
        &[
            ("id", Align::Left),
            ("status", Align::Left),
            ("mode", Align::Left),
            ("jobs", Align::Right),
            ("controls", Align::Left),
            ("batch_size", Align::Right),
            ("progress", Align::Right),
            ("estimate s", Align::Right),
            ("measured s", Align::Right),
            ("created (UTC)", Align::Left),
        ],
        &rows,
    )
}

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

/// Execute `plan`; on a stale-plan refusal execute the fresh preview once. `None` when the
/// fresh preview has nothing to run.
fn execute(client: &Client, plan: &Plan) -> Result<Option<ExecuteReply>, CliError> {
    let path = format!("{API}/batches");
    let mut plan_id = plan.plan_id.clone();
    let mut retried = false;
    loop {
        let reply = client.post_raw(
            &path,
            &ExecuteInput {
                plan_id: plan_id.clone(),
            },
        )?;
        if !retried {
            if let Some(fresh) = stale_preview(reply.status, &reply.body) {
                println!(
                    "the queue changed since the preview; executing the fresh plan {} instead:",
                    fresh.plan_id
                );
                print!("{}", plan_table(&fresh));
                if fresh.batches.is_empty() {
                    return Ok(None);
                }
                plan_id = fresh.plan_id;
                retried = true;
                continue;
            }
        }
        return client.decode(reply).map(Some);
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
fn watch_batches(
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

fn run_plan(client: &Client, options: &PlanOptions, watch: bool) -> Result<(), CliError> {
    let plan: Plan = client.get_query(&format!("{API}/batches/preview"), &options.query())?;
    print!("{}", plan_table(&plan));
    if plan.batches.is_empty() {
        println!("nothing to run");
        return Ok(());
    }
    // Subscribe before executing, so no event about the new batches is missed.
    let events = if watch { Some(client.events()?) } else { None };
    let Some(reply) = execute(client, &plan)? else {
        println!("nothing to run");
        return Ok(());
    };
    println!(
        "executing plan {}: {} batch{}",
        reply.plan_id,
        reply.batches.len(),
        if reply.batches.len() == 1 { "" } else { "es" }
    );
    print!("{}", table(&reply.batches));
    match events {
        Some(events) if !reply.batches.is_empty() => watch_batches(client, events, &reply.batches),
        _ => Ok(()),
    }
}

pub fn run(remote: &Remote, command: BatchCommand) -> Result<(), CliError> {
    let client = Client::new(remote);
    match command {
        BatchCommand::Preview { plan, format } => {
            let plan: Plan = client.get_query(&format!("{API}/batches/preview"), &plan.query())?;
            match format {
                Format::Json => println!("{}", pretty_json(&plan)),
                Format::Table => print!("{}", plan_table(&plan)),
            }
            Ok(())
        }
        BatchCommand::Run { plan, watch } => run_plan(&client, &plan, watch),
        BatchCommand::Ls { json } => {
            let batches: Vec<Batch> = client.get(&format!("{API}/batches"))?;
            if json {
                println!("{}", pretty_json(&batches));
            } else if batches.is_empty() {
                println!("no batches");
            } else {
                print!("{}", table(&batches));
            }
            Ok(())
        }
        BatchCommand::Show { id } => {
            let batch: Batch = client.get(&format!("{API}/batches/{}", segment(&id)))?;
            println!("{}", pretty_json(&batch));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmosq_shared::api::ErrorBody;
    use cosmosq_shared::Control;

    fn parse(args: &[&str]) -> Result<BatchCommand, clap::Error> {
        crate::cli::parse_subcommand("batch", args)
    }

    fn batch(id: &str, status: BatchStatus) -> Batch {
        Batch {
            id: id.into(),
            mode: PlanMode::Strict,
            plan_id: Some("pl_1".into()),
            job_ids: vec!["jb_1".into(), "jb_2".into()],
            controls: vec![Control::Edge, Control::Vis],
            batch_size: 2,
            reason: "same controls".into(),
            status,
            executor: cosmosq_shared::Profile::Simulated,
            slot: None,
            estimated_seconds: 10.0,
            measured_seconds: None,
            progress: 0.0,
            created_at: "2025-01-02T03:04:05Z".into(),
            started_at: None,
            finished_at: None,
            log_path: None,
            error: None,
        }
    }

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
    fn options_build_the_preview_query() {
        let Ok(BatchCommand::Run { plan, watch }) =
            parse(&["run", "--mix", "--max-batch-size", "4", "--watch"])
        else {
            panic!("run should parse");
        };
        assert!(watch);
        assert_eq!(
            plan.query(),
            vec![
                ("mode", "mixed".to_string()),
                ("max_batch_size", "4".to_string())
            ]
        );
        let Ok(BatchCommand::Preview { plan, .. }) = parse(&["preview"]) else {
            panic!("preview should parse");
        };
        // No mode: the daemon uses the queue's "Mix Control Inputs" setting.
        assert_eq!(plan.query(), vec![]);
        let Ok(BatchCommand::Preview { plan, .. }) = parse(&["preview", "--strict"]) else {
            panic!("preview --strict should parse");
        };
        assert_eq!(plan.query(), vec![("mode", "strict".to_string())]);
        assert!(parse(&["preview", "--strict", "--mix"]).is_err());
        assert!(parse(&["preview", "--max-batch-size", "0"]).is_err());
        assert!(parse(&["preview", "--format", "json"]).is_ok());
        assert!(parse(&["preview", "--format", "yaml"]).is_err());
    }

    #[test]
    fn stale_plan_refusals_carry_the_fresh_preview() {
        let fresh = Plan {
            plan_id: "pl_new".into(),
            mode: PlanMode::Strict,
            batches: vec![],
            metrics: Default::default(),
            excluded: vec![],
        };
        let body = serde_json::json!({
            "code": "stale_plan",
            "message": "the queue changed",
            "preview": fresh,
        })
        .to_string();
        assert_eq!(stale_preview(409, &body), Some(fresh));
        assert_eq!(stale_preview(400, &body), None);
        assert_eq!(
            stale_preview(409, r#"{"code":"conflict","message":"x"}"#),
            None
        );
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

    #[test]
    fn table_lists_batches() {
        let mut b = batch("bt_1", BatchStatus::Running);
        b.progress = 0.5;
        assert_eq!(
            table(&[b]),
            "id    status   mode    jobs  controls  batch_size  progress  estimate s  measured s  created (UTC)\n\
             bt_1  running  strict     2  edge+vis           2       50%        10.0           -  2025-01-02 03:04:05\n"
        );
    }
}
