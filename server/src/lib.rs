//! cosmosq: a smart-batching queue daemon for NVIDIA Cosmos Transfer jobs.

pub mod api;
pub mod cli;
pub mod config;
pub mod csp;
pub mod error;
pub mod events;
pub mod executor;
pub mod ids;
pub mod metrics;
pub mod probe;
pub mod queue;
pub mod runner;
pub mod startup;
pub mod store;
pub mod template;
