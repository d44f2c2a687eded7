#!/usr/bin/env python3
"""Stand-in for the NVIDIA Cosmos Transfer inference programs (no GPU, stdlib only).

It accepts the real command lines of both executor profiles and imitates what the
real programs do to files, logs and exit codes, including their known faults:

    cosmos_standin.py transfer1   [torchrun opts + script.py] --controlnet_specs SPEC [FLAGS]
    cosmos_standin.py transfer2.5 [launcher opts + script.py] -i FILE... -o DIR [FLAGS]

The contract it imitates is /work/shared/reference/cosmos-transfer-interface.md
(public NVIDIA repositories cosmos-transfer1 and cosmos-transfer2.5). See README.md
next to this file for the environment variables, outputs and test markers.

Exit codes: 0 run finished (some jobs may still be blocked: exit 0 does not prove every
output exists); 1 the real program would also fail (bad spec value, mixed group, OOM,
whole group blocked, missing input); 2 usage error or a violation of the stand-in's
stricter contract (--key=value tokens, unknown flags or keys, overrides for controls
not in the spec); 143 SIGTERM; 130 SIGINT.
"""

import os
import signal
import sys
import time


# --------------------------------------------------------------------------------------
# The process's start: the origin of the model clock and of the invocation record.

def _seconds_since_exec():
    """How long ago this process started (its fork, as the kernel records it), or None.

    The interpreter's own start (imports, argument parsing: 0.1 s quiet, several times that
    on a busy machine) then counts towards the modelled start-up instead of adding to it, as
    the real program's does.
    """
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        # Field 22 (starttime, clock ticks since boot); the command name in field 2 may
        # hold spaces, so count from its closing parenthesis.
        ticks = int(stat[stat.rindex(b")") + 2:].split()[19])
        elapsed = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    return elapsed if 0.0 <= elapsed < 60.0 else None


_SINCE_EXEC = _seconds_since_exec() or 0.0
# When this process started, on both clocks (the record's and the model clock's origin).
STARTED_AT = time.time() - _SINCE_EXEC
STARTED_MONOTONIC = time.monotonic() - _SINCE_EXEC

# --------------------------------------------------------------------------------------
# Signals first, so a SIGTERM that arrives during start-up is honoured promptly too.

RECORD = {
    "profile": None,
    "argv": list(sys.argv),
    "cwd": os.getcwd(),
    "pid": os.getpid(),
    # The GPUs the launcher gave this run (Slurm sets it from the job's gres).
    "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    "started_at": STARTED_AT,
    "jobs": 0,
    "groups": [],
    "batch_size": None,
    "controls_loaded": [],
    "outputs": [],
    "blocked": [],
    "model_seconds": 0.0,
    "error": None,
}


def _write_invocation_record(code):
    """Append one JSON line about this run to $STANDIN_INVOCATION_LOG (if set)."""
    path = os.environ.get("STANDIN_INVOCATION_LOG")
    if not path:
        return
    try:
        import json

        rec = dict(RECORD)
        rec["exit_code"] = code
        rec["ended_at"] = time.time()
        rec["model_seconds"] = round(rec["model_seconds"], 6)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
    except Exception:  # never let bookkeeping change the exit code
        pass


def _on_signal(signum, _frame):
    code = 128 + signum
    name = "SIGTERM" if signum == signal.SIGTERM else "SIGINT"
    try:
        sys.stderr.write(f"[standin] received {name}, exiting with code {code}\n")
        sys.stderr.flush()
    except Exception:
        pass
    RECORD["error"] = f"killed by {name}"
    _write_invocation_record(code)
    os._exit(code)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402

BLOCK_MARKER = "[standin:block]"
# Output a reader must survive: one line of STANDIN_LONG_LINE_BYTES (default 50 MB) bytes
# before its newline, and a line that is not UTF-8.
LONG_LINE_MARKER = "[standin:long_line]"
BAD_UTF8_MARKER = "[standin:bad_utf8]"

TRANSFER1_CONTROLS = ("vis", "edge", "depth", "seg", "keypoint", "upscale", "hdmap", "lidar")
NOT_GENERATABLE = ("hdmap", "lidar")
# The AV post-trained model's control branches (`--is_av_sample`); the general model has the
# others.
AV_CONTROLS = ("hdmap", "lidar")
# numpy's seed range: `misc.set_random_seed(seed)` and `np.random.RandomState(seed + i_clip)`.
SEED_MAX = 2**32 - 1
TRANSFER1_CONTROL_FIELDS = (
    "control_weight",
    "input_control",
    "ckpt_path",
    "input_control_prompt",
    "control_weight_prompt",
)
TRANSFER25_CONTROLS = ("edge", "vis", "depth", "seg")  # CONTROL_KEYS order of the real program
PRESETS = ("very_low", "low", "medium", "high", "very_high")

DEFAULT_FRAMES = 121
BUCKETS = ((960, 960), (960, 704), (704, 960), (1280, 704), (704, 1280))
DEFAULT_BUCKET = "1280x704"

T1_DEFAULT_PROMPT = (
    "The video captures a stunning, photorealistic scene with remarkable attention to detail, "
    "giving it a lifelike appearance that is almost indistinguishable from reality. It appears to "
    "be from a high-budget 4K movie, showcasing ultra-high-definition quality with impeccable "
    "resolution."
)
DEFAULT_NEGATIVE_PROMPT = (
    "The video captures a game playing, with bad crappy graphics and cartoonish frames. It "
    "represents a recording of old outdated games. The lighting looks very fake. The textures are "
    "very raw and basic. The geometries are very primitive. The images are very pixelated and of "
    "poor CG quality. There are many subtitles in the footage. Overall, the video is unrealistic "
    "at all."
)
UPSAMPLE_PREFIX = "A vivid, highly detailed, photorealistic video. "


class StandinExit(Exception):
    """Raised to end the run with an exit code; the message has already been printed."""

    def __init__(self, code, message=None):
        super().__init__(message or f"exit {code}")
        self.code = code
        self.message = message


# --------------------------------------------------------------------------------------
# Logging


class _OutputThatOutlivesItsReader:
    """stdout/stderr that drop their output once the reader is gone, as the real program's
    `logging` handlers do: a run whose parent (the daemon) died keeps running, and keeps the
    GPU, until someone stops it."""

    def __init__(self, stream):
        self._stream = stream
        self._gone = False

    def write(self, text):
        if not self._gone:
            try:
                return self._stream.write(text)
            except (BrokenPipeError, OSError):
                self._gone = True
        return len(text)

    def flush(self):
        if not self._gone:
            try:
                self._stream.flush()
            except (BrokenPipeError, OSError):
                self._gone = True

    def __getattr__(self, name):
        return getattr(self._stream, name)


def log(msg):
    sys.stdout.write(f"[standin] {msg}\n")
    sys.stdout.flush()


def warn(msg):
    log(f"WARNING: {msg}")


def raw_output(data):
    """Write bytes to stdout as they are (dropped once the reader is gone)."""
    try:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except (BrokenPipeError, OSError, AttributeError):
        pass


def hang_once():
    """A wedged program (a stuck NCCL collective, a dead filesystem): with STANDIN_HANG_ONCE
    naming a file that does not exist yet, create it and then print nothing, forever (until
    a signal). Runs after that one go on normally."""
    flag = os.environ.get("STANDIN_HANG_ONCE")
    if not flag or os.path.exists(flag):
        return
    with open(flag, "w") as f:
        f.write(str(os.getpid()))
    while True:
        time.sleep(3600)


