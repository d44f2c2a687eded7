#!/usr/bin/env bash
# Smoke test of the README's run command: start the daemon exactly as `bash scripts/run.sh`
# does (release build, simulated executor), then drive a demo queue to the end with the CLI:
# prompt add, job add x4, pause, `batch run --mix --watch`.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
log="$work/daemon.log"
cleanup() {
  [ -n "${daemon:-}" ] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

COSMOSQ_EXECUTOR__TIME_SCALE=0.001 bash scripts/run.sh --bind 127.0.0.1:0 --data-dir "$work/data" >"$work/out" 2>"$log" &
daemon=$!
for _ in $(seq 1 600); do
  grep -q '^cosmosq listening on ' "$work/out" 2>/dev/null && break
  kill -0 "$daemon" 2>/dev/null || { cat "$log"; echo "smoke: the daemon exited"; exit 1; }
  sleep 1
done
url=$(sed -n 's/^cosmosq listening on //p' "$work/out")
[ -n "$url" ] || { cat "$log"; echo "smoke: the daemon did not start"; exit 1; }
export COSMOSQ_SERVER="$url"
cq=./target/release/cosmosq

ffmpeg -v error -f lavfi -i testsrc=size=640x360:rate=24 -frames:v 72 -pix_fmt yuv420p "$work/clip.mp4"
prompt=$($cq prompt add --text "smoke test: a robot arm stacks cubes" --video "$work/clip.mp4" -q)
$cq queue pause >/dev/null
for w in edge=0.5 depth=0.5 edge=0.5 edge=0.4,depth=0.4; do
  $cq job add "$prompt" --weight "$w" -q >/dev/null
done
$cq batch preview --mix
$cq batch run --mix --watch | tee "$work/watch"
grep -Eq 'batch(es)? succeeded' "$work/watch"
succeeded=$($cq job ls --status succeeded --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$succeeded" = 4 ] || { echo "smoke: expected 4 succeeded jobs, got $succeeded"; exit 1; }
echo "smoke: README run command served a demo queue to the end (4 jobs succeeded)"
