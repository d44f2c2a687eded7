//! The web interface's operations views in headless Chromium: the Slots page (states, drain,
//! enable), the log viewer (follow a running batch, search, one job's lines), Insights (one
//! mark per recorded batch on the accuracy and timeline charts) and Compare (two runs' videos
//! played in sync, the settings that differ).

use super::{start_daemon, Browser};
use crate::support::TestApp;
use serde_json::{json, Value};

fn batches(app: &TestApp) -> Vec<Value> {
    app.get("/api/v1/batches").body.as_array().unwrap().clone()
}

fn slot_state(app: &TestApp, name: &str) -> Value {
    app.get("/api/v1/slots")
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .map(|s| s["state"].clone())
        .unwrap_or(Value::Null)
}

/// Two slots, one running a batch: the page shows each with its state and the batch (a link
/// to its log); Drain on the idle one takes it out of service, Enable puts it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_slots_show_states_and_drain() {
    // Slow enough that the batch is still running while the page is read.
    let app = start_daemon(&[
        ("COSMOSQ_EXECUTOR__SLOTS", "2"),
        ("COSMOSQ_EXECUTOR__TIME_SCALE", "0.05"),
    ]);
    let prompt = app.create_prompt("a slot at work");
    app.add_job(&prompt, json!({"edge": 0.5}));
    app.wait_until(20, "a slot to take the batch", |app| {
        ["slot0", "slot1"]
            .iter()
            .any(|s| slot_state(app, s) == "busy")
    });
    let (busy, idle) = if slot_state(&app, "slot0") == "busy" {
        ("slot0", "slot1")
    } else {
        ("slot1", "slot0")
    };
    let b = Browser::start().await;
    b.goto(&format!("{}/slots", app.base)).await;
    b.until("two slot rows", 20, || async {
        b.count("#slots .slot-row").await == 2
    })
    .await;
    b.wait_for(&format!(".slot-row[data-slot='{busy}'][data-state='busy']"))
        .await;
    b.wait_for(&format!(".slot-row[data-slot='{idle}'][data-state='idle']"))
        .await;
    // The running batch links to its log viewer.
    let batch = batches(&app)[0]["id"].as_str().unwrap().to_string();
    b.wait_for(&format!(
        ".slot-row[data-slot='{busy}'] a[href='/log/{batch}']"
    ))
    .await;
    // Each state offers what fits it.
    assert_eq!(
        b.count(&format!(".slot-row[data-slot='{idle}'] .slot-enable"))
            .await,
        0
    );

    b.click(&format!(".slot-row[data-slot='{idle}'] .slot-drain"))
        .await;
    b.wait_for(&format!(
        ".slot-row[data-slot='{idle}'][data-state='disabled']"
    ))
    .await;
    assert_eq!(slot_state(&app, idle), "disabled");
    b.wait_for(&format!(".slot-row[data-slot='{idle}'] .slot-enable"))
        .await;
    b.screenshot("slots").await;

    b.click(&format!(".slot-row[data-slot='{idle}'] .slot-enable"))
        .await;
    b.wait_for(&format!(".slot-row[data-slot='{idle}'][data-state='idle']"))
        .await;
    assert_eq!(slot_state(&app, idle), "idle");
    b.close().await;
}

