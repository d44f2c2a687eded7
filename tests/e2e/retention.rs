//! Retention and disk: deleting a finished job removes it and its outputs; `[retention]`
//! removes old outputs by age and by size, sparing pinned jobs; `GET /api/v1/storage`.

use crate::support::TestApp;
use serde_json::json;
use std::path::Path;

fn run_jobs(app: &TestApp, n: usize) -> Vec<String> {
    let prompt = app.create_prompt("kept or not");
    let ids: Vec<String> = (0..n)
        .map(|i| app.add_job(&prompt, json!({"edge": 0.1 + i as f64 / 10.0})))
        .collect();
    app.wait_idle(60);
    ids
}

fn video(app: &TestApp, id: &str) -> Option<String> {
    app.job(id)["outputs"]["video"].as_str().map(str::to_string)
}

#[test]
fn a_finished_job_is_deleted_with_its_outputs_and_a_queued_one_is_not() {
    let app = TestApp::start(&[("COSMOSQ_EXECUTOR__TIME_SCALE", "0.0005")]);
    let ids = run_jobs(&app, 2);
    let path = video(&app, &ids[0]).unwrap();
    assert!(Path::new(&path).is_file());
    let before = app.get("/api/v1/storage").body;
    assert!(before["outputs_bytes"].as_u64().unwrap() > 0, "{before}");
    assert!(before["store_bytes"].as_u64().unwrap() > 0);
    assert!(before["free_bytes"].as_u64().unwrap() > 0);
    assert!(before["logs_bytes"].as_u64().unwrap() > 0);
    assert_eq!(app.delete(&format!("/api/v1/jobs/{}", ids[0])).status, 204);
    assert!(!Path::new(&path).exists(), "its output is gone");
    assert_eq!(app.get(&format!("/api/v1/jobs/{}", ids[0])).status, 404);
    assert!(
        Path::new(&video(&app, &ids[1]).unwrap()).is_file(),
        "the other's stays"
    );
    let after = app.get("/api/v1/storage").body;
    assert!(after["outputs_bytes"].as_u64() < before["outputs_bytes"].as_u64());
    app.pause();
    let queued = app.add_job(&app.create_prompt("waiting"), json!({"edge": 0.5}));
    let r = app.delete(&format!("/api/v1/jobs/{queued}"));
    assert_eq!((r.status, r.code()), (409, "job_not_finished"));
    let r = app.delete("/api/v1/jobs/jb_0000000000000000");
    assert_eq!(r.status, 404);
}

#[test]
fn retention_prunes_old_outputs_and_the_oldest_above_the_size_cap_sparing_pinned_jobs() {
    // By age: outputs older than ~1 s go (the jobs stay, marked pruned), pinned ones stay.
    let dir = tempfile::tempdir().unwrap();
    let config = TestApp::write_config(
        dir.path(),
        "[retention]\nkeep_days = 0.00002\ncheck_seconds = 0.2\n[queue]\nauto_batch = false\n",
    );
    let app = TestApp::start(&[
        ("COSMOSQ_CONFIG", &config),
        ("COSMOSQ_EXECUTOR__TIME_SCALE", "0.0005"),
    ]);
    app.pause();
    let prompt = app.create_prompt("by age");
    let ids: Vec<String> = (0..3)
        .map(|i| app.add_job(&prompt, json!({"edge": 0.2 + i as f64 / 10.0})))
        .collect();
    let r = app.post(&format!("/api/v1/jobs/{}/pin", ids[1]), json!({}));
    assert_eq!(r.body["pinned"], true);
    app.resume();
    app.wait_until(60, "two outputs pruned", |app| {
        app.job(&ids[0])["pruned"] == true && app.job(&ids[2])["pruned"] == true
    });
    let kept = app.job(&ids[1]);
    assert_eq!(kept["pruned"], false);
    assert!(Path::new(kept["outputs"]["video"].as_str().unwrap()).is_file());
    let gone = app.job(&ids[0]);
    assert_eq!(gone["status"], "succeeded", "the job stays");
    assert!(gone["outputs"]["video"].is_null());
    assert_eq!(
        app.get(&format!("/api/v1/jobs/{}/output", ids[0])).status,
        404
    );
    assert_eq!(app.get("/api/v1/storage").body["pruned_jobs"], 2);
    drop(app);

    // By size: a cap of about two outputs keeps the newest two (unpinned).
    let dir = tempfile::tempdir().unwrap();
    let clip = std::fs::metadata(crate::support::test_video())
        .unwrap()
        .len();
    let config = TestApp::write_config(
        dir.path(),
        &format!(
            "[retention]\nmax_output_bytes = {}\ncheck_seconds = 0.2\n[queue]\nauto_batch = false\n",
            clip * 2 + clip / 2
        ),
    );
    let app = TestApp::start(&[
        ("COSMOSQ_CONFIG", &config),
        ("COSMOSQ_EXECUTOR__TIME_SCALE", "0.0005"),
    ]);
    app.pause();
    let prompt = app.create_prompt("by size");
    let ids: Vec<String> = (0..4)
        .map(|i| app.add_job(&prompt, json!({"edge": 0.2 + i as f64 / 10.0})))
        .collect();
    app.resume();
    app.wait_idle(60);
    app.wait_until(30, "the oldest two pruned", |app| {
        app.job(&ids[0])["pruned"] == true && app.job(&ids[1])["pruned"] == true
    });
    assert_eq!(app.job(&ids[2])["pruned"], false);
    assert_eq!(app.job(&ids[3])["pruned"], false);
    let s = app.get("/api/v1/storage").body;
    assert!(
        s["outputs_bytes"].as_u64().unwrap() <= clip * 2 + clip / 2,
        "{s}"
    );
}
