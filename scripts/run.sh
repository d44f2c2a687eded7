#!/usr/bin/env bash
# Build and run the daemon on the embedded default: sled store in ./cosmosq-data and the
# simulated executor (no GPU), listening on http://127.0.0.1:8787 (override with COSMOSQ_BIND), with
# the web interface at /.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash frontend/build.sh          # the web interface (dist/), served at /
cargo build --release -p cosmosq
exec ./target/release/cosmosq serve "$@"