def noisy_output(prompt):
    """What the output markers in a job's prompt ask for (see README)."""
    if LONG_LINE_MARKER in prompt:
        left = int(os.environ.get("STANDIN_LONG_LINE_BYTES", "50000000"))
        chunk = b"x" * (1 << 20)
        while left > 0:
            raw_output(chunk[: min(left, len(chunk))])
            left -= len(chunk)
        raw_output(b"\n")
    if BAD_UTF8_MARKER in prompt:
        raw_output(b"[standin] bytes that are not UTF-8: \xff\xfe\xc3\x28 end\n")


def fail(code, message, exc_type=None, where="demo"):
    """Print an error (traceback-like when exc_type is given) to stderr and end the run."""
    if exc_type:
        sys.stderr.write(
            "Traceback (most recent call last):\n"
            f'  File "{RECORD.get("script", "inference.py")}", line 1, in {where}\n'
            f"{exc_type}: {message}\n"
        )
    sys.stderr.write(f"[standin] ERROR: {message}\n")
    sys.stderr.flush()
    RECORD["error"] = f"{exc_type}: {message}" if exc_type else message
    raise StandinExit(code, message)


def contract_error(message):
    """The daemon broke the stand-in's (stricter than real) contract: exit 2."""
    fail(2, message)


# --------------------------------------------------------------------------------------
# Video facts


def nearest_bucket(width, height):
    """The Cosmos resize bucket nearest by aspect ratio (ties to the earlier bucket)."""
    if not width or not height:
        return DEFAULT_BUCKET
    ratio = width / height
    best, best_d = BUCKETS[0], float("inf")
    for w, h in BUCKETS:
        target = w / h
        d = max(ratio / target, target / ratio)
        if d < best_d:
            best, best_d = (w, h), d
    return f"{best[0]}x{best[1]}"


def _ffprobe(path):
    exe = None if os.environ.get("STANDIN_NO_FFPROBE") else shutil.which("ffprobe")
    if not exe:
        return None
    base = [exe, "-v", "error", "-select_streams", "v:0", "-of", "json"]
    try:
        out = subprocess.run(
            base + ["-show_entries", "stream=width,height,nb_frames", path],
            capture_output=True, text=True, timeout=30,
        )
        if out.returncode != 0:
            return None
        streams = json.loads(out.stdout or "{}").get("streams") or []
        if not streams:
            return None
        st = streams[0]
        frames = st.get("nb_frames")
        if not str(frames or "").isdigit():
            out = subprocess.run(
                base + ["-count_frames", "-show_entries", "stream=nb_read_frames", path],
                capture_output=True, text=True, timeout=120,
            )
            streams = json.loads(out.stdout or "{}").get("streams") or [{}]
            frames = streams[0].get("nb_read_frames")
        if not str(frames or "").isdigit():
            return None
        return {"frames": int(frames), "width": int(st.get("width") or 0),
                "height": int(st.get("height") or 0), "source": "ffprobe"}
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def _sidecar(path):
    """`<video>.frames`: "<frames>" optionally followed by "<W>x<H>" (e.g. "241 1280x720")."""
    try:
        with open(path + ".frames", encoding="utf-8") as f:
            tokens = f.read().split()
    except OSError:
        return None
    try:
        info = {"frames": int(tokens[0]), "width": 0, "height": 0, "source": "sidecar"}
        if len(tokens) > 1:
            w, h = tokens[1].lower().split("x")
            info["width"], info["height"] = int(w), int(h)
        return info
    except (ValueError, IndexError):
        return None


_PROBE_CACHE = {}


def probe_video(path):
    """Frame count and size of a video: ffprobe, else the `.frames` sidecar, else defaults
    (121 frames, unknown size, bucket 1280x704). Set STANDIN_NO_FFPROBE=1 to skip ffprobe."""
    key = os.path.abspath(path)
    if key not in _PROBE_CACHE:
        info = _ffprobe(path) or _sidecar(path) or {
            "frames": DEFAULT_FRAMES, "width": 0, "height": 0, "source": "default"}
        info["bucket"] = nearest_bucket(info["width"], info["height"])
        _PROBE_CACHE[key] = info
    return dict(_PROBE_CACHE[key])


def chunks_for(frames, chunk_frames=121, overlap=1):
    """Sampling runs for a video: max(1, ceil((frames - overlap) / (chunk - overlap)))."""
    return max(1, math.ceil((frames - overlap) / (chunk_frames - overlap)))


def copy_or_placeholder(src, dst, what):
    try:
        shutil.copyfile(src, dst)
    except OSError:
        with open(dst, "wb") as f:
            f.write(f"cosmos stand-in placeholder video ({what})\n".encode())


def write_json(path, data):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")


# --------------------------------------------------------------------------------------
# Cost (time) and memory models


def _env_float(name, default):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        contract_error(f"environment variable {name}={raw!r} is not a number")


class Cost:
    FIELDS = ("startup_seconds", "control_load_seconds", "step_seconds",
              "control_step_seconds", "batched_pass_efficiency", "preprocess_seconds")
    MAPS = ("control_load_seconds", "control_step_seconds", "preprocess_seconds")

    def __init__(self):
        self.startup_seconds = 0.0
        self.step_seconds = 0.0
        self.batched_pass_efficiency = 1.0
        self.control_load_seconds = {}
        self.control_step_seconds = {}
        self.preprocess_seconds = {}
        self.path = os.environ.get("STANDIN_COST_PROFILE") or None
        if self.path:
            self._load(self.path)
        self.scale = _env_float("STANDIN_TIME_SCALE", 0.0)
        if self.scale < 0:
            contract_error("STANDIN_TIME_SCALE must be >= 0")

    def _load(self, path):
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            contract_error(f"cannot read STANDIN_COST_PROFILE {path}: {e}")
        if not isinstance(data, dict):
            contract_error(f"STANDIN_COST_PROFILE {path}: expected a JSON object")
        for key, value in data.items():
            if key not in self.FIELDS:
                contract_error(f"STANDIN_COST_PROFILE {path}: unknown field {key!r}")
            if key in self.MAPS:
                if not isinstance(value, dict) or not all(
                        isinstance(v, (int, float)) and not isinstance(v, bool)
                        for v in value.values()):
                    contract_error(f"STANDIN_COST_PROFILE {path}: {key} must map control -> seconds")
                setattr(self, key, {str(k): float(v) for k, v in value.items()})
            else:
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    contract_error(f"STANDIN_COST_PROFILE {path}: {key} must be a number")
                setattr(self, key, float(value))

    def load(self, c):
        return self.control_load_seconds.get(c, 0.0)

    def control_step(self, c):
        return self.control_step_seconds.get(c, 0.0)

    def preprocess(self, c):
        return self.preprocess_seconds.get(c, 0.0)


class Clock:
    """Accumulates cost-model seconds and sleeps so that wall time tracks them x scale,
    counted from the process's start."""

    def __init__(self, scale):
        self.scale = scale
        self.t0 = STARTED_MONOTONIC
        self.model_seconds = 0.0

    def spend(self, seconds):
        if seconds <= 0:
            return
        self.model_seconds += seconds
        RECORD["model_seconds"] = self.model_seconds
        if self.scale <= 0:
            return
        delay = self.t0 + self.model_seconds * self.scale - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class Memory:
    def __init__(self):
        budget = os.environ.get("STANDIN_MEMORY_BUDGET_GB")
        self.budget = None if budget in (None, "", "inf", "unlimited") else _env_float(
            "STANDIN_MEMORY_BUDGET_GB", 0.0)
        self.base = _env_float("STANDIN_MEMORY_BASE_GB", 20.0)
        self.per_control = _env_float("STANDIN_MEMORY_PER_CONTROL_GB", 10.0)
        self.per_job = _env_float("STANDIN_MEMORY_PER_JOB_GB", 5.0)

    def required(self, n_controls, n_jobs):
        return self.base + self.per_control * n_controls + self.per_job * n_jobs

    def check(self, n_controls, n_jobs, where):
        need = self.required(n_controls, n_jobs)
        if self.budget is None or need <= self.budget:
            return need
        in_use = self.required(n_controls, 0) if n_jobs else self.base
        in_use = min(in_use, self.budget)
        tried = need - in_use
        free = max(0.0, self.budget - in_use)
        sys.stderr.write(
            "Traceback (most recent call last):\n"
            f'  File "{RECORD.get("script", "inference.py")}", line 1, in {where}\n'
            f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {tried:.2f} GiB. "
            f"GPU 0 has a total capacity of {self.budget:.2f} GiB of which {free:.2f} GiB is free. "
            f"Including non-PyTorch memory, this process has {in_use:.2f} GiB memory in use. "
            f"(stand-in memory model: needs {need:.2f} GiB = base {self.base:g} + "
            f"{n_controls} controls x {self.per_control:g} + {n_jobs} jobs x {self.per_job:g})\n"
        )
        sys.stderr.flush()
        RECORD["error"] = f"CUDA out of memory ({where}): needs {need:.2f} GiB, budget {self.budget:g} GiB"
        raise StandinExit(1, RECORD["error"])


