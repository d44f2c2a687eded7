//! Crash loops: SIGKILL the daemon at random moments while batches run, 20 times, with the
//! simulated executor and with the stand-in Cosmos program; and kill it in the middle of a
//! burst of writes. Nothing acknowledged is lost, nothing runs twice, attempts are counted.

use crate::executors::daemon;
use crate::support::{Rng, TestApp};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ROUNDS: usize = 20;

/// Live stand-in programs started for batches of this data dir (their argv names it).
fn programs_of(data: &Path) -> Vec<u32> {
    let needle = data.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    let argv = String::from_utf8_lossy(&c).replace('\0', " ");
                    argv.contains("cosmos_standin") && argv.contains(&needle)
                })
                .unwrap_or(false)
        })
        .collect()
}

/// What must hold after every restart.
fn check_restarted(app: &TestApp, expected: &HashSet<String>, attempts: &mut HashMap<String, u64>) {
    let q = app.get("/api/v1/queue").body;
    assert_eq!(q["paused"], true, "an unclean restart starts paused");
    assert_eq!(q["counts"]["running"], 0, "nothing runs after a restart");
    let jobs = app.jobs();
    let ids: HashSet<String> = jobs
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), jobs.len(), "a job listed twice");
    assert_eq!(&ids, expected, "a job lost or invented");
    let mut positions: Vec<u64> = jobs.iter().filter_map(|j| j["position"].as_u64()).collect();
    positions.sort();
    assert_eq!(
        positions,
        (1..=positions.len() as u64).collect::<Vec<_>>(),
        "queue positions dense and unique"
    );
    for j in &jobs {
        let status = j["status"].as_str().unwrap();
        assert!(
            matches!(status, "queued" | "succeeded"),
            "job left {status}: {j}"
        );
        assert_eq!(j["position"].is_u64(), status == "queued", "{j}");
        let id = j["id"].as_str().unwrap().to_string();
        let now = j["attempts"].as_u64().unwrap();
        let before = attempts.insert(id, now).unwrap_or(0);
        assert!(now >= before, "attempts went down: {j}");
    }
    let batches = app.get("/api/v1/batches").body;
    for b in batches.as_array().unwrap() {
        assert!(
            matches!(b["status"].as_str().unwrap(), "succeeded" | "failed"),
            "a batch left {} after a restart: {b}",
            b["status"]
        );
    }
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for j in &jobs {
        *counts.entry(j["status"].as_str().unwrap()).or_default() += 1;
    }
    for (status, n) in counts {
        assert_eq!(q["counts"][status], n, "{status}: {q}");
    }
}

