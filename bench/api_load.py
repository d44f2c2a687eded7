#!/usr/bin/env python3
"""API throughput and p99 latency under load from a separate process (`wrk`, Debian's `wrk`).

1. Start the release daemon (simulated executor, queue paused so nothing runs), create one
   prompt and fill the queue to `--fill` jobs (10,000) with concurrent durable adds.
2. `GET /api/v1/queue` with the full queue: plain (the whole view, every job), revalidated
   with `If-None-Match` (304, for pollers), and one page (`?limit=50`).
3. `POST /api/v1/jobs` (durable: each 201 comes after the change is flushed to disk); the queue
   grows from `--fill` during this run.
4. The same GET and POST load against `bare_actix` (server/examples/bare_actix.rs: the same
   actix-web, defaults and JSON extractor, no queue or store), measured in the same run: the
   daemon's figures are reported as ratios to it.

    cargo build --release -p cosmosq --bin cosmosq --example bare_actix
    python3 bench/api_load.py [--fill 10000] [--seconds 10] [--connections 32]
"""

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Daemon, machine, make_clip, private_copy, release_binary, tempdir, write_results  # noqa: E402


def wrk(url, seconds, connections, script=None, headers=()):
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale,
            "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(0) if errors else None,
            "transfer": re.search(r"Transfer/sec:\s+(\S+)", out).group(1)}


def post_script(path, body):
    with open(path, "w") as f:
        f.write('wrk.method = "POST"\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
                f"wrk.body = {json.dumps(json.dumps(body))}\n")
    return path


def fill(port, body, n, threads=16):
    """Add `n` jobs with `threads` concurrent keep-alive clients; `body` is the job, or a
    function of the job's index that gives it."""
    make = body if callable(body) else (lambda _i, data=json.dumps(body).encode(): data)
    left = [n]
    lock = threading.Lock()

    def work():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
                i = left[0]
            data = make(i)
            if not isinstance(data, bytes):
                data = json.dumps(data).encode()
            conn.request("POST", "/api/v1/jobs", body=data,
                         headers={"content-type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 201:
                raise RuntimeError(f"add: {resp.status}")

    t = time.monotonic()
    ts = [threading.Thread(target=work) for _ in range(threads)]
    for x in ts:
        x.start()
    for x in ts:
        x.join()
    return n / (time.monotonic() - t)


def probe(port, path, headers=None):
    """One GET on a fresh connection: status, headers, body bytes."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, resp, body


def bare_binary(work):
    return private_copy(work, "BARE_ACTIX_BIN", "release/examples/bare_actix",
                        "cargo build --release -p cosmosq --example bare_actix")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fill", type=int, default=10_000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk")

    work = tempdir("cosmosq-api-")
    binary = release_binary(work)
    bare = bare_binary(work)
    clip = make_clip(os.path.join(work, "clip.mp4"), frames=48)
    print(f"machine: {machine()}")
    results = {}
    d = Daemon(binary, os.path.join(work, "data")).start()
    try:
        d.post("/api/v1/queue/pause", {}, expect=200)
        prompt = d.post("/api/v1/prompts", {"text": "a robot arm stacks cubes",
                                            "input_video": clip}, expect=201)
        body = {"prompt_id": prompt["id"], "config": {"weights": {"edge": 0.5}}}
        rate = fill(d.port, body, args.fill)
        print(f"filled {args.fill} jobs at {rate:.0f} adds/s (16 Python clients)")
        counts = d.get("/api/v1/queue")["counts"]
        assert counts["queued"] == args.fill, counts
        base = f"http://127.0.0.1:{d.port}"
        _, resp, raw = probe(d.port, "/api/v1/queue")
        size = len(raw)
        etag = resp.getheader("ETag")
        print(f"GET /api/v1/queue with {args.fill} jobs: {size} bytes, ETag {etag}")
        results["get_full"] = wrk(f"{base}/api/v1/queue", args.seconds, args.connections)
        if etag and probe(d.port, "/api/v1/queue", {"If-None-Match": etag})[0] == 304:
            results["get_304"] = wrk(f"{base}/api/v1/queue", args.seconds, args.connections,
                                     headers=[f"If-None-Match: {etag}"])
        status, _, raw = probe(d.port, f"/api/v1/queue?limit={args.limit}")
        if status == 200 and len(json.loads(raw)["jobs"]) == args.limit:
            results["get_page"] = wrk(f"{base}/api/v1/queue?limit={args.limit}",
                                      args.seconds, args.connections)
        script = post_script(os.path.join(work, "post.lua"), body)
        results["post_jobs"] = wrk(f"{base}/api/v1/jobs", args.seconds, args.connections,
                                   script=script)
        after = json.loads(probe(d.port, "/api/v1/queue?limit=1")[2])["counts"]["queued"]
        results["post_jobs"]["queued_after"] = after
        results["full_view_bytes"] = size
    finally:
        d.stop()

    proc = subprocess.Popen([bare], stdout=subprocess.PIPE, text=True,
                            env={"PATH": os.environ.get("PATH", "")})
    try:
        port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
        b = f"http://127.0.0.1:{port}"
        results["bare_get"] = wrk(f"{b}/queue", args.seconds, args.connections)
        results["bare_post"] = wrk(f"{b}/jobs", args.seconds, args.connections,
                                   script=post_script(os.path.join(work, "bare.lua"), body))
    finally:
        proc.terminate()
        proc.wait()

    print(f"\n| request | req/s | p99 | vs bare actix (req/s) | notes |")
    print("|---|---|---|---|---|")
    rows = [("GET /api/v1/queue (full view)", "get_full", "bare_get"),
            ("GET /api/v1/queue + If-None-Match (304)", "get_304", "bare_get"),
            (f"GET /api/v1/queue?limit={args.limit}", "get_page", "bare_get"),
            ("POST /api/v1/jobs (durable)", "post_jobs", "bare_post"),
            ("bare actix GET /queue", "bare_get", "bare_get"),
            ("bare actix POST /jobs", "bare_post", "bare_post")]
    for label, key, ref in rows:
        r = results.get(key)
        if not r:
            print(f"| {label} | n/a | n/a | n/a | not offered by this build |")
            continue
        note = f"transfer {r['transfer']}/s"
        if r["non_2xx"]:
            note += f", {r['non_2xx']} non-2xx/3xx"
        if r.get("socket_errors"):
            note += f", {r['socket_errors']}"
        if "queued_after" in r:
            note += f", queue {args.fill} -> {r['queued_after']} jobs"
        print(f"| {label} | {r['rps']:,.0f} | {r['p99_ms']:.2f} ms | "
              f"{r['rps'] / results[ref]['rps']:.3f} | {note} |")
    write_results(args.json, results, args=vars(args))


if __name__ == "__main__":
    main()
