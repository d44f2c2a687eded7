//! The seed plan's integration scenarios, through the real daemon and the simulated executor.

use crate::support::TestApp;
use serde_json::{json, Value};

fn fast() -> TestApp {
    TestApp::start(&[("COSMOSQ_EXECUTOR__TIME_SCALE", "0.0005")])
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn add_pause_preview_execute_runs_exactly_the_plan() {
    let app = fast();
    app.pause();
    let p = app.create_prompt("a robot arm stacks cubes");
    let a = app.add_job(&p, json!({"edge": 0.5}));
    let b = app.add_job(&p, json!({"depth": 0.5}));
    let c = app.add_job(&p, json!({"edge": 0.7}));
    let d = app.add_job(&p, json!({"edge": 0.7, "depth": 0.3}));

    // Positions follow the order of adding.
    for (i, id) in [&a, &b, &c, &d].iter().enumerate() {
        assert_eq!(app.job(id)["position"], i + 1);
        assert_eq!(app.job(id)["status"], "queued");
    }

    let strict = app.get("/api/v1/batches/preview?mode=strict").body;
    let groups: Vec<Vec<String>> = strict["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| ids(&b["job_ids"]))
        .collect();
    assert_eq!(
        groups,
        vec![vec![a.clone(), c.clone()], vec![b.clone()], vec![d.clone()]]
    );

    let mixed = app.get("/api/v1/batches/preview?mode=mixed").body;
    assert_eq!(mixed["metrics"]["batch_count"], 1);
    assert!(
        mixed["metrics"]["estimated_batched_seconds"]
            .as_f64()
            .unwrap()
            < strict["metrics"]["estimated_batched_seconds"]
                .as_f64()
                .unwrap()
    );
    assert!(mixed["batches"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("weight 0"));

    // Nothing runs while paused until the plan is executed.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(app.job(&a)["status"], "queued");

    let r = app.post("/api/v1/batches", json!({"plan_id": mixed["plan_id"]}));
    assert_eq!(r.status, 202, "{}", r.body);
    let batch_id = r.body["batches"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        ids(&r.body["batches"][0]["job_ids"]),
        vec![a.clone(), b.clone(), c.clone(), d.clone()]
    );
    app.wait_idle(30);

    let batch = app.get(&format!("/api/v1/batches/{batch_id}")).body;
    assert_eq!(batch["status"], "succeeded");
    assert_eq!(batch["controls"], json!(["depth", "edge"]));
    assert!(batch["measured_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(
        batch["estimated_seconds"],
        mixed["batches"][0]["estimated_seconds"]
    );

    // Every job ran with exactly its own weights, 0 for the control it did not ask for.
    let expected = [
        (&a, json!({"depth": 0.0, "edge": 0.5})),
        (&b, json!({"depth": 0.5, "edge": 0.0})),
        (&c, json!({"depth": 0.0, "edge": 0.7})),
        (&d, json!({"depth": 0.3, "edge": 0.7})),
    ];
    for (id, weights) in expected {
        let job = app.job(id);
        assert_eq!(job["status"], "succeeded");
        assert_eq!(job["attempts"], 1);
        assert_eq!(job["batch_id"], batch_id.as_str());
        assert!(job["position"].is_null());
        let params: Value = serde_json::from_slice(
            &std::fs::read(job["outputs"]["params"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(params["weights"], weights, "{id}");
        assert_eq!(params["num_steps"], 35);
        assert!(std::path::Path::new(job["outputs"]["video"].as_str().unwrap()).is_file());
    }
    // The queue stays paused after the plan ran.
    assert_eq!(app.get("/api/v1/queue").body["paused"], true);
}

#[test]
fn a_stale_plan_is_refused_with_the_fresh_one() {
    let app = fast();
    app.pause();
    let p = app.create_prompt("stale");
    app.add_job(&p, json!({"edge": 0.5}));
    let old = app.get("/api/v1/batches/preview").body["plan_id"].clone();
    app.add_job(&p, json!({"edge": 0.5}));
    let r = app.post("/api/v1/batches", json!({"plan_id": old}));
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "stale_plan");
    let fresh = &r.body["preview"];
    assert_ne!(fresh["plan_id"], old);
    assert_eq!(fresh["metrics"]["job_count"], 2);
    // Same number of jobs, different settings: still stale (not just a count check).
    let current = app.get("/api/v1/batches/preview").body["plan_id"].clone();
    let j = app.jobs()[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.post(&format!("/api/v1/jobs/{j}/cancel"), json!({}))
            .status,
        200
    );
    app.add_job(&p, json!({"edge": 0.9}));
    assert_eq!(
        app.post("/api/v1/batches", json!({"plan_id": current}))
            .code(),
        "stale_plan"
    );
}

#[test]
fn empty_queue_and_single_job() {
    let app = fast();
    app.pause();
    let empty = app.get("/api/v1/batches/preview").body;
    assert_eq!(empty["batches"], json!([]));
    assert_eq!(empty["metrics"]["job_count"], 0);
    let r = app.post("/api/v1/batches", json!({"plan_id": empty["plan_id"]}));
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "nothing_to_run");

    let p = app.create_prompt("one");
    let j = app.add_job(&p, json!({"seg": 1.0}));
    let plan = app.get("/api/v1/batches/preview").body;
    assert_eq!(plan["batches"][0]["job_ids"], json!([j]));
    assert_eq!(plan["metrics"]["speedup"], 1.0);
    app.resume();
    app.wait_idle(30);
    assert_eq!(app.job(&j)["status"], "succeeded");
}

#[test]
fn enhance_and_upscale_are_never_batched() {
    let app = fast();
    app.pause();
    let p = app.create_prompt("kinds");
    let e = app
        .post("/api/v1/jobs", json!({"prompt_id": p, "kind": "enhance"}))
        .body["id"]
        .clone();
    let i = app.add_job(&p, json!({"edge": 1.0}));
    let u = app
        .post("/api/v1/jobs", json!({"prompt_id": p, "kind": "upscale"}))
        .body["id"]
        .clone();
    let plan = app.get("/api/v1/batches/preview").body;
    assert_eq!(plan["batches"].as_array().unwrap().len(), 1);
    assert_eq!(plan["batches"][0]["job_ids"], json!([i]));
    let excluded: Vec<Value> = plan["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["job_id"].clone())
        .collect();
    assert_eq!(excluded, vec![e.clone(), u.clone()]);

    // Run automatically: each of them alone.
    app.resume();
    app.wait_idle(30);
    let batches = app.get("/api/v1/batches").body;
    assert_eq!(batches.as_array().unwrap().len(), 3);
    assert!(batches
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["job_ids"].as_array().unwrap().len() == 1));
}

#[test]
fn max_batch_size_is_respected_in_previews_and_automatic_runs() {
    let app = fast();
    app.pause();
    let r = app.patch("/api/v1/queue/settings", json!({"max_batch_size": 2}));
    assert_eq!(r.status, 200);
    assert_eq!(r.body["settings"]["max_batch_size"], 2);
    let p = app.create_prompt("limits");
    for _ in 0..5 {
        app.add_job(&p, json!({"vis": 0.5}));
    }
    let plan = app.get("/api/v1/batches/preview").body;
    let sizes: Vec<usize> = plan["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["job_ids"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![2, 2, 1]);
    let plan8 = app.get("/api/v1/batches/preview?max_batch_size=8").body;
    assert_eq!(plan8["batches"].as_array().unwrap().len(), 1);
    app.resume();
    app.wait_idle(30);
    let batches = app.get("/api/v1/batches").body;
    assert!(batches
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["job_ids"].as_array().unwrap().len() <= 2));
    assert_eq!(batches.as_array().unwrap().len(), 3);
}

#[test]
fn move_cancel_and_retry() {
    let app = fast();
    app.pause();
    let p = app.create_prompt("moves");
    let a = app.add_job(&p, json!({"edge": 0.1}));
    let b = app.add_job(&p, json!({"edge": 0.2}));
    let c = app.add_job(&p, json!({"edge": 0.3}));
    let order = |app: &TestApp| -> Vec<String> {
        app.get("/api/v1/queue").body["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        app.post(&format!("/api/v1/jobs/{c}/move"), json!({"position": 1}))
            .body["position"],
        1
    );
    assert_eq!(order(&app), vec![c.clone(), a.clone(), b.clone()]);
    assert_eq!(
        app.post(&format!("/api/v1/jobs/{c}/move"), json!({"position": 99}))
            .body["position"],
        3
    );
    assert_eq!(order(&app), vec![a.clone(), b.clone(), c.clone()]);
    app.post(&format!("/api/v1/jobs/{a}/move"), json!({"position": 2}));
    assert_eq!(order(&app), vec![b.clone(), a.clone(), c.clone()]);
    // Many moves between the same neighbours exhaust the gaps and force a renumbering.
    for _ in 0..40 {
        app.post(&format!("/api/v1/jobs/{c}/move"), json!({"position": 2}));
        app.post(&format!("/api/v1/jobs/{a}/move"), json!({"position": 2}));
    }
    assert_eq!(order(&app), vec![b.clone(), a.clone(), c.clone()]);

    let r = app.post(&format!("/api/v1/jobs/{a}/cancel"), json!({}));
    assert_eq!(r.body["status"], "canceled");
    assert_eq!(order(&app), vec![b.clone(), c.clone()]);
    assert_eq!(
        app.post(&format!("/api/v1/jobs/{a}/cancel"), json!({}))
            .code(),
        "job_finished"
    );
    assert_eq!(
        app.post(&format!("/api/v1/jobs/{a}/move"), json!({"position": 1}))
            .code(),
        "job_not_queued"
    );
    assert_eq!(
        app.post(&format!("/api/v1/jobs/{b}/retry"), json!({}))
            .code(),
        "job_not_retryable"
    );
    let r = app.post(&format!("/api/v1/jobs/{a}/retry"), json!({}));
    assert_eq!(r.body["status"], "queued");
    assert_eq!(r.body["position"], 3);
    assert_eq!(r.body["attempts"], 0);
    assert!(r.body["error"].is_null());
}

#[test]
fn cancelling_a_running_job_stops_its_batch_and_requeues_the_others() {
    // Slow enough that the batch is still running when we cancel.
    let app = TestApp::start(&[("COSMOSQ_EXECUTOR__TIME_SCALE", "0.01")]);
    app.pause();
    let p = app.create_prompt("cancel while running");
    let a = app.add_job(&p, json!({"edge": 0.5}));
    let b = app.add_job(&p, json!({"edge": 0.6}));
    let c = app.add_job(&p, json!({"edge": 0.7}));
    let plan = app.get("/api/v1/batches/preview").body;
    assert_eq!(plan["batches"][0]["job_ids"], json!([a, b, c]));
    app.post("/api/v1/batches", json!({"plan_id": plan["plan_id"]}));
    app.wait_until(10, "the batch to start", |app| {
        app.job(&b)["status"] == "running"
    });
    let r = app.post(&format!("/api/v1/jobs/{b}/cancel"), json!({}));
    assert_eq!(r.body["status"], "canceled");
    app.wait_until(10, "the batch to stop", |app| {
        app.get("/api/v1/batches").body[0]["status"] == "canceled"
    });
    assert_eq!(app.job(&b)["status"], "canceled");
    // The others are back in their places, in their original order.
    let queue = app.get("/api/v1/queue").body;
    let order: Vec<&str> = queue["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(order, vec![a.as_str(), c.as_str()]);
    assert_eq!(app.job(&a)["position"], 1);
    assert_eq!(app.job(&a)["attempts"], 1);
}

#[test]
fn pause_and_settings_survive_a_restart() {
    let mut app = fast();
    app.pause();
    app.patch(
        "/api/v1/queue/settings",
        json!({"mix_controls": true, "max_batch_size": 3}),
    );
    app.restart();
    let q = app.get("/api/v1/queue").body;
    assert_eq!(q["paused"], true);
    assert_eq!(q["paused_reason"], "paused by a user");
    assert_eq!(q["settings"]["mix_controls"], true);
    assert_eq!(q["settings"]["max_batch_size"], 3);
}

#[test]
fn simulated_out_of_memory_splits_the_batch_down_to_the_marked_job() {
    // No GPU: `[simulate:oom]` runs out of memory whenever its job shares a batch.
    let app = fast();
    app.pause();
    let mut ids = Vec::new();
    for i in 0..4 {
        let text = if i == 2 {
            "needs room [simulate:oom]".to_string()
        } else {
            format!("job {i}")
        };
        let p = app.create_prompt(&text);
        ids.push(app.add_job(&p, json!({"edge": 0.5})));
    }
    let plan = app.get("/api/v1/batches/preview?mode=strict").body;
    let r = app.post("/api/v1/batches", json!({"plan_id": plan["plan_id"]}));
    assert_eq!(r.status, 202, "{}", r.body);
    app.wait_until(30, "all jobs to finish", |app| {
        ids.iter().all(|id| app.job(id)["status"] == "succeeded")
    });
    // 4 jobs (OOM) → 2 + 2 (the half with the marked job OOMs again) → 1 + 1.
    let batches = app.get("/api/v1/batches").body;
    let sizes = |status: &str| -> Vec<usize> {
        let mut v: Vec<usize> = batches
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["status"] == status)
            .map(|b| b["job_ids"].as_array().unwrap().len())
            .collect();
        v.sort();
        v
    };
    assert_eq!(sizes("failed"), vec![2, 4], "{batches}");
    assert_eq!(sizes("succeeded"), vec![1, 1, 2], "{batches}");
    let q = app.get("/api/v1/queue").body;
    assert_eq!(q["settings"]["learned_caps"]["1"], 1, "{q}");
}

#[test]
fn failures_are_recorded_as_failed_with_a_code() {
    let app = fast();
    let p = app.create_prompt("please [simulate:fail] this one");
    let j = app.add_job(&p, json!({"edge": 0.5}));
    app.wait_idle(30);
    let job = app.job(&j);
    assert_eq!(job["status"], "failed");
    assert_eq!(job["error"]["code"], "simulated_failure");
    assert_eq!(app.get("/api/v1/batches").body[0]["status"], "failed");
}

#[test]
fn a_queued_job_can_be_edited_and_the_preview_follows() {
    let app = TestApp::start(&[("COSMOSQ_EXECUTOR__TIME_SCALE", "0.0005")]);
    app.pause();
    let p = app.create_prompt("edit me");
    let first = app.add_job(&p, json!({"edge": 0.5}));
    let second = app.add_job(&p, json!({"edge": 0.5}));
    let before = app.get("/api/v1/batches/preview?mode=strict").body;
    assert_eq!(before["batches"].as_array().unwrap().len(), 1);

    let r = app.patch(
        &format!("/api/v1/jobs/{second}"),
        json!({"config": {"weights": {"depth": 0.7, "edge": 0.5}, "seed": 9}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["position"], 2, "it keeps its place");
    assert_eq!(r.body["config"]["seed"], 9);
    assert_eq!(
        r.body["config"]["weights"],
        json!({"depth": 0.7, "edge": 0.5})
    );
    // As Transfer1 runs them: divided by their sum (1.2), in bf16.
    assert!(r.body["effective_weights"]["depth"].as_f64().unwrap() < 0.7);
    let after = app.get("/api/v1/batches/preview?mode=strict").body;
    assert_eq!(after["batches"].as_array().unwrap().len(), 2);
    assert_ne!(after["plan_id"], before["plan_id"]);

    // Bad settings are refused and change nothing; unknown fields too.
    for bad in [
        json!({"config": {"weights": {"edge": 1.5}}}),
        json!({"config": {"weights": {"hdmap": 0.5}}}),
        json!({"config": {"weights": {"edge": 0.5}}, "prompt_id": p}),
    ] {
        let r = app.patch(&format!("/api/v1/jobs/{second}"), bad.clone());
        assert!(
            [400, 422].contains(&r.status),
            "{bad}: {} {}",
            r.status,
            r.body
        );
        assert_eq!(app.job(&second)["config"]["seed"], 9);
    }
    let r = app.patch(
        "/api/v1/jobs/jb_0000000000000000",
        json!({"config": {"weights": {"edge": 0.5}}}),
    );
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (404, Some("job_not_found"))
    );

    // Once it ran, it stays as it ran.
    app.resume();
    app.wait_idle(30);
    let r = app.patch(
        &format!("/api/v1/jobs/{first}"),
        json!({"config": {"weights": {"vis": 0.5}}}),
    );
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("job_not_queued"))
    );
    assert_eq!(app.job(&first)["config"]["weights"], json!({"edge": 0.5}));
}
