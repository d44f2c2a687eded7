//! Several clients adding, moving, cancelling, previewing and executing at once: the queue's
//! invariants hold afterwards.

use crate::support::{Rng, TestApp};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn concurrent_clients_keep_the_queue_consistent() {
    let app = Arc::new(TestApp::start(&[(
        "COSMOSQ_EXECUTOR__TIME_SCALE",
        "0.0001",
    )]));
    let prompt = app.create_prompt("concurrency");
    let controls = ["edge", "depth", "seg", "vis"];
    let deadline = Instant::now() + Duration::from_secs(4);
    let clients: Vec<_> = (0..6u64)
        .map(|c| {
            let app = app.clone();
            let prompt = prompt.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (c + 1));
                let mut mine: Vec<String> = Vec::new();
                let mut ops = 0;
                while Instant::now() < deadline {
                    ops += 1;
                    let status = match rng.below(10) {
                        0..=3 if mine.len() < 25 => {
                            let ctl = controls[rng.below(4) as usize];
                            let r = app.post(
                                "/api/v1/jobs",
                                json!({"prompt_id": prompt, "config": {"weights": {ctl: 0.5}}}),
                            );
                            if r.status == 201 {
                                mine.push(r.body["id"].as_str().unwrap().to_string());
                            }
                            r.status
                        }
                        4 | 5 if !mine.is_empty() => {
                            let id = &mine[rng.below(mine.len() as u64) as usize];
                            let pos = rng.below(20) + 1;
                            app.post(&format!("/api/v1/jobs/{id}/move"), json!({"position": pos}))
                                .status
                        }
                        6 if !mine.is_empty() => {
                            let id = mine[rng.below(mine.len() as u64) as usize].clone();
                            app.post(&format!("/api/v1/jobs/{id}/cancel"), json!({}))
                                .status
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
                            let plan = app.get("/api/v1/batches/preview?mode=mixed").body;
                            app.post("/api/v1/batches", json!({"plan_id": plan["plan_id"]}))
                                .status
                        }
                        _ => app.get("/api/v1/queue").status,
                    };
                    assert!(status < 500, "server error {status}");
                }
                ops
            })
        })
        .collect();
    let ops: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert!(ops > 100, "the clients did work ({ops} requests)");
    app.resume();
    app.wait_idle(120);

    let jobs: Vec<Value> = app.jobs();
    let batches: Vec<Value> = app.get("/api/v1/batches").body.as_array().unwrap().clone();
    let by_id: HashMap<&str, &Value> = jobs
        .iter()
        .map(|j| (j["id"].as_str().unwrap(), j))
        .collect();
    assert_eq!(by_id.len(), jobs.len(), "each job listed once");

    let batch_by_id: HashMap<&str, &Value> = batches
        .iter()
        .map(|b| (b["id"].as_str().unwrap(), b))
        .collect();
    assert!(batches
        .iter()
        .all(|b| b["status"] != "running" && b["status"] != "pending"));
    let mut outputs: HashSet<String> = HashSet::new();
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for j in &jobs {
        let status = j["status"].as_str().unwrap();
        *counts.entry(status).or_default() += 1;
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
                // More than one start when a cancel stopped its batch and sent it back.
                assert!(j["attempts"].as_u64().unwrap() >= 1);
            }
            "canceled" => {}
            other => panic!("job left {other}: {j}"),
        }
    }
    let reported = &app.get("/api/v1/queue").body["counts"];
    for (status, n) in counts {
        assert_eq!(reported[status], n, "{status}");
    }
}
