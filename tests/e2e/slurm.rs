//! The Slurm launcher on a real one-node Slurm (`scripts/slurm.sh`: slurmctld, slurmd and
//! munged from Debian's packages, two fake GPUs), with the stand-in as the program under
//! `sbatch`. The tests share the cluster, so they run one at a time (see [`cluster`]); each
//! starts from an idle cluster.

use crate::executors::{add, add_each, daemon, execute, params, Setup};
use crate::support::TestApp;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Holds the cluster for one test: started (idempotent), every job of an earlier test
/// canceled, the node idle.
pub(crate) fn cluster() -> std::sync::MutexGuard<'static, ()> {
    static CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = CLUSTER.lock().unwrap_or_else(|p| p.into_inner());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/slurm.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg("start")
        .status()
        .unwrap();
    assert!(status.success(), "scripts/slurm.sh start failed");
    let _ = Command::new("scancel")
        .args(["--full", "--user", "root"])
        .status();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !squeue(&["-h", "-o", "%i"]).trim().is_empty() {
        assert!(
            Instant::now() < deadline,
            "jobs of an earlier test do not end"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    guard
}

fn squeue(args: &[&str]) -> String {
    let out = Command::new("squeue").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Slurm's state of job `id` (`scontrol show job`).
fn slurm_state(id: &str) -> String {
    let out = Command::new("scontrol")
        .args(["show", "job", "-o", id])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .find_map(|f| f.strip_prefix("JobState="))
        .unwrap_or("")
        .to_string()
}

/// Submit someone else's job that holds both GPUs for `secs`; its Slurm job id.
pub(crate) fn take_both_gpus(secs: u32) -> String {
    let out = Command::new("sbatch")
        .args(["--parsable", "--gres=gpu:2", "-o", "/dev/null", "--wrap"])
        .arg(format!("sleep {secs}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// How many Slurm jobs a batch had (by its job name).
fn submissions(batch_id: &str) -> usize {
    squeue(&[
        "-h",
        "-t",
        "all",
        "-n",
        &format!("cosmosq-{batch_id}"),
        "-o",
        "%i",
    ])
    .split_whitespace()
    .count()
}

/// A daemon on the Slurm launcher, its stand-in runs logged to `<dir>/runs.jsonl`.
pub(crate) fn slurm_daemon(profile: &str, extra: &str, env: &[(&str, &str)]) -> (Setup, PathBuf) {
    let runs = tempfile::NamedTempFile::new()
        .unwrap()
        .into_temp_path()
        .keep()
        .unwrap();
    let runs_s = runs.display().to_string();
    let mut all = vec![("STANDIN_INVOCATION_LOG", runs_s.as_str())];
    all.extend_from_slice(env);
    let config = format!(
        "launcher = \"slurm\"\n{extra}\n[executor.slurm]\ngres = \"gpu:1\"\nmax_jobs = 3\npoll_seconds = 0.2\n"
    );
    (daemon(profile, &config, &all), runs)
}

fn runs(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn batch(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/v1/batches/{id}")).body
}

/// The batch of a job once it runs under Slurm with `state`.
fn wait_slurm_state(app: &TestApp, job: &str, state: &str, secs: u64) -> Value {
    let mut found = Value::Null;
    app.wait_until(secs, &format!("the job's Slurm state {state}"), |app| {
        let Some(b) = app.job(job)["batch_id"].as_str().map(str::to_string) else {
            return false;
        };
        found = batch(app, &b);
        found["slurm"]["state"] == state
    });
    found
}

#[test]
fn a_mixed_plan_runs_through_slurm_with_every_jobs_own_weights_on_the_gres_gpus() {
    let _cluster = cluster();
    let (s, log) = slurm_daemon("transfer1", "", &[]);
    let app = &s.app;
    app.pause();
    let mut asked = Vec::new();
    for (i, weights) in [
        json!({"edge": 0.5}),
        json!({"edge": 0.5}),
        json!({"edge": 0.3, "depth": 0.6}),
        json!({"vis": 0.4}),
    ]
    .into_iter()
    .enumerate()
    {
        let p = app.create_prompt(&format!("slurm clip {i}"));
        asked.push((
            add(app, &p, json!({"weights": weights, "seed": 7})),
            weights,
        ));
    }
    let plan = execute(app, "mixed");
    assert!(plan["batches"].as_array().unwrap().len() < 4, "{plan}");
    app.wait_idle(120);
    for (id, weights) in &asked {
        let job = app.job(id);
        assert_eq!(job["status"], "succeeded", "{job}");
        let p = params(&job);
        let b = batch(app, job["batch_id"].as_str().unwrap());
        // Its own weight for each of its controls, an explicit 0 for the others loaded.
        for c in b["controls"].as_array().unwrap() {
            let c = c.as_str().unwrap();
            let want = weights.get(c).and_then(Value::as_f64).unwrap_or(0.0);
            assert_eq!(p["raw_weights"][c].as_f64(), Some(want), "{id} {c}: {p}");
        }
        assert_eq!(p["seed"], 7);
        assert_eq!(p["batch_size"], b["batch_size"]);
        let slurm_id = b["slurm"]["job_id"].as_str().unwrap().to_string();
        assert_eq!(slurm_state(&slurm_id), "COMPLETED");
        assert!(b["measured_seconds"].as_f64().unwrap() >= 0.0);
    }
    let runs = runs(&log);
    assert_eq!(runs.len(), plan["batches"].as_array().unwrap().len());
    for run in &runs {
        let gpu = run["cuda_visible_devices"].as_str().unwrap_or("none");
        assert!(["0", "1"].contains(&gpu), "one GPU of the gres: {run}");
        assert!(run["slurm_job_id"].is_string(), "{run}");
    }
}

#[test]
fn with_two_gpus_two_batches_run_and_the_third_waits_for_resources() {
    let _cluster = cluster();
    let (s, log) = slurm_daemon("transfer1", "", &[("STANDIN_TIME_SCALE", "0.01")]);
    let app = &s.app;
    app.pause();
    // Three controls, three batches (strict).
    let ids: Vec<String> = ["edge", "depth", "seg"]
        .iter()
        .map(|c| {
            add(
                app,
                &app.create_prompt(&format!("gpu {c}")),
                json!({"weights": {*c: 0.5}}),
            )
        })
        .collect();
    let plan = execute(app, "strict");
    assert_eq!(plan["batches"].as_array().unwrap().len(), 3);
    // max_jobs = 3: all three are submitted; the cluster has two GPUs, so one waits.
    let mut waiting = Value::Null;
    app.wait_until(60, "two running and one pending", |app| {
        let batches = app.get("/api/v1/batches").body;
        let states: Vec<&str> = batches
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["slurm"]["state"].as_str())
            .collect();
        let running = states.iter().filter(|s| **s == "RUNNING").count();
        if let Some(p) = batches
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["slurm"]["state"] == "PENDING")
        {
            waiting = p.clone();
        }
        running == 2 && !waiting.is_null()
    });
    let reason = waiting["slurm"]["reason"].as_str().unwrap();
    assert!(["Resources", "Priority"].contains(&reason), "{waiting}");
    assert_eq!(
        waiting["status"], "running",
        "claimed, waiting on the cluster"
    );
    // The slots are the submissions: each names its batch's Slurm job and state.
    let slots = app.get("/api/v1/slots").body;
    let slots = slots.as_array().unwrap();
    assert_eq!(slots.len(), 3, "{slots:?}");
    assert!(slots.iter().all(|s| s["launcher"] == "slurm"));
    let waiting_slot = slots
        .iter()
        .find(|s| s["batch_id"] == waiting["id"])
        .unwrap_or_else(|| panic!("no slot runs {waiting}: {slots:?}"));
    assert_eq!(waiting_slot["state"], "busy");
    assert_eq!(waiting_slot["slurm"]["job_id"], waiting["slurm"]["job_id"]);
    let metrics = app.raw("GET", "/metrics", &[], "").body;
    assert!(
        metrics.contains("cosmosq_launcher_batches{launcher=\"slurm\",state=\"pending\"} 1"),
        "{metrics}"
    );
    app.wait_idle(120);
    for id in &ids {
        assert_eq!(app.job(id)["status"], "succeeded");
    }
    // The waiting one started when a GPU freed, after one of the first two ended.
    let runs = runs(&log);
    assert_eq!(runs.len(), 3);
    let mut by_start: Vec<&Value> = runs.iter().collect();
    by_start.sort_by(|a, b| {
        a["started_at"]
            .as_f64()
            .partial_cmp(&b["started_at"].as_f64())
            .unwrap()
    });
    let first_end = by_start[..2]
        .iter()
        .map(|r| r["ended_at"].as_f64().unwrap())
        .fold(f64::MAX, f64::min);
    assert!(
        by_start[2]["started_at"].as_f64().unwrap() >= first_end - 0.5,
        "{runs:?}"
    );
}

#[test]
fn cancel_of_a_running_slurm_batch_scancels_it_and_requeues_its_other_jobs() {
    let _cluster = cluster();
    let (s, _log) = slurm_daemon("transfer1", "", &[("STANDIN_TIME_SCALE", "0.05")]);
    let app = &s.app;
    app.pause();
    let ids = add_each(app, 2, "cancel me", json!({"weights": {"edge": 0.5}}));
    execute(app, "strict");
    let b = wait_slurm_state(app, &ids[0], "RUNNING", 60);
    assert_eq!(b["job_ids"].as_array().unwrap().len(), 2, "{b}");
    let slurm_id = b["slurm"]["job_id"].as_str().unwrap().to_string();
    let r = app.post(&format!("/api/v1/jobs/{}/cancel", ids[0]), json!({}));
    assert!(r.status < 300, "{}", r.body);
    app.wait_until(60, "the batch to be canceled", |app| {
        batch(app, b["id"].as_str().unwrap())["status"] == "canceled"
    });
    assert_eq!(slurm_state(&slurm_id), "CANCELLED");
    assert_eq!(app.job(&ids[0])["status"], "canceled");
    assert_eq!(app.job(&ids[1])["status"], "queued", "back in its place");
}

/// kill -9 of the daemon while its batch is `state` under Slurm; the restarted daemon adopts
/// it: no second sbatch, attempts not inflated, the outputs collected once.
fn adopted_after_kill_9(pending: bool) {
    let _cluster = cluster();
    let (mut s, log) = slurm_daemon("transfer1", "", &[("STANDIN_TIME_SCALE", "0.02")]);
    // Both GPUs taken by someone else's job: the batch waits for resources.
    let blocker = pending.then(|| take_both_gpus(6));
    let app = &mut s.app;
    app.pause();
    let ids = add_each(app, 2, "adopt me", json!({"weights": {"edge": 0.5}}));
    execute(app, "strict");
    let b = wait_slurm_state(
        app,
        &ids[0],
        if pending { "PENDING" } else { "RUNNING" },
        60,
    );
    let batch_id = b["id"].as_str().unwrap().to_string();
    app.kill9_and_restart();
    app.wait_until(120, "the adopted batch to finish", |app| {
        batch(app, &batch_id)["status"] == "succeeded"
    });
    for id in &ids {
        let job = app.job(id);
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["attempts"], 1, "adopted, not rerun: {job}");
        assert_eq!(job["batch_id"], batch_id.as_str());
    }
    assert_eq!(submissions(&batch_id), 1, "no second sbatch");
    assert_eq!(runs(&log).len(), 1, "the program ran once");
    if let Some(blocker) = blocker {
        let _ = Command::new("scancel").arg(blocker).status();
    }
}

#[test]
fn kill_9_while_a_slurm_batch_runs_adopts_it_and_it_completes_once() {
    adopted_after_kill_9(false);
}

#[test]
fn kill_9_while_a_slurm_batch_waits_for_resources_adopts_it_and_it_completes_once() {
    adopted_after_kill_9(true);
}

#[test]
fn a_slurmctld_restart_during_a_batch_does_not_end_it() {
    let _cluster = cluster();
    let (s, log) = slurm_daemon("transfer1", "", &[("STANDIN_TIME_SCALE", "0.02")]);
    let app = &s.app;
    let id = add(
        app,
        &app.create_prompt("through a restart"),
        json!({"weights": {"edge": 0.5}}),
    );
    wait_slurm_state(app, &id, "RUNNING", 60);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/slurm.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg("restart-controller")
        .status()
        .unwrap();
    assert!(status.success());
    app.wait_idle(120);
    assert_eq!(app.job(&id)["status"], "succeeded", "{}", app.job(&id));
    assert_eq!(runs(&log).len(), 1);
}

#[test]
fn a_non_zero_exit_and_cuda_out_of_memory_under_slurm_end_in_the_right_job_states() {
    let _cluster = cluster();
    let (s, _log) = slurm_daemon("transfer1", "", &[("STANDIN_MEMORY_BUDGET_GB", "42")]);
    let app = &s.app;
    app.pause();
    // A blocked prompt alone in its group kills the program (non-zero exit).
    let dies = add(
        app,
        &app.create_prompt("bad clip [standin:block]"),
        json!({"weights": {"edge": 0.45}}),
    );
    // Four jobs that do not fit in one pass: split until they fit.
    let split = add_each(app, 4, "oom", json!({"weights": {"seg": 0.5}}));
    execute(app, "strict");
    app.resume();
    app.wait_idle(180);
    let dead = app.job(&dies);
    assert_eq!(dead["status"], "failed");
    assert!(
        ["process_died", "blocked_by_safety_filter"]
            .contains(&dead["error"]["code"].as_str().unwrap()),
        "{dead}"
    );
    for id in &split {
        assert_eq!(app.job(id)["status"], "succeeded", "{}", app.job(id));
    }
    let batches = app.get("/api/v1/batches").body;
    assert!(
        batches
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["error"]["code"] == "out_of_memory"),
        "{batches}"
    );
    assert!(app.get("/api/v1/queue").body["settings"]["learned_caps"]
        .to_string()
        .contains('2'));
}

#[test]
fn a_batch_past_its_slurm_time_limit_fails_with_timeout() {
    let _cluster = cluster();
    // A one-minute limit (the test daemon's 60 s, which Slurm gets as whole minutes); the
    // program would take minutes.
    let (s, _log) = slurm_daemon("transfer1", "", &[("STANDIN_TIME_SCALE", "1")]);
    let app = &s.app;
    let id = add(
        app,
        &app.create_prompt("too slow"),
        json!({"weights": {"edge": 0.5}}),
    );
    let b = wait_slurm_state(app, &id, "RUNNING", 60);
    let slurm_id = b["slurm"]["job_id"].as_str().unwrap().to_string();
    app.wait_until(150, "the time limit", |app| {
        app.job(&id)["status"] == "failed"
    });
    assert_eq!(app.job(&id)["error"]["code"], "timeout");
    assert_eq!(slurm_state(&slurm_id), "TIMEOUT");
}

#[test]
fn a_daemon_killed_between_sbatch_and_recording_the_job_finds_it_by_name() {
    let _cluster = cluster();
    // An `sbatch` first on PATH that submits for real, then kills the daemon that called it
    // (once): the job exists in Slurm, and no job id reached the daemon's store.
    let bin = tempfile::tempdir().unwrap();
    let once = bin.path().join("killed");
    let wrapper = bin.path().join("sbatch");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nout=$(/usr/bin/sbatch \"$@\") || exit $?\necho \"$out\"\n\
             if [ ! -e '{0}' ]; then touch '{0}'; kill -9 $PPID; fi\n",
            once.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let (mut s, log) = slurm_daemon(
        "transfer1",
        "",
        &[("PATH", path.as_str()), ("STANDIN_TIME_SCALE", "0.01")],
    );
    let app = &mut s.app;
    let id = add(
        app,
        &app.create_prompt("found by name"),
        json!({"weights": {"edge": 0.5}}),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !once.exists() {
        assert!(Instant::now() < deadline, "sbatch was never called");
        std::thread::sleep(Duration::from_millis(50));
    }
    app.kill9_and_restart();
    app.wait_until(120, "the found batch to finish", |app| {
        app.job(&id)["status"] == "succeeded"
    });
    let job = app.job(&id);
    assert_eq!(job["attempts"], 1, "{job}");
    let batch_id = job["batch_id"].as_str().unwrap().to_string();
    assert_eq!(submissions(&batch_id), 1, "no second sbatch");
    assert_eq!(runs(&log).len(), 1);
    let b = batch(app, &batch_id);
    assert!(
        b["slurm"]["job_id"].is_string(),
        "the found id is recorded: {b}"
    );
    // The first daemon died before it read sbatch's answer (it notes the id in the log then).
    let run_log = std::fs::read_to_string(b["log_path"].as_str().unwrap()).unwrap();
    assert!(!run_log.contains("submitted to Slurm as job"), "{run_log}");
}

#[test]
fn a_local_batch_left_by_a_killed_daemon_is_stopped_not_adopted_when_the_launcher_becomes_slurm() {
    let _cluster = cluster();
    let runs_log = tempfile::NamedTempFile::new()
        .unwrap()
        .into_temp_path()
        .keep()
        .unwrap();
    let runs_s = runs_log.display().to_string();
    let s = daemon(
        "transfer1",
        "",
        &[
            ("STANDIN_INVOCATION_LOG", runs_s.as_str()),
            ("STANDIN_TIME_SCALE", "0.05"),
        ],
    );
    let mut app = s.app;
    let id = add(
        &app,
        &app.create_prompt("local, then slurm"),
        json!({"weights": {"edge": 0.5}}),
    );
    app.wait_until(60, "the local batch to run", |app| {
        app.job(&id)["status"] == "running"
    });
    std::thread::sleep(Duration::from_millis(500));
    // kill -9, and the next start runs with the Slurm launcher.
    let dir = tempfile::tempdir().unwrap();
    let config = TestApp::write_config(
        dir.path(),
        &format!(
            "[executor]\nprofile = \"cosmos-transfer1\"\ncommand = [\"python3\", \"-S\", \"-E\", \"{}\", \"transfer1\"]\n\
             time_scale = 0.001\ntimeout_min_seconds = 60\ncancel_grace_seconds = 2\nlauncher = \"slurm\"\n\
             [executor.slurm]\ngres = \"gpu:1\"\npoll_seconds = 0.2\n",
            crate::executors::standin()
        ),
    );
    app.set_env("COSMOSQ_CONFIG", &config);
    app.set_env("STANDIN_TIME_SCALE", "0");
    app.kill9_and_restart();
    // The local program was stopped at the start, and its job went back (not adopted).
    let first = runs(&runs_log);
    assert_eq!(first.len(), 1, "the local run ended: {first:?}");
    assert!(first[0]["slurm_job_id"].is_null());
    let job = app.job(&id);
    assert_eq!(job["status"], "queued", "{job}");
    app.resume();
    app.wait_until(60, "the job to run through Slurm", |app| {
        app.job(&id)["status"] == "succeeded"
    });
    let all = runs(&runs_log);
    assert_eq!(all.len(), 2);
    assert!(all[1]["slurm_job_id"].is_string(), "{all:?}");
}
