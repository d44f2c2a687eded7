//! Faults of the Cosmos programs: the safety filter, a dying process, running out of GPU
//! memory, cancel and timeout; each ends in the right job states with nothing lost.

use super::{add, add_each, daemon, execute, params};
use serde_json::json;

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
