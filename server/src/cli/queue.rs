//! `cosmosq queue ...`: client subcommands over the REST API.

use super::http::{Client, API};
use super::output::show;
use super::{CliError, Remote};
use clap::builder::BoolishValueParser;
use clap::Subcommand;
use cosmosq_shared::api::{QueueSettings, QueueSettingsPatch, QueueView};
use cosmosq_shared::plan::MAX_BATCH_SIZE_LIMIT;

#[derive(Subcommand)]
pub enum QueueCommand {
    /// Show the queue: paused or not, settings, counts and the running and queued jobs.
    Show {
        /// Print the queue as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pause: the running batch finishes, then nothing new starts.
    Pause,
    /// Resume running queued jobs.
    Resume,
    /// Change queue settings (only those given); without options, print them.
    Settings {
        /// Mix Control Inputs: allow batching jobs with different controls (true/false).
        #[arg(long, value_name = "BOOL", value_parser = BoolishValueParser::new())]
        mix: Option<bool>,
        /// Most jobs in one batch (1..=64).
        #[arg(
            long,
            value_name = "N",
            value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_BATCH_SIZE_LIMIT))
        )]
        max_batch_size: Option<u32>,
        /// Batch the next compatible jobs automatically while not paused (true/false).
        #[arg(long, value_name = "BOOL", value_parser = BoolishValueParser::new())]
        auto_batch: Option<bool>,
    },
    /// Wait until every job queued or running now is done (jobs added later are not waited
    /// for): exit 0 when all succeeded, 1 when any failed or was canceled, 2 on timeout.
    Wait {
        /// Give up after this many seconds (exit 2).
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
    },
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// The settings in one line.
pub fn settings_line(s: &QueueSettings) -> String {
    format!(
        "settings: mix controls {}, max batch size {}, auto batch {}",
        on_off(s.mix_controls),
        s.max_batch_size,
        on_off(s.auto_batch)
    )
}

/// Whether the queue runs, and why not.
pub fn state_line(view: &QueueView) -> String {
    let state = if view.paused {
        match &view.paused_reason {
            Some(reason) => format!("paused ({reason})"),
            None => "paused".to_string(),
        }
    } else {
        "running".to_string()
    };
    format!("queue: {state}; executor {}", view.executor)
}

/// `queue show` as text: state, settings, counts, then the jobs table.
pub fn render(view: &QueueView) -> String {
    let c = &view.counts;
    let mut out = format!(
        "{}\n{}\njobs: {} queued, {} running, {} succeeded, {} failed, {} canceled\n",
        state_line(view),
        settings_line(&view.settings),
        c.queued,
        c.running,
        c.succeeded,
        c.failed,
        c.canceled
    );
    if view.jobs.is_empty() {
        out += "no running or queued jobs\n";
    } else {
        out += "\n";
        out += &super::job::table(&view.jobs);
    }
    out
}

pub fn run(remote: &Remote, command: QueueCommand) -> Result<(), CliError> {
    let client = Client::new(remote);
    match command {
        QueueCommand::Show { json } => {
            let view: QueueView = client.get(&format!("{API}/queue"))?;
            show(&view, json, render);
        }
        QueueCommand::Pause => {
            let view: QueueView = client.post_empty(&format!("{API}/queue/pause"))?;
            println!("{}", state_line(&view));
            if view.counts.running > 0 {
                println!("the running batch finishes first; nothing new starts until `cosmosq queue resume`");
            }
        }
        QueueCommand::Wait { timeout } => {
            let ids = super::wait::unfinished(&client)?;
            super::wait::wait(&client, &ids, timeout)?;
            if ids.is_empty() {
                println!("nothing queued or running");
            }
        }
        QueueCommand::Resume => {
            let view: QueueView = client.post_empty(&format!("{API}/queue/resume"))?;
            println!("{}", state_line(&view));
        }
        QueueCommand::Settings {
            mix,
            max_batch_size,
            auto_batch,
        } => {
            let patch = QueueSettingsPatch {
                mix_controls: mix,
                max_batch_size,
                auto_batch,
            };
            let view: QueueView = if patch == QueueSettingsPatch::default() {
                client.get(&format!("{API}/queue"))?
            } else {
                client.patch(&format!("{API}/queue/settings"), &patch)?
            };
            println!("{}", settings_line(&view.settings));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmosq_shared::api::JobCounts;

    fn parse(args: &[&str]) -> Result<QueueCommand, clap::Error> {
        crate::cli::parse_subcommand("queue", args)
    }

    #[test]
    fn settings_take_booleans_and_a_bounded_size() {
        let Ok(QueueCommand::Settings {
            mix,
            max_batch_size,
            auto_batch,
        }) = parse(&["settings", "--mix", "true", "--auto-batch", "off"])
        else {
            panic!("settings should parse");
        };
        assert_eq!(
            (mix, max_batch_size, auto_batch),
            (Some(true), None, Some(false))
        );
        assert!(parse(&["settings", "--mix", "maybe"]).is_err());
        assert!(parse(&["settings", "--max-batch-size", "0"]).is_err());
        assert!(parse(&["settings", "--max-batch-size", "65"]).is_err());
        assert!(parse(&["settings", "--max-batch-size", "64"]).is_ok());
    }

    #[test]
    fn show_renders_state_settings_and_counts() {
        let view = QueueView {
            paused: true,
            paused_reason: Some("unclean stop".into()),
            settings: QueueSettings::default(),
            counts: JobCounts {
                queued: 2,
                ..JobCounts::default()
            },
            executor: cosmosq_shared::Profile::Simulated,
            jobs: vec![],
        };
        assert_eq!(
            render(&view),
            "queue: paused (unclean stop); executor simulated\n\
             settings: mix controls off, max batch size 8, auto batch on\n\
             jobs: 2 queued, 0 running, 0 succeeded, 0 failed, 0 canceled\n\
             no running or queued jobs\n"
        );
    }
}
