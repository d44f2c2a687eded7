#!/usr/bin/env bash
# Set up and run every check and test: formatting, lints, the wasm32 build of the shared
# engine, unit, property and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== shared engine builds for wasm32"
cargo check -p cosmosq-shared --target wasm32-unknown-unknown
echo "== tests"
cargo test --workspace
echo "== smoke test of the README run command"
bash scripts/smoke.sh
