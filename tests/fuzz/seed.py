"""Give the fuzz run (scripts/fuzz.sh) something to find: prompts on a real video, and jobs
that succeeded (with an output video), failed, were canceled or wait in the queue, and the
batches that ran them. Writes their ids as JSON for hooks.py.

usage: seed.py BASE_URL VIDEO STATE_JSON   (FUZZ_TOKEN: bearer token, if any)
Standard library only."""

import json
import os
import sys
import time
import urllib.request


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if method != "GET":  # every state change is sent as JSON, body or not
        req.add_header("Content-Type", "application/json")
    token = os.environ.get("FUZZ_TOKEN")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


def wait_terminal(base, job_ids, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = [call(base, "GET", f"/api/v1/jobs/{j}") for j in job_ids]
        if all(j["status"] in ("succeeded", "failed", "canceled") for j in jobs):
            return jobs
        time.sleep(0.1)
    sys.exit(f"seed: jobs did not finish within {timeout}s: {[j['status'] for j in jobs]}")


def main():
    base, video, out = sys.argv[1:4]
    prompt = lambda text: call(
        base, "POST", "/api/v1/prompts", {"text": text, "input_video": video}
    )["id"]
    job = lambda p, weights: call(
        base, "POST", "/api/v1/jobs", {"prompt_id": p, "config": {"weights": weights}}
    )["id"]

    ok, failing, spare = (
        prompt("a robot arm stacks cubes"),
        prompt("[simulate:fail] a conveyor belt"),
        prompt("an unused prompt, free to delete"),
    )
    # Run two jobs to the end: one succeeds (output video), one fails.
    done = wait_terminal(base, [job(ok, {"edge": 0.5}), job(failing, {"depth": 0.5})])
    statuses = sorted(j["status"] for j in done)
    if statuses != ["failed", "succeeded"]:
        sys.exit(f"seed: expected one succeeded and one failed job, got {statuses}")
    # Then, paused: one job canceled and two waiting in the queue.
    call(base, "POST", "/api/v1/queue/pause")
    canceled = job(ok, {"vis": 0.3})
    call(base, "POST", f"/api/v1/jobs/{canceled}/cancel")
    queued = [job(ok, {"edge": 0.5}), job(ok, {"edge": 0.5, "seg": 0.2})]
    state = {
        "video": video,
        "prompts": [ok, failing, spare],
        "jobs": [j["id"] for j in done] + [canceled] + queued,
        "batches": [b["id"] for b in call(base, "GET", "/api/v1/batches")],
    }
    with open(out, "w") as f:
        json.dump(state, f, indent=1)
    print(
        f"seed: {len(state['prompts'])} prompts, {len(state['jobs'])} jobs "
        f"(succeeded, failed, canceled, queued), {len(state['batches'])} batches"
    )


if __name__ == "__main__":
    main()
