//! The cost-model refit against the stand-in's true costs.

use super::{add, daemon, execute};
use serde_json::{json, Value};

#[test]
fn the_cost_model_refit_converges_to_the_programs_true_costs() {
    let _heavy = crate::support::heavy();
    let dir = tempfile::tempdir().unwrap();
    let truth = json!({
        "startup_seconds": 100.0,
        "control_load_seconds": {"edge": 300.0, "depth": 400.0},
        "step_seconds": 5.0,
        "control_step_seconds": {"edge": 2.0, "depth": 3.0},
        "batched_pass_efficiency": 0.6,
        "preprocess_seconds": {"edge": 80.0, "depth": 150.0}
    });
    let profile = dir.path().join("truth.json");
    std::fs::write(&profile, truth.to_string()).unwrap();
    let invocations = dir.path().join("invocations.jsonl");
    // Wall seconds per model second. The stand-in counts its model time from its process's
    // start, so the interpreter's start (0.1 s quiet, more on a busy machine) is inside the
    // modelled start-up; what is left (the daemon's spawn and checks, the interpreter's exit:
    // about 10 ms) must stay small against the parameters.
    let scale = 0.03;
    let scale_text = scale.to_string();
    let s = daemon(
        "transfer1",
        "slots = 4\n",
        &[
            ("STANDIN_COST_PROFILE", profile.to_str().unwrap()),
            ("STANDIN_TIME_SCALE", &scale_text),
            ("STANDIN_NO_FFPROBE", "1"),
            ("STANDIN_INVOCATION_LOG", invocations.to_str().unwrap()),
            ("COSMOSQ_EXECUTOR__TIME_SCALE", &scale_text),
        ],
    );
    let app = &s.app;
    app.pause();
    let video = crate::support::test_video();
    let supplying = |controls: &[&str]| -> String {
        let videos: serde_json::Map<String, Value> = controls
            .iter()
            .map(|c| (c.to_string(), json!(video)))
            .collect();
        let r = app.post(
            "/api/v1/prompts",
            json!({"text": format!("supplies {controls:?}"), "input_video": video, "control_videos": videos}),
        );
        r.body["id"].as_str().unwrap().to_string()
    };
    // A design that tells every parameter apart (chosen for a well-conditioned fit): control
    // sets, job counts, step counts, batched passes and supplied control videos all vary.
    // (controls, jobs, steps, one batched pass?, supplied controls)
    type Design<'a> = (&'a [&'a str], usize, u32, bool, &'a [&'a str]);
    let batches: [Design; 16] = [
        (&["edge"], 4, 20, false, &[]),
        (&["depth"], 1, 10, false, &["depth"]),
        (&["edge", "depth"], 1, 10, false, &["edge", "depth"]),
        (&["edge"], 3, 40, true, &["edge"]),
        (&["depth"], 2, 20, true, &[]),
        (&["edge", "depth"], 3, 10, true, &["depth"]),
        (&["edge"], 1, 10, false, &[]),
        (&["depth"], 4, 40, false, &[]),
        (&["edge", "depth"], 2, 20, false, &["depth"]),
        (&["edge"], 2, 10, false, &["edge"]),
        (&["depth"], 3, 20, false, &[]),
        (&["edge", "depth"], 4, 40, true, &["depth"]),
        (&["edge", "depth"], 4, 10, false, &[]),
        (&["edge"], 4, 10, true, &[]),
        (&["depth"], 4, 10, true, &["depth"]),
        (&["edge", "depth"], 1, 40, false, &["edge"]),
    ];
    for (seed, (controls, jobs, steps, batched, supplied)) in batches.iter().enumerate() {
        let prompt = supplying(supplied);
        for j in 0..*jobs {
            let w = if *batched { 0.5 } else { 0.3 + 0.1 * j as f64 };
            let weights: serde_json::Map<String, Value> =
                controls.iter().map(|c| (c.to_string(), json!(w))).collect();
            add(
                app,
                &prompt,
                json!({"weights": weights, "num_steps": steps, "seed": seed}),
            );
        }
    }
    let plan = execute(app, "strict");
    assert_eq!(plan["batches"].as_array().unwrap().len(), batches.len());
    app.wait_idle(300);
    let view = app.get("/api/v1/cost-model").body;
    assert_eq!(view["samples"], batches.len(), "{view}");
    let m = &view["cost_model"];
    // Each run also pays the daemon's spawn and output checks and the interpreter's exit
    // outside the program's own clock: a fixed cost per batch that rightly lands in startup.
    // Measure it: wall minus model time.
    let wall: f64 = app
        .get("/api/v1/batches")
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["measured_seconds"].as_f64().unwrap() / scale)
        .sum();
    let model: f64 = std::fs::read_to_string(&invocations)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["model_seconds"]
                .as_f64()
                .unwrap()
        })
        .sum();
    let overhead = (wall - model) / batches.len() as f64;
    eprintln!("refit: process overhead {overhead:.1} model s per batch; {view}");
    // Per batch: what the daemon measured against the program's model time, both in model
    // seconds (for reading a failure).
    let runs: Vec<Value> = std::fs::read_to_string(&invocations)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for b in app.get("/api/v1/batches").body.as_array().unwrap() {
        let id = b["id"].as_str().unwrap();
        let run = runs
            .iter()
            .find(|r| r["argv"].to_string().contains(id))
            .unwrap();
        let measured = b["measured_seconds"].as_f64().unwrap() / scale;
        let model = run["model_seconds"].as_f64().unwrap();
        eprintln!(
            "refit: batch of {} job(s), {}: measured {measured:.1}, model {model:.1} ({:+.1})",
            b["job_ids"].as_array().map_or(0, Vec::len),
            b["controls"],
            measured - model
        );
    }
    let close = |got: &Value, want: f64, tolerance: f64, what: &str| {
        let g = got.as_f64().unwrap();
        eprintln!(
            "refit: {what}: fitted {g:.3}, true {want:.3} ({:+.1}%)",
            100.0 * (g - want) / want
        );
        assert!(
            (g - want).abs() <= tolerance * want,
            "{what}: fitted {g}, true {want}; {view}"
        );
    };
    close(&m["startup_seconds"], 100.0 + overhead, 0.05, "startup");
    close(&m["batched_pass_efficiency"], 0.6, 0.05, "efficiency");
    // 16 batches for 9 parameters: over-determined enough that the runs' remaining jitter
    // (milliseconds, under a busy machine too) moves no parameter by more than ~0.5%
    // (measured: BENCHMARKS.md, "Cost-model refit").
    for c in ["edge", "depth"] {
        let t = |k: &str| truth[k][c].as_f64().unwrap();
        close(
            &m["control_load_seconds"][c],
            t("control_load_seconds"),
            0.05,
            &format!("load {c}"),
        );
        close(
            &m["control_step_seconds"][c],
            t("control_step_seconds"),
            0.05,
            &format!("step {c}"),
        );
        close(
            &m["preprocess_seconds"][c],
            t("preprocess_seconds"),
            0.05,
            &format!("preprocess {c}"),
        );
    }
    close(&m["step_seconds"], 5.0, 0.05, "step");
    assert!(view["mean_error"].as_f64().unwrap() < 0.02, "{view}");
}
