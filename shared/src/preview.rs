//! What a preview plans, decided once for the daemon and the browser: the same jobs, the
//! same planner view of each and the same limits give the same plan and `plan_id`, so the
//! web interface's live preview is exactly what the daemon would execute.

use crate::api::{Job, JobStatus, Prompt};
use crate::plan::PlanJob;

/// Whether a plan takes this job: queued, and not already waiting in a batch of an executed
/// plan.
pub fn plans(job: &Job) -> bool {
    job.status == JobStatus::Queued && job.batch_id.is_none() && job.waiting_for.is_empty()
}

/// Queued jobs that wait for others (`after`), in queue order, with the reason no plan takes
/// them yet: "waits for jb_...".
pub fn waiting<'a>(
    in_queue_order: impl IntoIterator<Item = &'a Job>,
) -> Vec<crate::plan::Excluded> {
    in_queue_order
        .into_iter()
        .filter(|j| {
            j.status == JobStatus::Queued && j.batch_id.is_none() && !j.waiting_for.is_empty()
        })
        .map(|j| crate::plan::Excluded {
            job_id: j.id.clone(),
            reason: format!("waits for {}", j.waiting_for.join(", ")),
        })
        .collect()
}

/// The planner's input from jobs in queue order: the jobs a plan takes ([`plans`]), each as
/// [`PlanJob::from_job`] sees it with its prompt.
pub fn jobs<'a>(
    in_queue_order: impl IntoIterator<Item = &'a Job>,
    prompt: impl Fn(&str) -> Option<&'a Prompt>,
) -> Vec<PlanJob> {
    in_queue_order
        .into_iter()
        .filter(|j| plans(j))
        .map(|j| PlanJob::from_job(j, prompt(&j.prompt_id)))
        .collect()
}
