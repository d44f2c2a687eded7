"""Tests of the Cosmos Transfer stand-in (stdlib unittest).

    python3 -m unittest discover -s tests/standin -v

Test videos are made with ffmpeg when it is on PATH; otherwise (or with
STANDIN_TEST_NO_FFMPEG=1) they are placeholder files with a `<video>.frames` sidecar
("<frames> <W>x<H>") and the stand-in is told to skip ffprobe. The suite passes both ways.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(HERE, "cosmos_standin.py")
NO_FFMPEG = bool(os.environ.get("STANDIN_TEST_NO_FFMPEG")) or not (
    shutil.which("ffmpeg") and shutil.which("ffprobe"))

_VIDEO_DIR = None
_VIDEOS = {}


def setUpModule():
    global _VIDEO_DIR
    _VIDEO_DIR = tempfile.mkdtemp(prefix="standin-videos-")


def tearDownModule():
    if _VIDEO_DIR:
        shutil.rmtree(_VIDEO_DIR, ignore_errors=True)


def make_video(frames, width=128, height=72, fallback=None):
    """A test video (cached). With ffmpeg: a real mp4 from testsrc; else a placeholder file
    and a `.frames` sidecar."""
    fallback = NO_FFMPEG if fallback is None else fallback
    key = (frames, width, height, fallback)
    if key in _VIDEOS:
        return _VIDEOS[key]
    path = os.path.join(_VIDEO_DIR, f"v{frames}_{width}x{height}{'_sc' if fallback else ''}.mp4")
    if fallback:
        with open(path, "wb") as f:
            f.write(b"not really a video\n")
        with open(path + ".frames", "w") as f:
            f.write(f"{frames} {width}x{height}\n")
    else:
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
             f"testsrc=size={width}x{height}:rate=24", "-frames:v", str(frames),
             "-pix_fmt", "yuv420p", path],
            check=True, timeout=60)
    _VIDEOS[key] = path
    return path


def base_env(fallback=None, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STANDIN_")}
    if NO_FFMPEG if fallback is None else fallback:
        env["STANDIN_NO_FFPROBE"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_standin(args, env=None, cwd=None, timeout=60):
    return subprocess.run([sys.executable, STANDIN] + list(args), capture_output=True,
                          text=True, env=env or base_env(), cwd=cwd, timeout=timeout)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def read_text(path):
    with open(path) as f:
        return f.read()


class Case(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="standin-test-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.out = os.path.join(self.dir, "out")
        self.v121 = make_video(121)

    def write(self, name, content):
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            if isinstance(content, str):
                f.write(content)
            elif isinstance(content, list):
                f.write("".join(json.dumps(x) + "\n" for x in content))
            else:
                json.dump(content, f)
        return path

    def t1(self, spec, lines, *flags, env=None, batch_size=1, steps=2):
        """Run the Transfer1 profile in batch mode."""
        spec_path = self.write("spec.json", spec)
        batch_path = self.write("batch.jsonl", lines)
        args = ["transfer1", "--controlnet_specs", spec_path, "--batch_input_path", batch_path,
                "--video_save_folder", self.out, "--batch_size", str(batch_size),
                "--num_steps", str(steps)] + list(flags)
        return run_standin(args, env=env)

    def folder(self, n):
        return os.path.join(self.out, f"video_{n}")

    def params(self, n):
        return read_json(os.path.join(self.folder(n), "params.json"))

    def assertRc(self, proc, code):
        self.assertEqual(proc.returncode, code,
                         f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\n"
                         f"stderr:\n{proc.stderr[-3000:]}")


class Transfer1Valid(Case):
    def test_batch_run_outputs_and_params(self):
        log_path = os.path.join(self.dir, "invocations.jsonl")
        spec = {"input_video_path": self.v121, "seed": 7, "guidance": 6.5,
                "edge": {"control_weight": 0.7},
                "depth": {"control_weight": 0.6, "input_control": self.v121}}
        lines = [
            {"visual_input": self.v121, "prompt": "a red car"},
            {"visual_input": self.v121, "prompt": "a blue car",
             "control_overrides": {"edge": {"control_weight": 0.2}}},
            {"visual_input": self.v121, "prompt": "a green car"},
        ]
        spec_path = self.write("spec.json", spec)
        batch_path = self.write("batch.jsonl", lines)
        proc = run_standin(
            ["transfer1", "--nproc_per_node=1", "cosmos_transfer1/diffusion/inference/transfer.py",
             "--controlnet_specs", spec_path, "--batch_input_path", batch_path,
             "--video_save_folder", self.out, "--batch_size", "1", "--num_steps", "3",
             "--guidance", "4", "--fps", "30"],
            env=base_env(STANDIN_INVOCATION_LOG=log_path))
        self.assertRc(proc, 0)
        self.assertIn("[standin] group 1/3 step 3/3", proc.stdout)
        for n, line in enumerate(lines):
            folder = self.folder(n)
            self.assertTrue(os.path.getsize(os.path.join(folder, "output.mp4")) > 0)
            self.assertEqual(read_text(os.path.join(folder, "prompt.txt")), line["prompt"])
            # edge is generated (input_control null), depth was given
            self.assertTrue(os.path.exists(os.path.join(folder, "edge_input_control_0.mp4")))
            self.assertFalse(os.path.exists(os.path.join(folder, "depth_input_control_0.mp4")))
            p = self.params(n)
            self.assertEqual(p["line"], n)
            self.assertEqual(p["group"], n)
            self.assertEqual(p["prompt"], line["prompt"])
            self.assertEqual(p["visual_input"], self.v121)
            self.assertEqual(sorted(p["controls"]), ["depth", "edge"])
            self.assertEqual(p["input_controls"], {"edge": None, "depth": self.v121})
            self.assertEqual(p["num_steps"], 3)
            self.assertEqual(p["guidance"], 4.0)  # --guidance given: the spec's 6.5 loses
            self.assertEqual(p["seed"], 7)  # no --seed: the spec's value wins
            self.assertEqual(p["fps"], 30)
            self.assertEqual(p["sigma_max"], 70.0)
            self.assertEqual(p["blur_strength"], "medium")
            self.assertEqual(p["canny_threshold"], "medium")
            self.assertEqual(p["batch_size"], 1)
            self.assertEqual(p["frames"], 121)
            self.assertEqual(p["aspect_bucket"], "1280x704")
            self.assertTrue(p["negative_prompt"].startswith("The video captures a game"))
        # 0.7 + 0.6 > 1: divided by the sum; batch_size 1 honours the per-line override
        p0, p1 = self.params(0), self.params(1)
        self.assertEqual(p0["raw_weights"], {"edge": 0.7, "depth": 0.6})
        # in bfloat16, as torch computes it: 0.7 / 1.3 = 0.538..., runs as 0.5390625
        self.assertEqual(p0["weights"], {"edge": 0.5390625, "depth": 0.462890625})
        self.assertEqual(p1["raw_weights"], {"edge": 0.2, "depth": 0.6})
        # sum 0.8: not divided, but still bfloat16
        self.assertEqual(p1["weights"]["edge"], 0.2001953125)
        self.assertFalse(p1["weights_flattened"])
        rec = [json.loads(x) for x in read_text(log_path).splitlines()]
        self.assertEqual(len(rec), 1)
        self.assertEqual((rec[0]["profile"], rec[0]["exit_code"], rec[0]["jobs"]), ("transfer1", 0, 3))
        self.assertEqual(rec[0]["groups"], [[0], [1], [2]])

    def test_a_run_outlives_its_reader(self):
        # The daemon that reads the output dies: like the real program, the run goes on.
        spec_path = self.write("spec.json", {"input_video_path": self.v121,
                                             "edge": {"control_weight": 0.5}})
        batch_path = self.write("batch.jsonl", [{"visual_input": self.v121, "prompt": "p"}])
        proc = subprocess.Popen(
            [sys.executable, STANDIN, "transfer1", "--controlnet_specs", spec_path,
             "--batch_input_path", batch_path, "--video_save_folder", self.out,
             "--num_steps", "20"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=base_env(STANDIN_TIME_SCALE="0.01",
                         STANDIN_COST_PROFILE=self.write("costs.json", {"step_seconds": 5})))
        proc.stdout.readline()
        proc.stdout.close()
        proc.stderr.close()
        self.assertEqual(proc.wait(timeout=60), 0)
        self.assertEqual(self.params(0)["line"], 0)

    def test_missing_weight_defaults_to_half_with_warning(self):
        proc = self.t1({"input_video_path": self.v121, "vis": {}},
                       [{"visual_input": self.v121, "prompt": "p"}])
        self.assertRc(proc, 0)
        self.assertIn("No control weight specified for vis. Setting to 0.5.", proc.stdout)
        self.assertEqual(self.params(0)["weights"], {"vis": 0.5})

    def test_single_video_mode(self):
        spec = self.write("spec.json", {"prompt": "solo", "input_video_path": self.v121,
                                        "edge": {"control_weight": 1.0}})
        proc = run_standin(["transfer1", "--controlnet_specs", spec, "--video_save_folder",
                            self.out, "--video_save_name", "clip", "--num_steps", "1"])
        self.assertRc(proc, 0)
        self.assertEqual(read_text(os.path.join(self.out, "clip.txt")), "solo")
        self.assertTrue(os.path.exists(os.path.join(self.out, "clip.mp4")))
        self.assertTrue(os.path.exists(os.path.join(self.out, "edge_input_control_0.mp4")))
        self.assertEqual(read_json(os.path.join(self.out, "clip.params.json"))["prompt"], "solo")

    def test_help(self):
        for profile, needle in (("transfer1", "--controlnet_specs"), ("transfer2.5", "--output-dir")):
            proc = run_standin([profile, "--help"])
            self.assertRc(proc, 0)
            self.assertIn(needle, proc.stdout)


class Transfer1Errors(Case):
    def spec(self, **controls):
        return {"input_video_path": self.v121, **(controls or {"edge": {"control_weight": 0.5}})}

    def test_seeds_past_numpy_range_fail_the_run(self):
        line = [{"visual_input": self.v121, "prompt": "p"}]
        proc = self.t1(self.spec(), line, "--seed", str(2**32 + 5))
        self.assertRc(proc, 1)
        self.assertIn("Seed must be between 0 and 2**32 - 1", proc.stderr)
        # chunk k runs with seed + k: the last seed of a 2-chunk video is out of range
        v241 = make_video(241)
        proc = self.t1({"input_video_path": v241, "edge": {"control_weight": 0.5}},
                       [{"visual_input": v241, "prompt": "p"}], "--seed", str(2**32 - 1))
        self.assertRc(proc, 1)
        self.assertIn("Seed must be between", proc.stderr)
        shutil.rmtree(self.out, ignore_errors=True)
        proc = self.t1(self.spec(), line, "--seed", str(2**32 - 1))
        self.assertRc(proc, 0)

    def test_a_flag_value_starting_with_a_dash_is_an_argparse_error(self):
        line = [{"visual_input": self.v121, "prompt": "p"}]
        # argparse takes a dash-led token without spaces for an option
        proc = self.t1(self.spec(), line, "--negative_prompt", "-blurry")
        self.assertRc(proc, 2)
        self.assertIn("expected one argument", proc.stderr)
        # the spec's top-level value reaches the program verbatim
        proc = self.t1({**self.spec(), "negative_prompt": "-blurry, low quality"}, line)
        self.assertRc(proc, 0)
        self.assertEqual(self.params(0)["negative_prompt"], "-blurry, low quality")

    def test_hdmap_and_lidar_run_on_the_av_model_only(self):
        line = [{"visual_input": self.v121, "prompt": "p"}]
        hdmap = self.spec(hdmap={"control_weight": 0.5, "input_control": self.v121})
        proc = self.t1(hdmap, line)
        self.assertRc(proc, 2)
        self.assertIn("--is_av_sample", proc.stderr)
        proc = self.t1(hdmap, line, "--is_av_sample")
        self.assertRc(proc, 0)
        self.assertEqual(self.params(0)["model"], "av")
        mixed = self.spec(hdmap={"control_weight": 0.5, "input_control": self.v121},
                          edge={"control_weight": 0.5})
        proc = self.t1(mixed, line, "--is_av_sample")
        self.assertRc(proc, 2)
        self.assertIn("no edge branch", proc.stderr)

    def test_a_null_input_is_generated_even_at_weight_0(self):
        profile = self.write("cost.json", {"preprocess_seconds": {"depth": 7.0, "edge": 1.0}})
        env = base_env(STANDIN_COST_PROFILE=profile)
        line = [{"visual_input": self.v121, "prompt": "p"}]
        spec = self.spec(edge={"control_weight": 0.5}, depth={"control_weight": 0.0})
        proc = self.t1(spec, line, env=env)
        self.assertRc(proc, 0)
        self.assertTrue(os.path.exists(os.path.join(self.folder(0), "depth_input_control_0.mp4")))
        self.assertIn("model_seconds=8.000", proc.stdout)
        # any valid video as its input: nothing generated, nothing paid
        shutil.rmtree(self.out)
        spec["depth"]["input_control"] = self.v121
        proc = self.t1(spec, line, env=env)
        self.assertRc(proc, 0)
        self.assertIn("model_seconds=1.000", proc.stdout)

    def test_key_equals_value_rejected(self):
        proc = self.t1(self.spec(), [{"visual_input": self.v121, "prompt": "p"}], "--seed=5")
        self.assertRc(proc, 2)
        self.assertIn("separate tokens", proc.stderr)
        self.assertFalse(os.path.exists(self.out))

    def test_unknown_flag_rejected(self):
        proc = self.t1(self.spec(), [{"visual_input": self.v121, "prompt": "p"}], "--bogus", "1")
        self.assertRc(proc, 2)
        self.assertIn("unrecognized arguments", proc.stderr)

    def test_unknown_control_key(self):
        proc = self.t1(self.spec(edge={"control_weight": 0.5}, colour={"control_weight": 0.5}),
                       [{"visual_input": self.v121, "prompt": "p"}])
        self.assertRc(proc, 1)
        self.assertIn("unknown control key", proc.stderr)

    def test_override_for_control_not_in_spec(self):
        proc = self.t1(self.spec(), [
            {"visual_input": self.v121, "prompt": "p",
             "control_overrides": {"depth": {"control_weight": 0.5}}}])
        self.assertRc(proc, 2)
        self.assertIn("not in the spec", proc.stderr)

    def test_per_line_settings_rejected(self):
        proc = self.t1(self.spec(), [{"visual_input": self.v121, "prompt": "p", "seed": 3}])
        self.assertRc(proc, 2)
        self.assertIn("'seed'", proc.stderr)

    def test_hdmap_cannot_be_generated(self):
        proc = self.t1(self.spec(hdmap={"control_weight": 0.5, "input_control": None}),
                       [{"visual_input": self.v121, "prompt": "p"}])
        self.assertRc(proc, 1)
        self.assertIn("hdmap", proc.stderr)

    def test_batch_mode_needs_global_input_video(self):
        proc = self.t1({"edge": {"control_weight": 0.5, "input_control": self.v121},
                        "sigma_max": 90},
                       [{"visual_input": self.v121, "prompt": "p"}])
        self.assertRc(proc, 1)
        self.assertIn("input_video_path", proc.stderr)

    def test_negative_weight(self):
        proc = self.t1(self.spec(edge={"control_weight": -0.1}),
                       [{"visual_input": self.v121, "prompt": "p"}])
        self.assertRc(proc, 1)
        self.assertIn("non-negative", proc.stderr)

    def test_nproc_must_match_num_gpus(self):
        spec = self.write("spec.json", self.spec())
        batch = self.write("batch.jsonl", [{"visual_input": self.v121, "prompt": "p"}])
        proc = run_standin(["transfer1", "--nproc_per_node", "2", "x/transfer.py",
                            "--controlnet_specs", spec, "--batch_input_path", batch,
                            "--video_save_folder", self.out])
        self.assertRc(proc, 1)
        self.assertIn("--nproc_per_node", proc.stderr)


class Transfer1Batching(Case):
    def test_mixed_frame_counts_in_a_group_fail(self):
        v241 = make_video(241)
        spec = {"input_video_path": self.v121, "edge": {"control_weight": 0.5}}
        lines = [{"visual_input": self.v121, "prompt": "short"},
                 {"visual_input": v241, "prompt": "long"}]
        proc = self.t1(spec, lines, batch_size=2)
        self.assertRc(proc, 1)
        self.assertIn("frame count", proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.folder(0), "output.mp4")))
        # the same jobs one after another are fine, and the long one needs 2 chunks
        shutil.rmtree(self.out)
        proc = self.t1(spec, lines, batch_size=1)
        self.assertRc(proc, 0)
        self.assertEqual(self.params(1)["frames"], 241)
        self.assertEqual(self.params(1)["chunks"], 2)

    def test_mixed_aspect_buckets_in_a_group_fail(self):
        portrait = make_video(121, 72, 128)
        proc = self.t1({"input_video_path": self.v121, "edge": {"control_weight": 0.5}},
                       [{"visual_input": self.v121, "prompt": "wide"},
                        {"visual_input": portrait, "prompt": "tall"}], batch_size=2)
        self.assertRc(proc, 1)
        self.assertIn("aspect bucket", proc.stderr)
        self.assertIn("704x1280", proc.stderr)

    def test_first_jobs_weights_apply_to_the_whole_group(self):
        spec = {"input_video_path": self.v121, "edge": {"control_weight": 0.5}}
        lines = [
            {"visual_input": self.v121, "prompt": "a",
             "control_overrides": {"edge": {"control_weight": 0.3}}},
            {"visual_input": self.v121, "prompt": "b",
             "control_overrides": {"edge": {"control_weight": 0.9}}},
        ]
        proc = self.t1(spec, lines, batch_size=2)
        self.assertRc(proc, 0)
        p0, p1 = self.params(0), self.params(1)
        self.assertEqual(p1["prompt"], "b")
        self.assertEqual(p1["requested_weights"], {"edge": 0.9})
        # the quirk: job 0's weight (run in bfloat16: 0.3 is 0.30078125)
        self.assertEqual(p1["weights"], {"edge": 0.30078125})
        self.assertTrue(p1["weights_flattened"])
        self.assertEqual(p0["weights"], {"edge": 0.30078125})
        self.assertEqual((p0["group"], p1["group"], p1["group_size"]), (0, 0, 2))
        shutil.rmtree(self.out)
        proc = self.t1(spec, lines, batch_size=1)
        self.assertRc(proc, 0)
        self.assertEqual(self.params(1)["weights"], {"edge": 0.8984375})

    def test_block_reindexes_the_rest_of_the_group(self):
        spec = {"input_video_path": self.v121, "edge": {"control_weight": 0.5}}
        lines = [{"visual_input": self.v121, "prompt": f"job {i}"} for i in range(4)]
        lines[1]["prompt"] = "job 1 [standin:block]"
        proc = self.t1(spec, lines, batch_size=4)
        self.assertRc(proc, 0)  # exit 0 although a job produced nothing
        self.assertIn("Guardrail blocked", proc.stdout)
        self.assertEqual(read_text(os.path.join(self.folder(0), "prompt.txt")), "job 0")
        self.assertEqual(read_text(os.path.join(self.folder(1), "prompt.txt")), "job 2")
        self.assertEqual(read_text(os.path.join(self.folder(2), "prompt.txt")), "job 3")
        self.assertEqual(self.params(1)["line"], 2)
        self.assertEqual(self.params(1)["folder"], "video_1")
        self.assertFalse(os.path.exists(os.path.join(self.folder(3), "output.mp4")))
        # preprocessing still wrote each job's generated control into its own folder
        for n in range(4):
            self.assertTrue(os.path.exists(os.path.join(self.folder(n), "edge_input_control_0.mp4")))

    def test_whole_group_blocked_kills_the_process(self):
        spec = {"input_video_path": self.v121, "edge": {"control_weight": 0.5}}
        lines = [{"visual_input": self.v121, "prompt": f"job {i}"} for i in range(6)]
        lines[2]["prompt"] += " [standin:block]"
        lines[3]["prompt"] += " [standin:block]"
        proc = self.t1(spec, lines, batch_size=2)
        self.assertRc(proc, 1)
        self.assertIn("TypeError", proc.stderr)
        for n in (0, 1):
            self.assertEqual(read_text(os.path.join(self.folder(n), "prompt.txt")), f"job {n}")
        for n in (2, 3, 4, 5):
            self.assertFalse(os.path.exists(os.path.join(self.folder(n), "output.mp4")))
        self.assertNotIn("group 3/3", proc.stdout)


class Transfer1Resources(Case):
    def test_oom_above_budget_and_smaller_retry(self):
        spec = {"input_video_path": self.v121, "edge": {"control_weight": 0.5}}
        lines = [{"visual_input": self.v121, "prompt": f"job {i}"} for i in range(2)]
        # memory = 20 + 10 x 1 control + 5 x jobs: 40 for two jobs, 35 for one
        env = base_env(STANDIN_MEMORY_BUDGET_GB=38)
        proc = self.t1(spec, lines, batch_size=2, env=env)
        self.assertRc(proc, 1)
        self.assertIn("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate", proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.folder(0), "output.mp4")))
        shutil.rmtree(self.out)
        proc = self.t1(spec, lines, batch_size=1, env=env)
        self.assertRc(proc, 0)
        self.assertTrue(os.path.exists(os.path.join(self.folder(1), "output.mp4")))

    def test_oom_in_a_later_group_keeps_earlier_outputs(self):
        spec = {"input_video_path": self.v121, "edge": {"control_weight": 0.5}}
        lines = [{"visual_input": self.v121, "prompt": f"job {i}"} for i in range(4)]
        lines[1]["prompt"] += " [standin:block]"  # group 1 runs 1 job (35 GB), group 2 two (40)
        proc = self.t1(spec, lines, batch_size=2, env=base_env(STANDIN_MEMORY_BUDGET_GB=38))
        self.assertRc(proc, 1)
        self.assertIn("CUDA out of memory", proc.stderr)
        self.assertEqual(read_text(os.path.join(self.folder(0), "prompt.txt")), "job 0")
        self.assertFalse(os.path.exists(os.path.join(self.folder(2), "output.mp4")))

    def test_model_alone_over_budget(self):
        spec = {"input_video_path": self.v121, "edge": {}, "depth": {}, "seg": {}}
        proc = self.t1(spec, [{"visual_input": self.v121, "prompt": "p"}],
                       env=base_env(STANDIN_MEMORY_BUDGET_GB=45))
        self.assertRc(proc, 1)
        self.assertIn("CUDA out of memory", proc.stderr)

    def test_timing_follows_the_cost_profile(self):
        profile = self.write("cost.json", {
            "startup_seconds": 2.0, "control_load_seconds": {"edge": 1.0}, "step_seconds": 0.01,
            "control_step_seconds": {"edge": 0.01}, "batched_pass_efficiency": 0.5,
            "preprocess_seconds": {"edge": 1.0}})
        spec = {"input_video_path": self.v121, "edge": {"control_weight": 0.5}}
        lines = [{"visual_input": self.v121, "prompt": f"job {i}"} for i in range(2)]
        # 2 + 1 + 2 x 1 preprocessing + 10 steps x 2 jobs x 0.02 x 0.5 = 5.2 model seconds
        env = base_env(STANDIN_COST_PROFILE=profile, STANDIN_TIME_SCALE=0.1)
        start = time.monotonic()
        proc = self.t1(spec, lines, batch_size=2, steps=10, env=env)
        elapsed = time.monotonic() - start
        self.assertRc(proc, 0)
        self.assertIn("model_seconds=5.200", proc.stdout)
        self.assertGreaterEqual(elapsed, 0.52)
        self.assertLess(elapsed, 0.52 + 2.0)
        # sequential: no efficiency, 2 x 10 x 0.02 = 0.4 of compute
        shutil.rmtree(self.out)
        proc = self.t1(spec, lines, batch_size=1, steps=10,
                       env=base_env(STANDIN_COST_PROFILE=profile))
        self.assertRc(proc, 0)
        self.assertIn("model_seconds=5.400", proc.stdout)

    def test_the_clock_counts_from_the_process_start(self):
        # The interpreter's start must count towards the modelled start-up, not add to it:
        # a process that has been running for 0.3 s before the clock is made says so.
        code = ("import sys, time; time.sleep(0.3); sys.path.insert(0, sys.argv[1]); "
                "import cosmos_standin as s; print(s._seconds_since_exec())")
        out = subprocess.run([sys.executable, "-c", code, HERE], capture_output=True, text=True,
                             check=True).stdout
        since = float(out)
        self.assertGreaterEqual(since, 0.3)
        self.assertLess(since, 10.0)

    def test_sigterm_exits_promptly_with_143(self):
        profile = self.write("cost.json", {"startup_seconds": 1000.0})
        spec = self.write("spec.json", {"input_video_path": self.v121,
                                        "edge": {"control_weight": 0.5}})
        batch = self.write("batch.jsonl", [{"visual_input": self.v121, "prompt": "p"}])
        proc = subprocess.Popen(
            [sys.executable, STANDIN, "transfer1", "--controlnet_specs", spec,
             "--batch_input_path", batch, "--video_save_folder", self.out],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=base_env(STANDIN_COST_PROFILE=profile, STANDIN_TIME_SCALE=1))
        try:
            while "building model" not in proc.stdout.readline():
                self.assertIsNone(proc.poll(), "stand-in ended before it was signalled")
            time.sleep(0.05)
            start = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=5)
            elapsed = time.monotonic() - start
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        self.assertEqual(rc, 143)
        self.assertLess(elapsed, 0.5)


class SidecarFallback(Case):
    """Always exercises the no-ffprobe path (placeholder videos + `.frames` sidecars)."""

    def test_sidecar_frames_and_size(self):
        a = make_video(121, fallback=True)
        b = make_video(361, fallback=True)
        spec = {"input_video_path": a, "edge": {"control_weight": 0.5}}
        lines = [{"visual_input": a, "prompt": "a"}, {"visual_input": b, "prompt": "b"}]
        env = base_env(fallback=True)
        proc = self.t1(spec, lines, batch_size=2, env=env)
        self.assertRc(proc, 1)
        self.assertIn("frame count", proc.stderr)
        shutil.rmtree(self.out)
        proc = self.t1(spec, lines, batch_size=1, env=env)
        self.assertRc(proc, 0)
        self.assertEqual((self.params(1)["frames"], self.params(1)["chunks"]), (361, 3))

    def test_no_sidecar_defaults(self):
        bare = os.path.join(self.dir, "bare.mp4")
        with open(bare, "wb") as f:
            f.write(b"x")
        proc = self.t1({"input_video_path": bare, "edge": {"control_weight": 0.5}},
                       [{"visual_input": bare, "prompt": "p"}], env=base_env(fallback=True))
        self.assertRc(proc, 0)
        p = self.params(0)
        self.assertEqual((p["frames"], p["aspect_bucket"]), (121, "1280x704"))


class Transfer25(Case):
    def t25(self, *files, flags=(), env=None, cwd=None):
        return run_standin(["transfer2.5", "-i", *files, "-o", self.out, *flags], env=env, cwd=cwd)

    def test_valid_run(self):
        specs = os.path.join(self.dir, "specs")
        os.makedirs(specs)
        shutil.copy(self.v121, os.path.join(specs, "in.mp4"))
        if os.path.exists(self.v121 + ".frames"):
            shutil.copy(self.v121 + ".frames", os.path.join(specs, "in.mp4.frames"))
        single = self.write("specs/one.json", {
            "name": "one", "prompt": "a robot", "video_path": "in.mp4",
            "edge": {"control_weight": 0.8}})
        batch = self.write("specs/more.jsonl", [
            {"name": "two", "prompt": "a towel", "video_path": "in.mp4", "guidance": 5,
             "seed": 9, "num_steps": 2, "sigma_max": "80", "resolution": "480",
             "depth": {"control_weight": 0.9, "control_path": "in.mp4"},
             "seg": {"control_weight": 0.6, "mask_prompt": "towel"}},
            {"name": "three", "prompt": "nope [standin:block]", "video_path": "in.mp4",
             "vis": {}},
        ])
        proc = self.t25(single, batch, flags=["--context-parallel-size", "1"], cwd="/")
        self.assertRc(proc, 0)
        for stem in ("one", "two"):
            for suffix in (".mp4", ".json", ".txt"):
                self.assertTrue(os.path.exists(os.path.join(self.out, stem + suffix)), stem + suffix)
        self.assertFalse(os.path.exists(os.path.join(self.out, "three.mp4")))
        self.assertTrue(os.path.exists(os.path.join(self.out, "one_control_edge.mp4")))
        self.assertTrue(os.path.exists(os.path.join(self.out, "two_control_depth.mp4")))
        self.assertTrue(os.path.exists(os.path.join(self.out, "two_control_seg.mp4")))
        self.assertEqual(read_text(os.path.join(self.out, "two.txt")), "a towel")
        one = read_json(os.path.join(self.out, "one.json"))
        two = read_json(os.path.join(self.out, "two.json"))
        self.assertEqual(one["video_path"], os.path.join(specs, "in.mp4"))  # relative to spec
        self.assertEqual((one["guidance"], one["seed"], one["num_steps"]), (3, 2025, 35))
        self.assertEqual(one["model"], "multicontrol")  # several control keys in the run
        self.assertEqual(one["weights"], {"edge": 0.8, "vis": 0.0, "depth": 0.0, "seg": 0.0})
        self.assertEqual((two["guidance"], two["seed"], two["num_steps"]), (5, 9, 2))
        self.assertEqual((two["sigma_max"], two["resolution"]), ("80", "480"))
        self.assertEqual(two["raw_weights"], {"edge": 0.0, "vis": 0.0, "depth": 0.9, "seg": 0.6})
        # the multibranch model sums branches times their weights: no normalisation
        self.assertEqual(two["weights"], {"edge": 0.0, "vis": 0.0, "depth": 0.9, "seg": 0.6})
        self.assertIsNone(one["sigma_max"], "no default sigma_max: generation starts from noise")
        # one "Generated video saved to" line per output; control videos have their own lines
        self.assertEqual(proc.stdout.count("Generated video saved to"), 2)
        self.assertIn("depth control video saved to", proc.stdout)
        self.assertNotIn("fps", two)
        self.assertEqual(two["control_paths"], {"depth": os.path.join(specs, "in.mp4"), "seg": None})
        self.assertEqual(two["chunks"], 2)  # 121 frames in 93-frame chunks
        self.assertIn("Guardrail blocked", proc.stdout)

    def test_single_control_model_and_disabled_guardrails(self):
        spec = self.write("a.jsonl", [
            {"name": "a", "prompt": "x [standin:block]", "video_path": self.v121, "edge": {}},
            {"name": "b", "prompt": "y", "video_path": self.v121,
             "edge": {"control_weight": 0.4}}])
        proc = self.t25(spec, flags=["--disable-guardrails", "--offload-guardrail-models",
                                     "--keep-going"])
        self.assertRc(proc, 0)
        a = read_json(os.path.join(self.out, "a.json"))
        self.assertEqual((a["model"], a["weights"]), ("edge", {"edge": 1.0}))
        self.assertEqual(read_json(os.path.join(self.out, "b.json"))["weights"], {"edge": 0.4})

    def test_duplicate_names(self):
        spec = self.write("d.jsonl", [
            {"name": "same", "prompt": "x", "video_path": self.v121, "edge": {}},
            {"name": "same", "prompt": "y", "video_path": self.v121, "edge": {}}])
        proc = self.t25(spec)
        self.assertRc(proc, 1)
        self.assertIn("not unique", proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.out, "same.mp4")))

    def test_unknown_key_and_bad_values(self):
        cases = [
            ({"name": "u", "prompt": "x", "video_path": self.v121, "edge": {}, "steps": 3}, "steps"),
            ({"name": "u", "prompt": "x", "video_path": self.v121, "keypoint": {}}, "keypoint"),
            ({"name": "u", "prompt": "x", "video_path": self.v121, "edge": {},
              "guidance": 9}, "guidance"),
            ({"name": "u", "prompt": "x", "video_path": self.v121,
              "edge": {"control_weight": 1.5}}, "control_weight"),
            ({"name": "u", "prompt": "x", "video_path": self.v121}, "No controls"),
            ({"name": "u", "prompt": "x", "video_path": "missing.mp4", "edge": {}}, "video_path"),
        ]
        for data, needle in cases:
            with self.subTest(needle=needle):
                proc = self.t25(self.write("u.json", data))
                self.assertRc(proc, 1)
                self.assertIn(needle, proc.stderr)

    def test_usage_errors(self):
        spec = self.write("ok.json", {"name": "n", "prompt": "x", "video_path": self.v121, "edge": {}})
        proc = run_standin(["transfer2.5", "-i", spec])
        self.assertRc(proc, 2)
        proc = run_standin(["transfer2.5", "-i", spec, "-o", self.out, "--frobnicate"])
        self.assertRc(proc, 2)

    def test_oom(self):
        spec = self.write("m.json", {"name": "n", "prompt": "x", "video_path": self.v121,
                                     "edge": {}, "seg": {}})
        # multi-control model: 20 + 4 x 10 + 5 = 65 GB
        proc = self.t25(spec, env=base_env(STANDIN_MEMORY_BUDGET_GB=64))
        self.assertRc(proc, 1)
        self.assertIn("CUDA out of memory", proc.stderr)
        proc = self.t25(spec, env=base_env(STANDIN_MEMORY_BUDGET_GB=65))
        self.assertRc(proc, 0)


if __name__ == "__main__":
    unittest.main()