# --------------------------------------------------------------------------------------
# Launcher prefix (torchrun ... script.py) that may precede the program's own flags

LAUNCHER_VALUE_OPTS = {
    "--nproc_per_node", "--nproc-per-node", "--nnodes", "--node_rank", "--node-rank",
    "--master_addr", "--master-addr", "--master_port", "--master-port", "--rdzv_backend",
    "--rdzv-backend", "--rdzv_endpoint", "--rdzv-endpoint", "--rdzv_id", "--rdzv-id",
    "--max_restarts", "--max-restarts", "--log_dir", "--log-dir",
}
LAUNCHER_FLAG_OPTS = {"--standalone"}


def strip_launcher(args):
    """Drop an optional `[torchrun options] path/to/script.py` (or `-m module`) prefix.
    Returns (remaining args, nproc_per_node or None, script or None)."""
    i, opts = 0, {}
    while i < len(args):
        tok = args[i]
        name = tok.split("=", 1)[0]
        if name in LAUNCHER_VALUE_OPTS:
            if "=" in tok:
                opts[name] = tok.split("=", 1)[1]
                i += 1
            elif i + 1 < len(args):
                opts[name] = args[i + 1]
                i += 2
            else:
                return args, None, None
        elif name in LAUNCHER_FLAG_OPTS:
            i += 1
        else:
            break
    script = None
    if i < len(args) and not args[i].startswith("-") and args[i].endswith(".py"):
        script, i = args[i], i + 1
    elif i + 1 < len(args) and args[i] == "-m":
        script, i = args[i + 1], i + 2
    if script is None:
        if opts:
            contract_error("torchrun-style options must be followed by the script path")
        return args, None, None
    nproc = opts.get("--nproc_per_node", opts.get("--nproc-per-node"))
    if nproc is not None:
        try:
            nproc = int(nproc)
        except ValueError:
            contract_error(f"--nproc_per_node {nproc!r} is not an integer")
    return args[i:], nproc, script


# --------------------------------------------------------------------------------------
# Transfer1


def transfer1_parser():
    p = argparse.ArgumentParser(
        prog="cosmos_standin.py transfer1",
        description=(
            "Stand-in for `torchrun --nproc_per_node N cosmos_transfer1/diffusion/inference/"
            "transfer.py` (Cosmos-Transfer1). Each flag and its value must be separate tokens "
            "(`--seed 5`, never `--seed=5`). Writes <video_save_folder>/video_<n>/{output.mp4,"
            "prompt.txt,params.json} in batch mode. Env: STANDIN_TIME_SCALE, STANDIN_COST_PROFILE, "
            "STANDIN_MEMORY_BUDGET_GB, STANDIN_MEMORY_{BASE,PER_CONTROL,PER_JOB}_GB, "
            "STANDIN_NO_FFPROBE, STANDIN_INVOCATION_LOG. A prompt containing '[standin:block]' is "
            "blocked by the (simulated) safety filter."),
        allow_abbrev=False,
    )
    p.add_argument("--controlnet_specs", required=True, help="spec JSON (controls + scalar overrides)")
    p.add_argument("--prompt", default=T1_DEFAULT_PROMPT, help="prompt (single-video mode)")
    p.add_argument("--negative_prompt", default=DEFAULT_NEGATIVE_PROMPT, help="global negative prompt")
    p.add_argument("--input_video_path", default="", help="input video (single mode; global in batch mode)")
    p.add_argument("--num_input_frames", type=int, default=1, choices=[1])
    p.add_argument("--sigma_max", type=float, default=70.0, help="below 80 an input video is mandatory")
    p.add_argument("--blur_strength", default="medium", choices=PRESETS)
    p.add_argument("--canny_threshold", default="medium", choices=PRESETS)
    p.add_argument("--is_av_sample", action="store_true")
    p.add_argument("--checkpoint_dir", default="checkpoints")
    p.add_argument("--tokenizer_dir", default="Cosmos-Tokenize1-CV8x8x8-720p")
    p.add_argument("--video_save_name", default="output", help="output stem in single-video mode")
    p.add_argument("--video_save_folder", default="outputs/")
    p.add_argument("--batch_input_path", default=None, help="JSONL, one job per line")
    p.add_argument("--batch_size", type=int, default=1, help="lines per denoiser pass")
    p.add_argument("--num_steps", type=int, default=35)
    p.add_argument("--guidance", type=float, default=5)
    p.add_argument("--fps", type=int, default=24)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--num_gpus", type=int, default=1, help="context parallelism")
    p.add_argument("--offload_diffusion_transformer", action="store_true")
    p.add_argument("--offload_text_encoder_model", action="store_true")
    p.add_argument("--offload_guardrail_models", action="store_true")
    p.add_argument("--upsample_prompt", action="store_true")
    p.add_argument("--offload_prompt_upsampler", action="store_true")
    p.add_argument("--use_distilled", action="store_true", help="distilled edge model: 1 step")
    p.add_argument("--cutoff_frame", type=int, default=-1)
    p.add_argument("--save_intermediates", action="store_true")
    return p


# Scalar keys a spec may carry (the real program setattr()s any scalar; the stand-in only
# accepts the real argparse destinations and rejects anything else with exit 2).
T1_SCALAR_TYPES = {
    "prompt": str, "negative_prompt": str, "input_video_path": str, "num_input_frames": int,
    "sigma_max": float, "blur_strength": "preset", "canny_threshold": "preset",
    "is_av_sample": bool, "checkpoint_dir": str, "tokenizer_dir": str, "video_save_name": str,
    "video_save_folder": str, "batch_input_path": str, "batch_size": int, "num_steps": int,
    "guidance": float, "fps": int, "seed": int, "num_gpus": int,
    "offload_diffusion_transformer": bool, "offload_text_encoder_model": bool,
    "offload_guardrail_models": bool, "upsample_prompt": bool, "offload_prompt_upsampler": bool,
    "use_distilled": bool, "cutoff_frame": int, "save_intermediates": bool,
}
T1_SPEC_IGNORED_LISTS = ("regional_prompts",)


def _coerce_scalar(key, value, kind):
    def bad():
        fail(1, f"spec key {key!r}: invalid value {value!r} for {kind if isinstance(kind, str) else kind.__name__}",
             "ValueError")
    if isinstance(value, (dict, list)):
        bad()
    if kind == "preset":
        if value not in PRESETS:
            bad()
        return value
    if kind is bool:
        if not isinstance(value, bool):
            bad()
        return value
    if kind is str:
        if not isinstance(value, str):
            bad()
        return value
    if isinstance(value, bool) or value is None:
        bad()
    try:
        if kind is int:
            f = float(value)
            if f != int(f):
                bad()
            return int(f)
        return float(value)
    except (TypeError, ValueError):
        bad()


