//! Widgets the pages are made of.

pub mod badges;
pub mod batch_progress;
pub mod notices;
pub mod prompt_form;
pub mod run_settings;
pub mod settings;
pub mod smart_batching;
pub mod video;
