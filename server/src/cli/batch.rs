//! `cosmosq batch ...`: client subcommands over the REST API.

use super::http::{segment, Client, API};
use super::output::{pretty_json, render_table, short_time, show, show_list, Align};
use super::plan::{table as plan_table, Format};
use super::watch::watch_batches;
use super::{CliError, Remote};
use clap::{Args, Subcommand};
use cosmosq_shared::api::{Batch, BatchStatus, ExecuteInput, ExecuteReply};
use cosmosq_shared::plan::{Plan, MAX_BATCH_SIZE_LIMIT};
use cosmosq_shared::ErrorCode;
use cosmosq_shared::PlanMode;
use serde::Deserialize;

/// Exit code of `batch run --watch` when a batch failed or was canceled.
pub const EXIT_BATCH_FAILED: u8 = 1;

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
    /// Print a batch's run log; with `--follow`, keep printing what it writes until the
    /// batch finishes.
    Log {
        /// Batch id (`bt_...`).
        id: String,
        /// Keep printing new lines until the batch finishes.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only the lines of this job's part of the batch.
        #[arg(long, conflicts_with = "follow")]
        job: Option<String>,
    },
}

/// How often `batch log --follow` asks for more.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// Print a batch's log (or one job's lines), following it while the batch runs.
fn print_log(client: &Client, id: &str, follow: bool, job: Option<String>) -> Result<(), CliError> {
    use std::io::Write;
    let path = format!("{API}/batches/{}/log", segment(id));
    if let Some(job) = job {
        let (text, _) = client.get_text(&path, &[("job", job)], &[])?;
        print!("{text}");
        return Ok(());
    }
    let mut offset: u64 = 0;
    loop {
        let (text, headers) = client.get_text(
            &path,
            &[("offset", offset.to_string())],
            &["x-log-complete"],
        )?;
        offset += text.len() as u64;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        let complete = headers[0].as_deref() == Some("true");
        if !follow || (complete && text.is_empty()) {
            return Ok(());
        }
        if !complete {
            std::thread::sleep(FOLLOW_POLL);
        }
    }
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

pub(super) fn controls_label(b: &Batch) -> String {
    if b.controls.is_empty() {
        "-".to_string()
    } else {
        let names: Vec<&str> = b.controls.iter().map(|c| c.as_str()).collect();
        names.join("+")
    }
}

/// A batch's status, with Slurm's state and reason while its job waits or runs there
/// (`running (slurm PENDING: Resources)`).
pub fn status_label(b: &Batch) -> String {
    let status = b.status.as_str();
    match &b.slurm {
        Some(s) if b.status == BatchStatus::Running => match (&s.state, s.reason.as_deref()) {
            (Some(state), Some(r)) if r != "None" => format!("{status} (slurm {state}: {r})"),
            (Some(state), _) => format!("{status} (slurm {state})"),
            (None, _) => format!("{status} (slurm job {})", s.job_id),
        },
        _ => status.to_string(),
    }
}

/// Batches as a table.
pub fn table(batches: &[Batch]) -> String {
    let rows: Vec<Vec<String>> = batches
        .iter()
        .map(|b| {
            vec![
                b.id.clone(),
                status_label(b),
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
                Format::Json | Format::Table => {
                    show(&plan, matches!(format, Format::Json), plan_table)
                }
            }
            Ok(())
        }
        BatchCommand::Run { plan, watch } => run_plan(&client, &plan, watch),
        BatchCommand::Ls { json } => {
            let batches: Vec<Batch> = client.get(&format!("{API}/batches"))?;
            show_list(&batches, json, "no batches", table);
            Ok(())
        }
        BatchCommand::Show { id } => {
            let batch: Batch = client.get(&format!("{API}/batches/{}", segment(&id)))?;
            println!("{}", pretty_json(&batch));
            Ok(())
        }
        BatchCommand::Log { id, follow, job } => print_log(&client, &id, follow, job),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use cosmosq_shared::Control;

    fn parse(args: &[&str]) -> Result<BatchCommand, clap::Error> {
        crate::cli::parse_subcommand("batch", args)
    }

    pub(crate) fn batch(id: &str, status: BatchStatus) -> Batch {
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
            slurm: None,
            error: None,
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
    fn table_lists_batches() {
        let mut b = batch("bt_1", BatchStatus::Running);
        b.progress = 0.5;
        assert_eq!(
            table(&[b]),
            "id    status   mode    jobs  controls  batch_size  progress  estimate s  measured s  created (UTC)\n\
             bt_1  running  strict     2  edge+vis           2       50%        10.0           -  2025-01-02 03:04:05\n"
        );
    }

    #[test]
    fn a_slurm_batch_shows_slurms_state_and_reason() {
        let mut b = batch("bt_1", BatchStatus::Running);
        b.slurm = Some(cosmosq_shared::api::SlurmJob {
            job_id: "12".into(),
            state: Some("PENDING".into()),
            reason: Some("Resources".into()),
        });
        assert_eq!(status_label(&b), "running (slurm PENDING: Resources)");
        b.slurm.as_mut().unwrap().reason = Some("None".into());
        b.slurm.as_mut().unwrap().state = Some("RUNNING".into());
        assert_eq!(status_label(&b), "running (slurm RUNNING)");
        b.status = BatchStatus::Succeeded;
        assert_eq!(status_label(&b), "succeeded");
    }
}
