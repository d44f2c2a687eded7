#!/usr/bin/env python3
"""End-to-end batching speedup through the real daemon and the stand-in Cosmos program.

The same queue runs three ways on a fresh daemon each time (one executor slot, profile
`cosmos-transfer1`, the stand-in program sleeping the daemon's default cost model at a time
scale): no batching (max batch size 1: one invocation per job), strict, mixed. Each way
pauses the queue, adds the jobs, previews the plan and executes exactly that plan; the
makespan runs from the execute request to the end of the last batch (daemon timestamps, same
clock).

Scenarios (the seed plan's): all jobs with identical controls and weights; a realistic mix of
1-3 controls (vis, edge, depth, seg; weights 0.5/0.75/1; seeded); every job with different
controls (distinct subsets of vis, edge, depth, seg, keypoint). Profiles: `transfer1-7b` (35
steps, one 121-frame chunk) and `short-distilled` (1 step, a 57-frame clip: model loads
dominate).

Measured speedup = makespan(no batching) / makespan(way); the engine's estimate is the same
ratio of the plans' estimated seconds. The gap is explained by the overhead column:
makespan minus the stand-in's own run time (from STANDIN_INVOCATION_LOG: its process's start
to its end; its Python start-up lies inside its modelled start-up, as a real program's does),
i.e. everything that is not the program's: process spawn, writing the batch files, verifying
outputs, the interpreter's exit, and the daemon's time between batches (makespan minus the
executor's measured run times: claims, planning, bookkeeping).

    cargo build --release -p cosmosq
    python3 bench/speedup.py [--jobs 16] [--target 60] [--profiles transfer1-7b,short-distilled]
"""

import argparse
import calendar
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import STANDIN, Daemon, machine, make_clip, release_binary, tempdir, write_results  # noqa: E402

PROFILES = {
    # name: (num_steps, frames)
    "transfer1-7b": (35, 121),
    "short-distilled": (1, 57),
}


def scenario_weights(name, n, seed=7):
    rng = random.Random(seed)
    if name == "identical":
        return [{"edge": 0.5} for _ in range(n)]
    if name == "realistic":
        out = []
        for _ in range(n):
            controls = rng.sample(["vis", "edge", "depth", "seg"], rng.randint(1, 3))
            out.append({c: rng.choice([0.5, 0.75, 1.0]) for c in controls})
        return out
    if name == "different":
        controls = ["vis", "edge", "depth", "seg", "keypoint"]
        subsets = [[c for k, c in enumerate(controls) if bits & (1 << k)]
                   for bits in range(1, 1 << len(controls))]
        if n > len(subsets):
            raise SystemExit(f"at most {len(subsets)} jobs for 'different'")
        return [{c: 0.5 for c in s} for s in rng.sample(subsets, n)]
    raise ValueError(name)


def parse_ts(s):
    """RFC 3339 with milliseconds, UTC ('2026-11-29T01:02:03.456Z') -> epoch seconds."""
    main, _, frac = s.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S")) + (float("0." + frac) if frac else 0.0)


def config_toml(scale):
    return (
        "[executor]\n"
        'profile = "cosmos-transfer1"\n'
        f'command = ["python3", "-S", "-E", "{STANDIN}", "transfer1"]\n'
        f"time_scale = {scale}\n"
        "slots = 1\n"
        "timeout_min_seconds = 600\n"
    )


def fill(d, clip, weights, steps):
    """Pause, one prompt per job (distinct texts), add the jobs in order."""
    d.post("/api/v1/queue/pause", {}, expect=200)
    for i, w in enumerate(weights):
        p = d.post("/api/v1/prompts", {"text": f"bench job {i}: a robot arm stacks cubes",
                                       "input_video": clip}, expect=201)
        d.post("/api/v1/jobs", {"prompt_id": p["id"],
                                "config": {"weights": w, "num_steps": steps, "seed": 1}},
               expect=201)


WAYS = [("none", "strict", 1), ("strict", "strict", None), ("mixed", "mixed", None)]


def preview(d, mode, max_bs):
    q = f"/api/v1/batches/preview?mode={mode}"
    if max_bs is not None:
        q += f"&max_batch_size={max_bs}"
    return d.get(q)