def parse_weight(control, value):
    """control_weight: a number >= 0 (or numeric string) or a path to a .pt weight map."""
    if isinstance(value, str) and value.endswith(".pt"):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        w = None
    else:
        try:
            w = float(value)
        except (TypeError, ValueError):
            w = None
    if w is None or math.isnan(w):
        fail(1, f"Control weight for {control} must be a valid non-negative float "
                "or a path to a .pt file.", "ValueError")
    if w < 0:
        fail(1, f"Control weight for {control} must be non-negative.", "ValueError")
    return w


def check_control_fields(control, cfg, where):
    if not isinstance(cfg, dict):
        contract_error(f"{where}: control {control!r} must be a JSON object")
    for k in cfg:
        if k not in TRANSFER1_CONTROL_FIELDS:
            contract_error(
                f"{where}: unknown field {k!r} in control {control!r} (allowed: "
                f"{', '.join(TRANSFER1_CONTROL_FIELDS)}; the real program would silently ignore it)")
    ic = cfg.get("input_control")
    if ic is not None and not isinstance(ic, str):
        fail(1, f"{where}: input_control of {control} must be a path or null", "ValueError")
    if ic is None and control in NOT_GENERATABLE:
        fail(1, f"{where}: {control} control cannot be generated on the fly: "
                "'input_control' must name a video", "ValueError")


def bf16(x):
    """x as a torch bfloat16 holds it: to float32, then round to nearest even on 16 bits."""
    bits = struct.unpack("<I", struct.pack("<f", x))[0]
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def normalise_bf16(weights):
    """What `load_spatial_temporal_weights` does with scalar weights: a bfloat16 tensor divided
    by its sum clipped to at least 1, in bfloat16 (0.9 runs as 0.8984375; edge 0.7 + depth 0.5
    as 0.58203125 + 0.416015625). Weight maps (.pt paths) are left alone."""
    numbers = {c: bf16(w) for c, w in weights.items() if not isinstance(w, str)}
    total = max(bf16(sum(numbers.values())), 1.0)
    return {c: (w if isinstance(w, str) else bf16(numbers[c] / total)) for c, w in weights.items()}


def check_seed(seed, where):
    """numpy refuses a seed outside 0 .. 2**32 - 1 (ValueError)."""
    if not 0 <= seed <= SEED_MAX:
        fail(1, "Seed must be between 0 and 2**32 - 1", "ValueError", where)


def load_transfer1_spec(path, cfg, argv):
    try:
        with open(path, encoding="utf-8") as f:
            spec = json.load(f)
    except FileNotFoundError:
        fail(1, f"[Errno 2] No such file or directory: {path!r}", "FileNotFoundError")
    except ValueError as e:
        fail(1, f"controlnet_specs {path}: invalid JSON: {e}", "json.decoder.JSONDecodeError")
    if not isinstance(spec, dict):
        fail(1, f"controlnet_specs {path}: expected a JSON object", "ValueError")
    controls, scalars = {}, {}
    for key, value in spec.items():
        if key in TRANSFER1_CONTROLS:
            if not isinstance(value, dict):
                fail(1, f"control {key!r} must be a JSON object", "ValueError")
            controls[key] = value
        elif isinstance(value, dict):
            fail(1, f"Invalid hint_key: {key}. Must be one of {sorted(TRANSFER1_CONTROLS)} "
                    f"(unknown control key {key!r})", "ValueError")
        elif key in T1_SPEC_IGNORED_LISTS:
            warn(f"spec key {key!r} is not imitated by the stand-in; ignored")
        elif key in T1_SCALAR_TYPES:
            scalars[key] = _coerce_scalar(key, value, T1_SCALAR_TYPES[key])
        else:
            contract_error(f"controlnet_specs {path}: unknown top-level key {key!r} "
                           "(the real program would setattr() it and silently ignore it)")
    # A scalar in the spec overrides the CLI value unless the literal token --key is in argv.
    for key, value in scalars.items():
        if f"--{key}" not in argv:
            setattr(cfg, key, value)
    return controls, scalars


def read_batch_lines(path, controls):
    try:
        with open(path, encoding="utf-8") as f:
            raw_lines = f.read().splitlines()
    except OSError as e:
        fail(1, f"cannot read --batch_input_path {path}: {e}", "FileNotFoundError")
    jobs = []
    for lineno, text in enumerate(raw_lines, 1):
        if not text.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(text)
        except ValueError as e:
            fail(1, f"{where}: invalid JSON: {e}", "json.decoder.JSONDecodeError")
        if not isinstance(obj, dict):
            contract_error(f"{where}: each line must be a JSON object")
        for k in obj:
            if k not in ("visual_input", "prompt", "control_overrides"):
                contract_error(
                    f"{where}: unknown key {k!r} in batch line (only visual_input, prompt and "
                    "control_overrides are read per line; seed, steps, guidance and negative "
                    "prompt are global: the real program would silently ignore it)")
        if not isinstance(obj.get("visual_input"), str) or not obj["visual_input"]:
            contract_error(f"{where}: 'visual_input' (video path) is required")
        if not isinstance(obj.get("prompt"), str):
            contract_error(f"{where}: 'prompt' (string) is required")
        overrides = obj.get("control_overrides") or {}
        if not isinstance(overrides, dict):
            contract_error(f"{where}: control_overrides must be an object {{control: {{fields}}}}")
        merged = copy.deepcopy(controls)
        for c, fields in overrides.items():
            if c not in controls:
                contract_error(
                    f"{where}: control_overrides for {c!r}, which is not in the spec (spec controls: "
                    f"{', '.join(controls) or 'none'}). A line cannot add or remove controls; the real "
                    "program ignores such an override with a warning, the stand-in refuses it.")
            if not isinstance(fields, dict):
                contract_error(f"{where}: control_overrides[{c!r}] must be an object")
            merged[c].update(fields)
            check_control_fields(c, merged[c], where)
        jobs.append({"line": len(jobs), "visual_input": obj["visual_input"],
                     "prompt": obj["prompt"], "controls": merged})
    return jobs


