//! Crash safety: SIGKILL the daemon mid-batch, again and again; nothing is lost, duplicated or
//! stuck, and attempts are counted.

use crate::support::TestApp;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

fn statuses(app: &TestApp) -> HashMap<String, Value> {
    app.jobs()
        .into_iter()
        .map(|j| (j["id"].as_str().unwrap().to_string(), j))
        .collect()
}

#[test]
fn kill_9_mid_batch_loses_and_duplicates_nothing() {
    let mut app = TestApp::start(&[
        ("COSMOSQ_EXECUTOR__TIME_SCALE", "0.002"),
        ("COSMOSQ_QUEUE__MAX_ATTEMPTS", "20"),
    ]);
    let p = app.create_prompt("durable");
    let weights = [
        json!({"edge": 0.5}),
        json!({"depth": 0.5}),
        json!({"edge": 0.5}),
        json!({"edge": 0.4, "seg": 0.4}),
        json!({"vis": 1.0}),
        json!({"edge": 0.5}),
    ];
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(app.add_job(&p, weights[i % weights.len()].clone()));
    }
    let expected: HashSet<String> = ids.iter().cloned().collect();
    let delays = [700u64, 300, 1100, 500, 900, 200];
    let mut kills_mid_batch = 0;
    for delay in delays {
        std::thread::sleep(Duration::from_millis(delay));
        let running = app.get("/api/v1/queue").body["counts"]["running"]
            .as_u64()
            .unwrap();
        if running > 0 {
            kills_mid_batch += 1;
        }
        app.kill9_and_restart();
        let q = app.get("/api/v1/queue").body;
        assert_eq!(q["paused"], true, "an unclean restart starts paused");
        assert!(q["paused_reason"].as_str().unwrap().contains("uncleanly"));
        assert_eq!(
            q["counts"]["running"], 0,
            "nothing is left running after a restart"
        );
        let jobs = statuses(&app);
        assert_eq!(
            jobs.keys().cloned().collect::<HashSet<_>>(),
            expected,
            "no job lost or invented"
        );
        let batches = app.get("/api/v1/batches").body;
        assert!(batches
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["status"] != "running"));
        // Positions of queued jobs are dense and unique.
        let mut positions: Vec<u64> = jobs
            .values()
            .filter_map(|j| j["position"].as_u64())
            .collect();
        positions.sort();
        assert_eq!(positions, (1..=positions.len() as u64).collect::<Vec<_>>());
        app.resume();
    }
    assert!(
        kills_mid_batch >= 2,
        "the test should kill during batches ({kills_mid_batch})"
    );
    app.wait_idle(120);

    let jobs = statuses(&app);
    assert_eq!(jobs.len(), 12);
    let mut outputs = HashSet::new();
    let mut restarted = 0;
    for job in jobs.values() {
        assert_eq!(job["status"], "succeeded", "{job}");
        let attempts = job["attempts"].as_u64().unwrap();
        assert!(attempts >= 1);
        if attempts > 1 {
            restarted += 1;
        }
        // Each output belongs to exactly one job, and records that job.
        let params_path = job["outputs"]["params"].as_str().unwrap().to_string();
        assert!(
            outputs.insert(params_path.clone()),
            "output attributed twice"
        );
        let params: Value = serde_json::from_slice(&std::fs::read(&params_path).unwrap()).unwrap();
        assert_eq!(params["job_id"], job["id"]);
        // The batch it finished in lists it and succeeded.
        let batch = app
            .get(&format!(
                "/api/v1/batches/{}",
                job["batch_id"].as_str().unwrap()
            ))
            .body;
        assert_eq!(batch["status"], "succeeded");
        assert!(batch["job_ids"].as_array().unwrap().contains(&job["id"]));
    }
    assert!(restarted >= 1, "some job was interrupted and run again");
    let counts = &app.get("/api/v1/queue").body["counts"];
    assert_eq!(counts["succeeded"], 12);
}

#[test]
fn a_job_that_keeps_dying_is_failed_after_max_attempts() {
    let mut app = TestApp::start(&[
        ("COSMOSQ_EXECUTOR__TIME_SCALE", "0.05"),
        ("COSMOSQ_QUEUE__MAX_ATTEMPTS", "2"),
    ]);
    let p = app.create_prompt("poison");
    let j = app.add_job(&p, json!({"edge": 0.5}));
    for round in 1..=2 {
        app.wait_until(10, "the job to run", |app| {
            app.job(&j)["status"] == "running"
        });
        app.kill9_and_restart();
        let job = app.job(&j);
        assert_eq!(job["attempts"], round);
        if round < 2 {
            assert_eq!(job["status"], "queued");
            app.resume();
        } else {
            assert_eq!(job["status"], "failed");
            assert_eq!(job["error"]["code"], "attempts_exhausted");
        }
    }
}

#[test]
fn sigterm_finishes_the_running_batch_and_restarts_clean() {
    let mut app = TestApp::start(&[("COSMOSQ_EXECUTOR__TIME_SCALE", "0.003")]);
    let p = app.create_prompt("graceful");
    let j = app.add_job(&p, json!({"edge": 0.5}));
    app.wait_until(10, "the job to run", |app| {
        app.job(&j)["status"] == "running"
    });
    assert_eq!(app.terminate(), Some(0));
    app.restart();
    let q = app.get("/api/v1/queue").body;
    assert_eq!(q["paused"], false, "a clean stop does not pause");
    assert_eq!(app.job(&j)["status"], "succeeded");
}

#[test]
fn sigterm_past_the_grace_period_puts_jobs_back() {
    let mut app = TestApp::start(&[
        ("COSMOSQ_EXECUTOR__TIME_SCALE", "1"),
        ("COSMOSQ_SHUTDOWN_GRACE_SECONDS", "0"),
    ]);
    let p = app.create_prompt("too slow to wait for");
    let j = app.add_job(&p, json!({"edge": 0.5}));
    app.wait_until(10, "the job to run", |app| {
        app.job(&j)["status"] == "running"
    });
    assert_eq!(app.terminate(), Some(0));
    app.restart();
    let job = app.job(&j);
    assert_eq!(
        job["status"], "running",
        "it starts again right away after a clean stop"
    );
    assert_eq!(job["attempts"], 2);
    assert_eq!(app.get("/api/v1/queue").body["paused"], false);
}
