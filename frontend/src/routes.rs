//! The app's route paths, in one place (the router in `app` and the pages' links use them).

pub const PROMPTS: &str = "/prompts";
pub const QUEUE: &str = "/queue";
pub const RUNS: &str = "/runs";