def run_transfer1(args):
    RECORD["profile"] = "transfer1"
    args, nproc, script = strip_launcher(args)
    RECORD["script"] = script or "cosmos_transfer1/diffusion/inference/transfer.py"
    parser = transfer1_parser()
    for tok in args:
        if tok.startswith("--") and "=" in tok and tok.split("=", 1)[0][2:].replace("_", "").isalnum():
            parser.print_usage(sys.stderr)
            sys.stderr.write(
                f"cosmos_standin.py transfer1: error: {tok!r}: pass each flag and its value as "
                f"separate tokens ('{tok.split('=', 1)[0]} {tok.split('=', 1)[1]}'); with --key=value "
                "the spec's top-level keys would silently override the CLI value\n")
            RECORD["error"] = f"--key=value token {tok!r}"
            raise StandinExit(2)
    try:
        cfg = parser.parse_args(args)
    except SystemExit as e:
        RECORD["error"] = "argument parsing failed" if e.code else None
        raise StandinExit(e.code if isinstance(e.code, int) else 2)
    argv_tokens = list(args)
    controls, _ = load_transfer1_spec(cfg.controlnet_specs, cfg, argv_tokens)

    log(f"Cosmos-Transfer1 STAND-IN (simulated, no GPU): pid {os.getpid()}")
    log(f"control_inputs: {json.dumps(controls, sort_keys=True)}")

    # --- validation (validate_controlnet_specs and friends)
    if not controls:
        fail(1, "the spec names no control (vis, edge, depth, seg, keypoint, upscale, hdmap, lidar)",
             "ValueError")
    for c in controls:
        check_control_fields(c, controls[c], cfg.controlnet_specs)
        if not cfg.input_video_path and cfg.sigma_max < 80:
            fail(1, "Must have 'input_video' specified if sigma_max < 80", "ValueError")
        if not cfg.input_video_path and "input_control" not in controls[c]:
            fail(1, f"{c} controlnet must have 'input_control' video specified if no "
                    "'input_video' specified.", "ValueError")
        if "control_weight" not in controls[c]:
            warn(f"No control weight specified for {c}. Setting to 0.5.")
            controls[c]["control_weight"] = 0.5
        parse_weight(c, controls[c]["control_weight"])
    av = [c for c in controls if c in AV_CONTROLS]
    general = [c for c in controls if c not in AV_CONTROLS]
    if cfg.is_av_sample:
        if cfg.use_distilled:
            fail(1, "assert not cfg.is_av_sample", "AssertionError")
        if general:
            contract_error(
                f"--is_av_sample builds the AV model (Cosmos-Transfer1-7B-Sample-AV), whose control "
                f"branches are hdmap and lidar: it has no {', '.join(general)} branch")
    elif av:
        contract_error(
            f"{', '.join(av)} exist only on the AV post-trained model: pass --is_av_sample (without "
            "it the general base model runs them, and the output is not the AV model's)")
    model = "av" if cfg.is_av_sample else ("distilled" if cfg.use_distilled else "general")
    # demo(): misc.set_random_seed(cfg.seed) before anything is built.
    check_seed(cfg.seed, "set_random_seed")
    if cfg.use_distilled:
        if len(controls) != 1 or ("edge" not in controls and "ckpt_path" not in next(iter(controls.values()))):
            fail(1, "No default distilled checkpoint for "
                    f"{', '.join(c for c in controls if c != 'edge') or 'several controls'}. "
                    "Users must specify ckpt_path in config (the distilled model is edge only, "
                    "one control).", "ValueError")
    if cfg.batch_size < 1 or cfg.num_steps < 1 or cfg.num_gpus < 1:
        fail(1, "--batch_size, --num_steps and --num_gpus must be >= 1", "ValueError")
    if nproc is not None and nproc != cfg.num_gpus:
        fail(1, f"--num_gpus {cfg.num_gpus} does not match torchrun --nproc_per_node {nproc} "
                "(context parallel group size must equal the world size)", "RuntimeError")

    batch_mode = bool(cfg.batch_input_path)
    if batch_mode:
        if not cfg.input_video_path:
            fail(1, "batch mode still validates a global input_video_path: set it in the spec "
                    "(e.g. the first job's video)", "ValueError")
        jobs = read_batch_lines(cfg.batch_input_path, controls)
    else:
        jobs = [{"line": 0, "visual_input": cfg.input_video_path, "prompt": cfg.prompt,
                 "controls": copy.deepcopy(controls)}]
    for job in jobs:
        for c, ccfg in job["controls"].items():
            if "control_weight" not in ccfg:
                ccfg["control_weight"] = 0.5
            job.setdefault("requested", {})[c] = parse_weight(c, ccfg["control_weight"])
    num_steps = 1 if cfg.use_distilled else cfg.num_steps
    if cfg.use_distilled and cfg.num_steps != 1:
        log(f"distilled model: sampling with 1 step (--num_steps {cfg.num_steps} ignored)")
    batch_size = cfg.batch_size
    if "upscale" in controls and batch_size > 1:
        batch_size = 1
        log("Setting batch_size=1 as upscale does not support batch generation")

    ctl_names = list(controls)
    RECORD.update(jobs=len(jobs), batch_size=batch_size, controls_loaded=ctl_names)
    cost, memory = Cost(), Memory()
    clock = Clock(cost.scale)

    # --- model build: once per process
    log(f"building model ({model}): base + {len(ctl_names)} control branch(es) {ctl_names}")
    memory.check(len(ctl_names), 0, "DiffusionControl2WorldGenerationPipeline.__init__")
    clock.spend(cost.startup_seconds + sum(cost.load(c) for c in ctl_names))
    log(f"model ready; {len(jobs)} job(s), batch_size {batch_size}")
    hang_once()

    out_root = cfg.video_save_folder
    os.makedirs(out_root, exist_ok=True)
    groups = [jobs[i:i + batch_size] for i in range(0, len(jobs), batch_size)]
    outputs, blocked_lines = [], []
    for gi, group in enumerate(groups):
        g_label = f"group {gi + 1}/{len(groups)}"
        batch_start = group[0]["line"]
        RECORD["groups"].append([j["line"] for j in group])
        log(f"{g_label}: lines {[j['line'] for j in group]}")
        # per job: preprocessing (generated control videos land in the job's OWN folder)
        for j in group:
            folder = os.path.join(out_root, f"video_{j['line']}") if batch_mode else out_root
            os.makedirs(folder, exist_ok=True)
            if j["visual_input"] and not os.path.exists(j["visual_input"]):
                fail(1, f"line {j['line']}: input video not found: {j['visual_input']!r}",
                     "FileNotFoundError")
            j["video"] = probe_video(j["visual_input"]) if j["visual_input"] else {
                "frames": DEFAULT_FRAMES, "width": 0, "height": 0, "source": "default",
                "bucket": DEFAULT_BUCKET}
            j["prompt_final"] = (UPSAMPLE_PREFIX + j["prompt"]) if cfg.upsample_prompt else j["prompt"]
            noisy_output(j["prompt"])
            for c, ccfg in j["controls"].items():
                if ccfg.get("input_control") is None:
                    log(f"line {j['line']}: running preprocessor for {c}")
                    clock.spend(cost.preprocess(c))
                    copy_or_placeholder(j["visual_input"],
                                        os.path.join(folder, f"{c}_input_control_0.mp4"),
                                        f"generated {c} control, line {j['line']}")
        # prompt safety check
        live = []
        for j in group:
            if BLOCK_MARKER in j["prompt_final"]:
                log(f"CRITICAL: Guardrail blocked video2world generation. Prompt: {j['prompt_final']}")
                blocked_lines.append(j["line"])
                RECORD["blocked"].append(j["line"])
            else:
                live.append(j)
        if not live:
            log("CRITICAL: Guardrail blocked generation for entire batch.")
            sys.stderr.write(
                "Traceback (most recent call last):\n"
                f'  File "{RECORD["script"]}", line 1, in <module>\n'
                "    demo(args, control_inputs)\n"
                f'  File "{RECORD["script"]}", line 1, in demo\n'
                "    videos, final_prompts = batch_outputs\n"
                "TypeError: cannot unpack non-iterable NoneType object\n")
            sys.stderr.flush()
            RECORD["error"] = f"TypeError: every job of {g_label} was blocked"
            raise StandinExit(1, RECORD["error"])
        # a batched pass needs identical shapes
        if len(live) > 1:
            first = live[0]
            for j in live[1:]:
                if j["video"]["frames"] != first["video"]["frames"]:
                    fail(1, "stack expects each tensor to be equal size, but got "
                            f"[1, 3, {first['video']['frames']}, ...] at entry 0 and "
                            f"[1, 3, {j['video']['frames']}, ...] at entry {live.index(j)} "
                            f"({g_label}: line {first['line']} has {first['video']['frames']} frames, "
                            f"line {j['line']} has {j['video']['frames']}; a batched group needs one "
                            "frame count)", "RuntimeError")
                if j["video"]["bucket"] != first["video"]["bucket"]:
                    fail(1, "stack expects each tensor to be equal size "
                            f"({g_label}: line {first['line']} is resized to {first['video']['bucket']}, "
                            f"line {j['line']} to {j['video']['bucket']}; a batched group needs one "
                            "aspect bucket)", "RuntimeError")
                for c in ctl_names:
                    if isinstance(j["requested"][c], str) != isinstance(first["requested"][c], str):
                        fail(1, f"{g_label}: control {c} mixes a numeric weight and a weight map "
                                "in one batched pass", "RuntimeError")
        # weights actually applied: plain numbers are flattened to the first job's in a group
        for j in live:
            raw = {}
            for c in ctl_names:
                own = j["requested"][c]
                raw[c] = live[0]["requested"][c] if (len(live) > 1 and not isinstance(own, str)) else own
            j["raw_weights"], j["weights"] = raw, normalise_bf16(raw)
        memory.check(len(ctl_names), len(live), "DiffusionControl2WorldGenerationPipeline.generate")
        chunks = chunks_for(live[0]["video"]["frames"])
        per_step = len(live) * (cost.step_seconds + sum(cost.control_step(c) for c in ctl_names))
        if len(live) > 1:
            per_step *= cost.batched_pass_efficiency
        for k in range(chunks):
            # Each clip draws its noise from np.random.RandomState(seed + i_clip).
            check_seed(cfg.seed + k, "generate_world_from_control")
            for s in range(num_steps):
                clock.spend(per_step)
                log(f"{g_label} step {s + 1}/{num_steps} chunk {k + 1}/{chunks}")
        # save: the i-th SURVIVING video goes to video_<batch_start + i> (real re-indexing bug)
        for i, j in enumerate(live):
            if batch_mode:
                folder = os.path.join(out_root, f"video_{batch_start + i}")
                video_path = os.path.join(folder, "output.mp4")
                prompt_path = os.path.join(folder, "prompt.txt")
                params_path = os.path.join(folder, "params.json")
            else:
                folder = out_root
                video_path = os.path.join(folder, f"{cfg.video_save_name}.mp4")
                prompt_path = os.path.join(folder, f"{cfg.video_save_name}.txt")
                params_path = os.path.join(folder, f"{cfg.video_save_name}.params.json")
            os.makedirs(folder, exist_ok=True)
            copy_or_placeholder(j["visual_input"], video_path, f"output of line {j['line']}")
            with open(prompt_path, "wb") as f:
                f.write(j["prompt_final"].encode("utf-8"))
            write_json(params_path, {
                "profile": "transfer1",
                "model": model,
                "line": j["line"],
                "folder": os.path.basename(folder) if batch_mode else None,
                "prompt": j["prompt_final"],
                "original_prompt": j["prompt"],
                "visual_input": j["visual_input"],
                "weights": j["weights"],
                "raw_weights": j["raw_weights"],
                "requested_weights": j["requested"],
                "weights_flattened": j["raw_weights"] != j["requested"],
                "controls": ctl_names,
                "input_controls": {c: j["controls"][c].get("input_control") for c in ctl_names},
                "num_steps": num_steps,
                "guidance": cfg.guidance,
                "seed": cfg.seed,
                "sigma_max": cfg.sigma_max,
                "blur_strength": cfg.blur_strength,
                "canny_threshold": cfg.canny_threshold,
                "fps": cfg.fps,
                "negative_prompt": cfg.negative_prompt,
                "batch_size": batch_size,
                "group": gi,
                "group_lines": [x["line"] for x in group],
                "group_size": len(live),
                "frames": j["video"]["frames"],
                "width": j["video"]["width"],
                "height": j["video"]["height"],
                "aspect_bucket": j["video"]["bucket"],
                "chunks": chunks,
                "num_gpus": cfg.num_gpus,
                "use_distilled": cfg.use_distilled,
                "upsample_prompt": cfg.upsample_prompt,
            })
            outputs.append(video_path)
            RECORD["outputs"].append(video_path)
            log(f"Saved video to {video_path} (line {j['line']})")
            log(f"Saved prompt to {prompt_path}")
    log(f"done: {len(outputs)} output(s), {len(blocked_lines)} blocked {blocked_lines}, "
        f"model_seconds={clock.model_seconds:.3f}")
    return 0


