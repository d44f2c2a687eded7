//! One file a page.

pub mod compare;
pub mod insights;
pub mod log;
pub mod prompts;
pub mod queue;
pub mod runs;
pub mod slots;
