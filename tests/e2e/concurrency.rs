//! Eight clients add, move, cancel, pause, resume, preview and execute at once for a minute
//! (`COSMOSQ_LOAD_SECONDS` changes the length) while a ninth follows the event stream:
//! afterwards the queue's invariants hold and the stream told the same story as the API.

use crate::support::{Rng, TestApp};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CLIENTS: u64 = 8;

/// What the event stream said.
#[derive(Default)]
struct Heard {
    events: u64,
    resyncs: u64,
    /// Each job's status in its latest `job` event.
    jobs: HashMap<String, String>,
    /// Counts in the latest `queue` event.
    counts: Value,
    /// Batches seen in `batch` events, by id: their latest status and jobs.
    batches: HashMap<String, (String, Vec<Value>)>,
}

fn follow_events(base: String, heard: Arc<Mutex<Heard>>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let resp = agent.get(format!("{base}/api/v1/events")).call().unwrap();
    let reader = std::io::BufReader::new(resp.into_body().into_reader());
    let mut name = String::new();
    for line in reader.lines() {
        let Ok(line) = line else { return };
        if let Some(n) = line.strip_prefix("event: ") {
            name = n.to_string();
        } else if let Some(data) = line.strip_prefix("data: ") {
            let v: Value = serde_json::from_str(data).unwrap();
            let mut h = heard.lock().unwrap();
            h.events += 1;
            match name.as_str() {
                "job" => {
                    let job = &v["job"];
                    let id = job["id"].as_str().unwrap().to_string();
                    h.jobs
                        .insert(id, job["status"].as_str().unwrap().to_string());
                }
                "batch" => {
                    let b = &v["batch"];
                    h.batches.insert(
                        b["id"].as_str().unwrap().to_string(),
                        (
                            b["status"].as_str().unwrap().to_string(),
                            b["job_ids"].as_array().unwrap().clone(),
                        ),
                    );
                }
                "queue" => h.counts = v["counts"].clone(),
                // Events were dropped: reload, as the web interface does, and go on.
                "resync" => {
                    h.resyncs += 1;
                    let get = |path: &str| -> Value {
                        agent
                            .get(format!("{base}{path}"))
                            .call()
                            .unwrap()
                            .body_mut()
                            .read_json()
                            .unwrap()
                    };
                    for j in get("/api/v1/jobs").as_array().unwrap() {
                        let id = j["id"].as_str().unwrap().to_string();
                        h.jobs.insert(id, j["status"].as_str().unwrap().to_string());
                    }
                    for b in get("/api/v1/batches").as_array().unwrap() {
                        h.batches.insert(
                            b["id"].as_str().unwrap().to_string(),
                            (
                                b["status"].as_str().unwrap().to_string(),
                                b["job_ids"].as_array().unwrap().clone(),
                            ),
                        );
                    }
                    h.counts = get("/api/v1/queue")["counts"].clone();
                }
                _ => {}
            }
        }
    }
}