# --------------------------------------------------------------------------------------
# Transfer2.5

T25_HELP = """usage: cosmos_standin.py transfer2.5 [launcher opts + examples/inference.py]
                                     -i FILE [FILE ...] -o DIR [options]

Stand-in for Cosmos-Transfer2.5 `examples/inference.py` (simulated, no GPU).

  -i, --input-files FILE...     spec .json (one job) or .jsonl (one job a line); several allowed
  -o, --output-dir DIR          where <name>.mp4, <name>.json, <name>.txt and
                                <name>_control_<key>.mp4 are written
  --disable-guardrails          no safety filter ('[standin:block]' prompts are then generated)
  --offload-guardrail-models    accepted (no effect)
  --keep-going / --no-keep-going
                                accepted (default: keep going)
  --context-parallel-size N     must equal torchrun --nproc_per_node when both are given
  --benchmark                   first sample is a warm-up (single sample: repeated 4 times)
  (every option is also accepted as --setup.<name>; --key=value tokens are accepted)

Job keys: name (unique), prompt | prompt_path, negative_prompt, video_path, guidance (int 0..7,
default 3), seed (2025), num_steps (35), sigma_max (string or null), resolution ("720"/"480"),
max_frames, num_video_frames_per_chunk (93), num_conditional_frames (0..2), context_frame_index,
image_context_path, show_control_condition, show_input, keep_input_resolution, and controls
edge / vis / depth / seg = {control_path, control_weight (0..1, default 1.0), mask_path,
mask_prompt, (edge) preset_edge_threshold, (vis) preset_blur_strength, (seg) control_prompt}.
Relative paths resolve against the spec file's folder. Any other key is an error (exit 1).

Env: STANDIN_TIME_SCALE, STANDIN_COST_PROFILE, STANDIN_MEMORY_BUDGET_GB,
STANDIN_MEMORY_{BASE,PER_CONTROL,PER_JOB}_GB, STANDIN_NO_FFPROBE, STANDIN_INVOCATION_LOG.
"""

T25_TOP_KEYS = {
    "name", "prompt", "prompt_path", "negative_prompt", "seed", "guidance", "video_path",
    "max_frames", "context_frame_index", "image_context_path", "num_conditional_frames",
    "resolution", "sigma_max", "num_video_frames_per_chunk", "num_steps",
    "show_control_condition", "show_input", "keep_input_resolution", *TRANSFER25_CONTROLS,
}
T25_CONTROL_KEYS = {
    "edge": {"control_path", "control_weight", "mask_path", "mask_prompt", "preset_edge_threshold"},
    "vis": {"control_path", "control_weight", "mask_path", "mask_prompt", "preset_blur_strength"},
    "depth": {"control_path", "control_weight", "mask_path", "mask_prompt"},
    "seg": {"control_path", "control_weight", "mask_path", "mask_prompt", "control_prompt"},
}


