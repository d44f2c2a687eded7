//! One file a page.

pub mod prompts;
pub mod queue;
pub mod runs;
