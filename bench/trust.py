#!/usr/bin/env python3
"""What real durability and planning outside the lock cost and bring, two builds in one run.

1. Durable adds: `POST /api/v1/jobs` from `wrk` (1 thread, 32 keep-alive connections,
   `--seconds` per row) against a paused queue with one prompt. Each 201 comes after the
   change is on disk: before, sled's flush (`sync_file_range`); after, that plus `fdatasync`
   of the log (see RELIABILITY.md, Power loss).
2. A preview beside other requests: the queue filled to `--jobs` jobs; one client asks for
   `GET /api/v1/batches/preview` over and over while `wrk` reads one job
   (`GET /api/v1/jobs/{id}`); the latency of those reads shows how long previews hold the
   queue lock (before: for the whole plan; after: for a copy of the free jobs).

The two builds alternate (before, after, before, after) on the same machine:

    cargo build --release -p cosmosq
    BEFORE_BIN=/path/to/older/cosmosq python3 bench/trust.py [--jobs 100000] [--seconds 10]
"""

import argparse
import http.client
import json
import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_load import fill, post_script, wrk  # noqa: E402
from common import Daemon, machine, make_clip, private_copy, release_binary, tempdir, write_results  # noqa: E402


def daemon_with_prompt(binary, work, name, clip):
    d = Daemon(binary, os.path.join(work, name)).start()
    d.post("/api/v1/queue/pause", {}, expect=200)
    prompt = d.post("/api/v1/prompts", {"text": "a robot arm stacks cubes", "input_video": clip},
                    expect=201)
    return d, {"prompt_id": prompt["id"], "config": {"weights": {"edge": 0.5}}}


def durable_adds(binary, work, name, clip, seconds, connections):
    d, body = daemon_with_prompt(binary, work, name, clip)
    try:
        script = post_script(os.path.join(work, f"{name}.lua"), body)
        return wrk(f"http://127.0.0.1:{d.port}/api/v1/jobs", seconds, connections, script)
    finally:
        d.stop()


def preview_beside_reads(binary, work, name, clip, jobs, seconds, connections):
    d, body = daemon_with_prompt(binary, work, name, clip)
    try:
        fill_varied(d.port, body["prompt_id"], jobs)
        job = json.loads(probe_body(d.port, "/api/v1/jobs?status=queued"))[0]["id"]
        stop = threading.Event()
        previews = []

        def preview():
            conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=120)
            while not stop.is_set():
                t = time.monotonic()
                conn.request("GET", "/api/v1/batches/preview?mode=mixed")
                resp = conn.getresponse()
                resp.read()
                assert resp.status == 200, resp.status
                previews.append(time.monotonic() - t)

        t = threading.Thread(target=preview)
        t.start()
        time.sleep(1)
        reads = wrk(f"http://127.0.0.1:{d.port}/api/v1/jobs/{job}", seconds, connections)
        stop.set()
        t.join()
        reads["previews"] = len(previews)
        reads["preview_median_s"] = sorted(previews)[len(previews) // 2] if previews else None
        alone = wrk(f"http://127.0.0.1:{d.port}/api/v1/jobs/{job}", seconds, connections)
        reads["alone_rps"], reads["alone_p99_ms"] = alone["rps"], alone["p99_ms"]
        return reads
    finally:
        d.stop()


WEIGHTS = [{"edge": 0.5}, {"depth": 0.5}, {"edge": 0.4, "depth": 0.3}, {"vis": 0.6},
           {"seg": 0.5, "edge": 0.2}, {"edge": 0.7}]


def fill_varied(port, prompt, n):
    """Add `n` jobs of six control signatures and weights (the planner has work to do)."""
    fill(port, lambda i: {"prompt_id": prompt,
                          "config": {"weights": WEIGHTS[i % len(WEIGHTS)], "seed": i % 3}}, n)


def probe_body(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", path)
    return conn.getresponse().read()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk")
    if "BEFORE_BIN" not in os.environ:
        raise SystemExit("BEFORE_BIN must name the older build to compare with")
    work = tempdir("cosmosq-trust-")
    os.makedirs(os.path.join(work, "before"))
    builds = {
        "before": private_copy(os.path.join(work, "before"), "BEFORE_BIN", "", ""),
        "after": release_binary(work),
    }
    clip = make_clip(os.path.join(work, "clip.mp4"), frames=48)
    print(f"machine: {machine()}")
    results = {"adds": {k: [] for k in builds}, "reads": {k: [] for k in builds}}
    for rnd in range(2):
        for name, binary in builds.items():
            r = durable_adds(binary, work, f"adds-{name}-{rnd}", clip, args.seconds,
                             args.connections)
            results["adds"][name].append(r)
            print(f"durable adds, {name}: {r['rps']:.0f}/s, p99 {r['p99_ms']:.1f} ms, "
                  f"non-2xx {r['non_2xx']}")
    for rnd in range(2):
        for name, binary in builds.items():
            r = preview_beside_reads(binary, work, f"reads-{name}-{rnd}", clip, args.jobs,
                                     args.seconds, args.connections)
            results["reads"][name].append(r)
            print(f"GET one job beside previews of {args.jobs} jobs, {name}: {r['rps']:.0f}/s, "
                  f"p99 {r['p99_ms']:.1f} ms ({r['previews']} previews, median "
                  f"{r['preview_median_s']:.3f} s); alone {r['alone_rps']:.0f}/s, "
                  f"p99 {r['alone_p99_ms']:.1f} ms")
    write_results(args.json, results, jobs=args.jobs, seconds=args.seconds,
                  connections=args.connections)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