/// The log viewer follows a running batch (new lines arrive without a reload, until the
/// daemon says the log is complete), searches it with a count of matches, and shows one job's
/// lines; the download link points at the attachment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_log_viewer_follows_searches_and_filters_by_job() {
    let app = start_daemon(&[("COSMOSQ_EXECUTOR__TIME_SCALE", "0.012")]);
    app.pause();
    let prompt = app.create_prompt("a batch with a log to read");
    let jobs: Vec<String> = (0..3)
        .map(|_| app.add_job(&prompt, json!({"edge": 0.5})))
        .collect();
    app.resume();
    app.wait_until(20, "the batch to start", |app| {
        batches(app).iter().any(|b| b["status"] == "running")
    });
    let batch = batches(&app)[0]["id"].as_str().unwrap().to_string();
    assert_eq!(batches(&app)[0]["job_ids"].as_array().unwrap().len(), 3);

    let b = Browser::start().await;
    b.goto(&format!("{}/log/{batch}", app.base)).await;
    b.wait_for("#log-viewer #log-lines .log-line").await;
    assert_eq!(
        b.js("return document.querySelector('#log-follow').checked")
            .await,
        true,
        "follow is on while the batch runs"
    );
    let first = b.count("#log-lines .log-line").await;
    b.until("new lines while the batch runs", 30, || async {
        b.count("#log-lines .log-line").await > first
    })
    .await;
    // Until the end, without a reload.
    b.wait_text("#log-lines", "[simulated] batch done").await;
    b.until("the viewer to see the log complete", 20, || async {
        b.js("const f = document.querySelector('#log-follow'); return !f.checked && f.disabled")
            .await
            == true
    })
    .await;
    app.wait_idle(30);
    let whole = app.raw("GET", &format!("/api/v1/batches/{batch}/log"), &[], "");
    assert_eq!(whole.status, 200);
    let lines = whole.body.lines().count() as u64;
    assert_eq!(b.count("#log-lines .log-line").await, lines);

    // Search: every job's "started" line matches.
    b.type_into("#log-search", "started").await;
    b.wait_text("#log-matches", "3 matches").await;
    assert_eq!(b.count("#log-lines .log-line.match").await, 3);
    assert_eq!(b.count("#log-lines mark").await, 3);
    b.click("#log-only-matches").await;
    b.until("only the matching lines", 10, || async {
        b.count("#log-lines .log-line").await == 3
    })
    .await;
    b.click("#log-only-matches").await;
    b.type_into("#log-search", "job 2/3").await;
    b.wait_text("#log-matches", "2 matches").await;
    let href = b
        .js("return document.querySelector('#log-download').getAttribute('href')")
        .await;
    assert_eq!(
        href,
        format!("/api/v1/batches/{batch}/log?download=1").as_str()
    );
    b.screenshot("log-viewer").await;

    // One job's lines (the job selector → ?job=).
    b.js(&format!(
        "const s = document.querySelector('#log-job'); s.value = {}; \
         s.dispatchEvent(new Event('change', {{bubbles: true}}));",
        json!(jobs[1])
    ))
    .await;
    b.until("the URL to name the job", 10, || async {
        b.js("return location.search").await == format!("?job={}", jobs[1]).as_str()
    })
    .await;
    b.until("only that job's lines", 20, || async {
        let text = b.text("#log-lines").await;
        text.contains(&jobs[1]) && !text.contains(&jobs[0]) && !text.contains(&jobs[2])
    })
    .await;
    b.close().await;
}

/// Insights: one mark per recorded batch on the accuracy chart (batches with a measured
/// time) and on the timeline; the saving batching made is stated; the Runs page shows where
/// a batch's time went.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_insights_draw_one_mark_per_batch() {
    let app = start_daemon(&[("COSMOSQ_EXECUTOR__SLOTS", "2")]);
    app.pause();
    let prompt = app.create_prompt("batches to chart");
    // Strict mode: one batch per control signature (the edge pair shares one).
    for weights in [
        json!({"edge": 0.5}),
        json!({"edge": 0.5}),
        json!({"depth": 0.5}),
        json!({"vis": 0.4}),
    ] {
        app.add_job(&prompt, weights);
    }
    app.resume();
    app.wait_idle(60);
    app.add_job(&prompt, json!({"edge": 0.3, "depth": 0.3}));
    app.wait_idle(60);
    app.wait_until(20, "every batch to finish", |app| {
        batches(app).iter().all(|b| b["finished_at"].is_string())
    });
    let recorded = batches(&app);
    assert!(recorded.len() >= 3, "{recorded:?}");
    let measured: Vec<&Value> = recorded
        .iter()
        .filter(|b| b["measured_seconds"].is_number())
        .collect();

    let b = Browser::start().await;
    b.goto(&format!("{}/insights", app.base)).await;
    b.until("a mark per measured batch", 20, || async {
        b.count("svg#chart-accuracy .mark").await == measured.len() as u64
    })
    .await;
    b.until("a timeline bar per batch", 20, || async {
        b.count("svg#chart-timeline .mark").await == recorded.len() as u64
    })
    .await;
    for batch in &recorded {
        let id = batch["id"].as_str().unwrap();
        assert_eq!(
            b.count(&format!("svg#chart-timeline .mark[data-batch='{id}']"))
                .await,
            1,
            "{id} on the timeline"
        );
        if batch["measured_seconds"].is_number() {
            assert_eq!(
                b.count(&format!("svg#chart-accuracy .mark[data-batch='{id}']"))
                    .await,
                1,
                "{id} on the accuracy chart"
            );
        }
    }
    // A bar's tooltip says what ran.
    let tip = b
        .js("return document.querySelector('svg#chart-timeline .mark title').textContent")
        .await;
    assert!(
        tip.as_str().unwrap().contains("controls"),
        "timeline tooltip: {tip}"
    );
    b.wait_for("svg#chart-throughput .mark").await;
    b.wait_text("#savings", "%").await;
    assert!(
        b.text("#accuracy-caption").await.contains("ean error")
            || b.text("#accuracy-caption")
                .await
                .contains("not been fitted")
    );
    b.screenshot("insights").await;

    // Runs: the cost model's split of a batch's time beside the measured seconds.
    b.goto(&format!("{}/runs", app.base)).await;
    b.wait_for(".run-card .time-breakdown .tb-part").await;
    b.screenshot("runs-time-breakdown").await;
    b.close().await;
}

