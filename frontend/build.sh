#!/usr/bin/env bash
# Build the web interface into dist/ (release, offline: the tools come from scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/node_modules/.bin:$PATH"
# Trunk runs cargo itself; keep its output in the workspace target dir.
exec trunk build --release --offline "$@"
