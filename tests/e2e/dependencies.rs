//! Dependencies: `after` makes a job wait for others; a failed or canceled dependency fails
//! its dependents with `dependency_failed` (a retry queues them again); `input_from` upscales
//! another job's output.

use crate::executors::{daemon, params};
use crate::support::TestApp;
use serde_json::{json, Value};

fn add(app: &TestApp, body: Value) -> Value {
    let r = app.post("/api/v1/jobs", body);
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

#[test]
fn an_upscale_waits_for_its_inference_and_runs_on_its_output() {
    let s = daemon("transfer1", "", &[]);
    let app = &s.app;
    app.pause();
    let prompt = app.create_prompt("a harbour at dawn");
    let first = add(
        app,
        json!({"prompt_id": prompt, "config": {"weights": {"edge": 0.5}}}),
    );
    let first = first["id"].as_str().unwrap().to_string();
    let up = add(
        app,
        json!({"prompt_id": prompt, "kind": "upscale", "input_from": first}),
    );
    let up_id = up["id"].as_str().unwrap().to_string();
    assert_eq!(up["after"], json!([first]));
    assert_eq!(up["waiting_for"], json!([first]));
    let plan = app.get("/api/v1/batches/preview").body;
    let excluded = plan["excluded"].as_array().unwrap();
    let reason = excluded
        .iter()
        .find(|x| x["job_id"] == up_id.as_str())
        .unwrap_or_else(|| panic!("{plan}"))["reason"]
        .as_str()
        .unwrap();
    assert_eq!(reason, format!("waits for {first}"));
    app.resume();
    app.wait_idle(120);
    let first_job = app.job(&first);
    let up_job = app.job(&up_id);
    assert_eq!(first_job["status"], "succeeded", "{first_job}");
    assert_eq!(up_job["status"], "succeeded", "{up_job}");
    assert!(
        up_job["waiting_for"].is_null(),
        "nothing left to wait for: {up_job}"
    );
    let p = params(&up_job);
    assert_eq!(p["controls"], json!(["upscale"]), "{p}");
    assert_eq!(p["visual_input"], first_job["outputs"]["video"], "{p}");
    // It ran after the first job's batch ended.
    assert!(up_job["started_at"].as_str() >= first_job["finished_at"].as_str());
}

#[test]
fn a_failed_dependency_fails_the_chain_and_a_retry_queues_it_again() {
    let app = TestApp::start(&[("COSMOSQ_EXECUTOR__TIME_SCALE", "0.0005")]);
    app.pause();
    let bad = app.create_prompt("a storm [simulate:fail]");
    let good = app.create_prompt("a calm sea");
    let a = add(
        &app,
        json!({"prompt_id": bad, "config": {"weights": {"edge": 0.5}}}),
    );
    let a = a["id"].as_str().unwrap().to_string();
    let b = add(
        &app,
        json!({"prompt_id": good, "config": {"weights": {"edge": 0.5}}, "after": [a]}),
    );
    let b = b["id"].as_str().unwrap().to_string();
    let c = add(
        &app,
        json!({"prompt_id": good, "config": {"weights": {"depth": 0.5}}, "after": [b]}),
    );
    let c = c["id"].as_str().unwrap().to_string();
    // Bad references are refused, nothing stored.
    let before = app.jobs().len();
    for (body, code) in [
        (
            json!({"prompt_id": good, "config": {"weights": {"edge": 0.5}}, "after": ["jb_0000000000000000"]}),
            "dependency_not_found",
        ),
        (
            json!({"prompt_id": good, "config": {"weights": {"edge": 0.5}}, "input_from": a}),
            "input_from_needs_upscale",
        ),
        (
            json!({"prompt_id": good, "kind": "upscale", "input_from": "jb_0000000000000000"}),
            "dependency_not_found",
        ),
    ] {
        let r = app.post("/api/v1/jobs", body.clone());
        assert_eq!((r.status, r.code()), (422, code), "{body}: {}", r.body);
    }
    assert_eq!(app.jobs().len(), before);
    app.resume();
    app.wait_idle(60);
    assert_eq!(app.job(&a)["status"], "failed");
    for id in [&b, &c] {
        let job = app.job(id);
        assert_eq!(job["status"], "failed", "{job}");
        assert_eq!(job["error"]["code"], "dependency_failed", "{job}");
        assert_eq!(job["attempts"], 0, "never ran: {job}");
    }
    // Retrying the dependency queues the chain again, waiting (paused: nothing runs).
    app.pause();
    let r = app.post(&format!("/api/v1/jobs/{a}/retry"), json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    let jb = app.job(&b);
    assert_eq!(jb["status"], "queued", "{jb}");
    assert_eq!(jb["waiting_for"], json!([a]));
    assert_eq!(app.job(&c)["status"], "queued");
    assert_eq!(app.job(&c)["waiting_for"], json!([b]));
    // Canceling it fails them again; a new job after a canceled one fails at once.
    let r = app.post(&format!("/api/v1/jobs/{a}/cancel"), json!({}));
    assert!(r.status < 300, "{}", r.body);
    assert_eq!(app.job(&c)["error"]["code"], "dependency_failed");
    let d = add(
        &app,
        json!({"prompt_id": good, "config": {"weights": {"seg": 0.5}}, "after": [a]}),
    );
    assert_eq!(d["status"], "failed");
    assert_eq!(d["error"]["code"], "dependency_failed");
    // And the chain survives a restart as it was.
    let mut app = app;
    app.restart();
    assert_eq!(app.job(&c)["error"]["code"], "dependency_failed");
    assert_eq!(app.job(&b)["after"], json!([a]));
}
