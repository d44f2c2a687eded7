#!/usr/bin/env bash
# Install what building and testing cosmosq needs on a fresh Debian machine (idempotent: each
# tool is installed only when missing or at another version).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need_apt=()
command -v ffprobe >/dev/null 2>&1 || need_apt+=(ffmpeg)
# The web interface: npm for wasm-opt; Chromium and ChromeDriver for the browser tests.
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
# The durability test traces the daemon's system calls (tests/e2e/trust/strace.rs).
command -v strace >/dev/null 2>&1 || need_apt+=(strace)
# API fuzzing (scripts/fuzz.sh installs Schemathesis into a venv): python3 with venv.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_apt+=(python3 python3-venv)
# The Slurm launcher's tests run a real one-node Slurm (scripts/slurm.sh).
command -v slurmctld >/dev/null 2>&1 || need_apt+=(slurmctld slurmd slurm-client munge)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
  rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown
fi

# Trunk builds the SPA. 0.22 needs a newer rustc than ours, hence the pin.
if ! trunk --version 2>/dev/null | grep -qx 'trunk 0.21.14'; then
  echo "setup: installing trunk 0.21.14 (cargo install, a few minutes)"
  cargo install trunk --version 0.21.14 --locked
fi

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly (trunk builds offline).
# `--locked` does not build here, so it is left out.
wbg=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $wbg"; then
  echo "setup: installing wasm-bindgen-cli $wbg (cargo install)"
  cargo install wasm-bindgen-cli --version "$wbg"
fi

# wasm-opt 132 from npm, project-local in .tools/ (Debian's wasm-opt 108 builds a .wasm that
# fails in the browser). frontend/build.sh puts .tools/node_modules/.bin first on PATH.
if ! .tools/node_modules/.bin/wasm-opt --version 2>/dev/null | grep -q '^wasm-opt version 132 '; then
  echo "setup: installing binaryen 132 (npm, into .tools/)"
  mkdir -p .tools
  npm install --silent --no-audit --no-fund --save-exact --prefix .tools binaryen@132.0.0
fi
