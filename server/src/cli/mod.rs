//! Command-line entry: argument parsing and dispatch to the subcommands.

mod batch;
mod http;
mod import;
mod job;
mod output;
mod plan;
mod prompt;
mod queue;
mod serve;
mod slots;
mod sse;
mod wait;
mod watch;

use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cosmosq",
    version,
    about = "Smart-batching queue for NVIDIA Cosmos Transfer jobs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the client subcommands find the daemon.
#[derive(Args, Clone, Debug)]
pub struct Remote {
    /// Base URL of the daemon.
    #[arg(
        long,
        global = true,
        env = "COSMOSQ_SERVER",
        default_value = "http://127.0.0.1:8787"
    )]
    pub server: String,
    /// Bearer token, when the daemon requires one.
    #[arg(long, global = true, env = "COSMOSQ_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Serve(serve::ServeArgs),
    /// Plan a JSON job list offline and print the smart batches.
    Plan(plan::PlanArgs),
    /// Manage prompts on a running daemon.
    #[command(visible_alias = "prompts")]
    Prompt {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: prompt::PromptCommand,
    },
    /// Manage jobs on a running daemon.
    #[command(visible_alias = "jobs")]
    Job {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: job::JobCommand,
    },
    /// Show, pause or resume the queue of a running daemon.
    Queue {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: queue::QueueCommand,
    },
    /// Preview and run smart batches on a running daemon.
    #[command(visible_alias = "batches")]
    Batch {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: batch::BatchCommand,
    },
    /// Executor slots of a running daemon: list, drain, disable, enable.
    #[command(visible_alias = "slot")]
    Slots {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: slots::SlotsCommand,
    },
}

/// Exit code for bad input (usage errors, invalid files, 4xx answers).
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code when the daemon cannot be reached or fails.
pub const EXIT_UNAVAILABLE: u8 = 3;

/// Parse the command line and run it.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Prompt { remote, command } => prompt::run(&remote, command),
        Command::Job { remote, command } => job::run(&remote, command),
        Command::Queue { remote, command } => queue::run(&remote, command),
        Command::Batch { remote, command } => batch::run(&remote, command),
        Command::Slots { remote, command } => slots::run(&remote, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cosmosq: {}", e.message);
            ExitCode::from(e.exit_code)
        }
    }
}

/// A failed command: what to tell the user and how to exit.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub exit_code: u8,
}

impl CliError {
    pub fn bad_input(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            exit_code: EXIT_BAD_INPUT,
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            exit_code: EXIT_UNAVAILABLE,
        }
    }
}

/// Parse `args` as the subcommand `T` of `cosmosq NAME` (unit tests of the client commands).
#[cfg(test)]
pub(crate) fn parse_subcommand<T: clap::Subcommand>(
    name: &str,
    args: &[&str],
) -> Result<T, clap::Error> {
    #[derive(Parser)]
    struct Wrap<T: clap::Subcommand> {
        #[command(subcommand)]
        command: T,
    }
    Wrap::<T>::try_parse_from(std::iter::once(name).chain(args.iter().copied())).map(|w| w.command)
}
