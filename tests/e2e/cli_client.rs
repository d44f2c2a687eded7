//! The client commands (`prompts`, `jobs`, `queue`, `batch`) against the real daemon: what a
//! script driving cosmosq from a shell sees.

use crate::support::{test_video, TestApp, BIN};
use serde_json::Value;
use std::process::{Command, Output};

fn cli(app: &TestApp, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("COSMOSQ_SERVER", &app.base)
        .env_remove("COSMOSQ_TOKEN")
        .output()
        .expect("start cosmosq")
}

/// Run and require success; the standard output, trimmed.
fn ok(app: &TestApp, args: &[&str]) -> String {
    let out = cli(app, args);
    assert!(
        out.status.success(),
        "cosmosq {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn json(app: &TestApp, args: &[&str]) -> Value {
    serde_json::from_str(&ok(app, args)).expect("JSON on stdout")
}

#[test]
fn a_script_adds_previews_and_runs_batches_with_the_cli() {
    let app = TestApp::start(&[]);
    let video = test_video();
    let prompt = ok(
        &app,
        &[
            "prompts",
            "add",
            "--text",
            "a street at dusk",
            "--video",
            video.to_str().unwrap(),
            "-q",
        ],
    );
    assert!(prompt.starts_with("ps_"), "{prompt}");
    ok(&app, &["queue", "pause"]);
    let mut jobs = Vec::new();
    for w in ["edge=0.5", "edge=0.7", "depth=0.5"] {
        jobs.push(ok(
            &app,
            &["jobs", "add", &prompt, "--weight", w, "--steps", "20", "-q"],
        ));
    }
    assert!(jobs.iter().all(|j| j.starts_with("jb_")), "{jobs:?}");
    // Without --mix or --strict the preview follows the queue's "Mix Control Inputs" setting.
    let strict = json(&app, &["batch", "preview", "--format", "json"]);
    assert_eq!(strict["mode"], "strict");
    assert_eq!(strict["batches"].as_array().unwrap().len(), 2, "{strict}");
    ok(&app, &["queue", "settings", "--mix", "true"]);
    let mixed = json(&app, &["batch", "preview", "--format", "json"]);
    assert_eq!(mixed["mode"], "mixed");
    assert_eq!(mixed["batches"].as_array().unwrap().len(), 1, "{mixed}");
    assert_eq!(
        json(&app, &["batch", "preview", "--strict", "--format", "json"])["plan_id"],
        strict["plan_id"]
    );
    // `batch run --watch` runs exactly the previewed plan and exits 0 when every batch succeeds.
    let out = ok(&app, &["batch", "run", "--watch"]);
    assert!(out.contains("succeeded"), "{out}");
    for id in &jobs {
        let job = app.job(id);
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["config"]["num_steps"], 20);
    }
    assert_eq!(app.get("/api/v1/batches").body.as_array().unwrap().len(), 1);
    // A bad weight is refused with the daemon's error and a non-zero exit; nothing is added.
    let out = cli(&app, &["jobs", "add", &prompt, "--weight", "edge=2"]);
    assert!(!out.status.success());
    assert_eq!(app.jobs().len(), 3);
}
