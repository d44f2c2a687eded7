//! What upstream's own code does with our launches, through the stand-in that follows it:
//! seeds within numpy's range, negative prompts that argparse would take for a flag, one model
//! family per process (Transfer1's AV and distilled models, Transfer2.5's single-control
//! checkpoints and multibranch model), the weights each job really runs with, no control video
//! generated for a weight-0 branch, and the program's own defaults for settings left out.

use super::{add, daemon, execute, params};
use crate::support::{video_of, TestApp};
use serde_json::{json, Value};

/// The stand-in's invocation records (argv, exit code, ...), one per run.
fn invocations(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn prompt_with(app: &TestApp, body: Value) -> String {
    let r = app.post("/api/v1/prompts", body);
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

#[test]
fn transfer1_jobs_run_with_exactly_the_weights_settings_and_model_the_daemon_shows() {
    for mode in ["strict", "mixed"] {
        let log = tempfile::NamedTempFile::new().unwrap();
        let log_path = log.path().display().to_string();
        let s = daemon("transfer1", "", &[("STANDIN_INVOCATION_LOG", &log_path)]);
        let app = &s.app;
        app.pause();
        let video = crate::support::test_video();
        let video = video.display().to_string();
        // Weights summing above 1 run divided by their sum, in bfloat16.
        let pair = add(
            app,
            &app.create_prompt("pair"),
            json!({"weights": {"edge": 0.7, "depth": 0.5}}),
        );
        let job = app.job(&pair);
        assert_eq!(
            job["effective_weights"],
            json!({"depth": 0.416015625, "edge": 0.58203125}),
            "{job}"
        );
        assert_eq!(
            job["config"]["sigma_max"],
            Value::Null,
            "left to the program"
        );
        let depth = add(
            app,
            &app.create_prompt("depth"),
            json!({"weights": {"depth": 0.9}}),
        );
        // A negative prompt that argparse would take for a flag.
        let dash = prompt_with(
            app,
            json!({"text": "dash", "input_video": video, "negative_prompt": "-blurry"}),
        );
        let dash = add(app, &dash, json!({"weights": {"edge": 0.5}}));
        // The AV model's controls, each with its video.
        let maps = json!({"hdmap": video, "lidar": video});
        let av = prompt_with(
            app,
            json!({"text": "av", "input_video": video, "control_videos": maps}),
        );
        let hdmap = add(app, &av, json!({"weights": {"hdmap": 0.6}}));
        let lidar = add(app, &av, json!({"weights": {"lidar": 0.4}}));
        let r = app.post(
            "/api/v1/jobs",
            json!({"prompt_id": av, "config": {"weights": {"hdmap": 0.5, "edge": 0.5}}}),
        );
        assert_eq!(
            (r.status, r.code()),
            (422, "controls_from_two_models"),
            "{}",
            r.body
        );
        // The distilled edge model.
        let distilled = add(
            app,
            &app.create_prompt("distilled"),
            json!({"weights": {"edge": 0.5}, "distilled": true}),
        );
        let preview = app
            .get(&format!("/api/v1/batches/preview?mode={mode}"))
            .body;
        let batch_of = |id: &str| {
            preview["batches"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["job_ids"].to_string().contains(id))
                .unwrap()
                .clone()
        };
        let b = batch_of(&pair);
        assert_eq!(
            b["effective_weights"][&pair], job["effective_weights"],
            "{b}"
        );
        let reason = b["reason"].as_str().unwrap();
        assert!(
            reason.contains("program default: sigma_max 70, fps 24"),
            "{reason}"
        );
        assert!(batch_of(&hdmap)["reason"]
            .as_str()
            .unwrap()
            .contains("AV model"));
        if mode == "mixed" {
            assert_eq!(batch_of(&hdmap)["job_ids"], batch_of(&lidar)["job_ids"]);
        }
        for other in [&pair, &depth, &dash, &distilled] {
            assert!(!batch_of(&hdmap)["job_ids"]
                .to_string()
                .contains(other.as_str()));
        }
        assert_eq!(batch_of(&distilled)["job_ids"], json!([distilled]));
        execute(app, mode);
        app.wait_idle(60);

        for id in [&pair, &depth, &dash, &hdmap, &lidar, &distilled] {
            let job = app.job(id);
            assert_eq!(job["status"], "succeeded", "{mode}: {job}");
            let p = params(&job);
            // What the program ran with for each control the job asked for is what the
            // daemon shows; the other loaded controls ran at 0 on the job's own video.
            for (c, w) in job["effective_weights"].as_object().unwrap() {
                assert_eq!(p["weights"][c], *w, "{mode} {id} {c}: {p}");
            }
            for (c, input) in p["input_controls"].as_object().unwrap() {
                if job["config"]["weights"][c].as_f64().unwrap_or(0.0) == 0.0 {
                    assert_eq!(p["raw_weights"][c].as_f64(), Some(0.0), "{p}");
                    assert!(
                        input.is_string(),
                        "{mode} {id} {c}: nothing to generate: {p}"
                    );
                }
            }
            assert_eq!(p["sigma_max"].as_f64(), Some(70.0), "the program's default");
            assert_eq!(p["fps"], 24);
        }
        assert_eq!(params(&app.job(&dash))["negative_prompt"], "-blurry");
        assert_eq!(params(&app.job(&hdmap))["model"], "av");
        let d = params(&app.job(&distilled));
        assert_eq!(
            (d["model"].as_str(), d["num_steps"].as_u64()),
            (Some("distilled"), Some(1))
        );
        assert_eq!(params(&app.job(&pair))["model"], "general");
        let runs = invocations(log.path());
        assert!(runs.iter().all(|r| r["exit_code"] == 0), "{runs:?}");
        for r in &runs {
            let argv = r["argv"].to_string();
            assert!(
                !argv.contains("--sigma_max") && !argv.contains("--negative_prompt"),
                "{argv}"
            );
        }
        if mode == "mixed" {
            // A mixed batch gives each job's unasked controls its own video: no control video
            // is generated for a weight-0 branch.
            let p = params(&app.job(&depth));
            assert_eq!(
                p["controls"],
                json!(["depth", "edge"]),
                "merged with `pair`: {p}"
            );
            {
                let folder =
                    std::path::Path::new(app.job(&depth)["outputs"]["video"].as_str().unwrap())
                        .parent()
                        .unwrap()
                        .to_path_buf();
                assert!(!folder.join("edge_input_control_0.mp4").exists());
                assert!(folder.join("depth_input_control_0.mp4").exists());
            }
        }
    }
}

#[test]
fn transfer1_refuses_seeds_its_chunks_cannot_use() {
    let s = daemon("transfer1", "", &[]);
    let app = &s.app;
    let long = video_of(122); // two 121-frame chunks: seeds s and s + 1
    let long = prompt_with(app, json!({"text": "long", "input_video": long}));
    let short = app.create_prompt("short");
    let max = u64::from(u32::MAX);
    let seeded = |prompt: &str, seed: u64| {
        app.post(
            "/api/v1/jobs",
            json!({"prompt_id": prompt, "config": {"weights": {"edge": 0.5}, "seed": seed}}),
        )
    };
    for (prompt, seed) in [(&short, max + 6), (&long, max)] {
        let r = seeded(prompt, seed);
        assert_eq!(
            (r.status, r.code()),
            (422, "seed_unsupported_by_executor"),
            "{}",
            r.body
        );
    }
    let r = seeded(&long, max - 1);
    assert_eq!(r.status, 201, "{}", r.body);
    let ok = r.body["id"].as_str().unwrap().to_string();
    let r = seeded(&short, max);
    assert_eq!(r.status, 201, "{}", r.body);
    app.wait_idle(60);
    assert_eq!(app.job(&ok)["status"], "succeeded");
    assert_eq!(params(&app.job(&ok))["seed"].as_u64(), Some(max - 1));
}

#[test]
fn transfer25_keeps_one_control_jobs_on_their_own_checkpoint_and_its_defaults() {
    let s = daemon("transfer2.5", "", &[]);
    let app = &s.app;
    app.pause();
    let edge = add(
        app,
        &app.create_prompt("edge"),
        json!({"weights": {"edge": 0.6}}),
    );
    let edge2 = add(
        app,
        &app.create_prompt("edge 2"),
        json!({"weights": {"edge": 0.4}, "sigma_max": 80}),
    );
    let multi = add(
        app,
        &app.create_prompt("multi"),
        json!({"weights": {"edge": 0.7, "depth": 0.6}}),
    );
    // No normalisation on Transfer2.5: what it asks is what runs.
    assert_eq!(
        app.job(&multi)["effective_weights"],
        json!({"depth": 0.6, "edge": 0.7})
    );
    let p = app.create_prompt("fps");
    let r = app.post(
        "/api/v1/jobs",
        json!({"prompt_id": p, "config": {"weights": {"edge": 0.5}, "fps": 30}}),
    );
    assert_eq!((r.status, r.code()), (422, "fps_unsupported_by_executor"));
    let r = app.post(
        "/api/v1/jobs",
        json!({"prompt_id": p, "config": {"weights": {"edge": 0.5}, "distilled": true}}),
    );
    assert_eq!(
        (r.status, r.code()),
        (422, "distilled_unsupported_by_executor")
    );
    let plan = execute(app, "mixed");
    let with_multi = plan["batches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["job_ids"].to_string().contains(&multi))
        .unwrap();
    assert_eq!(with_multi["job_ids"], json!([multi]), "{plan}");
    assert!(
        with_multi["reason"]
            .as_str()
            .unwrap()
            .contains("multibranch"),
        "{plan}"
    );
    app.wait_idle(60);
    let (e, e2, m) = (
        params(&app.job(&edge)),
        params(&app.job(&edge2)),
        params(&app.job(&multi)),
    );
    assert_eq!(
        (e["model"].as_str(), e2["model"].as_str()),
        (Some("edge"), Some("edge"))
    );
    assert_eq!(m["model"], "multicontrol");
    assert_eq!(
        m["controls"],
        json!(["edge", "depth"]),
        "only its own controls: {m}"
    );
    assert_eq!(m["weights"]["depth"].as_f64(), Some(0.6));
    assert_eq!(m["weights"]["edge"].as_f64(), Some(0.7));
    assert_eq!(
        e["sigma_max"],
        Value::Null,
        "no default: generation starts from noise"
    );
    assert_eq!(e2["sigma_max"], "80");
}
