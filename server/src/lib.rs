//! cosmosq: a smart-batching queue daemon for NVIDIA Cosmos Transfer jobs.

pub mod cli;