#[test]
fn concurrent_clients_keep_the_queue_consistent() {
    let _heavy = crate::support::heavy();
    let seconds: u64 = std::env::var("COSMOSQ_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    // Batches take a few milliseconds: the executor keeps up with eight clients.
    let app = Arc::new(TestApp::start(&[(
        "COSMOSQ_EXECUTOR__TIME_SCALE",
        "0.00001",
    )]));
    let heard: Arc<Mutex<Heard>> = Arc::default();
    {
        let (base, heard) = (app.base.clone(), heard.clone());
        std::thread::spawn(move || follow_events(base, heard));
    }
    app.wait_until(10, "the event stream", |_| heard.lock().unwrap().events > 0);
    let prompt = app.create_prompt("concurrency");
    let controls = ["edge", "depth", "seg", "vis"];
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let app = app.clone();
            let prompt = prompt.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (c + 1));
                let mut mine: Vec<String> = Vec::new();
                let (mut ops, mut canceled) = (0u64, HashSet::new());
                while Instant::now() < deadline {
                    ops += 1;
                    // Recent jobs of this client: the ones still likely to be queued.
                    let recent = &mine[mine.len().saturating_sub(25)..];
                    let status = match rng.below(10) {
                        0..=3 => {
                            let ctl = controls[rng.below(4) as usize];
                            let w = [0.5, 0.7][rng.below(2) as usize];
                            let r = app.post(
                                "/api/v1/jobs",
                                json!({"prompt_id": prompt, "config": {"weights": {ctl: w}}}),
                            );
                            if r.status == 201 {
                                mine.push(r.body["id"].as_str().unwrap().to_string());
                            }
                            r.status
                        }
                        4 | 5 if !recent.is_empty() => {
                            let id = &recent[rng.below(recent.len() as u64) as usize];
                            let pos = rng.below(30) + 1;
                            let r = app
                                .post(&format!("/api/v1/jobs/{id}/move"), json!({"position": pos}));
                            // A job that already left the queue cannot move: 409, not an error.
                            assert!(matches!(r.status, 200 | 409), "move: {}", r.body);
                            r.status
                        }
                        6 if !recent.is_empty() => {
                            let id = recent[rng.below(recent.len() as u64) as usize].clone();
                            let r = app.post(&format!("/api/v1/jobs/{id}/cancel"), json!({}));
                            if r.status == 200 {
                                canceled.insert(id);
                            }
                            r.status
                        }
                        7 => {
                            let path = if rng.below(2) == 0 {
                                "/api/v1/queue/pause"
                            } else {
                                "/api/v1/queue/resume"
                            };
                            app.post(path, json!({})).status
                        }
                        8 => {
                            let mode = ["strict", "mixed"][rng.below(2) as usize];
                            let plan = app
                                .get(&format!("/api/v1/batches/preview?mode={mode}"))
                                .body;
                            let r =
                                app.post("/api/v1/batches", json!({"plan_id": plan["plan_id"]}));
                            // The queue moved since the preview: 409 with the fresh plan.
                            assert!(matches!(r.status, 202 | 409), "execute: {}", r.body);
                            r.status
                        }
                        _ => app.get("/api/v1/queue").status,
                    };
                    assert!(status < 500, "server error {status}");
                }
                (ops, mine, canceled)
            })
        })
        .collect();
    let mut ops = 0;
    let mut added: HashSet<String> = HashSet::new();
    let mut cancel_acks: HashSet<String> = HashSet::new();
    for c in clients {
        let (n, mine, canceled) = c.join().unwrap();
        ops += n;
        added.extend(mine);
        cancel_acks.extend(canceled);
    }
    app.resume();
    app.wait_idle(180);

    let jobs: Vec<Value> = app.jobs();
    let batches: Vec<Value> = app.get("/api/v1/batches").body.as_array().unwrap().clone();
    let by_id: HashMap<&str, &Value> = jobs
        .iter()
        .map(|j| (j["id"].as_str().unwrap(), j))
        .collect();
    assert_eq!(by_id.len(), jobs.len(), "each job listed once");
    let ids: HashSet<String> = by_id.keys().map(|k| k.to_string()).collect();
    assert_eq!(ids, added, "exactly the acknowledged adds are stored");

    let batch_by_id: HashMap<&str, &Value> = batches
        .iter()
        .map(|b| (b["id"].as_str().unwrap(), b))
        .collect();
    assert!(batches
        .iter()
        .all(|b| b["status"] != "running" && b["status"] != "pending"));
    // No job in two batches that completed it.
    let mut completed_in: HashMap<&str, u32> = HashMap::new();
    for b in batches.iter().filter(|b| b["status"] == "succeeded") {
        for j in b["job_ids"].as_array().unwrap() {
            *completed_in.entry(j.as_str().unwrap()).or_default() += 1;
        }
    }
    assert!(
        completed_in.values().all(|n| *n == 1),
        "a job completed twice"
    );
    let mut outputs: HashSet<String> = HashSet::new();
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for j in &jobs {
        let status = j["status"].as_str().unwrap();
        *counts.entry(status).or_default() += 1;
        assert!(
            j["position"].is_null(),
            "a finished job keeps no place: {j}"
        );
        match status {
            "succeeded" => {
                // Its batch lists it, and its output is its own and nobody else's.
                let batch = batch_by_id[j["batch_id"].as_str().unwrap()];
                assert!(batch["job_ids"].as_array().unwrap().contains(&j["id"]));
                let params = j["outputs"]["params"].as_str().unwrap().to_string();
                assert!(outputs.insert(params.clone()), "an output attributed twice");
                let recorded: Value =
                    serde_json::from_slice(&std::fs::read(&params).unwrap()).unwrap();
                assert_eq!(recorded["job_id"], j["id"]);
                assert!(j["attempts"].as_u64().unwrap() >= 1);
            }
            "canceled" => assert!(
                cancel_acks.contains(j["id"].as_str().unwrap()),
                "canceled without an acknowledged cancel: {j}"
            ),
            other => panic!("job left {other}: {j}"),
        }
    }
    let reported = &app.get("/api/v1/queue").body["counts"];
    for (status, n) in &counts {
        assert_eq!(reported[*status], *n, "{status}");
    }

    // The event stream tells the same story: every job, its final status, the final counts.
    app.wait_until(15, "the event stream to catch up", |_| {
        let h = heard.lock().unwrap();
        counts.iter().all(|(s, n)| h.counts[*s] == *n)
    });
    let h = heard.lock().unwrap();
    eprintln!(
        "concurrency: {CLIENTS} clients, {seconds} s, {ops} requests, {} jobs ({counts:?}), {} batches; \
         {} events streamed, {} resyncs",
        jobs.len(),
        batches.len(),
        h.events,
        h.resyncs
    );
    assert!(
        ops > CLIENTS * seconds,
        "the clients did work ({ops} requests)"
    );
    // (After a resync the follower reloaded, so the same holds either way.)
    let streamed: HashSet<String> = h.jobs.keys().cloned().collect();
    assert_eq!(streamed, ids, "every job appeared in the stream");
    for j in &jobs {
        let id = j["id"].as_str().unwrap();
        assert_eq!(
            h.jobs[id],
            j["status"].as_str().unwrap(),
            "last event of {id}"
        );
    }
    for b in &batches {
        let (status, job_ids) = &h.batches[b["id"].as_str().unwrap()];
        assert_eq!(status, b["status"].as_str().unwrap(), "{b}");
        assert_eq!(job_ids, b["job_ids"].as_array().unwrap(), "{b}");
    }
}
