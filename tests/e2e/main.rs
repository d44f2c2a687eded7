//! End-to-end tests: they run the real `cosmosq` binary.

mod bad_input;
mod browser;
mod bulk;
mod cli_client;
mod concurrency;
mod crash_loop;
mod dashboard;
mod dependencies;
mod durability;
mod executors;
mod limits;
mod notify;
mod openapi;
mod operations;
mod perf_paths;
mod plan_cli;
mod presets;
mod queue_flow;
mod retention;
mod slurm;
mod support;
mod trust;
