"""Daemon overhead per batch, local launcher against the Slurm launcher, in one run.

For each launcher a fresh daemon runs `--batches` one-job batches one after another
(`auto_batch = false`, one slot / `max_jobs = 1`) with the stand-in as a program that takes no
time (`STANDIN_TIME_SCALE=0`), so what is measured is the daemon and the launcher:

- submit-to-running: from the batch's claim (`started_at`) to the program's own start (the
  stand-in's invocation record: its process start time from /proc);
- end-to-collected: from the program's end (its record's `ended_at`) to the batch's
  `finished_at` (outputs verified, states stored and flushed).

Needs the one-node Slurm of `scripts/slurm.sh start` (root).

    cargo build --release -p cosmosq && bash scripts/slurm.sh start && \\
        python3 bench/launchers.py [--batches 20] [--poll 0.2] [--json FILE]
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import STANDIN, Daemon, machine, make_clip, release_binary, tempdir, write_results  # noqa: E402


def unix(rfc3339):
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def run(binary, work, launcher, clip, n, poll):
    runs_log = os.path.join(work, f"{launcher}-runs.jsonl")
    config = (
        "[queue]\nauto_batch = false\n"
        "[executor]\nprofile = \"cosmos-transfer1\"\n"
        f"command = [\"python3\", \"-S\", \"-E\", \"{STANDIN}\", \"transfer1\"]\n"
        "time_scale = 0.001\ntimeout_min_seconds = 120\n"
        f"launcher = \"{launcher}\"\n"
        f"[executor.slurm]\ngres = \"gpu:1\"\nmax_jobs = 1\npoll_seconds = {poll}\n"
    )
    env = {"STANDIN_INVOCATION_LOG": runs_log, "STANDIN_TIME_SCALE": "0",
           "STANDIN_NO_FFPROBE": "1"}
    d = Daemon(binary, os.path.join(work, launcher), env=env, config_toml=config).start()
    try:
        d.post("/api/v1/queue/pause", {}, expect=200)
        prompt = d.post("/api/v1/prompts", {"text": "overhead", "input_video": clip}, expect=201)
        for i in range(n):
            d.post("/api/v1/jobs", {"prompt_id": prompt["id"],
                                    "config": {"weights": {"edge": 0.5}, "seed": i}}, expect=201)
        t = time.monotonic()
        d.post("/api/v1/queue/resume", {}, expect=200)
        while True:
            counts = d.get("/api/v1/queue")["counts"]
            if counts["queued"] == 0 and counts["running"] == 0:
                break
            if time.monotonic() - t > 600:
                raise RuntimeError(f"{launcher}: the queue did not drain: {counts}")
            time.sleep(0.1)
        wall = time.monotonic() - t
        batches = {b["id"]: b for b in d.get("/api/v1/batches")}
    finally:
        d.stop()
    with open(runs_log) as f:
        records = [json.loads(line) for line in f]
    to_running, to_collected = [], []
    for rec in records:
        spec = next(a for a in rec["argv"] if a.endswith("spec.json"))
        b = batches[os.path.basename(os.path.dirname(spec))]
        if b["status"] != "succeeded":
            raise RuntimeError(f"{launcher}: batch {b['id']} {b['status']}: {b['error']}")
        to_running.append(rec["started_at"] - unix(b["started_at"]))
        to_collected.append(unix(b["finished_at"]) - rec["ended_at"])
    if len(records) != n:
        raise RuntimeError(f"{launcher}: {len(records)} runs for {n} batches")
    return {"submit_to_running": to_running, "end_to_collected": to_collected, "wall": wall}


def summary(xs):
    xs = sorted(xs)
    return {"median": statistics.median(xs), "p90": xs[int(0.9 * (len(xs) - 1))],
            "min": xs[0], "max": xs[-1]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--poll", type=float, default=0.2, help="executor.slurm.poll_seconds")
    ap.add_argument("--json")
    args = ap.parse_args()
    work = tempdir("cosmosq-launchers-")
    binary = release_binary(work)
    clip = make_clip(os.path.join(work, "clip.mp4"))
    results = {}
    for launcher in ["local", "slurm"]:
        r = run(binary, work, launcher, clip, args.batches, args.poll)
        results[launcher] = {k: summary(v) for k, v in r.items() if k != "wall"}
        results[launcher]["wall_seconds"] = r["wall"]
    print(machine())
    print(f"{args.batches} one-job batches per launcher, Slurm polled every {args.poll} s")
    for launcher, r in results.items():
        a, b = r["submit_to_running"], r["end_to_collected"]
        print(f"{launcher:5}: submit-to-running median {a['median']:.3f} s (p90 {a['p90']:.3f}), "
              f"end-to-collected median {b['median']:.3f} s (p90 {b['p90']:.3f}), "
              f"{args.batches} batches in {r['wall_seconds']:.1f} s")
    # The program's start time comes from /proc in clock ticks (10 ms): a local start is
    # below that resolution, so no ratio is printed for it.
    for k in ["submit_to_running", "end_to_collected"]:
        local = results["local"][k]["median"]
        if local < 0.01:
            print(f"{k}: local below the 10 ms resolution; Slurm adds {results['slurm'][k]['median']:.3f} s")
        else:
            print(f"{k}: Slurm / local = {results['slurm'][k]['median'] / local:.1f}x")
    per = {k: results[k]["wall_seconds"] / args.batches for k in results}
    print(f"per batch, end to end: local {per['local']:.3f} s, slurm {per['slurm']:.3f} s")
    write_results(args.json, results, batches=args.batches, poll_seconds=args.poll)


if __name__ == "__main__":
    main()