def run_way(binary, work, clip, costs, weights, steps, scale, way):
    label, mode, max_bs = way
    data = os.path.join(work, f"data-{label}-{time.monotonic_ns()}")
    log = data + ".invocations.jsonl"
    d = Daemon(binary, data, config_toml=config_toml(scale), env={
        "STANDIN_TIME_SCALE": str(scale),
        "STANDIN_COST_PROFILE": costs,
        "STANDIN_INVOCATION_LOG": log,
        "STANDIN_NO_FFPROBE": "1",
    }).start()
    try:
        fill(d, clip, weights, steps)
        plan = preview(d, mode, max_bs)
        t0 = time.time()
        d.post("/api/v1/batches", {"plan_id": plan["plan_id"]}, expect=202)
        while True:
            batches = d.get("/api/v1/batches")
            if batches and all(b["status"] not in ("pending", "running") for b in batches):
                break
            time.sleep(0.1)
        bad = [b for b in batches if b["status"] != "succeeded"]
        if bad:
            raise RuntimeError(f"{label}: batch failed: {bad[0]}")
        end = max(parse_ts(b["finished_at"]) for b in batches)
        invocations = [json.loads(line) for line in open(log)]
    finally:
        d.stop()
    makespan = end - t0
    own = sum(r["ended_at"] - r["started_at"] for r in invocations)
    return {
        "way": label,
        "batches": len(batches),
        "invocations": len(invocations),
        "estimated_seconds": plan["metrics"]["estimated_batched_seconds"],
        "model_seconds": sum(r["model_seconds"] for r in invocations),
        "makespan": makespan,
        "standin_seconds": own,
        "overhead": makespan - own,
        # The daemon's time outside executor runs (planning, claims, bookkeeping, between
        # batches): makespan minus the executor's measured run times.
        "between_batches": makespan - sum(b["measured_seconds"] for b in batches),
    }


def estimates(binary, work, clip, weights, steps):
    """Plan all three ways on a daemon that runs nothing (to size the time scale)."""
    d = Daemon(binary, os.path.join(work, f"probe-{time.monotonic_ns()}"),
               config_toml=config_toml(0.001)).start()
    try:
        fill(d, clip, weights, steps)
        return {label: preview(d, mode, bs)["metrics"]["estimated_batched_seconds"]
                for label, mode, bs in WAYS}
    finally:
        d.stop()


def spawn_seconds(runs=20):
    """Median wall time to start the stand-in and have it exit (`--help`): process spawn plus
    Python start-up, a fixed cost of every invocation (inside the stand-in's modelled start-up:
    its clock starts at its process's start)."""
    import subprocess
    times = []
    for _ in range(runs):
        t = time.monotonic()
        subprocess.run(["python3", "-S", "-E", STANDIN, "transfer1", "--help"],
                       stdout=subprocess.DEVNULL, check=True)
        times.append(time.monotonic() - t)
    return sorted(times)[len(times) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--target", type=float, default=60.0,
                    help="wall seconds the no-batching run should take (sets the time scale)")
    ap.add_argument("--profiles", default=",".join(PROFILES))
    ap.add_argument("--scenarios", default="identical,realistic,different")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    work = tempdir("cosmosq-speedup-")
    binary = release_binary(work)
    costs = os.path.join(work, "costs.json")
    print(f"machine: {machine()}")
    # The stand-in sleeps exactly the daemon's cost model: ask the daemon for its defaults.
    d = Daemon(binary, os.path.join(work, "defaults"), config_toml=config_toml(0.001)).start()
    with open(costs, "w") as f:
        json.dump(d.get("/api/v1/cost-model")["cost_model"], f)
    d.stop()

    spawn = spawn_seconds()
    print(f"stand-in spawn + Python start-up: {spawn * 1000:.1f} ms per invocation (median of 20)")
    results = []
    for profile in args.profiles.split(","):
        steps, frames = PROFILES[profile]
        clip = make_clip(os.path.join(work, f"clip{frames}.mp4"), frames=frames)
        for scenario in args.scenarios.split(","):
            weights = scenario_weights(scenario, args.jobs)
            est = estimates(binary, work, clip, weights, steps)
            scale = round(args.target / est["none"], 6)
            rows = [run_way(binary, work, clip, costs, weights, steps, scale, w) for w in WAYS]
            base = rows[0]
            for r in rows:
                r.update(profile=profile, scenario=scenario, jobs=args.jobs, time_scale=scale,
                         measured_speedup=base["makespan"] / r["makespan"],
                         estimated_speedup=base["estimated_seconds"] / r["estimated_seconds"],
                         overhead_pct=100.0 * r["overhead"] / r["makespan"],
                         between_pct=100.0 * r["between_batches"] / r["makespan"])
                results.append(r)
                print(f"{profile:16} {scenario:10} {r['way']:6} batches {r['batches']:3} "
                      f"makespan {r['makespan']:7.2f} s  stand-in {r['standin_seconds']:7.2f} s  "
                      f"overhead {r['overhead']:5.2f} s ({r['overhead_pct']:.2f}%; between batches "
                      f"{r['between_pct']:.2f}%)  "
                      f"speedup measured {r['measured_speedup']:.2f}x "
                      f"estimated {r['estimated_speedup']:.2f}x  (scale {scale})", flush=True)
    print("\n| profile | scenario | way | batches | makespan s | stand-in s | overhead | "
          "between batches | measured speedup | estimated speedup |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['profile']} | {r['scenario']} | {r['way']} | {r['batches']} | "
              f"{r['makespan']:.2f} | {r['standin_seconds']:.2f} | {r['overhead']:.2f} s "
              f"({r['overhead_pct']:.2f}%) | {r['between_pct']:.2f}% | {r['measured_speedup']:.2f}x | "
              f"{r['estimated_speedup']:.2f}x |")
    write_results(args.json, results, spawn_seconds=spawn)


if __name__ == "__main__":
    main()
