//! The Cosmos executor profiles against the stand-in program (tests/standin): each job's
//! recorded effective weights and settings equal what it asked for, and every fault ends in
//! the right job states with nothing lost.

mod faithful;
mod faults;
mod launch;
mod refit;
mod transfer1;
mod transfer25;
mod wrapped;

use crate::support::TestApp;
use serde_json::{json, Value};
use std::path::PathBuf;

pub(crate) fn standin() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/standin/cosmos_standin.py")
        .canonicalize()
        .unwrap()
        .display()
        .to_string()
}

pub(crate) struct Setup {
    _dir: tempfile::TempDir,
    pub app: TestApp,
}

/// A daemon whose executor runs the stand-in with `profile` (`transfer1` or `transfer2.5`).
pub(crate) fn daemon(profile: &str, extra_config: &str, env: &[(&str, &str)]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let name = if profile == "transfer1" {
        "cosmos-transfer1"
    } else {
        "cosmos-transfer2.5"
    };
    let config = TestApp::write_config(
        dir.path(),
        &format!(
            "[executor]\nprofile = \"{name}\"\ncommand = [\"python3\", \"-S\", \"-E\", \"{}\", \"{profile}\"]\n\
             time_scale = 0.001\ntimeout_min_seconds = 60\ncancel_grace_seconds = 2\n{extra_config}",
            standin()
        ),
    );
    // The program's true costs: the daemon's default cost model, unless a test brings its own.
    let costs = dir.path().join("costs.json");
    std::fs::write(
        &costs,
        serde_json::to_string(&cosmosq_shared::CostModel::default()).unwrap(),
    )
    .unwrap();
    let costs = costs.display().to_string();
    let mut all: Vec<(&str, &str)> = vec![
        ("COSMOSQ_CONFIG", &config),
        ("STANDIN_COST_PROFILE", &costs),
    ];
    all.extend_from_slice(env);
    Setup {
        app: TestApp::start(&all),
        _dir: dir,
    }
}

pub(crate) fn params(job: &Value) -> Value {
    let path = job["outputs"]["params"]
        .as_str()
        .unwrap_or_else(|| panic!("no params: {job}"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

pub(crate) fn add(app: &TestApp, prompt: &str, config: Value) -> String {
    let r = app.post(
        "/api/v1/jobs",
        json!({"prompt_id": prompt, "config": config}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

/// `n` jobs with `config`, each on a prompt of its own (`"{text} {i}"`).
pub(crate) fn add_each(app: &TestApp, n: usize, text: &str, config: Value) -> Vec<String> {
    (0..n)
        .map(|i| {
            add(
                app,
                &app.create_prompt(&format!("{text} {i}")),
                config.clone(),
            )
        })
        .collect()
}

/// Restart the daemon on the same data with the stand-in as its `cosmos-transfer2.5` program.
pub(crate) fn restart_on_transfer25(app: &mut TestApp) {
    let config = TestApp::write_config(
        app.data.path(),
        &format!(
            "[executor]\nprofile = \"cosmos-transfer2.5\"\ncommand = [\"python3\", \"{}\", \"transfer2.5\"]\ntime_scale = 0.001\n",
            standin()
        ),
    );
    app.set_env("COSMOSQ_CONFIG", &config);
    app.restart();
}

pub(crate) fn execute(app: &TestApp, mode: &str) -> Value {
    let plan = app
        .get(&format!("/api/v1/batches/preview?mode={mode}"))
        .body;
    let r = app.post("/api/v1/batches", json!({"plan_id": plan["plan_id"]}));
    assert_eq!(r.status, 202, "{}", r.body);
    plan
}
