//! Command-line entry: argument parsing and dispatch to the subcommands.

mod plan;

use clap::{Parser, Subcommand};
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

#[derive(Subcommand)]
enum Command {
    /// Plan a JSON job list offline and print the smart batches.
    Plan(plan::PlanArgs),
}

/// Exit code for bad input (usage errors, invalid files).
pub const EXIT_BAD_INPUT: u8 = 2;

/// Parse the command line and run it.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan(args) => plan::run(args),
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
}
