"""Bulk add against single adds, in one run: 10,000 jobs as one `POST /api/v1/jobs/bulk`
(one transaction, one flush), as 10,000 `POST /api/v1/jobs` from one keep-alive client, and
from 16 concurrent clients (group commit shares flushes), each into a fresh daemon.

    cargo build --release -p cosmosq && python3 bench/bulk.py [--jobs 10000] [--json FILE]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_load import fill  # noqa: E402
from common import Daemon, machine, make_clip, release_binary, tempdir, write_results  # noqa: E402


def job(prompt, i):
    return {"prompt_id": prompt, "config": {"weights": {"edge": 0.1 + (i % 9) / 10}, "seed": i}}


def fresh(binary, work, name, clip):
    # Room for the largest bulk body.
    d = Daemon(binary, os.path.join(work, name), env={"COSMOSQ_MAX_BODY_BYTES": str(16 << 20)}).start()
    d.post("/api/v1/queue/pause", {}, expect=200)
    prompt = d.post("/api/v1/prompts", {"text": "a sweep", "input_video": clip}, expect=201)
    return d, prompt["id"]


def check(d, n):
    queued = d.get("/api/v1/queue")["counts"]["queued"]
    if queued != n:
        raise RuntimeError(f"{queued} queued, expected {n}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--json")
    args = ap.parse_args()
    n = args.jobs
    work = tempdir("cosmosq-bulk-")
    binary = release_binary(work)
    clip = make_clip(os.path.join(work, "clip.mp4"))
    results = {}

    def timed(name, add):
        """Seconds `add(daemon, prompt)` takes to queue the n jobs in a fresh daemon."""
        d, prompt = fresh(binary, work, f"run{len(results)}", clip)
        try:
            t = time.monotonic()
            add(d, prompt)
            results[name] = time.monotonic() - t
            check(d, n)
        finally:
            d.stop()

    timed("bulk", lambda d, p: d.post("/api/v1/jobs/bulk",
                                      {"jobs": [job(p, i) for i in range(n)]}, expect=201))
    timed("single, 1 client",
          lambda d, p: [d.post("/api/v1/jobs", job(p, i), expect=201) for i in range(n)])
    timed("single, 16 clients", lambda d, p: fill(d.port, lambda i: job(p, i), n, threads=16))

    print(machine())
    bulk = results["bulk"]
    for name, seconds in results.items():
        print(f"{n} jobs, {name}: {seconds:.2f} s ({n / seconds:,.0f} jobs/s, {seconds / bulk:.1f}x the bulk time)")
    write_results(args.json, results, jobs=n)


if __name__ == "__main__":
    main()
