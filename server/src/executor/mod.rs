//! Executors run one batch each: one model load, every job of the batch, per-job outcomes.
//!
//! The trait assumes nothing about local processes (a later profile submits to a cluster):
//! it gets the claimed batch and a progress sink, watches the batch's cancel token, and
//! reports each job's outcome; the queue decides what those mean for job states.

mod simulated;

use crate::config::Config;
use crate::queue::Claimed;
use cosmosq_shared::api::{Batch, ErrorBody, Job, JobOutputs};
use cosmosq_shared::Control;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use simulated::Simulated;

/// How one job of a batch ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Its output was produced and verified.
    Succeeded(JobOutputs),
    /// It failed for a reason of its own (blocked, bad input, ...).
    Failed(ErrorBody),
    /// It did not get to run (batch stopped or died first): back to its place in the queue.
    Requeue,
}

/// What an executor reports for a batch. Jobs missing from `outcomes` go back to the queue.
#[derive(Debug, Default)]
pub struct BatchResult {
    pub outcomes: HashMap<String, JobOutcome>,
    pub log_path: Option<String>,
    /// Why the batch as a whole failed, if it did.
    pub error: Option<ErrorBody>,
}

/// Where an executor reports progress (0..=1) and log lines while a batch runs.
pub trait Progress: Send + Sync {
    fn report(&self, progress: f64, line: Option<String>);
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait Executor: Send + Sync {
    /// The profile name shown in the API and UI (`simulated`, ...).
    fn profile(&self) -> &'static str;

    /// Run the batch until it ends or `batch.cancel` fires.
    fn run<'a>(
        &'a self,
        batch: &'a Claimed,
        progress: &'a dyn Progress,
    ) -> BoxFuture<'a, BatchResult>;
}

/// The weight a job runs with for every control its batch loads: its own weight, and an
/// explicit 0 for each control it did not ask for (never another job's weight).
pub fn effective_weights(batch: &Batch, job: &Job) -> BTreeMap<Control, f64> {
    batch
        .controls
        .iter()
        .map(|c| (*c, job.config.weight(*c)))
        .collect()
}

/// The executor the configuration names.
pub fn from_config(config: &Config) -> Arc<dyn Executor> {
    Arc::new(Simulated::new(config.executor.time_scale))
}