def parse_t25_args(args):
    opts = {"inputs": [], "output_dir": None, "disable_guardrails": False,
            "offload_guardrail_models": False, "keep_going": True, "context_parallel_size": None,
            "benchmark": False}
    bools = {"disable-guardrails": "disable_guardrails",
             "offload-guardrail-models": "offload_guardrail_models",
             "keep-going": "keep_going", "benchmark": "benchmark"}

    def usage(msg):
        sys.stderr.write(T25_HELP.split("\n\n")[0] + "\n")
        sys.stderr.write(f"cosmos_standin.py transfer2.5: error: {msg}\n")
        RECORD["error"] = msg
        raise StandinExit(2)

    i = 0
    while i < len(args):
        tok = args[i]
        if tok in ("-h", "--help"):
            sys.stdout.write(T25_HELP)
            raise StandinExit(0)
        value = None
        if tok.startswith("--") and "=" in tok:
            tok, value = tok.split("=", 1)
        name = tok
        if name.startswith("--setup."):
            name = "--" + name[len("--setup."):]
        name = name.replace("_", "-")

        def take():
            nonlocal i
            if value is not None:
                i += 1
                return value
            if i + 1 >= len(args) or args[i + 1].startswith("-"):
                usage(f"{tok} expects a value")
            i += 2
            return args[i - 1]

        if name in ("-i", "--input-files"):
            if value is not None:
                opts["inputs"].append(value)
                i += 1
            else:
                i += 1
                start = i
                while i < len(args) and not args[i].startswith("-"):
                    opts["inputs"].append(args[i])
                    i += 1
                if i == start:
                    usage(f"{tok} expects at least one file")
        elif name in ("-o", "--output-dir"):
            opts["output_dir"] = take()
        elif name == "--context-parallel-size":
            raw = take()
            try:
                opts["context_parallel_size"] = int(raw)
            except ValueError:
                usage(f"--context-parallel-size: {raw!r} is not an integer")
            if opts["context_parallel_size"] < 1:
                usage("--context-parallel-size must be a positive integer")
        elif name.startswith("--no-") and name[5:] in bools:
            opts[bools[name[5:]]] = False
            i += 1
        elif name[2:] in bools and name.startswith("--"):
            if value is not None:
                if value.lower() not in ("true", "false"):
                    usage(f"{tok} expects True or False")
                opts[bools[name[2:]]] = value.lower() == "true"
            else:
                opts[bools[name[2:]]] = True
            i += 1
        else:
            usage(f"unrecognized argument: {args[i]}")
    if not opts["inputs"]:
        usage("the following arguments are required: -i/--input-files")
    if not opts["output_dir"]:
        usage("the following arguments are required: -o/--output-dir")
    return opts


def _t25_validate(data, path, index):
    """Validate one job like the pydantic model does; returns a normalised job dict."""
    base_dir = os.path.dirname(os.path.abspath(path))
    errors = []

    def resolve(p):
        return p if os.path.isabs(p) else os.path.normpath(os.path.join(base_dir, os.path.expanduser(p)))

    def file_field(obj, key, label, required=False):
        v = obj.get(key)
        if v is None:
            if required:
                errors.append(f"{label}\n  Field required")
            return None
        if not isinstance(v, str):
            errors.append(f"{label}\n  Input should be a valid path")
            return None
        full = resolve(v)
        if not os.path.isfile(full):
            errors.append(f"{label}\n  Path does not point to a file [input_value={v!r}]")
            return None
        return full

    def int_field(key, default, lo=None, hi=None):
        v = data.get(key, default)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            errors.append(f"{key}\n  Input should be a valid integer [input_value={v!r}]")
            return default
        try:
            f = float(v)
            if f != int(f):
                raise ValueError
            v = int(f)
        except (TypeError, ValueError):
            errors.append(f"{key}\n  Input should be a valid integer [input_value={v!r}]")
            return default
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            errors.append(f"{key}\n  Input should be between {lo} and {hi} [input_value={v!r}]")
        return v

    if not isinstance(data, dict):
        return None, [f"Input should be a valid dictionary [input_value={data!r}]"]
    for k in data:
        if k not in T25_TOP_KEYS:
            errors.append(f"{k}\n  Extra inputs are not permitted [type=extra_forbidden]")
    job = {"index": index, "source": os.path.abspath(path)}
    name = data.get("name")
    if not isinstance(name, str) or not name:
        errors.append("name\n  Field required (a non-empty string)")
    elif "/" in name or name in (".", ".."):
        errors.append(f"name\n  must be a plain file stem [input_value={name!r}]")
    job["name"] = name
    prompt = data.get("prompt")
    if prompt is None and data.get("prompt_path") is not None:
        pp = file_field(data, "prompt_path", "prompt_path")
        if pp:
            with open(pp, encoding="utf-8") as f:
                prompt = f.read().strip()
    if not isinstance(prompt, str):
        errors.append("prompt\n  Field required (a string, or prompt_path)")
    job["prompt"] = prompt
    neg = data.get("negative_prompt", DEFAULT_NEGATIVE_PROMPT)
    if not isinstance(neg, str):
        errors.append("negative_prompt\n  Input should be a valid string")
    job["negative_prompt"] = neg
    job["video_path"] = file_field(data, "video_path", "video_path", required=True)
    job["seed"] = int_field("seed", 2025)
    job["guidance"] = int_field("guidance", 3, 0, 7)
    job["num_steps"] = int_field("num_steps", 35, 1, None)
    job["max_frames"] = int_field("max_frames", None, 1, None)
    job["num_video_frames_per_chunk"] = int_field("num_video_frames_per_chunk", 93, 1, None)
    job["num_conditional_frames"] = int_field("num_conditional_frames", 1, 0, 2)
    job["context_frame_index"] = int_field("context_frame_index", None, 1, None)
    job["image_context_path"] = file_field(data, "image_context_path", "image_context_path")
    for key, default in (("resolution", "720"), ("sigma_max", None)):
        v = data.get(key, default)
        if v is not None and not isinstance(v, str):
            errors.append(f"{key}\n  Input should be a valid string [input_value={v!r}]"
                          " (the real program's field is a string: write \"80\", not 80)")
        job[key] = v
    if isinstance(job["resolution"], str) and job["resolution"] not in ("720", "480"):
        errors.append(f"resolution\n  expected \"720\" or \"480\" [input_value={job['resolution']!r}]")
    for key in ("show_control_condition", "show_input", "keep_input_resolution"):
        v = data.get(key, key == "keep_input_resolution")
        if not isinstance(v, bool):
            errors.append(f"{key}\n  Input should be a valid boolean")
        job[key] = v
    controls = {}
    for c in TRANSFER25_CONTROLS:
        if c not in data or data[c] is None:
            continue
        cfg = data[c]
        if not isinstance(cfg, dict):
            errors.append(f"{c}\n  Input should be a valid dictionary")
            continue
        for k in cfg:
            if k not in T25_CONTROL_KEYS[c]:
                errors.append(f"{c}.{k}\n  Extra inputs are not permitted by the stand-in "
                              "(the real program silently ignores it)")
        w = cfg.get("control_weight", 1.0)
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0.0 <= float(w) <= 1.0:
            errors.append(f"{c}.control_weight\n  Input should be a number between 0 and 1 "
                          f"[input_value={w!r}]")
            w = 0.0
        for preset in ("preset_edge_threshold", "preset_blur_strength"):
            if preset in cfg and cfg[preset] not in PRESETS:
                errors.append(f"{c}.{preset}\n  Input should be one of {', '.join(PRESETS)}")
        controls[c] = {
            "control_path": file_field(cfg, "control_path", f"{c}.control_path"),
            "control_weight": float(w),
            "mask_path": file_field(cfg, "mask_path", f"{c}.mask_path"),
            "mask_prompt": cfg.get("mask_prompt"),
        }
    if not controls:
        errors.append("Value error, No controls provided, please provide at least one control key "
                      "(edge, blur, depth, seg)")
    if "vis" in controls and job["image_context_path"]:
        errors.append("Value error, vis control and image_context_path are both used to transfer style")
    job["controls"] = controls
    return job, errors


def load_t25_jobs(paths):
    jobs = []
    for path in paths:
        suffix = os.path.splitext(path)[1]
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            fail(1, f"cannot read input file {path!r}: {e}", "FileNotFoundError")
        if suffix == ".json":
            entries = [text]
        elif suffix == ".jsonl":
            entries = text.splitlines()
        else:
            fail(1, f"Unsupported file extension: {suffix}", "ValueError")
        for i, entry in enumerate(entries):
            try:
                data = json.loads(entry)
            except ValueError as e:
                fail(1, f"Error validating parameters from '{path}' at line {i}: invalid JSON: {e}",
                     "json.decoder.JSONDecodeError")
            job, errors = _t25_validate(data, path, len(jobs))
            if errors:
                msg = (f"Error validating parameters from '{path}' at line {i}\n"
                       f"{len(errors)} validation error(s) for InferenceArguments\n" + "\n".join(errors))
                fail(1, msg)
            job["line"] = i
            jobs.append(job)
    if not jobs:
        fail(1, "Error: No inference samples")
    names = set()
    for job in jobs:
        if job["name"] in names:
            fail(1, f"Error: Inference samplename {job['name']} is not unique")
        names.add(job["name"])
    return jobs


