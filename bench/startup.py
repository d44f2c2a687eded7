#!/usr/bin/env python3
"""Start-up and recovery time with many stored jobs, and the data dir's size per 1,000 jobs.

1. A fresh daemon (queue paused, simulated executor) is filled to 10,000 jobs over the API
   (16 concurrent clients, durable adds): size of `data/db` then.
2. Clean restarts (SIGTERM, start, first 200 from `GET /healthz`) at 10,000 jobs.
3. Churn: rounds of cancelling and retrying every job (two durable rewrites of each record per
   round; the live data stays the same size): the size after each round shows whether sled
   reclaims the space of overwritten records.
4. It is filled on to 100,000 jobs: size; clean restarts; restarts after `kill -9`
   (recovery: the unclean path).

    cargo build --release -p cosmosq
    python3 bench/startup.py [--jobs 100000] [--rounds 5] [--repeat 3]
"""

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import api_load  # noqa: E402
from common import Daemon, machine, make_clip, release_binary, tempdir, write_results  # noqa: E402


def du(path):
    return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True,
                              check=True).stdout.split()[0])


def fill_to(d, body, n):
    """Add jobs over the API (16 concurrent keep-alive clients) until `n` are queued."""
    have = d.get("/api/v1/queue?limit=0")["counts"]["queued"]
    t = time.monotonic()
    api_load.fill(d.port, body, n - have)
    return n - have, time.monotonic() - t


def timed_start(d):
    """Start `d`; seconds to the 'listening' line and to the first 200 from /healthz."""
    t = time.monotonic()
    d.start()
    listening = time.monotonic() - t
    while True:
        try:
            status, _ = d.request("GET", "/healthz")
            if status == 200:
                break
        except OSError:
            pass
        time.sleep(0.005)
    return listening, time.monotonic() - t


def parallel(port, paths, threads=16):
    items = list(paths)
    lock = threading.Lock()

    def work():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not items:
                    return
                path = items.pop()
            conn.request("POST", path, body=b"{}", headers={"content-type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{path}: {resp.status}")

    ts = [threading.Thread(target=work) for _ in range(threads)]
    for x in ts:
        x.start()
    for x in ts:
        x.join()


def restarts(d, repeat, kill):
    times = []
    for _ in range(repeat):
        d.stop(kill=kill)
        times.append(timed_start(d))
    listening = sorted(t[0] for t in times)[len(times) // 2]
    ready = sorted(t[1] for t in times)[len(times) // 2]
    return listening, ready


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5, help="cancel+retry churn rounds")
    ap.add_argument("--repeat", type=int, default=3, help="restarts per figure (median)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    work = tempdir("cosmosq-startup-")
    binary = release_binary(work)
    clip = make_clip(os.path.join(work, "clip.mp4"), frames=48)
    data = os.path.join(work, "data")
    db = os.path.join(data, "db")
    print(f"machine: {machine()}")
    out = {}

    d = Daemon(binary, data, env={"COSMOSQ_QUEUE__MAX_QUEUED_JOBS": str(args.jobs)}).start()
    d.post("/api/v1/queue/pause", {}, expect=200)
    prompt = d.post("/api/v1/prompts", {"text": "a robot arm stacks cubes",
                                        "input_video": clip}, expect=201)
    body = {"prompt_id": prompt["id"], "config": {"weights": {"edge": 0.5}}}
    _, secs = fill_to(d, body, args.small)
    view = d.request("GET", "/api/v1/queue")
    n = view[1]["counts"]["queued"]
    logical = len(json.dumps(view[1]["jobs"]).encode())
    out["small"] = {"jobs": n, "fill_seconds": secs, "db_bytes": du(db),
                    "view_json_bytes": logical}
    print(f"{n} jobs: filled in {secs:.1f} s ({n / secs:.0f} adds/s); data/db "
          f"{out['small']['db_bytes']:,} bytes = {out['small']['db_bytes'] / n * 1000:,.0f} "
          f"bytes per 1,000 jobs (their JSON view: {logical / n * 1000:,.0f})")
    out["small"]["clean_start"] = restarts(d, args.repeat, kill=False)
    print(f"{n} jobs: clean start {out['small']['clean_start'][0]:.3f} s to listening, "
          f"{out['small']['clean_start'][1]:.3f} s to /healthz 200 (median of {args.repeat})")

    ids = [j["id"] for j in d.get("/api/v1/queue")["jobs"]]
    churn = []
    for r in range(args.rounds):
        t = time.monotonic()
        parallel(d.port, [f"/api/v1/jobs/{i}/cancel" for i in ids])
        parallel(d.port, [f"/api/v1/jobs/{i}/retry" for i in ids])
        secs = time.monotonic() - t
        size = du(db)
        churn.append({"round": r + 1, "rewrites": 2 * len(ids) * (r + 1), "db_bytes": size,
                      "seconds": secs})
        print(f"churn round {r + 1}: {2 * len(ids)} durable rewrites in {secs:.1f} s "
              f"({2 * len(ids) / secs:.0f}/s); data/db {size:,} bytes "
              f"({size / len(ids) * 1000:,.0f} per 1,000 jobs)")
    out["churn"] = churn
    d.stop()
    timed_start(d)
    size_before = du(db)
    print(f"after a restart: data/db {size_before:,} bytes")
    out["after_churn_restart_db_bytes"] = size_before

    added, secs = fill_to(d, body, args.jobs)
    n = d.get("/api/v1/queue?limit=0")["counts"]["queued"]
    out["large"] = {"jobs": n, "fill_seconds": secs, "db_bytes": du(db)}
    print(f"{n} jobs: filled {added} more in {secs:.1f} s "
          f"({added / secs:.0f} adds/s); data/db {out['large']['db_bytes']:,} bytes "
          f"= {out['large']['db_bytes'] / n * 1000:,.0f} bytes per 1,000 jobs")
    out["large"]["clean_start"] = restarts(d, args.repeat, kill=False)
    print(f"{n} jobs: clean start {out['large']['clean_start'][0]:.3f} s to listening, "
          f"{out['large']['clean_start'][1]:.3f} s to /healthz 200 (median of {args.repeat})")
    out["large"]["recovery"] = restarts(d, args.repeat, kill=True)
    print(f"{n} jobs: after kill -9 {out['large']['recovery'][0]:.3f} s to listening, "
          f"{out['large']['recovery'][1]:.3f} s to /healthz 200 (median of {args.repeat})")
    q = d.get("/api/v1/queue?limit=0")
    assert q["counts"]["queued"] == n and q["paused"], q
    out["large"]["db_bytes_end"] = du(db)
    d.stop()
    write_results(args.json, out)


if __name__ == "__main__":
    main()
