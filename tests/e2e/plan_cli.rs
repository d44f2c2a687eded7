//! `cosmosq plan FILE`: offline planning through the real binary.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn cosmosq(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cosmosq"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cosmosq");
    // A command that refuses its arguments exits before it reads: its stdin may be closed.
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or("").as_bytes());
    child.wait_with_output().unwrap()
}

const QUEUE: &str = r#"{"jobs": [
  {"id": "j1", "weights": {"edge": 0.5}},
  {"id": "j2", "weights": {"depth": 0.5}},
  {"id": "j3", "weights": {"edge": 0.7}},
  {"id": "j4", "kind": "enhance"},
  {"id": "j5", "weights": {"seg": 1.0}, "seed": 3}
]}"#;

fn plan_json(args: &[&str]) -> serde_json::Value {
    let out = cosmosq(args, Some(QUEUE));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("plan prints JSON")
}

#[test]
fn strict_plan_from_stdin_prints_the_preview_shape() {
    let v = plan_json(&["plan", "-"]);
    assert!(v["plan_id"].as_str().unwrap().starts_with("pl_"));
    let batches = v["batches"].as_array().unwrap();
    let groups: Vec<Vec<&str>> = batches
        .iter()
        .map(|b| {
            b["job_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(groups, vec![vec!["j1", "j3"], vec!["j2"], vec!["j5"]]);
    assert_eq!(batches[0]["batch_size"], 1, "weights differ");
    assert_eq!(v["excluded"][0]["job_id"], "j4");
    assert_eq!(v["metrics"]["job_count"], 4);
    assert_eq!(v["metrics"]["batch_count"], 3);
}

#[test]
fn mixed_plan_merges_and_is_no_slower_than_strict() {
    let strict = plan_json(&["plan", "-", "--mode", "strict"]);
    let mixed = plan_json(&["plan", "-", "--mode", "mixed"]);
    assert_eq!(mixed["metrics"]["batch_count"], 2);
    assert_eq!(
        mixed["batches"][0]["controls"],
        serde_json::json!(["depth", "edge"])
    );
    let s = strict["metrics"]["estimated_batched_seconds"]
        .as_f64()
        .unwrap();
    let m = mixed["metrics"]["estimated_batched_seconds"]
        .as_f64()
        .unwrap();
    assert!(m < s);
    assert_ne!(strict["plan_id"], mixed["plan_id"]);
}

#[test]
fn limits_and_cost_model_files_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("cost.toml");
    std::fs::write(&model, "startup_seconds = 0.0\nstep_seconds = 1.0\n").unwrap();
    let v = plan_json(&[
        "plan",
        "-",
        "--max-batch-size",
        "1",
        "--cost-model",
        model.to_str().unwrap(),
    ]);
    assert_eq!(v["metrics"]["batch_count"], 4);
    assert!(v["batches"].as_array().unwrap().iter().all(|b| b["job_ids"]
        .as_array()
        .unwrap()
        .len()
        == 1));
    // edge alone with startup 0: 90 load + 35 * (1 + 1) + 2 preprocess
    assert_eq!(v["batches"][0]["estimated_seconds"], 162.0);
}

#[test]
fn table_format_explains_each_batch() {
    let out = cosmosq(
        &["plan", "-", "--mode", "mixed", "--format", "table"],
        Some(QUEUE),
    );
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("why: Mixed controls"), "{text}");
    assert!(text.contains("excluded j4"), "{text}");
    assert!(text.contains("4 jobs -> 2 batches"), "{text}");
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let cases = [
        (
            r#"{"jobs": [{"id": "x", "weights": {"edge": 1.5}}]}"#,
            "weight_out_of_range",
        ),
        (
            r#"{"jobs": [{"id": "x", "weights": {"sketch": 1}}]}"#,
            "unknown_control",
        ),
        (
            r#"{"jobs": [{"id": "x", "weights": {"edge": 0}}]}"#,
            "no_active_control",
        ),
        (
            r#"{"jobs": [{"id": "x", "weights": {"edge": 1}}, {"id": "x", "weights": {"edge": 1}}]}"#,
            "duplicate_job_id",
        ),
        (
            r#"{"jobs": [{"id": "x", "weights": {"edge": 1}, "num_steps": 0}]}"#,
            "num_steps_out_of_range",
        ),
        ("not json", "not a plan file"),
    ];
    for (input, expected) in cases {
        let out = cosmosq(&["plan", "-"], Some(input));
        assert_eq!(out.status.code(), Some(2), "{input}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{input}: {err}");
        assert!(out.stdout.is_empty());
    }
    let out = cosmosq(&["plan", "/nonexistent/jobs.json"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    let out = cosmosq(&["plan", "-", "--max-batch-size", "0"], Some(QUEUE));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_batch_size"));
}

#[test]
fn plans_for_the_profile_it_is_told() {
    let identical = r#"{"jobs": [
      {"id": "a", "weights": {"edge": 0.5}},
      {"id": "b", "weights": {"edge": 0.5}}
    ]}"#;
    let run = |profile: &str| -> serde_json::Value {
        let out = cosmosq(&["plan", "-", "--profile", profile], Some(identical));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // Transfer1 (the default) runs identical jobs as one batched pass; Transfer2.5 has none.
    assert_eq!(run("cosmos-transfer1")["batches"][0]["batch_size"], 2);
    let t25 = run("cosmos-transfer2.5");
    assert_eq!(t25["batches"][0]["batch_size"], 1);
    assert_eq!(t25["batches"][0]["job_ids"].as_array().unwrap().len(), 2);
    let out = cosmosq(&["plan", "-", "--profile", "nope"], Some(identical));
    assert_eq!(out.status.code(), Some(2));
}
