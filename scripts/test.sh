#!/usr/bin/env bash
# Set up and run every check and test: formatting, lints, the wasm32 build of the shared
# engine, the web interface (built before the tests: the browser tests load it from dist/),
# unit, property and end-to-end tests (browser tests in headless Chromium included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== shared engine builds for wasm32"
cargo check -p cosmosq-shared --target wasm32-unknown-unknown
# The web interface's app code compiles only for wasm32 (natively just its pure view-model,
# which the workspace lint and tests above and below cover).
echo "== web interface: clippy -D warnings (wasm32)"
cargo clippy -p cosmosq-frontend --no-deps --target wasm32-unknown-unknown -- -D warnings
echo "== web interface: trunk build --release --offline (dist/)"
bash frontend/build.sh
echo "== the stand-in Cosmos program's own tests"
python3 -m unittest discover -s tests/standin
echo "== tests (a one-node Slurm for the Slurm launcher's, stopped at the end)"
bash scripts/slurm.sh start
trap 'bash scripts/slurm.sh stop' EXIT
cargo test --workspace
echo "== API fuzzing (schemathesis)"
bash scripts/fuzz.sh
echo "== smoke test of the README run command"
bash scripts/smoke.sh
