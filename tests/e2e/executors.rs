//! The Cosmos executor profiles against the stand-in program (tests/standin): each job's
//! recorded effective weights and settings equal what it asked for, and every fault ends in
//! the right job states with nothing lost.

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

fn params(job: &Value) -> Value {
    let path = job["outputs"]["params"]
        .as_str()
        .unwrap_or_else(|| panic!("no params: {job}"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn add(app: &TestApp, prompt: &str, config: Value) -> String {
    let r = app.post(
        "/api/v1/jobs",
        json!({"prompt_id": prompt, "config": config}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

/// `n` jobs with `config`, each on a prompt of its own (`"{text} {i}"`).
fn add_each(app: &TestApp, n: usize, text: &str, config: Value) -> Vec<String> {
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
fn restart_on_transfer25(app: &mut TestApp) {
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

fn execute(app: &TestApp, mode: &str) -> Value {
    let plan = app
        .get(&format!("/api/v1/batches/preview?mode={mode}"))
        .body;
    let r = app.post("/api/v1/batches", json!({"plan_id": plan["plan_id"]}));
    assert_eq!(r.status, 202, "{}", r.body);
    plan
}

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
            assert_eq!(p["sigma_max"].as_f64(), Some(70.0));
            assert_eq!(p["batch_size"], batch["batch_size"]);
            assert!(std::path::Path::new(job["outputs"]["video"].as_str().unwrap()).is_file());
        }
        if mode == "mixed" {
            assert!(batches.as_array().unwrap().len() < jobs.len());
        }
    }
}

#[test]
fn mixed_batches_load_hdmap_only_for_jobs_that_supply_it() {
    // Cosmos cannot generate an hdmap input: a mixed batch that loaded hdmap for a job whose
    // prompt has no hdmap video would fail the whole run (the stand-in refuses it as the real
    // program does).
    let s = daemon("transfer1", "", &[]);
    let app = &s.app;
    app.pause();
    let video = crate::support::test_video();
    let with_map = app.post(
        "/api/v1/prompts",
        json!({"text": "with a map", "input_video": video, "control_videos": {"hdmap": video}}),
    );
    let with_map = with_map.body["id"].as_str().unwrap().to_string();
    let plain = app.create_prompt("no map");
    let a = add(
        app,
        &with_map,
        json!({"weights": {"edge": 0.5, "hdmap": 0.5}}),
    );
    let b = add(app, &plain, json!({"weights": {"edge": 0.5}}));
    let c = add(app, &with_map, json!({"weights": {"edge": 0.3}}));
    let plan = execute(app, "mixed");
    let batches = plan["batches"].as_array().unwrap();
    let together = |x: &str, y: &str| {
        batches.iter().any(|b| {
            let ids = b["job_ids"].to_string();
            ids.contains(x) && ids.contains(y)
        })
    };
    // (Sharing edge's load with `b` would save time; the planner pairs `b` with `c` instead.)
    assert!(!together(&a, &b), "{plan}");
    app.wait_idle(60);
    for id in [&a, &b, &c] {
        let job = app.job(id);
        assert_eq!(job["status"], "succeeded", "{job}");
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

#[test]
fn a_blocked_job_fails_and_reindexed_outputs_are_not_misattributed() {
    let s = daemon("transfer1", "", &[]);
    let app = &s.app;
    app.pause();
    let texts = [
        "first clip",
        "second clip [standin:block]",
        "third clip",
        "fourth clip",
    ];
    let ids: Vec<String> = texts
        .iter()
        .map(|t| {
            let p = app.create_prompt(t);
            add(app, &p, json!({"weights": {"edge": 0.5}}))
        })
        .collect();
    let plan = execute(app, "strict");
    assert_eq!(
        plan["batches"][0]["batch_size"], 4,
        "one group: the block re-indexes it"
    );
    app.wait_idle(60);
    let blocked = app.job(&ids[1]);
    assert_eq!(blocked["status"], "failed");
    assert!(["no_output", "blocked_by_safety_filter"]
        .contains(&blocked["error"]["code"].as_str().unwrap()));
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| *i != 1) {
        let job = app.job(id);
        assert_eq!(job["status"], "succeeded", "{job}");
        let p = params(&job);
        // The output attached to this job really is this job's (its line), wherever it landed.
        assert_eq!(p["line"], i, "{p}");
        assert_eq!(p["original_prompt"], texts[i]);
    }
}

#[test]
fn a_dead_process_fails_the_dying_job_and_requeues_the_rest() {
    let s = daemon("transfer1", "", &[]);
    let app = &s.app;
    app.pause();
    // Different weights: one job per group, so a blocked job kills the process.
    let a = add(
        app,
        &app.create_prompt("fine clip"),
        json!({"weights": {"edge": 0.4}}),
    );
    let b = add(
        app,
        &app.create_prompt("bad clip [standin:block]"),
        json!({"weights": {"edge": 0.5}}),
    );
    let c = add(
        app,
        &app.create_prompt("later clip"),
        json!({"weights": {"edge": 0.6}}),
    );
    let plan = execute(app, "strict");
    assert_eq!(plan["batches"][0]["batch_size"], 1);
    app.wait_until(60, "the batch to end", |app| {
        app.get("/api/v1/batches").body[0]["status"] == "failed"
    });
    assert_eq!(app.job(&a)["status"], "succeeded");
    let dead = app.job(&b);
    assert_eq!(dead["status"], "failed");
    let code = dead["error"]["code"].as_str().unwrap();
    assert!(
        ["process_died", "blocked_by_safety_filter"].contains(&code),
        "{dead}"
    );
    let later = app.job(&c);
    assert_eq!(later["status"], "queued", "never ran: back in the queue");
    assert!(later["batch_id"].is_null());
    app.resume();
    app.wait_idle(60);
    assert_eq!(app.job(&c)["status"], "succeeded");
}

#[test]
fn out_of_memory_splits_the_batch_until_it_fits() {
    // 20 base + 10 per control + 5 per job: 4 jobs need 50 GB, 2 need 40 GB.
    let s = daemon("transfer1", "", &[("STANDIN_MEMORY_BUDGET_GB", "42")]);
    let app = &s.app;
    app.pause();
    let ids = add_each(app, 4, "oom", json!({"weights": {"seg": 0.5}}));
    let plan = execute(app, "strict");
    assert_eq!(plan["batches"][0]["batch_size"], 4);
    app.wait_until(60, "all jobs to finish", |app| {
        ids.iter().all(|id| app.job(id)["status"] == "succeeded")
    });
    let batches = app.get("/api/v1/batches").body;
    let batches = batches.as_array().unwrap();
    assert_eq!(batches.len(), 3, "the OOM batch and its two halves");
    let first = batches
        .iter()
        .find(|b| b["job_ids"].as_array().unwrap().len() == 4)
        .unwrap();
    assert_eq!(first["status"], "failed");
    assert_eq!(first["error"]["code"], "out_of_memory");
    for half in batches
        .iter()
        .filter(|b| b["job_ids"].as_array().unwrap().len() == 2)
    {
        assert_eq!(half["status"], "succeeded");
        assert!(half["reason"]
            .as_str()
            .unwrap()
            .contains("ran out of GPU memory"));
    }
    // The lower size is remembered for one control.
    let again = app.get("/api/v1/queue").body;
    assert_eq!(again["settings"]["learned_caps"]["1"], 2, "{again}");
}

#[test]
fn a_single_job_that_does_not_fit_fails_with_out_of_memory() {
    let s = daemon("transfer1", "", &[("STANDIN_MEMORY_BUDGET_GB", "10")]);
    let app = &s.app;
    let id = add(
        app,
        &app.create_prompt("too big"),
        json!({"weights": {"edge": 0.5}}),
    );
    app.wait_idle(60);
    let job = app.job(&id);
    assert_eq!(job["status"], "failed");
    assert_eq!(job["error"]["code"], "out_of_memory");
}

#[test]
fn transfer25_out_of_memory_teaches_no_smaller_batch_size() {
    // Transfer2.5 runs a batch's jobs one after another: one that does not fit fails alone,
    // and the batch size it ran in says nothing about memory.
    let s = daemon("transfer2.5", "", &[("STANDIN_MEMORY_BUDGET_GB", "10")]);
    let app = &s.app;
    app.pause();
    let ids = add_each(app, 2, "too big", json!({"weights": {"edge": 0.5}}));
    let plan = execute(app, "strict");
    assert_eq!(plan["batches"][0]["job_ids"].as_array().unwrap().len(), 2);
    app.wait_until(60, "both jobs to fail", |app| {
        ids.iter().all(|id| app.job(id)["status"] == "failed")
    });
    for id in &ids {
        assert_eq!(app.job(id)["error"]["code"], "out_of_memory");
    }
    let q = app.get("/api/v1/queue").body;
    assert_eq!(q["settings"]["learned_caps"], json!({}), "{q}");
}

#[test]
fn cancel_stops_the_program_and_requeues_the_other_jobs() {
    let s = daemon("transfer1", "", &[("STANDIN_TIME_SCALE", "0.01")]);
    let app = &s.app;
    app.pause();
    let ids: Vec<String> = (0..3)
        .map(|i| {
            add(
                app,
                &app.create_prompt(&format!("slow {i}")),
                json!({"weights": {"edge": 0.3 + i as f64 / 10.0}}),
            )
        })
        .collect();
    execute(app, "strict");
    app.wait_until(30, "the batch to run", |app| {
        app.job(&ids[0])["status"] == "running"
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    app.post(&format!("/api/v1/jobs/{}/cancel", ids[1]), json!({}));
    app.wait_until(30, "the batch to stop", |app| {
        app.get("/api/v1/batches").body[0]["status"] == "canceled"
    });
    assert_eq!(app.job(&ids[1])["status"], "canceled");
    for id in [&ids[0], &ids[2]] {
        let job = app.job(id);
        assert!(
            ["queued", "succeeded"].contains(&job["status"].as_str().unwrap()),
            "{job}"
        );
    }
    assert_eq!(app.job(&ids[2])["status"], "queued");
}

#[test]
fn two_slots_run_two_batches_at_once() {
    let s = daemon(
        "transfer1",
        "[[executor.slots]]\nname = \"gpu0\"\nenv = { CUDA_VISIBLE_DEVICES = \"0\" }\n[[executor.slots]]\nname = \"gpu1\"\nenv = { CUDA_VISIBLE_DEVICES = \"1\" }\n",
        &[("STANDIN_TIME_SCALE", "0.003")],
    );
    let app = &s.app;
    app.pause();
    // Different seeds: two batches that cannot merge.
    for seed in [1, 2] {
        add(
            app,
            &app.create_prompt(&format!("seed {seed}")),
            json!({"weights": {"edge": 0.5}, "seed": seed}),
        );
    }
    execute(app, "strict");
    app.wait_idle(60);
    let batches = app.get("/api/v1/batches").body;
    let b = batches.as_array().unwrap();
    assert_eq!(b.len(), 2);
    let mut slots: Vec<&str> = b.iter().map(|x| x["slot"].as_str().unwrap()).collect();
    slots.sort();
    assert_eq!(slots, vec!["gpu0", "gpu1"]);
    // Overlap: each started before the other finished.
    let t = |x: &Value, k: &str| humantime::parse_rfc3339(x[k].as_str().unwrap()).unwrap();
    assert!(t(&b[0], "started_at") < t(&b[1], "finished_at"));
    assert!(t(&b[1], "started_at") < t(&b[0], "finished_at"));
}

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
    for (id, edge, depth) in [(&ok1, 0.6, 0.0), (&ok2, 0.2, 0.7)] {
        let job = app.job(id);
        assert_eq!(job["status"], "succeeded", "{job}");
        let p = params(&job);
        assert_eq!(p["name"], id.as_str());
        assert_eq!(p["requested_weights"]["edge"].as_f64(), Some(edge), "{p}");
        assert_eq!(p["weights"]["depth"].as_f64(), Some(depth), "{p}");
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
fn prompt_text_reaches_the_program_verbatim_and_runs_nothing() {
    let s = daemon("transfer1", "", &[]);
    let app = &s.app;
    let marker = std::env::temp_dir().join(format!("cosmosq-pwned-{}", std::process::id()));
    let text = format!(
        "a cat; touch {0} $(touch {0}) `touch {0}` | tee {0} && echo \"'\\",
        marker.display()
    );
    let id = add(
        app,
        &app.create_prompt(&text),
        json!({"weights": {"edge": 0.5}}),
    );
    app.wait_idle(60);
    let job = app.job(&id);
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(params(&job)["original_prompt"], text.trim());
    assert!(!marker.exists(), "a shell ran the prompt");
}

/// A slot behind `ssh`: the remote side joins the argv into one string for its shell. With
/// `remote_shell = true` every token is quoted for it, so text still arrives verbatim.
#[test]
fn a_remote_shell_slot_quotes_every_token_for_the_remote_shell() {
    let dir = tempfile::tempdir().unwrap();
    // What `ssh host ARGS...` does on the far side: `$SHELL -c "ARGS joined by spaces"`.
    let ssh = dir.path().join("fake-ssh.py");
    std::fs::write(
        &ssh,
        "import subprocess, sys\nsys.exit(subprocess.call(['sh', '-c', ' '.join(sys.argv[1:])]))\n",
    )
    .unwrap();
    let s = daemon(
        "transfer1",
        &format!(
            "[[executor.slots]]\nname = \"remote\"\nremote_shell = true\nprefix = [\"python3\", \"{}\"]\n",
            ssh.display()
        ),
        &[],
    );
    let app = &s.app;
    let marker = dir.path().join("pwned");
    let negative = format!(
        "blurry; touch {0} $(touch {0}) `touch {0}` | tee {0} && echo \"it's\"",
        marker.display()
    );
    let video = crate::support::test_video();
    let r = app.post(
        "/api/v1/prompts",
        json!({"text": "a cat", "negative_prompt": negative, "input_video": video}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let id = add(
        app,
        r.body["id"].as_str().unwrap(),
        json!({"weights": {"edge": 0.5}}),
    );
    app.wait_idle(60);
    let job = app.job(&id);
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(params(&job)["negative_prompt"], negative.as_str());
    assert!(!marker.exists(), "the remote shell ran the negative prompt");
}

/// Launch settings name the batch, its directory, the slot and the job count; the flags built
/// from the jobs are never expanded.
#[test]
fn template_variables_expand_in_launch_settings_only() {
    let s = daemon(
        "transfer1",
        "env = { STANDIN_INVOCATION_LOG = \"{batch_dir}/invocation-{slot}-{jobs}.jsonl\" }\n\
         [[executor.slots]]\nname = \"gpu7\"\nprefix = [\"env\", \"COSMOS_BATCH={batch_id}\"]\n",
        &[],
    );
    let app = &s.app;
    let text = "a {batch_id} and {{ braces }} stay as written";
    let id = add(
        app,
        &app.create_prompt(text),
        json!({"weights": {"edge": 0.5}}),
    );
    app.wait_idle(60);
    let job = app.job(&id);
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(params(&job)["original_prompt"], text);
    let batch = app
        .get(&format!(
            "/api/v1/batches/{}",
            job["batch_id"].as_str().unwrap()
        ))
        .body;
    let log = std::fs::read_to_string(batch["log_path"].as_str().unwrap()).unwrap();
    assert!(
        log.contains(&format!(
            "\"COSMOS_BATCH={}\"",
            batch["id"].as_str().unwrap()
        )),
        "{log}"
    );
    let dir = std::path::Path::new(batch["log_path"].as_str().unwrap())
        .parent()
        .unwrap();
    let record = std::fs::read_to_string(dir.join("invocation-gpu7-1.jsonl")).unwrap();
    assert!(record.contains("\"exit_code\": 0"), "{record}");
}

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

#[test]
fn a_batch_past_its_time_limit_is_stopped_and_fails_with_timeout() {
    let s = daemon(
        "transfer1",
        "timeout_factor = 0.0\n",
        &[
            ("STANDIN_TIME_SCALE", "1"),
            ("COSMOSQ_EXECUTOR__TIMEOUT_MIN_SECONDS", "1"),
        ],
    );
    let app = &s.app;
    let id = add(
        app,
        &app.create_prompt("takes forever"),
        json!({"weights": {"edge": 0.5}}),
    );
    app.wait_idle(60);
    let job = app.job(&id);
    assert_eq!(job["status"], "failed");
    assert_eq!(job["error"]["code"], "timeout", "{job}");
    let batch = &app.get("/api/v1/batches").body[0];
    assert!(
        batch["measured_seconds"].as_f64().unwrap() < 10.0,
        "{batch}"
    );
}
