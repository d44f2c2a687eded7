#!/usr/bin/env bash
# API fuzzing: Schemathesis generates requests for every operation of the daemon's own OpenAPI
# document (/api-docs/openapi.json), sends them to a real daemon and checks every answer: no
# 5xx, every status documented, content types and bodies as documented, malformed requests
# refused (4xx), well-formed ones never refused as malformed. Two daemons are fuzzed in turn:
# one without a token (the default) and one with `auth_token`, where requests without or with
# a wrong token must get 401. Same seed, same cases. Exits non-zero on any failure.
#
#   bash scripts/fuzz.sh   # builds the daemon (debug); FUZZ_BIN=path uses that binary instead
#
# (FUZZ_*, not COSMOSQ_*: the daemon reads every COSMOSQ_* variable as configuration, and is
# started here with none but its own.)
#
# Settings: tests/fuzz/schemathesis.toml; hooks (real ids and video in the draw):
# tests/fuzz/hooks.py; seeded data: tests/fuzz/seed.py. Reports: target/fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=.tools/fuzz-venv
REQ=tests/fuzz/requirements.txt
MIN_CASES=1000 # generated cases each configuration must reach
EXAMPLES=${FUZZ_EXAMPLES:-100} # per operation and phase

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_install() {
  echo "fuzz: installing $* (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Tools: ffmpeg (the daemon probes videos; a clip is made here), python3 with venv.
need=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3 python3-venv)
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"

# Schemathesis in its own venv, (re)installed only when the pinned requirements change.
want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
  echo "fuzz: installing $(grep -m1 '^schemathesis==' "$REQ") into $VENV (pip)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-input -r "$REQ"
  echo "$want" >"$VENV/.requirements.sha256"
fi

if [ -z "${FUZZ_BIN:-}" ]; then
  cargo build -q -p cosmosq
  FUZZ_BIN=${CARGO_TARGET_DIR:-target}/debug/cosmosq
fi
[ -x "$FUZZ_BIN" ] || { echo "fuzz: no daemon binary at $FUZZ_BIN" >&2; exit 1; }

WORK=$(mktemp -d)
mkdir -p "${CARGO_TARGET_DIR:-target}/fuzz" "$WORK/videos" "$WORK/spa"
REPORTS=$(cd "${CARGO_TARGET_DIR:-target}/fuzz" && pwd)
DAEMON_PID=""
stop_daemon() {
  if [ -n "$DAEMON_PID" ]; then
    kill "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
    DAEMON_PID=""
  fi
}
trap 'stop_daemon; rm -rf "$WORK"' EXIT

# A small real video under the only allowed input root, so prompts can be created.
ffmpeg -loglevel error -f lavfi -i testsrc=size=320x180:rate=24 -frames:v 25 -pix_fmt yuv420p \
  "$WORK/videos/clip.mp4"
# The daemon serves the web interface at / as in production (its fallback routes included).
echo '<!doctype html><title>cosmosq</title>' >"$WORK/spa/index.html"

start_daemon() { # NAME [TOKEN]
  local name=$1 token=${2:-}
  rm -rf "$WORK/$name"
  mkdir -p "$WORK/$name"
  local unset=()
  for v in $(compgen -e | grep '^COSMOSQ_' || true); do unset+=(-u "$v"); done
  # A body limit above the largest bulk request the schema allows to be drawn: a bulk of more
  # than MAX_BULK_JOBS items is then refused for its size in items (422), as the schema says,
  # not for its bytes (413, which the checks do not expect for schema violations).
  env "${unset[@]}" COSMOSQ_AUTH_TOKEN="$token" COSMOSQ_ALLOWED_ROOTS="$WORK/videos" \
    COSMOSQ_MAX_BODY_BYTES=16777216 \
    COSMOSQ_SPA_DIR="$WORK/spa" COSMOSQ_LOG=warn \
    "$FUZZ_BIN" serve --bind 127.0.0.1:0 --data-dir "$WORK/$name/data" \
    >"$WORK/$name/stdout" 2>"$WORK/$name/daemon.log" &
  DAEMON_PID=$!
  for _ in $(seq 300); do
    PORT=$(sed -n 's/^cosmosq listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/$name/stdout")
    [ -n "$PORT" ] && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "fuzz: the daemon did not start" >&2
  cat "$WORK/$name/daemon.log" >&2
  exit 1
}

TOTAL=0
fuzz() { # NAME TOKEN [SCHEMATHESIS OPTIONS...]
  local name=$1 token=$2 auth=()
  shift 2
  [ -z "$token" ] || auth=(-H "Authorization: Bearer $token")
  start_daemon "$name" "$token"
  local base=http://127.0.0.1:$PORT
  FUZZ_TOKEN=$token "$VENV/bin/python" tests/fuzz/seed.py "$base" \
    "$WORK/videos/clip.mp4" "$WORK/$name/state.json"
  echo "== schemathesis ($name) against $base/api-docs/openapi.json"
  local rc=0 started=$SECONDS
  # Run in the temp dir: Hypothesis keeps its .hypothesis/ in the working directory.
  (cd "$WORK/$name" && FUZZ_STATE="$WORK/$name/state.json" \
    SCHEMATHESIS_HOOKS="$ROOT/tests/fuzz/hooks.py" timeout 600 "$ROOT/$VENV/bin/schemathesis" \
    --config-file "$ROOT/tests/fuzz/schemathesis.toml" --no-color \
    run "$base/api-docs/openapi.json" "${auth[@]}" \
    --max-examples "$EXAMPLES" --report junit --report-junit-path "$REPORTS/$name-junit.xml" \
    "$@" >"$WORK/$name/schemathesis.log" 2>&1) || rc=$?
  # The whole report on failure, else its summary.
  if [ $rc -eq 0 ]; then
    sed -n '/^=* SUMMARY =*$/,$p' "$WORK/$name/schemathesis.log"
  else
    cat "$WORK/$name/schemathesis.log"
  fi
  cp "$WORK/$name/schemathesis.log" "$REPORTS/$name.log"
  local cases
  cases=$(sed -n 's/^ *\([0-9][0-9]*\) generated.*/\1/p' "$WORK/$name/schemathesis.log" | tail -n1)
  echo "fuzz: $name: ${cases:-?} generated cases in $((SECONDS - started)) s, schemathesis exit $rc"
  if grep -q 'panicked' "$WORK/$name/daemon.log"; then
    echo "fuzz: the daemon panicked:" >&2
    grep -A5 'panicked' "$WORK/$name/daemon.log" >&2
    rc=1
  fi
  stop_daemon
  [ $rc -eq 0 ] || exit "$rc"
  if [ "${cases:-0}" -lt "$MIN_CASES" ]; then
    echo "fuzz: $name generated ${cases:-0} cases, fewer than $MIN_CASES" >&2
    exit 1
  fi
  TOTAL=$((TOTAL + cases))
}

# Checks: tests/fuzz/schemathesis.toml. Without a token the daemon asks for none, so the
# auth checks (requests without or with a wrong token must be refused) only apply with one;
# the doc's bearer requirement is not taken as a required header there either.
fuzz no-token "" --exclude-checks ignored_auth,missing_required_header \
  --generation-with-security-parameters false
fuzz token fuzz-token-0123456789
echo "fuzz: passed, $TOTAL generated cases in all (reports in $REPORTS/)"
