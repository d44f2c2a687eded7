//! Transfer2.5 runs, and what a profile switch does to queued jobs and the refit.

use super::{add, daemon, execute, params, restart_on_transfer25};
use crate::support::TestApp;
use serde_json::json;

#[test]
fn transfer25_runs_jobs_with_their_own_weights_and_skips_blocked_ones() {
    let s = daemon("transfer2.5", "", &[]);
    let app = &s.app;
    app.pause();
    // Settings left out take Transfer2.5's own defaults (guidance 3, seed 2025).
    let ok1 = add(
        app,
        &app.create_prompt("street at dusk"),
        json!({"weights": {"edge": 0.6}}),
    );
    let config = &app.job(&ok1)["config"];
    assert_eq!(
        (config["guidance"].as_f64(), config["seed"].as_u64()),
        (Some(3.0), Some(2025))
    );
    let bad = add(
        app,
        &app.create_prompt("bad [standin:block]"),
        json!({"weights": {"edge": 0.6}, "guidance": 3}),
    );
    let ok2 = add(
        app,
        &app.create_prompt("robot"),
        json!({"weights": {"edge": 0.2, "depth": 0.7}, "guidance": 3}),
    );
    // `ok1` and `bad` are identical, but Transfer2.5 has no batched pass: the plan says so.
    let strict = app.get("/api/v1/batches/preview?mode=strict").body;
    let first = &strict["batches"][0];
    assert_eq!(first["job_ids"].as_array().unwrap().len(), 2, "{strict}");
    assert_eq!(first["batch_size"], 1, "{strict}");
    assert!(
        first["reason"]
            .as_str()
            .unwrap()
            .contains("one after another"),
        "{strict}"
    );
    execute(app, "mixed");
    app.wait_idle(60);
    assert_eq!(app.job(&bad)["status"], "failed");
    // `ok1` runs on the edge checkpoint, `ok2` on the multibranch model: never together.
    assert_ne!(app.job(&ok1)["batch_id"], app.job(&ok2)["batch_id"]);
    for (id, model, weights) in [
        (&ok1, "edge", json!({"edge": 0.6})),
        (
            &ok2,
            "multicontrol",
            json!({"edge": 0.2, "vis": 0.0, "depth": 0.7, "seg": 0.0}),
        ),
    ] {
        let job = app.job(id);
        assert_eq!(job["status"], "succeeded", "{job}");
        let p = params(&job);
        assert_eq!(p["name"], id.as_str());
        assert_eq!(p["model"], model, "{p}");
        assert_eq!(p["weights"], weights, "{p}");
        assert_eq!(p["guidance"], 3);
    }
    assert_eq!(params(&app.job(&ok1))["seed"], 2025);
    // Transfer2.5 has no keypoint branch, takes whole-number guidance up to 7, and has
    // neither an upscaler nor a prompt upsampler to drive.
    let p = app.create_prompt("unsupported");
    for kind in ["upscale", "enhance"] {
        let r = app.post(
            "/api/v1/jobs",
            json!({"prompt_id": p, "kind": kind, "config": {}}),
        );
        assert_eq!(
            (r.status, r.code()),
            (422, "kind_unsupported_by_executor"),
            "{kind}"
        );
    }
    let r = app.post(
        "/api/v1/jobs",
        json!({"prompt_id": p, "config": {"weights": {"keypoint": 1}}}),
    );
    assert_eq!(
        (r.status, r.code()),
        (422, "control_unsupported_by_executor")
    );
    let r = app.post(
        "/api/v1/jobs",
        json!({"prompt_id": p, "config": {"weights": {"edge": 1}, "guidance": 5.5}}),
    );
    assert_eq!(
        (r.status, r.code()),
        (422, "guidance_unsupported_by_executor")
    );
}

#[test]
fn jobs_the_new_executor_cannot_run_fail_instead_of_running_as_something_else() {
    // Queued (and failed) under the simulated executor, which runs every kind...
    let mut app = TestApp::start(&[]);
    app.pause();
    let p = app.create_prompt("made under the simulator");
    let r = app.post(
        "/api/v1/jobs",
        json!({"prompt_id": p, "kind": "enhance", "config": {}}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let enhance = r.body["id"].as_str().unwrap().to_string();
    let keypoint = app.add_job(&p, json!({"keypoint": 0.5}));
    let edge = app.add_job(&p, json!({"edge": 0.5}));
    let canceled = app.add_job(&p, json!({"keypoint": 0.7}));
    assert_eq!(
        app.post(&format!("/api/v1/jobs/{canceled}/cancel"), json!({}))
            .status,
        200
    );
    // ...then the daemon comes back on Transfer2.5 (no enhance, no keypoint branch).
    restart_on_transfer25(&mut app);
    for (id, code) in [
        (&enhance, "kind_unsupported_by_executor"),
        (&keypoint, "control_unsupported_by_executor"),
    ] {
        let job = app.job(id);
        assert_eq!(job["status"], "failed", "{job}");
        assert_eq!(job["error"]["code"], code, "{job}");
    }
    assert_eq!(app.job(&edge)["status"], "queued");
    let r = app.post(&format!("/api/v1/jobs/{canceled}/retry"), json!({}));
    assert_eq!(
        (r.status, r.code()),
        (422, "control_unsupported_by_executor")
    );
    assert_eq!(app.job(&canceled)["status"], "canceled");
    app.resume();
    app.wait_idle(60);
    assert_eq!(app.job(&edge)["status"], "succeeded");
}

#[test]
fn the_refit_belongs_to_the_profile_across_restarts() {
    let mut s = daemon("transfer1", "", &[]);
    for (i, w) in [json!({"edge": 0.5}), json!({"depth": 0.5})]
        .iter()
        .enumerate()
    {
        let p = s.app.create_prompt(&format!("refit {i}"));
        add(&s.app, &p, json!({"weights": w}));
        s.app.wait_idle(60);
    }
    let fitted = s.app.get("/api/v1/cost-model").body;
    assert_eq!(fitted["samples"], 2, "{fitted}");
    let default = serde_json::to_value(cosmosq_shared::CostModel::default()).unwrap();
    assert_ne!(fitted["cost_model"], default, "the refit moved the model");
    // Restarted, the daemon refits from its recorded batches: the same model.
    s.app.restart();
    assert_eq!(
        s.app.get("/api/v1/cost-model").body["cost_model"],
        fitted["cost_model"]
    );
    // Switched to Transfer2.5 on the same data, Transfer1's measurements do not apply.
    restart_on_transfer25(&mut s.app);
    let view = s.app.get("/api/v1/cost-model").body;
    assert_eq!(view["executor"], "cosmos-transfer2.5");
    assert_eq!(view["samples"], 0, "{view}");
    assert_eq!(view["cost_model"], default);
}
