//! The app's route paths, in one place (the router in `app` and the pages' links use them).

pub const PROMPTS: &str = "/prompts";
pub const QUEUE: &str = "/queue";
pub const RUNS: &str = "/runs";
pub const SLOTS: &str = "/slots";
pub const INSIGHTS: &str = "/insights";

/// The log viewer of a batch, optionally showing only one of its jobs.
pub fn log(batch_id: &str, job_id: Option<&str>) -> String {
    match job_id {
        Some(j) => format!("/log/{batch_id}?job={j}"),
        None => format!("/log/{batch_id}"),
    }
}

/// The Compare view of these jobs (a shareable URL).
pub fn compare(job_ids: &[String]) -> String {
    format!("/compare?jobs={}", job_ids.join(","))
}
