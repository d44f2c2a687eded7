"""Shared helpers for the bench scripts (Python 3 standard library only).

Start the release `cosmosq serve` on a random port with its own data dir, talk JSON over HTTP,
stop it. The binary is copied to a temp dir first, so a concurrent `cargo build` cannot swap it
in the middle of a run.
"""

import http.client
import json
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STANDIN = os.path.join(ROOT, "tests", "standin", "cosmos_standin.py")


def private_copy(workdir, env, relpath, build):
    """A private copy of a built binary ($env, else target/<relpath>), so a concurrent build
    cannot replace it mid-run; `build` is the command that makes it."""
    src = os.environ.get(env, os.path.join(ROOT, "target", *relpath.split("/")))
    if not os.path.exists(src):
        raise SystemExit(f"{src} is missing: run `{build}` first")
    dst = os.path.join(workdir, os.path.basename(src))
    shutil.copy2(src, dst)
    return dst


def release_binary(workdir):
    """A private copy of target/release/cosmosq."""
    return private_copy(workdir, "COSMOSQ_BIN", "release/cosmosq",
                        "cargo build --release -p cosmosq")


def write_results(path, results, **extra):
    """The results as JSON, with the machine they were measured on."""
    if path:
        with open(path, "w") as f:
            json.dump({"machine": machine(), **extra, "results": results}, f, indent=1)


def machine():
    """One line describing the machine, for the results."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0]
    return (f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}, "
            f"load average {load:.2f} at start, {time.strftime('%Y-%m-%d', time.gmtime())}")


class Daemon:
    """`cosmosq serve` on 127.0.0.1:0 with `data_dir`, extra env, and a keep-alive client."""

    def __init__(self, binary, data_dir, env=None, config_toml=None):
        self.binary = binary
        self.data_dir = data_dir
        self.env = dict(env or {})
        self.config_toml = config_toml
        self.proc = None
        self.port = None
        self.conn = None
        self.started_in = None

    def start(self):
        env = {"PATH": os.environ.get("PATH", ""), "COSMOSQ_LOG": "warn",
               "COSMOSQ_SPA_DIR": os.path.join(self.data_dir, "no-spa")}
        if self.config_toml is not None:
            path = os.path.join(os.path.dirname(self.data_dir.rstrip("/")),
                                os.path.basename(self.data_dir.rstrip("/")) + ".toml")
            with open(path, "w") as f:
                f.write(self.config_toml)
            env["COSMOSQ_CONFIG"] = path
        env.update(self.env)
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--bind", "127.0.0.1:0", "--data-dir", self.data_dir],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        prefix = "cosmosq listening on http://"
        if not line.startswith(prefix):
            raise RuntimeError(f"daemon did not start: {line!r}")
        self.port = int(line.strip().rsplit(":", 1)[1])
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        self.started_in = time.monotonic() - t0
        return self

    def request(self, method, path, body=None, expect=None):
        data = None if body is None else json.dumps(body).encode()
        # The daemon takes state changes only as JSON, body or not.
        headers = {"content-type": "application/json"} if method != "GET" else {}
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                if attempt:
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        value = json.loads(raw) if raw else None
        if expect is not None and resp.status != expect:
            raise RuntimeError(f"{method} {path}: {resp.status} {raw[:500]!r}")
        return resp.status, value

    def get(self, path):
        return self.request("GET", path, expect=200)[1]

    def post(self, path, body, expect=None):
        return self.request("POST", path, body, expect)[1]

    def stop(self, kill=False):
        if self.proc is None:
            return
        if self.conn is not None:
            self.conn.close()
        if kill:
            self.proc.kill()
        else:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def make_clip(path, frames=121, size="320x180"):
    """A real H.264 clip made with ffmpeg, plus a `.frames` sidecar for STANDIN_NO_FFPROBE."""
    if not os.path.exists(path):
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc=size={size}:rate=24", "-frames:v", str(frames),
                        "-pix_fmt", "yuv420p", path], check=True)
    with open(path + ".frames", "w") as f:
        f.write(f"{frames} {size}")
    return path


def tempdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)
