#!/usr/bin/env python3
"""Web interface figures in headless Chromium: `.wasm` size, time to first render, time until
the queue page shows every job, and the 1,000-job preview recompute (the app's `?bench=` hook).

A copy of `dist/` gets one inline script in `<head>` that logs (console) `performance.now()`
(milliseconds since navigation start) when the app's `<main class="page">` first appears and
when the queue table holds all the expected rows. Chromium runs with a fresh profile each time
(a first visit: nothing cached, the `.wasm` compiled every time) and prints console lines on
stderr. The daemon serves the copy, with the queue paused and holding `--jobs` jobs.

    bash frontend/build.sh && cargo build --release -p cosmosq
    python3 bench/spa.py [--jobs 1000] [--runs 5]
"""

import argparse
import gzip
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import api_load  # noqa: E402
from common import ROOT, Daemon, machine, make_clip, release_binary, tempdir, write_results  # noqa: E402

PROBE = """<script>
(function () {
  var want = parseInt((location.hash || '#0').slice(1), 10) || 0;
  var shell = false, rows = false;
  function check() {
    if (!shell && document.querySelector('main.page')) {
      shell = true;
      console.log('cosmosq-bench first-render ' + performance.now().toFixed(1));
    }
    if (want && !rows) {
      var n = document.querySelectorAll('#queue-table tbody tr.job-row').length;
      if (n >= want) {
        rows = true;
        console.log('cosmosq-bench rows ' + n + ' ' + performance.now().toFixed(1));
      }
    }
  }
  new MutationObserver(check).observe(document, {childList: true, subtree: true});
})();
</script>
"""


def chromium(url, patterns, work, timeout=120):
    """Open `url` in a fresh headless Chromium; return the first match of each regex in
    `patterns` among its console lines."""
    profile = tempdir("cosmosq-chromium-")
    cmd = [shutil.which("chromium") or "chromium", "--headless=new", "--no-sandbox",
           "--disable-gpu", "--no-first-run", "--enable-logging=stderr", "--v=0",
           f"--user-data-dir={profile}", "--remote-debugging-port=0", url]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found = {}
    deadline = time.monotonic() + timeout
    try:
        for line in proc.stderr:
            for key, pat in patterns.items():
                m = re.search(pat, line)
                if m and key not in found:
                    found[key] = m
            if len(found) == len(patterns) or time.monotonic() > deadline:
                break
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    dist = os.path.join(ROOT, "dist")
    if not os.path.exists(os.path.join(dist, "index.html")):
        raise SystemExit("dist/ is missing: bash frontend/build.sh")
    work = tempdir("cosmosq-spa-")
    spa = os.path.join(work, "dist")
    shutil.copytree(dist, spa)
    with open(os.path.join(spa, "index.html")) as f:
        html = f.read()
    with open(os.path.join(spa, "index.html"), "w") as f:
        f.write(html.replace("<head>", "<head>\n" + PROBE, 1))
    wasm = glob.glob(os.path.join(spa, "*.wasm"))[0]
    raw = open(wasm, "rb").read()
    out = {"wasm_bytes": len(raw), "wasm_gzip_bytes": len(gzip.compress(raw, 9))}
    print(f"machine: {machine()}")
    print(f"{os.path.basename(wasm)}: {len(raw):,} bytes, {out['wasm_gzip_bytes']:,} gzip -9")

    binary = release_binary(work)
    clip = make_clip(os.path.join(work, "clip.mp4"), frames=48)
    d = Daemon(binary, os.path.join(work, "data"), env={"COSMOSQ_SPA_DIR": spa}).start()
    try:
        d.post("/api/v1/queue/pause", {}, expect=200)
        p = d.post("/api/v1/prompts", {"text": "a robot arm stacks cubes", "input_video": clip},
                   expect=201)
        weights = [{"edge": 0.5}, {"depth": 0.5}, {"edge": 0.5, "depth": 0.3}, {"vis": 1.0},
                   {"seg": 0.5, "edge": 0.75}]
        for i in range(args.jobs):
            d.post("/api/v1/jobs", {"prompt_id": p["id"],
                                    "config": {"weights": weights[i % len(weights)]}}, expect=201)
        base = f"http://127.0.0.1:{d.port}"
        firsts, rows = [], []
        for _ in range(args.runs):
            found = chromium(f"{base}/queue#{args.jobs}",
                             {"first": r"cosmosq-bench first-render ([\d.]+)",
                              "rows": r"cosmosq-bench rows (\d+) ([\d.]+)"}, work)
            if "first" in found:
                firsts.append(float(found["first"].group(1)))
            if "rows" in found:
                rows.append(float(found["rows"].group(2)))
        med = lambda xs: sorted(xs)[len(xs) // 2] if xs else float("nan")  # noqa: E731
        out.update(first_render_ms=firsts, queue_rows_ms=rows)
        print(f"first render (app shell): median {med(firsts):.0f} ms of {firsts}")
        print(f"queue page with all {args.jobs} jobs: median {med(rows):.0f} ms of {rows}")
        found = chromium(f"{base}/?bench={args.jobs}&iters={args.iters}",
                         {"bench": r"cosmosq preview benchmark: (\{.*\})"}, work)
        if "bench" in found:
            out["preview"] = json.loads(found["bench"].group(1))
            print(f"preview recompute, {args.jobs} jobs, {args.iters} runs: {out['preview']}")
    finally:
        d.stop()
    write_results(args.json, out)


if __name__ == "__main__":
    main()
