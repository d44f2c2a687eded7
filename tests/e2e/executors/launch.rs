//! How a batch is launched: argv tokens verbatim, remote-shell quoting, template variables,
//! several slots at once.

use super::{add, daemon, execute, params};
use serde_json::{json, Value};

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
