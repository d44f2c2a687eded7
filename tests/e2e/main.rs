//! End-to-end tests: they run the real `cosmosq` binary.

mod bad_input;
mod durability;
mod openapi;
mod plan_cli;
mod queue_flow;
mod support;