/// Compare: pick two succeeded runs on the Runs page, open Compare, play both in sync from
/// one control, and see the setting that differs marked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_compare_plays_two_runs_in_sync() {
    let app = start_daemon(&[]);
    app.pause();
    let prompt = app.create_prompt("two takes to compare");
    let add = |seed: u64| {
        let r = app.post(
            "/api/v1/jobs",
            json!({"prompt_id": prompt, "config": {"weights": {"edge": 0.5}, "seed": seed}}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    };
    let (one, two) = (add(1), add(7));
    app.resume();
    app.wait_idle(60);
    assert!(app.jobs().iter().all(|j| j["status"] == "succeeded"));

    let b = Browser::start().await;
    b.goto(&format!("{}/runs", app.base)).await;
    let pick = |id: &str| format!("article.run-card[data-id='{id}'] input.select-run");
    b.click(&pick(&one)).await;
    b.until("Compare to wait for a second run", 10, || async {
        b.js("return document.querySelector('#compare-selected').disabled")
            .await
            == true
    })
    .await;
    b.click(&pick(&two)).await;
    b.wait_text("#compare-selected", "Compare 2").await;
    b.click("#compare-selected").await;
    b.until("the Compare URL", 10, || async {
        let path = b.js("return location.pathname + location.search").await;
        let path = path.as_str().unwrap_or("").to_string();
        path.starts_with("/compare?jobs=") && path.contains(&one) && path.contains(&two)
    })
    .await;
    b.until("two videos", 20, || async {
        b.count("#compare video.compare-video").await == 2
    })
    .await;
    b.until("both videos' metadata", 20, || async {
        b.js("return [...document.querySelectorAll('video.compare-video')].every(v => v.readyState >= 1 && !v.error)")
            .await
            == true
    })
    .await;
    b.click("#compare-play").await;
    b.until("both videos playing", 20, || async {
        b.js("return [...document.querySelectorAll('video.compare-video')].every(v => !v.paused && v.currentTime > 0)")
            .await
            == true
    })
    .await;
    // The one seek bar follows the first video.
    b.until("the seek bar to move", 10, || async {
        b.js("return Number(document.querySelector('#compare-seek').value)")
            .await
            .as_f64()
            .unwrap_or(0.0)
            > 0.0
    })
    .await;
    // Kept in step: the second follows the first.
    let drift = b
        .js("const [a, b] = document.querySelectorAll('video.compare-video'); return Math.abs(a.currentTime - b.currentTime);")
        .await;
    assert!(drift.as_f64().unwrap() < 0.5, "drift {drift}");
    // The seed differs; the steps do not.
    assert_eq!(
        b.count("#compare-settings tr[data-setting='seed'] td.differs")
            .await,
        2
    );
    assert_eq!(
        b.count("#compare-settings tr[data-setting='steps'] td.differs")
            .await,
        0
    );
    b.screenshot("compare").await;
    b.click("#compare-play").await;
    b.until("both paused", 10, || async {
        b.js("return [...document.querySelectorAll('video.compare-video')].every(v => v.paused)")
            .await
            == true
    })
    .await;
    b.close().await;
}
