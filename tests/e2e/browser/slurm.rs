//! The web interface under the Slurm launcher: a batch waiting for the cluster's resources
//! shows Slurm's state and reason, then runs.

use super::{dist, Browser};
use crate::slurm::{cluster, slurm_daemon, take_both_gpus};
use serde_json::json;
use std::process::Command;

// The cluster's guard is held for the whole test on purpose (the Slurm tests take turns); no
// other task of this test's runtime takes it.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_shows_a_slurm_batch_waiting_for_resources_with_slurms_reason() {
    let _cluster = cluster();
    // Both GPUs taken by someone else's job: the batch waits.
    let blocker = take_both_gpus(30);
    let dist = dist();
    let (s, _runs) = slurm_daemon(
        "transfer1",
        "",
        &[("COSMOSQ_SPA_DIR", dist.to_str().unwrap())],
    );
    let app = &s.app;
    let prompt = app.create_prompt("waits for a GPU");
    let r = app.post(
        "/api/v1/jobs",
        json!({"prompt_id": prompt, "config": {"weights": {"edge": 0.5}}}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let job = r.body["id"].as_str().unwrap().to_string();
    let b = Browser::start().await;
    b.goto(&format!("{}/queue", app.base)).await;
    let pending = ".batch-live .badge.slurm[data-slurm-state='PENDING']";
    b.wait_for(pending).await;
    let text = b.text(pending).await;
    assert!(
        text.contains("(Resources)") || text.contains("(Priority)"),
        "Slurm's reason: {text}"
    );
    b.wait_text(".batch-live .timing", "waiting for the cluster's resources")
        .await;
    b.screenshot("slurm-pending").await;
    let _ = Command::new("scancel").arg(&blocker).status();
    b.until("the job to run and succeed", 60, || async {
        app.job(&job)["status"] == "succeeded"
    })
    .await;
    b.close().await;
}
