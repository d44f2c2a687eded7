//! Presets: named run settings over the API, kept across restarts, used by `jobs add --preset`.

use crate::support::{TestApp, BIN};
use serde_json::json;
use std::process::Command;

#[test]
fn presets_are_saved_replaced_listed_deleted_and_kept_across_a_restart() {
    let mut app = TestApp::start(&[]);
    let r = app.post(
        "/api/v1/presets",
        json!({"name": "soft edges", "config": {"weights": {"edge": 0.3, "vis": 0.2}, "num_steps": 20}}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["name"], "soft edges");
    // Saving the name again replaces it.
    let r = app.post(
        "/api/v1/presets",
        json!({"name": "soft edges", "config": {"weights": {"edge": 0.4}, "seed": 9}}),
    );
    assert_eq!(r.status, 201);
    let r = app.post(
        "/api/v1/presets",
        json!({"name": "depth", "config": {"weights": {"depth": 0.6}}}),
    );
    assert_eq!(r.status, 201);
    let list = app.get("/api/v1/presets").body;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["depth", "soft edges"]);
    assert_eq!(list[1]["config"]["weights"], json!({"edge": 0.4}));
    // Bad names and settings are refused with their codes; nothing is stored.
    for (body, status, code) in [
        (
            json!({"name": "", "config": {}}),
            422,
            "invalid_preset_name",
        ),
        (
            json!({"name": "a/b", "config": {}}),
            422,
            "invalid_preset_name",
        ),
        (
            json!({"name": "x".repeat(65), "config": {}}),
            422,
            "invalid_preset_name",
        ),
        (
            json!({"name": "hot", "config": {"weights": {"edge": 1.5}}}),
            422,
            "weight_out_of_range",
        ),
        (
            json!({"name": "hot", "config": {"colour": 1}}),
            400,
            "invalid_body",
        ),
    ] {
        let r = app.post("/api/v1/presets", body.clone());
        assert_eq!((r.status, r.code()), (status, code), "{body}: {}", r.body);
    }
    assert_eq!(app.get("/api/v1/presets").body.as_array().unwrap().len(), 2);
    app.restart();
    assert_eq!(app.get("/api/v1/presets").body.as_array().unwrap().len(), 2);
    assert_eq!(app.delete("/api/v1/presets/depth").status, 204);
    let r = app.delete("/api/v1/presets/depth");
    assert_eq!((r.status, r.code()), (404, "preset_not_found"));
    let r = app.delete("/api/v1/presets/soft%20edges");
    assert_eq!(r.status, 204);
    assert!(app
        .get("/api/v1/presets")
        .body
        .as_array()
        .unwrap()
        .is_empty());
    // At most 100.
    for i in 0..100 {
        let r = app.post(
            "/api/v1/presets",
            json!({"name": format!("p{i}"), "config": {}}),
        );
        assert_eq!(r.status, 201);
    }
    let r = app.post("/api/v1/presets", json!({"name": "one more", "config": {}}));
    assert_eq!((r.status, r.code()), (409, "too_many_presets"));
    let r = app.post(
        "/api/v1/presets",
        json!({"name": "p7", "config": {"seed": 3}}),
    );
    assert_eq!(r.status, 201, "replacing one is still allowed");
}

#[test]
fn jobs_add_with_a_preset_starts_from_its_settings() {
    let app = TestApp::start(&[]);
    app.pause();
    let prompt = app.create_prompt("a preset job");
    let r = app.post(
        "/api/v1/presets",
        json!({"name": "look", "config": {"weights": {"edge": 0.3, "vis": 0.2}, "num_steps": 20, "seed": 5}}),
    );
    assert_eq!(r.status, 201);
    let cli = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("COSMOSQ_SERVER", &app.base)
            .env_remove("COSMOSQ_TOKEN")
            .output()
            .unwrap()
    };
    let out = cli(&[
        "jobs", "add", &prompt, "--preset", "look", "--weight", "edge=0.6", "--seed", "8", "-q",
    ]);
    assert!(out.status.success(), "{out:?}");
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let job = app.job(&id);
    assert_eq!(job["config"]["weights"], json!({"edge": 0.6, "vis": 0.2}));
    assert_eq!(job["config"]["num_steps"], 20);
    assert_eq!(job["config"]["seed"], 8);
    let out = cli(&["jobs", "add", &prompt, "--preset", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("preset_not_found"));
}
