//! Transfer1 runs: every job with its own weights and settings in strict and mixed batches,
//! AV jobs on the AV model, the 4K upscaler alone, identical jobs in one batched pass.

use super::{add, daemon, execute, params};
use serde_json::{json, Value};

#[test]
fn transfer1_runs_every_job_with_its_own_weights_in_strict_and_mixed_batches() {
    for mode in ["strict", "mixed"] {
        let s = daemon("transfer1", "", &[]);
        let app = &s.app;
        app.pause();
        let mut jobs = Vec::new();
        let asks = [
            json!({"edge": 0.5}),
            json!({"depth": 0.5}),
            json!({"edge": 0.7, "depth": 0.2}),
            json!({"edge": 0.5}),
            json!({"vis": 0.3}),
        ];
        for (i, w) in asks.iter().enumerate() {
            let p = app.create_prompt(&format!("prompt {i} of {mode}"));
            let id = add(
                app,
                &p,
                json!({"weights": w, "num_steps": 20, "seed": 7, "guidance": 6}),
            );
            jobs.push((id, w.clone()));
        }
        let plan = execute(app, mode);
        app.wait_idle(60);
        let batches = app.get("/api/v1/batches").body;
        assert_eq!(
            batches.as_array().unwrap().len(),
            plan["batches"].as_array().unwrap().len(),
            "one invocation per planned batch"
        );
        for (id, asked) in &jobs {
            let job = app.job(id);
            assert_eq!(job["status"], "succeeded", "{mode}: {job}");
            let p = params(&job);
            let batch = app
                .get(&format!(
                    "/api/v1/batches/{}",
                    job["batch_id"].as_str().unwrap()
                ))
                .body;
            // Its own weight for each of its controls, and an explicit 0 for the others loaded.
            for c in batch["controls"].as_array().unwrap() {
                let c = c.as_str().unwrap();
                let want = asked.get(c).and_then(Value::as_f64).unwrap_or(0.0);
                assert_eq!(
                    p["raw_weights"][c].as_f64(),
                    Some(want),
                    "{mode} {id} {c}: {p}"
                );
            }
            assert_eq!(p["weights_flattened"], false);
            assert_eq!(p["num_steps"], 20);
            assert_eq!(p["seed"], 7);
            assert_eq!(p["guidance"].as_f64(), Some(6.0));
            assert_eq!(p["sigma_max"].as_f64(), Some(70.0), "the program's default");
            assert_eq!(p["batch_size"], batch["batch_size"]);
            assert!(std::path::Path::new(job["outputs"]["video"].as_str().unwrap()).is_file());
        }
        if mode == "mixed" {
            assert!(batches.as_array().unwrap().len() < jobs.len());
        }
    }
}

#[test]
fn av_jobs_share_the_av_model_even_without_each_others_maps() {
    // Cosmos cannot generate hdmap or lidar, but a branch of weight 0 needs no real input: a
    // mixed AV batch gives the hdmap job its own video as its lidar input, and vice versa.
    let s = daemon("transfer1", "", &[]);
    let app = &s.app;
    app.pause();
    let video = crate::support::test_video();
    let prompt = |text: &str, map: &str| {
        let r = app.post(
            "/api/v1/prompts",
            json!({"text": text, "input_video": video, "control_videos": {map: video}}),
        );
        r.body["id"].as_str().unwrap().to_string()
    };
    let a = add(
        app,
        &prompt("hd", "hdmap"),
        json!({"weights": {"hdmap": 0.5}}),
    );
    let b = add(
        app,
        &prompt("li", "lidar"),
        json!({"weights": {"lidar": 0.5}}),
    );
    let r = app.post(
        "/api/v1/jobs",
        json!({"prompt_id": prompt("no lidar video", "hdmap"), "config": {"weights": {"lidar": 0.5}}}),
    );
    assert_eq!((r.status, r.code()), (422, "control_video_required"));
    let plan = execute(app, "mixed");
    assert_eq!(plan["batches"].as_array().unwrap().len(), 1, "{plan}");
    app.wait_idle(60);
    for (id, own, other) in [(&a, "hdmap", "lidar"), (&b, "lidar", "hdmap")] {
        let job = app.job(id);
        assert_eq!(job["status"], "succeeded", "{job}");
        let p = params(&job);
        assert_eq!(p["model"], "av");
        assert_eq!(p["raw_weights"][other].as_f64(), Some(0.0));
        assert_eq!(p["input_controls"][other], p["visual_input"], "{p}");
        assert_eq!(p["input_controls"][own], json!(video), "{p}");
    }
}

#[test]
fn transfer1_upscales_with_the_4k_upscaler_alone() {
    let s = daemon("transfer1", "", &[]);
    let app = &s.app;
    let p = app.create_prompt("an earlier output to upscale");
    let r = app.post(
        "/api/v1/jobs",
        json!({"prompt_id": p, "kind": "upscale", "config": {"num_steps": 10}}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    // Alongside an inference job: each runs in its own invocation.
    let other = add(app, &p, json!({"weights": {"edge": 0.5}}));
    app.wait_idle(60);
    let job = app.job(&id);
    assert_eq!(job["status"], "succeeded", "{job}");
    let params = params(&job);
    assert_eq!(params["controls"], json!(["upscale"]), "{params}");
    assert_eq!(params["raw_weights"]["upscale"].as_f64(), Some(0.5));
    assert_eq!(params["num_steps"], 10);
    assert_eq!(app.job(&other)["status"], "succeeded");
    assert_ne!(job["batch_id"], app.job(&other)["batch_id"]);
    // The upscaler is not what the cost model describes: only the inference batch is refitted.
    assert_eq!(app.get("/api/v1/cost-model").body["samples"], 1);
    // Prompt enhancement needs Cosmos' prompt upsampler, which no Cosmos profile drives.
    let r = app.post(
        "/api/v1/jobs",
        json!({"prompt_id": p, "kind": "enhance", "config": {}}),
    );
    assert_eq!((r.status, r.code()), (422, "kind_unsupported_by_executor"));
}

#[test]
fn identical_jobs_share_a_batched_pass() {
    let s = daemon("transfer1", "", &[]);
    let app = &s.app;
    app.pause();
    let ids: Vec<String> = (0..3)
        .map(|i| {
            let p = app.create_prompt(&format!("identical {i}"));
            add(app, &p, json!({"weights": {"edge": 0.6}}))
        })
        .collect();
    let plan = execute(app, "strict");
    assert_eq!(plan["batches"][0]["batch_size"], 3);
    app.wait_idle(60);
    for id in &ids {
        let p = params(&app.job(id));
        assert_eq!(p["batch_size"], 3);
        assert_eq!(p["group_size"], 3);
        assert_eq!(p["raw_weights"]["edge"].as_f64(), Some(0.6));
    }
}
