//! Executors run one batch each: one model load, every job of the batch, per-job outcomes.
//!
//! The trait assumes nothing about local processes (a later profile submits to a cluster):
//! it gets the claimed batch and a progress sink, watches the batch's cancel token, and
//! reports each job's outcome; the queue decides what those mean for job states.

mod cosmos;
pub mod leftovers;
mod process;
mod simulated;
mod transfer1;
mod transfer25;

use crate::config::{Config, SlotConfig};
use cosmosq_shared::api::{Batch, ErrorBody, Job, JobOutputs, Prompt};
use cosmosq_shared::{Control, Profile};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub use cosmos::stop_wrapped;
pub use simulated::Simulated;

/// A batch handed to a worker: everything the executor needs, and how to stop it.
pub struct Claimed {
    pub batch: Batch,
    /// The batch's jobs in run order, each with its prompt.
    pub jobs: Vec<(Job, Prompt)>,
    /// `<data_dir>/batches/<batch id>`, for the executor's files.
    pub dir: PathBuf,
    pub cancel: CancellationToken,
}

/// How one job of a batch ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Its output was produced and verified.
    Succeeded(JobOutputs),
    /// It failed for a reason of its own (blocked, bad input, ...).
    Failed(ErrorBody),
    /// It did not get to run (batch stopped or died first): back to its place in the queue.
    Requeue,
    /// The program never started (it could not be launched, or the batch was refused before
    /// launch): back to its place, and this start does not count as an attempt.
    NotStarted,
}

/// What an executor reports for a batch. Jobs missing from `outcomes` go back to the queue.
#[derive(Debug, Default)]
pub struct BatchResult {
    pub outcomes: HashMap<String, JobOutcome>,
    pub log_path: Option<String>,
    /// Why the batch as a whole failed, if it did.
    pub error: Option<ErrorBody>,
    /// The program ran out of GPU memory: jobs without an outcome are split into smaller
    /// batches and retried.
    pub out_of_memory: bool,
}

/// Where an executor reports progress while a batch runs: the fraction done (0..=1) when it
/// is known, and a new log line when there is one.
pub trait Progress: Send + Sync {
    fn report(&self, progress: Option<f64>, line: Option<String>);
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs batches of one profile.
pub trait Executor: Send + Sync {
    /// Run the batch on `slot` until it ends or `batch.cancel` fires.
    fn run<'a>(
        &'a self,
        batch: &'a Claimed,
        slot: &'a SlotConfig,
        progress: &'a dyn Progress,
    ) -> BoxFuture<'a, BatchResult>;
}

/// The daemon's own `COSMOSQ_*` variables (its token among them), which the programs it
/// starts must not inherit.
pub fn daemon_variables() -> Vec<std::ffi::OsString> {
    std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| k.to_str().is_some_and(|k| k.starts_with("COSMOSQ_")))
        .collect()
}

/// Remove [`daemon_variables`] from a command's environment.
pub fn forget_daemon_secrets(cmd: &mut std::process::Command) {
    for k in daemon_variables() {
        cmd.env_remove(k);
    }
}

/// The weight a job's line gives every control its batch loads: its own weight as it asked
/// for it, and an explicit 0 for each control it did not ask for (never another job's weight).
/// The program computes what runs from these (see `Profile::effective_weights`).
pub fn line_weights(batch: &Batch, job: &Job) -> BTreeMap<Control, f64> {
    batch
        .controls
        .iter()
        .map(|c| (*c, job.config.weight(*c)))
        .collect()
}

/// The executor the configuration names.
pub fn from_config(config: &Config) -> Arc<dyn Executor> {
    match config.executor.profile {
        Profile::Transfer1 => Arc::new(transfer1::Transfer1::new(config.executor.clone())),
        Profile::Transfer25 => Arc::new(transfer25::Transfer25::new(config.executor.clone())),
        Profile::Simulated => Arc::new(Simulated::new(config.executor.time_scale)),
    }
}
