//! `cosmosq jobs wait ID... [--timeout S]` and `cosmosq queue wait [--timeout S]`: block until
//! the jobs are done. Exit 0 when every one succeeded, 1 when any failed or was canceled, 2
//! when the timeout passed first (scripts and CI chain on these).

use super::http::{segment, Client, API};
use super::CliError;
use cosmosq_shared::api::{Job, JobStatus};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Exit code when a job failed or was canceled.
pub const EXIT_NOT_ALL_SUCCEEDED: u8 = 1;
/// Exit code when the timeout passed before every job was done.
pub const EXIT_TIMEOUT: u8 = 2;

/// Past this many jobs, the lists of queued and running jobs are polled instead of each job.
const ONE_BY_ONE: usize = 20;
const POLL: Duration = Duration::from_millis(500);

/// The ids of the jobs queued or running now (what `queue wait` waits for).
pub fn unfinished(client: &Client) -> Result<Vec<String>, CliError> {
    let mut ids = Vec::new();
    for status in [JobStatus::Queued, JobStatus::Running] {
        let query = [("status", status.as_str().to_string())];
        let jobs: Vec<Job> = client.get_query(&format!("{API}/jobs"), &query)?;
        ids.extend(jobs.into_iter().map(|j| j.id));
    }
    Ok(ids)
}

/// Wait until every job of `ids` is succeeded, failed or canceled; print one line per job.
pub fn wait(client: &Client, ids: &[String], timeout: Option<f64>) -> Result<(), CliError> {
    let deadline = timeout.map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let mut done: BTreeMap<String, Job> = BTreeMap::new();
    let wanted: BTreeSet<&String> = ids.iter().collect();
    loop {
        let open: Vec<&String> = wanted
            .iter()
            .copied()
            .filter(|id| !done.contains_key(*id))
            .collect();
        if open.is_empty() {
            break;
        }
        if open.len() <= ONE_BY_ONE {
            for id in open {
                let job: Job = client.get(&format!("{API}/jobs/{}", segment(id)))?;
                if job.status.is_terminal() {
                    done.insert(id.clone(), job);
                }
            }
        } else {
            let still: BTreeSet<String> = unfinished(client)?.into_iter().collect();
            for id in open.into_iter().filter(|id| !still.contains(*id)) {
                let job: Job = client.get(&format!("{API}/jobs/{}", segment(id)))?;
                if job.status.is_terminal() {
                    done.insert(id.clone(), job);
                }
            }
        }
        if done.len() == wanted.len() {
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(CliError {
                message: format!(
                    "timed out: {} of {} jobs are still queued or running",
                    wanted.len() - done.len(),
                    wanted.len()
                ),
                exit_code: EXIT_TIMEOUT,
            });
        }
        std::thread::sleep(POLL);
    }
    let mut bad = 0;
    for id in ids {
        let Some(job) = done.get(id) else { continue };
        match (&job.status, &job.error) {
            (JobStatus::Succeeded, _) => println!("{id} succeeded"),
            (status, Some(e)) => {
                bad += 1;
                println!("{id} {status}: {} ({})", e.message, e.code);
            }
            (status, None) => {
                bad += 1;
                println!("{id} {status}");
            }
        }
    }
    if bad > 0 {
        return Err(CliError {
            message: format!("{bad} of {} jobs did not succeed", done.len()),
            exit_code: EXIT_NOT_ALL_SUCCEEDED,
        });
    }
    Ok(())
}
