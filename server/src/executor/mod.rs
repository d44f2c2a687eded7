//! Executors run one batch each: one model load, every job of the batch, per-job outcomes.
//!
//! The seam (see [`Executor`]): the queue hands over a claimed batch; the executor
//! **submits** it and returns a [`Handle`], which the runner stores on the batch record
//! (durably) before it **watches** the batch to its end (progress, log lines, the launcher's
//! state), which **cancels** it when the batch's token fires and **collects** per-job
//! outcomes and the program's own run time. At start the daemon **reattaches** to every batch
//! the last run recorded as running: a launcher whose programs outlive the daemon (Slurm)
//! adopts it and watches it to its end; the local launcher stopped it (see `leftovers`) and
//! its jobs go back to the queue.
//!
//! The Cosmos profiles (`transfer1`, `transfer25`: files, argv, output verification) are
//! [`cosmos::Program`]s; where their process runs is a [`cosmos::Launcher`]: `local` (a child
//! process, optionally through a slot's prefix) or `slurm` (an `sbatch` job).

mod cosmos;
pub mod leftovers;
mod local;
mod process;
mod simulated;
mod slurm;
mod transfer1;
mod transfer25;

use crate::config::{Config, LauncherKind, SlotConfig};
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
    /// The program ran out of GPU memory before this job's output: the queue splits such
    /// jobs into smaller batches and retries them (one alone fails with `out_of_memory`).
    RetrySmaller,
}

/// What an executor reports for a batch. Jobs missing from `outcomes` go back to the queue.
#[derive(Debug, Default)]
pub struct BatchResult {
    pub outcomes: HashMap<String, JobOutcome>,
    pub log_path: Option<String>,
    /// Why the batch as a whole failed, if it did.
    pub error: Option<ErrorBody>,
    /// Set when the batch failed for a cause of its slot (the program could not start, the
    /// wrapper failed, the program died without a CUDA or job error): why. Such failures
    /// count towards the slot's quarantine, and its jobs go back without an attempt counted.
    pub slot_fault: Option<String>,
}

/// How a watched batch ended: its outcomes, and the seconds the program itself ran (from
/// its start to its end, without any wait for resources), when the launcher knows them.
#[derive(Debug, Default)]
pub struct Finished {
    pub result: BatchResult,
    pub run_seconds: Option<f64>,
}

/// What names a submitted batch to its launcher, stored on the batch record before the batch
/// is watched, so that the next start can find it again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "launcher", rename_all = "snake_case")]
pub enum Handle {
    /// A local process group: its leader's pid and start time (clock ticks since boot).
    Local { pid: u32, started: u64 },
    /// A Slurm job, by the id `sbatch --parsable` printed.
    Slurm { job_id: String },
    /// The simulated executor's run inside the daemon.
    Simulated,
}

impl Handle {
    /// The Slurm job id, when this is a Slurm job.
    pub fn slurm_job(&self) -> Option<&str> {
        match self {
            Handle::Slurm { job_id } => Some(job_id),
            _ => None,
        }
    }
}

/// Where an executor reports progress while a batch runs: the fraction done (0..=1) when it
/// is known, and a new log line when there is one.
pub trait Progress: Send + Sync {
    fn report(&self, progress: Option<f64>, line: Option<String>);
    /// The launcher's own state of the batch (Slurm's `PENDING` with its reason, ...).
    fn launcher_state(&self, _state: &str, _reason: Option<&str>) {}
    /// The job id the launcher gave a batch found again by name (a daemon killed between
    /// `sbatch` and recording it).
    fn found(&self, _handle: &Handle) {}
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs batches of one profile (see the module's documentation for the seam).
pub trait Executor: Send + Sync {
    /// Write the batch's files and start it on `slot`; `Err` holds the outcome of a batch
    /// that could not start (its jobs go back without an attempt counted).
    fn submit<'a>(
        &'a self,
        batch: &'a Claimed,
        slot: &'a SlotConfig,
    ) -> BoxFuture<'a, Result<Handle, BatchResult>>;

    /// Watch a submitted batch until it ends, stopping it when `batch.cancel` fires.
    fn watch<'a>(
        &'a self,
        batch: &'a Claimed,
        slot: &'a SlotConfig,
        handle: Option<&'a Handle>,
        progress: &'a dyn Progress,
    ) -> BoxFuture<'a, Finished>;

    /// Whether a batch keeps running without the daemon (a Slurm job): then a stopping
    /// daemon leaves it running and the next start adopts it instead of stopping it.
    fn outlives_daemon(&self) -> bool {
        false
    }
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
    let e = &config.executor;
    let launcher: Arc<dyn cosmos::Launcher> = match e.launcher {
        LauncherKind::Local => Arc::new(local::Local::default()),
        LauncherKind::Slurm => Arc::new(slurm::Slurm::new(e)),
    };
    match e.profile {
        Profile::Transfer1 => Arc::new(cosmos::Cosmos::new(
            e.clone(),
            transfer1::Transfer1::new(e.clone()),
            launcher,
        )),
        Profile::Transfer25 => Arc::new(cosmos::Cosmos::new(
            e.clone(),
            transfer25::Transfer25,
            launcher,
        )),
        Profile::Simulated => Arc::new(Simulated::new(e.time_scale)),
    }
}
