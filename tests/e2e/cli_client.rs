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

#[test]
fn jobs_wait_and_queue_wait_exit_0_1_or_2() {
    let app = TestApp::start(&[("COSMOSQ_EXECUTOR__TIME_SCALE", "0.0005")]);
    let video = test_video();
    let video = video.to_str().unwrap();
    let prompt = |text: &str| {
        ok(
            &app,
            &["prompts", "add", "--text", text, "--video", video, "-q"],
        )
    };
    let good = prompt("a calm sea");
    let bad = prompt("a storm [simulate:fail]");
    app.pause();
    let a = ok(&app, &["jobs", "add", &good, "--weight", "edge=0.5", "-q"]);
    let b = ok(&app, &["jobs", "add", &bad, "--weight", "edge=0.5", "-q"]);
    // Paused: nothing finishes, so the wait times out (exit 2).
    let out = cli(&app, &["jobs", "wait", &a, "--timeout", "0.3"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("timed out: 1 of 1"));
    let out = cli(&app, &["queue", "wait", "--timeout", "0.3"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    app.resume();
    // All succeeded: exit 0.
    let out = ok(&app, &["jobs", "wait", &a, "--timeout", "60"]);
    assert_eq!(out, format!("{a} succeeded"));
    // One failed: exit 1, and its reason is printed.
    let out = cli(&app, &["jobs", "wait", &a, &b, "--timeout", "60"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{b} failed")), "{text}");
    assert!(text.contains("simulated_failure"), "{text}");
    // The queue: a new job, waited for to its end.
    let c = ok(&app, &["jobs", "add", &good, "--weight", "depth=0.5", "-q"]);
    let out = ok(&app, &["queue", "wait", "--timeout", "60"]);
    assert!(
        out.contains(&format!("{c} succeeded")) || out == "nothing queued or running",
        "{out}"
    );
    assert_eq!(app.job(&c)["status"], "succeeded");
    // An unknown job is bad input (exit 2 too, with the daemon's reason).
    let out = cli(&app, &["jobs", "wait", "jb_0000000000000000"]);
    assert!(!out.status.success());
}

#[test]
fn jobs_import_adds_a_jsonl_or_csv_file_in_one_request_or_nothing() {
    let app = TestApp::start(&[]);
    let video = test_video();
    let p = ok(
        &app,
        &[
            "prompts",
            "add",
            "--text",
            "a field",
            "--video",
            video.to_str().unwrap(),
            "-q",
        ],
    );
    app.pause();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("sweep.csv");
    std::fs::write(
        &csv,
        format!("prompt_id,edge,depth,seed\n{p},0.2,,1\n{p},0.4,0.5,2\n\"{p}\",0.6,,\n"),
    )
    .unwrap();
    let ids: Vec<String> = ok(&app, &["jobs", "import", csv.to_str().unwrap(), "-q"])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(ids.len(), 3);
    let second = app.job(&ids[1]);
    assert_eq!(
        second["config"]["weights"],
        serde_json::json!({"edge": 0.4, "depth": 0.5})
    );
    assert_eq!(second["config"]["seed"], 2);
    let jsonl = dir.path().join("jobs.jsonl");
    std::fs::write(
        &jsonl,
        format!(
            "{{\"prompt_id\": \"{p}\", \"config\": {{\"weights\": {{\"vis\": 0.3}}}}}}\n\n\
             {{\"prompt_id\": \"{p}\", \"config\": {{\"weights\": {{\"seg\": 0.9}}, \"num_steps\": 10}}}}\n"
        ),
    )
    .unwrap();
    let out = ok(&app, &["jobs", "import", jsonl.to_str().unwrap()]);
    assert!(out.starts_with("queued 2 jobs:"), "{out}");
    assert_eq!(app.jobs().len(), 5);
    // A bad row (a weight above 1) refuses the whole file: nothing is added.
    std::fs::write(&csv, format!("prompt_id,edge\n{p},0.5\n{p},1.5\n")).unwrap();
    let out = cli(&app, &["jobs", "import", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("jobs[1]"),
        "{out:?}"
    );
    // A cell that is no number is refused before anything is sent, with its line.
    std::fs::write(&csv, format!("prompt_id,edge\n{p},much\n")).unwrap();
    let out = cli(&app, &["jobs", "import", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 2: edge"),
        "{out:?}"
    );
    assert_eq!(app.jobs().len(), 5);
}

#[test]
fn jobs_pull_downloads_outputs_with_their_settings_and_resumes() {
    let app = TestApp::start(&[("COSMOSQ_EXECUTOR__TIME_SCALE", "0.0005")]);
    let video = test_video();
    let p = ok(
        &app,
        &[
            "prompts",
            "add",
            "--text",
            "pull me",
            "--video",
            video.to_str().unwrap(),
            "-q",
        ],
    );
    let other = ok(
        &app,
        &[
            "prompts",
            "add",
            "--text",
            "not me",
            "--video",
            video.to_str().unwrap(),
            "-q",
        ],
    );
    let a = ok(&app, &["jobs", "add", &p, "--weight", "edge=0.5", "-q"]);
    let b = ok(
        &app,
        &[
            "jobs",
            "add",
            &p,
            "--weight",
            "depth=0.5",
            "--seed",
            "9",
            "-q",
        ],
    );
    ok(&app, &["jobs", "add", &other, "--weight", "seg=0.5", "-q"]);
    app.wait_idle(60);
    let dest = tempfile::tempdir().unwrap();
    let d = dest.path().to_str().unwrap();
    let out = ok(&app, &["jobs", "pull", "--prompt", &p, "--dest", d]);
    assert!(out.starts_with("copied 2 jobs"), "{out}");
    let mut names: Vec<String> = std::fs::read_dir(dest.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want = vec![
        format!("{a}.json"),
        format!("{a}.mp4"),
        format!("{b}.json"),
        format!("{b}.mp4"),
    ];
    want.sort();
    assert_eq!(names, want);
    assert_eq!(
        std::fs::metadata(dest.path().join(format!("{a}.mp4")))
            .unwrap()
            .len(),
        std::fs::metadata(&video).unwrap().len(),
        "the simulated output is the input clip"
    );
    let settings: Value =
        serde_json::from_slice(&std::fs::read(dest.path().join(format!("{b}.json"))).unwrap())
            .unwrap();
    assert_eq!(settings["config"]["seed"], 9);
    // Again: nothing to copy.
    let out = ok(&app, &["jobs", "pull", "--prompt", &p, "--dest", d]);
    assert!(out.starts_with("copied 0 jobs (0 bytes)"), "{out}");
    assert!(out.contains("2 already there"), "{out}");
}
