"""Schemathesis hooks for the fuzz run (scripts/fuzz.sh loads them by SCHEMATHESIS_HOOKS).

Random ids and paths almost never name something that exists, so most generated requests
would stop at 404 or 422. These hooks let the fuzzer also draw the ids that seed.py created
(prompts, jobs in every state, batches) and the real input video, so generated requests also
reach what lies behind: jobs created on real prompts with random settings, moves, cancels
and retries of real jobs, the output video of a finished job, real batches. Generated values
stay in the draw too: this only adds choices, and Hypothesis picks among them with the run's
seed. Without FUZZ_STATE they change nothing."""

import json
import os

import schemathesis
from hypothesis import strategies as st

_path = os.environ.get("FUZZ_STATE")
STATE = json.load(open(_path)) if _path else {}
VIDEO = STATE.get("video")
KNOWN = {
    "/api/v1/prompts/": STATE.get("prompts", []),
    "/api/v1/jobs/": STATE.get("jobs", []),
    "/api/v1/batches/": STATE.get("batches", []),
}


def _operation(context):
    op = context.operation
    return (op.method.upper(), op.path) if op is not None else (None, "")


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    _, path = _operation(context)
    if not isinstance(path_parameters, dict) or "id" not in path_parameters:
        return st.just(path_parameters)
    known = next((ids for prefix, ids in KNOWN.items() if path.startswith(prefix)), [])
    if not known:
        return st.just(path_parameters)
    return st.one_of(
        st.just(path_parameters),
        st.sampled_from(known).map(lambda i: {**path_parameters, "id": i}),
    )


@schemathesis.hook
def flatmap_body(context, body):
    method, path = _operation(context)
    if not isinstance(body, dict):
        return st.just(body)
    if (method, path) == ("POST", "/api/v1/prompts") and VIDEO and "input_video" in body:
        return st.sampled_from([body, {**body, "input_video": VIDEO}])
    prompts = KNOWN["/api/v1/prompts/"]
    if (method, path) == ("POST", "/api/v1/jobs") and prompts and "prompt_id" in body:
        return st.one_of(
            st.just(body), st.sampled_from(prompts).map(lambda p: {**body, "prompt_id": p})
        )
    return st.just(body)


@schemathesis.hook
def before_call(context, case, kwargs):
    """Body-less state changes (cancel, retry, pause, resume, delete) are sent as JSON too,
    as the daemon requires of every state change and as its own clients do: a request without
    `Content-Type: application/json` is refused (415) before it is looked at. Requests with a
    body already carry their media type. Negative cases stay as generated (a 415 is a fine
    refusal of a request that breaks the schema), and a change would turn one positive."""
    if case.meta is not None and case.meta.generation.mode.is_negative:
        return
    if case.method.upper() in ("POST", "PUT", "PATCH", "DELETE"):
        headers = dict(case.headers or {})
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
            case.headers = headers