/// The end state: every job succeeded exactly once, with its own output, after as many
/// starts as batches that started it.
fn check_final(app: &TestApp, expected: &HashSet<String>) {
    let jobs = app.jobs();
    let batches: Vec<Value> = app.get("/api/v1/batches").body.as_array().unwrap().clone();
    let batch_by_id: HashMap<&str, &Value> = batches
        .iter()
        .map(|b| (b["id"].as_str().unwrap(), b))
        .collect();
    let mut outputs = HashSet::new();
    let mut seen = HashSet::new();
    for j in &jobs {
        let id = j["id"].as_str().unwrap();
        assert!(seen.insert(id.to_string()), "job listed twice");
        assert_eq!(j["status"], "succeeded", "{j}");
        let batch = batch_by_id[j["batch_id"].as_str().unwrap()];
        assert!(batch["job_ids"].as_array().unwrap().contains(&j["id"]));
        let params = j["outputs"]["params"].as_str().unwrap().to_string();
        assert!(
            outputs.insert(params.clone()),
            "an output attributed twice: {params}"
        );
        let recorded: Value = serde_json::from_slice(&std::fs::read(&params).unwrap()).unwrap();
        // The simulated executor records the job id; the Cosmos program knows only its
        // JSONL line, which must be the job's place in its batch.
        match recorded.get("job_id") {
            Some(owner) => assert_eq!(owner, &j["id"], "output belongs to its job: {j}"),
            None => {
                let line = batch["job_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .position(|x| x == &j["id"]);
                assert_eq!(
                    recorded["line"].as_u64().map(|l| l as usize),
                    line,
                    "output belongs to its job: {j} {recorded}"
                );
            }
        }
        // Each start is a batch that started it; a job succeeds in exactly one batch.
        let started: Vec<&&Value> = batch_by_id
            .values()
            .filter(|b| {
                b["started_at"].is_string() && b["job_ids"].as_array().unwrap().contains(&j["id"])
            })
            .collect();
        assert_eq!(
            j["attempts"].as_u64().unwrap(),
            started.len() as u64,
            "attempts count the starts: {j}"
        );
        let won = started
            .iter()
            .filter(|b| b["status"] == "succeeded")
            .count();
        assert_eq!(won, 1, "succeeded in exactly one batch: {j}");
    }
    assert_eq!(&seen, expected);
}

/// Kill and restart `ROUNDS` times at random moments while the queue runs; returns how many
/// kills hit a running batch.
fn crash_loop(
    app: &mut TestApp,
    seed: u64,
    max_delay_ms: u64,
    expected: &HashSet<String>,
) -> usize {
    let mut rng = Rng(seed);
    let mut attempts = HashMap::new();
    let mut mid_batch = 0;
    for round in 0..ROUNDS {
        std::thread::sleep(Duration::from_millis(50 + rng.below(max_delay_ms)));
        let counts = app.get("/api/v1/queue").body["counts"].clone();
        if std::env::var("COSMOSQ_TEST_VERBOSE").is_ok() {
            eprintln!("round {round}: {counts}");
        }
        if counts["running"].as_u64() > Some(0) {
            mid_batch += 1;
        }
        app.kill9_and_restart();
        // The restart stopped what the dead daemon left running before it answered.
        let left = programs_of(app.data.path());
        assert!(
            left.is_empty(),
            "round {round}: programs outlived the restart: {left:?}"
        );
        check_restarted(app, expected, &mut attempts);
        app.resume();
    }
    mid_batch
}

fn jobs_for(app: &TestApp, n: usize) -> HashSet<String> {
    let p = app.create_prompt("crash loop");
    let weights = [
        json!({"edge": 0.5}),
        json!({"depth": 0.5}),
        json!({"edge": 0.5, "depth": 0.3}),
        json!({"seg": 0.4}),
        json!({"vis": 1.0}),
        json!({"edge": 0.5}),
    ];
    (0..n)
        .map(|i| app.add_job(&p, weights[i % weights.len()].clone()))
        .collect()
}

#[test]
fn twenty_kills_with_the_simulated_executor() {
    let mut app = TestApp::start(&[
        ("COSMOSQ_EXECUTOR__TIME_SCALE", "0.0015"),
        ("COSMOSQ_QUEUE__MAX_ATTEMPTS", "50"),
    ]);
    app.pause();
    let expected = jobs_for(&app, 30);
    app.resume();
    let mid = crash_loop(&mut app, 0x5EED_0001, 900, &expected);
    eprintln!("crash loop (simulated): {ROUNDS} kills, {mid} while a batch ran");
    assert!(
        mid >= ROUNDS / 3,
        "kills should hit running batches ({mid})"
    );
    app.wait_idle(300);
    check_final(&app, &expected);
}

#[test]
fn twenty_kills_with_the_standin_cosmos_program() {
    let mut s = daemon(
        "transfer1",
        "",
        &[
            ("COSMOSQ_QUEUE__MAX_ATTEMPTS", "50"),
            ("STANDIN_NO_FFPROBE", "1"),
            ("STANDIN_TIME_SCALE", "0.0008"),
            ("COSMOSQ_EXECUTOR__TIME_SCALE", "0.0008"),
        ],
    );
    let app = &mut s.app;
    app.pause();
    // Small batches, so that most moments have one running.
    let r = app.patch("/api/v1/queue/settings", json!({"max_batch_size": 2}));
    assert_eq!(r.status, 200, "{}", r.body);
    let expected = jobs_for(app, 24);
    app.resume();
    let mid = crash_loop(app, 0x5EED_0002, 1500, &expected);
    if std::env::var("COSMOSQ_TEST_VERBOSE").is_ok() {
        for b in app.get("/api/v1/batches").body.as_array().unwrap() {
            eprintln!(
                "{} {} {} {} {}",
                b["id"], b["status"], b["job_ids"], b["estimated_seconds"], b["measured_seconds"]
            );
            if let Some(log) = b["log_path"].as_str() {
                eprintln!(
                    "{}",
                    std::fs::read_to_string(log)
                        .unwrap_or_default()
                        .lines()
                        .take(3)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
        }
    }
    // The programs survive their daemon (as the real one does); each restart stopped them.
    let stopped = std::fs::read_dir(app.data.path().join("batches"))
        .unwrap()
        .flatten()
        .filter(|d| {
            std::fs::read_to_string(d.path().join("run.log"))
                .is_ok_and(|log| log.contains("outlived a daemon"))
        })
        .count();
    eprintln!(
        "crash loop (stand-in): {ROUNDS} kills, {mid} while a batch ran, \
         {stopped} programs stopped at the next start"
    );
    assert!(
        stopped >= mid / 2,
        "restarts stopped only {stopped} programs"
    );
    assert!(
        mid >= ROUNDS / 3,
        "kills should hit running batches ({mid})"
    );
    app.wait_idle(300);
    check_final(app, &expected);
    assert!(programs_of(app.data.path()).is_empty());
}

/// Writers add jobs as fast as they can; the daemon is killed in the middle, ten times.
/// The data dir reopens every time and holds every job whose add was acknowledged.
#[test]
fn killed_during_heavy_writes_the_data_dir_reopens_with_every_acknowledged_job() {
    let mut app = TestApp::start(&[]);
    app.pause();
    let prompt = app.create_prompt("torn writes");
    let acknowledged: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut rng = Rng(0x70_4E);
    for round in 0..10 {
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let (base, prompt, stop, acked) = (
                    app.base.clone(),
                    prompt.clone(),
                    stop.clone(),
                    acknowledged.clone(),
                );
                std::thread::spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .timeout_global(Some(Duration::from_secs(10)))
                        .build()
                        .into();
                    while !stop.load(Ordering::Relaxed) {
                        let body =
                            json!({"prompt_id": prompt, "config": {"weights": {"edge": 0.5}}});
                        let Ok(mut r) = agent.post(format!("{base}/api/v1/jobs")).send_json(body)
                        else {
                            break; // the daemon died mid-request: not acknowledged
                        };
                        if r.status() == 201 {
                            let v: Value = r.body_mut().read_json().unwrap();
                            acked
                                .lock()
                                .unwrap()
                                .insert(v["id"].as_str().unwrap().to_string());
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100 + rng.below(400)));
        app.kill9_and_restart();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        let stored: HashSet<String> = app
            .jobs()
            .iter()
            .map(|j| j["id"].as_str().unwrap().to_string())
            .collect();
        let acked = acknowledged.lock().unwrap();
        let missing: Vec<_> = acked.difference(&stored).collect();
        assert!(
            missing.is_empty(),
            "round {round}: acknowledged but lost: {missing:?}"
        );
        // Unacknowledged adds may or may not have landed; whatever landed is whole.
        for j in app.jobs() {
            assert_eq!(j["status"], "queued");
            assert_eq!(j["config"]["weights"]["edge"], 0.5);
        }
    }
    let n = acknowledged.lock().unwrap().len();
    eprintln!("torn writes: 10 kills, {n} acknowledged adds, none lost");
    assert!(n > 100, "the writers wrote ({n})");
}
