//! End-to-end tests: they run the real `cosmosq` binary.

mod plan_cli;