def run_transfer25(args):
    RECORD["profile"] = "transfer2.5"
    args, nproc, script = strip_launcher(args)
    RECORD["script"] = script or "examples/inference.py"
    opts = parse_t25_args(args)
    world = nproc if nproc is not None else int(os.environ.get("WORLD_SIZE", "1") or 1)
    cp = opts["context_parallel_size"] or world
    if nproc is not None and cp != nproc:
        fail(1, f"--context-parallel-size {cp} does not match torchrun --nproc_per_node {nproc}",
             "RuntimeError")
    jobs = load_t25_jobs(opts["inputs"])
    keys = [c for c in TRANSFER25_CONTROLS if any(c in j["controls"] for j in jobs)]
    loaded = keys if len(keys) == 1 else list(TRANSFER25_CONTROLS)
    model = keys[0] if len(keys) == 1 else "multicontrol"
    RECORD.update(jobs=len(jobs), batch_size=1, controls_loaded=loaded)

    log(f"Cosmos-Transfer2.5 STAND-IN (simulated, no GPU): pid {os.getpid()}")
    log(f"{len(jobs)} sample(s); controls used {keys}; loading the "
        + (f"single-control model '{model}'" if model != "multicontrol"
           else "multi-control model (all four branches; missing weights are 0)"))
    cost, memory = Cost(), Memory()
    clock = Clock(cost.scale)
    memory.check(len(loaded), 0, "setup")
    clock.spend(cost.startup_seconds + sum(cost.load(c) for c in loaded))
    out = opts["output_dir"]
    os.makedirs(out, exist_ok=True)
    log("model ready")
    n_written, n_blocked, timings = 0, 0, []
    for ji, job in enumerate(jobs):
        label = f"job {ji + 1}/{len(jobs)}"
        RECORD["groups"].append([job["name"]])
        log(f"{label}: {job['name']}")
        noisy_output(job["prompt"])
        if not opts["disable_guardrails"] and BLOCK_MARKER in job["prompt"]:
            log(f"CRITICAL: Guardrail blocked video2world generation. Skipping sample {job['name']}")
            RECORD["blocked"].append(job["name"])
            n_blocked += 1
            continue
        video = probe_video(job["video_path"])
        frames = min(video["frames"], job["max_frames"] or video["frames"])
        chunk_frames = job["num_video_frames_per_chunk"]
        overlap = min(job["num_conditional_frames"], chunk_frames - 1)
        chunks = chunks_for(frames, chunk_frames, overlap)
        for c, ccfg in job["controls"].items():
            if ccfg["control_path"] is None:
                log(f"{label}: computing {c} control on the fly")
                clock.spend(cost.preprocess(c))
        memory.check(len(loaded), 1, "generate")
        # A key the line lacks runs with weight 0 and its branch is skipped (no hint); the
        # multibranch model sums the branches times their weights, unnormalised.
        raw = {c: (job["controls"][c]["control_weight"] if c in job["controls"] else 0.0)
               for c in loaded}
        weights = dict(raw)
        repeats = 4 if (opts["benchmark"] and len(jobs) == 1) else 1
        per_step = cost.step_seconds + sum(cost.control_step(c) for c in job["controls"])
        for r in range(repeats):
            t = clock.model_seconds
            for k in range(chunks):
                for s in range(job["num_steps"]):
                    clock.spend(per_step)
                    log(f"{label} step {s + 1}/{job['num_steps']} chunk {k + 1}/{chunks} "
                        f"name={job['name']}")
            timings.append(clock.model_seconds - t)
        stem = os.path.join(out, job["name"])
        copy_or_placeholder(job["video_path"], stem + ".mp4", f"output of {job['name']}")
        with open(stem + ".txt", "w", encoding="utf-8") as f:
            f.write(job["prompt"])
        for c, ccfg in job["controls"].items():
            copy_or_placeholder(ccfg["control_path"] or job["video_path"],
                                f"{stem}_control_{c}.mp4", f"{c} control of {job['name']}")
            log(f"{c} control video saved to {stem}_control_{c}.mp4")
        write_json(stem + ".json", {
            "profile": "transfer2.5",
            "name": job["name"],
            "index": job["index"],
            "source": job["source"],
            "line": job["line"],
            "prompt": job["prompt"],
            "negative_prompt": job["negative_prompt"],
            "video_path": job["video_path"],
            "guidance": job["guidance"],
            "seed": job["seed"],
            "num_steps": job["num_steps"],
            "sigma_max": job["sigma_max"],
            "resolution": job["resolution"],
            "weights": weights,
            "raw_weights": raw,
            "requested_weights": {c: v["control_weight"] for c, v in job["controls"].items()},
            "controls": list(job["controls"]),
            "loaded_controls": loaded,
            "model": model,
            "control_paths": {c: v["control_path"] for c, v in job["controls"].items()},
            "masks": {c: {"mask_path": v["mask_path"], "mask_prompt": v["mask_prompt"]}
                      for c, v in job["controls"].items()},
            "frames": frames,
            "width": video["width"],
            "height": video["height"],
            "chunks": chunks,
            "num_video_frames_per_chunk": chunk_frames,
            "context_parallel_size": cp,
            "guardrails": not opts["disable_guardrails"],
        })
        n_written += 1
        RECORD["outputs"].append(stem + ".mp4")
        log(f"Generated video saved to {stem}.mp4")
    if opts["benchmark"] and timings:
        measured = timings[1:] or timings
        log(f"benchmark: average {sum(measured) / len(measured):.3f} model seconds per sample "
            f"over {len(measured)} run(s)")
    log(f"done: {n_written} output(s), {n_blocked} blocked, model_seconds={clock.model_seconds:.3f}")
    return 0


# --------------------------------------------------------------------------------------

TOP_HELP = """usage: cosmos_standin.py {transfer1|transfer2.5} ARGS...

Stand-in for the Cosmos Transfer inference programs (no GPU, stdlib only).

  transfer1     imitates torchrun ... cosmos_transfer1/diffusion/inference/transfer.py
  transfer2.5   imitates examples/inference.py of Cosmos-Transfer2.5

`cosmos_standin.py transfer1 --help` and `cosmos_standin.py transfer2.5 --help` list the flags.
An optional launcher prefix is accepted after the profile word and ignored except for
--nproc_per_node: `[--nproc_per_node N ...] path/to/script.py`.
"""


def main(argv):
    if len(argv) < 1 or argv[0] in ("-h", "--help"):
        sys.stdout.write(TOP_HELP)
        return 0 if argv else 2
    profile, rest = argv[0], argv[1:]
    try:
        if profile in ("transfer1", "cosmos-transfer1"):
            return run_transfer1(rest)
        if profile in ("transfer2.5", "transfer2_5", "cosmos-transfer2.5"):
            return run_transfer25(rest)
        sys.stderr.write(TOP_HELP)
        sys.stderr.write(f"cosmos_standin.py: error: unknown profile {profile!r} "
                         "(expected transfer1 or transfer2.5)\n")
        RECORD["error"] = f"unknown profile {profile!r}"
        return 2
    except StandinExit as e:
        return e.code


if __name__ == "__main__":
    sys.stdout = _OutputThatOutlivesItsReader(sys.stdout)
    sys.stderr = _OutputThatOutlivesItsReader(sys.stderr)
    code = main(sys.argv[1:])
    try:
        sys.stdout.flush()
    except Exception:
        pass
    _write_invocation_record(code)
    sys.exit(code)
