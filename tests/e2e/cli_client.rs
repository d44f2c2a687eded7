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

#[test]
fn a_sweep_adds_every_combination_in_one_request_and_asks_first() {
    let app = TestApp::start(&[]);
    app.pause();
    let prompt = app.create_prompt("a sweep");
    let args = [
        "jobs",
        "add",
        &prompt,
        "--weight",
        "depth=0.5",
        "--sweep",
        "edge=0.2,0.4,0.6",
        "--sweep",
        "seed=1,2",
    ];
    // Not a terminal and no --yes: it says how many it would add and adds none.
    let out = cli(&app, &args);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("add 6 jobs") && err.contains("--yes"), "{err}");
    assert_eq!(app.get("/api/v1/queue").body["counts"]["queued"], 0);

    let mut all = args.to_vec();
    all.extend(["--yes", "--json"]);
    let jobs = json(&app, &all);
    let got: Vec<(f64, f64, u64)> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            let c = &j["config"];
            (
                c["weights"]["edge"].as_f64().unwrap(),
                c["weights"]["depth"].as_f64().unwrap(),
                c["seed"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(f64, f64, u64)> = [0.2, 0.4, 0.6]
        .into_iter()
        .flat_map(|e| [1, 2].map(|s| (e, 0.5, s)))
        .collect();
    assert_eq!(got, want, "the first sweep varies slowest");
    assert_eq!(app.get("/api/v1/queue").body["counts"]["queued"], 6);

    // A bad value is refused before anything is sent.
    let out = cli(
        &app,
        &["jobs", "add", &prompt, "--sweep", "edge=0.5,1.5", "--yes"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("edge"));
    assert_eq!(app.get("/api/v1/queue").body["counts"]["queued"], 6);
}
