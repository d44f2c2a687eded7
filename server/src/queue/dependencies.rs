//! Dependencies between jobs (`after`, `input_from`): a job waits until every job it names
//! succeeded (`waiting_for` holds those left); when one fails or is canceled, the waiting job
//! fails with `dependency_failed`, and so on down the chain; retrying that job queues its
//! dependents again. A job can only name jobs that exist when it is added, so no circle can
//! form.
//!
//! [`propagate`] runs on every change before it is written (see `commit`), so every path that
//! changes a job's status (a batch's end, cancel, retry, bulk actions, recovery) keeps the
//! chains consistent in the same transaction.

use super::state::State;
use crate::ids;
use crate::store::{Change, JobRecord};
use cosmosq_shared::api::{ErrorBody, JobStatus};
use cosmosq_shared::ErrorCode;
use std::collections::HashMap;

fn failed_dependency(dep: &str, status: JobStatus) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::DependencyFailed,
        format!("{dep}, which this job waited for, {status}; retry it to queue this job again"),
    )
}

/// Whether `r` failed because a job it waited for did.
fn failed_by_dependency(r: &JobRecord) -> bool {
    r.job.status == JobStatus::Failed
        && r.job
            .error
            .as_ref()
            .is_some_and(|e| e.code == ErrorCode::DependencyFailed)
}

/// Extend `change` with what its job changes mean for the jobs that wait for them.
pub(super) fn propagate(state: &State, change: &mut Change) {
    if state.with_after.is_empty() || change.jobs.is_empty() {
        return;
    }
    // The latest version of each job: this change's, else the state's.
    let mut touched: HashMap<String, usize> = HashMap::new();
    for (i, r) in change.jobs.iter().enumerate() {
        touched.insert(r.job.id.clone(), i);
    }
    let mut work: Vec<String> = change.jobs.iter().map(|r| r.job.id.clone()).collect();
    let now = ids::now();
    let mut steps = 0usize;
    while let Some(id) = work.pop() {
        steps += 1;
        if steps > 1_000_000 {
            tracing::error!("dependency propagation did not settle; stopping");
            break;
        }
        let status = current(state, change, &touched, &id).map(|r| r.job.status);
        let before = state.jobs.get(&id).map(|r| r.job.status);
        let Some(status) = status else { continue };
        for dependent in state.with_after.iter() {
            let Some(d) = current(state, change, &touched, dependent) else {
                continue;
            };
            if !d.job.after.contains(&id) {
                continue;
            }
            let mut d = d.clone();
            let changed = match status {
                JobStatus::Succeeded => {
                    let had = d.job.waiting_for.len();
                    d.job.waiting_for.retain(|w| *w != id);
                    d.job.waiting_for.len() != had
                }
                JobStatus::Failed | JobStatus::Canceled
                    if d.job.status == JobStatus::Queued && d.job.batch_id.is_none() =>
                {
                    d.fail(failed_dependency(&id, status), None, &now);
                    true
                }
                // Queued again (a retry): the dependents it failed come back, waiting for it.
                JobStatus::Queued
                    if before.is_some_and(|b| b.is_terminal()) && failed_by_dependency(&d) =>
                {
                    let order = state.free_order_key(d.order, change);
                    d.reset_for_retry(order);
                    d.job.waiting_for = waiting_for(state, change, &touched, &d.job.after);
                    // Another job it waits for may still be failed or canceled.
                    let still = d.job.after.iter().find_map(|a| {
                        let s = current(state, change, &touched, a)?.job.status;
                        matches!(s, JobStatus::Failed | JobStatus::Canceled).then(|| (a.clone(), s))
                    });
                    if let Some((a, s)) = still {
                        d.fail(failed_dependency(&a, s), None, &now);
                    }
                    true
                }
                JobStatus::Queued if d.job.status == JobStatus::Queued => {
                    // Its dependency is unfinished again: wait for it.
                    if d.job.waiting_for.contains(&id) {
                        false
                    } else {
                        d.job.waiting_for.push(id.clone());
                        true
                    }
                }
                _ => false,
            };
            if !changed {
                continue;
            }
            let dep_id = d.job.id.clone();
            match touched.get(&dep_id) {
                Some(&i) => change.jobs[i] = d,
                None => {
                    touched.insert(dep_id.clone(), change.jobs.len());
                    change.jobs.push(d);
                }
            }
            work.push(dep_id);
        }
    }
}

fn current<'a>(
    state: &'a State,
    change: &'a Change,
    touched: &HashMap<String, usize>,
    id: &str,
) -> Option<&'a JobRecord> {
    match touched.get(id) {
        Some(&i) => change.jobs.get(i),
        None => state.jobs.get(id),
    }
}

/// Those of `after` that have not succeeded (in this change or before).
fn waiting_for(
    state: &State,
    change: &Change,
    touched: &HashMap<String, usize>,
    after: &[String],
) -> Vec<String> {
    after
        .iter()
        .filter(|a| {
            current(state, change, touched, a).is_none_or(|r| r.job.status != JobStatus::Succeeded)
        })
        .cloned()
        .collect()
}
