//! The web interface's flows in headless Chromium: from a prompt to its runs, a stale plan,
//! the access token, the preview benchmark, and the output video route.

use super::{add_job, create_prompt, position, shown_at, start_daemon, Browser};
use crate::support::{test_video, TestApp};
use serde_json::{json, Value};
use std::time::Instant;

/// The whole story: see a bad prompt refused in plain words, create prompts, add jobs from
/// the selected row, reorder and cancel on the queue page, pause and preview (the grouping
/// changes with Mix Control Inputs, and the browser's plan id matches the daemon's), execute,
/// watch it run, see the outputs on the Runs page, retry, view runs, delete the prompt, and
/// see the reconnect banner when the daemon goes away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_prompt_to_runs() {
    let started = Instant::now();
    let mut app = start_daemon(&[]);
    let b = Browser::start().await;
    let base = app.base.clone();

    // The daemon serves the SPA at / (history fallback for client routes).
    b.goto(&format!("{base}/queue")).await;
    b.wait_text("#executor-label", "Simulated executor — no GPU")
        .await;
    b.click("#pause-switch").await;
    b.wait_for("#paused-banner").await;
    assert_eq!(app.get("/api/v1/queue").body["paused"], true);

    // An API error is shown in plain words (the daemon refuses a missing video).
    b.goto(&format!("{base}/prompts")).await;
    b.click("#new-prompt").await;
    b.type_into("#prompt-text", "a prompt with no video").await;
    b.type_into("#prompt-video", "/nonexistent/clip.mp4").await;
    b.click("#create-prompt").await;
    let error = b
        .wait_text("#prompt-form .form-error", "/nonexistent/clip.mp4")
        .await;
    assert!(error.ends_with('.'), "plain sentence: {error}");

    // Create a real prompt: it is selected and its probed video facts show.
    let video = test_video();
    let video = video.to_str().unwrap();
    let prompt = create_prompt(&b, &app, "a robot arm stacks red cubes", video).await;
    b.wait_for(&format!("tr.prompt-row.selected[data-id='{prompt}']"))
        .await;
    b.wait_text("#video-facts", "48 frames · 24 fps · 320×180")
        .await;
    // A second prompt; then select the first row with a click (single selection).
    let other = create_prompt(&b, &app, "a forklift in a warehouse", video).await;
    b.wait_for(&format!("tr.prompt-row.selected[data-id='{other}']"))
        .await;
    b.click(&format!("tr.prompt-row[data-id='{prompt}']")).await;
    b.wait_for(&format!("#prompt-details[data-id='{prompt}']"))
        .await;
    assert_eq!(b.count("tr.prompt-row.selected").await, 1);
    assert_eq!(b.count("#prompts-table input[type=checkbox]").await, 0);

    // Add to Queue: one click, one job, with the settings of the form.
    b.type_into("#set-steps", "30").await;
    add_job(&b, &app, &[("edge", 0.5)]).await;
    add_job(&b, &app, &[("depth", 0.5)]).await;
    let third = add_job(&b, &app, &[("edge", 0.5), ("depth", 0.3)]).await;
    let fourth = add_job(&b, &app, &[("vis", 0.4)]).await;
    let jobs = app.jobs();
    assert_eq!(jobs.len(), 4);
    assert!(jobs.iter().all(|j| j["prompt_id"] == prompt.as_str()));
    assert!(jobs.iter().all(|j| j["config"]["num_steps"] == 30));
    // Guidance and seed left blank take the executor's defaults, shown as placeholders.
    assert_eq!(
        b.js("return document.querySelector('#set-guidance').placeholder")
            .await,
        "5"
    );
    assert!(jobs
        .iter()
        .all(|j| j["config"]["guidance"] == 5.0 && j["config"]["seed"] == 1));
    assert_eq!(
        app.job(&third)["config"]["weights"],
        json!({"edge": 0.5, "depth": 0.3})
    );
    b.screenshot("prompts").await;

    // The queue page lists them in order; move one to the top and back down, cancel another.
    b.click("a[href='/queue']").await;
    b.until("four jobs on the queue page", 20, || async {
        b.count("tr.job-row").await == 4
    })
    .await;
    b.click(&format!("tr.job-row[data-id='{third}'] .move-top"))
        .await;
    b.until("the third job at the top", 20, || async {
        position(&app, &third) == 1
    })
    .await;
    b.until("the queue page to follow", 20, || async {
        b.js("return document.querySelector('tr.job-row').dataset.id")
            .await
            == third.as_str()
    })
    .await;
    b.click(&format!("tr.job-row[data-id='{third}'] .move-down"))
        .await;
    b.until("the third job one down", 20, || async {
        position(&app, &third) == 2
    })
    .await;
    b.click(&format!("tr.job-row[data-id='{third}'] .move-bottom"))
        .await;
    shown_at(&b, &app, &third, 4).await;
    // A position typed into the row (Enter commits it).
    b.type_into(
        &format!("tr.job-row[data-id='{third}'] .move-to"),
        "2\u{E007}",
    )
    .await;
    shown_at(&b, &app, &third, 2).await;
    b.click(&format!("tr.job-row[data-id='{fourth}'] .cancel"))
        .await;
    b.until("the canceled job to leave the queue page", 20, || async {
        b.count("tr.job-row").await == 3
    })
    .await;
    assert_eq!(app.job(&fourth)["status"], "canceled");

    // While paused, the preview is computed in the browser, exactly as the daemon plans.
    b.wait_text("#plan-grouping", "3 jobs → 3 batches").await;
    let strict_id = b
        .js("return document.querySelector('.plan').dataset.planId")
        .await;
    let daemon = app.get("/api/v1/batches/preview?mode=strict").body;
    assert_eq!(
        strict_id, daemon["plan_id"],
        "the browser plans like the daemon"
    );

    // Mix Control Inputs changes the grouping (and the setting on the daemon).
    b.click("#mix-switch").await;
    b.until("the mixed preview", 20, || async {
        b.js("const p = document.querySelector('.plan'); return p && p.dataset.mode")
            .await
            == "mixed"
    })
    .await;
    let mixed = b.text("#plan-grouping").await;
    assert!(
        !mixed.contains("3 batches"),
        "mixed groups differently: {mixed}"
    );
    assert_eq!(
        app.get("/api/v1/queue").body["settings"]["mix_controls"],
        true
    );
    let mixed_id = b
        .js("return document.querySelector('.plan').dataset.planId")
        .await;
    let daemon = app.get("/api/v1/batches/preview?mode=mixed").body;
    assert_eq!(mixed_id, daemon["plan_id"]);
    b.screenshot("queue").await;
    // The same page on a phone-sized screen.
    b.client.set_window_size(430, 1100).await.unwrap();
    b.screenshot("queue-narrow").await;
    b.client.set_window_size(1440, 1100).await.unwrap();

    // Execute Smart Batch: progress and the log tail show while it runs.
    b.click("#execute-smart-batch").await;
    b.wait_text("#plan-message", "started").await;
    b.wait_for("#running-batches .progress").await;
    b.until("log lines of the running batch", 20, || async {
        !b.text("#running-batches .log")
            .await
            .contains("no log lines")
    })
    .await;
    b.until("the progress bar to move", 20, || async {
        b.js("return Number(document.querySelector('#running-batches .progress').getAttribute('aria-valuenow'))")
            .await
            .as_u64()
            .unwrap_or(0)
            > 0
    })
    .await;
    b.screenshot("queue-running").await;
    app.wait_until(60, "every job to finish", |app| {
        app.jobs()
            .iter()
            .all(|j| j["status"] == "succeeded" || j["id"] == fourth.as_str())
    });
    b.wait_for("#recent-batches").await;

    // Runs: outputs in a video player, estimate vs measured, filters.
    b.click("a[href='/runs']").await;
    b.until("four runs", 20, || async {
        b.count(".run-card").await == 4
    })
    .await;
    assert_eq!(b.count(".run-card video").await, 3);
    b.until("the first video's metadata", 20, || async {
        b.js("const v = document.querySelector('.run-card video'); return v.readyState >= 1 && !v.error")
            .await
            == true
    })
    .await;
    assert!(b.text(".run-card .timing").await.contains("measured"));
    b.type_into("#text-filter", "no such run").await;
    b.until("the text filter", 10, || async {
        b.count(".run-card").await == 0
    })
    .await;
    b.type_into("#text-filter", "robot arm").await;
    b.until("the text filter", 10, || async {
        b.count(".run-card").await == 4
    })
    .await;
    b.click("#status-filter option[value=succeeded]").await;
    b.until("the status filter", 10, || async {
        b.count(".run-card").await == 3
    })
    .await;
    b.screenshot("runs").await;

    // Retry the canceled job from its card: it is queued again (then canceled once more).
    b.click("#status-filter option[value=canceled]").await;
    b.click(".run-card[data-status=canceled] .retry").await;
    b.until("the retried job to be queued", 20, || async {
        app.job(&fourth)["status"] == "queued"
    })
    .await;
    b.click("a[href='/queue']").await;
    b.click(&format!("tr.job-row[data-id='{fourth}'] .cancel"))
        .await;
    b.until("the retried job canceled again", 20, || async {
        app.job(&fourth)["status"] == "canceled"
    })
    .await;

    // View Runs and Delete act on the selected row.
    b.click("a[href='/prompts']").await;
    b.click(&format!("tr.prompt-row[data-id='{other}']")).await;
    b.click("#view-runs").await;
    b.wait_for("#prompt-filter").await;
    b.until("no runs for the other prompt", 10, || async {
        b.count(".run-card").await == 0
    })
    .await;
    b.click("a[href='/prompts']").await;
    b.click(&format!("tr.prompt-row[data-id='{prompt}']")).await;
    b.click("#delete-prompt").await;
    b.click("#confirm-delete").await;
    b.until("the deleted row to go", 20, || async {
        b.count(&format!("tr.prompt-row[data-id='{prompt}']")).await == 0
    })
    .await;
    assert_eq!(app.get(&format!("/api/v1/prompts/{prompt}")).status, 404);

    // The daemon goes away: the page says so instead of showing stale state silently.
    app.terminate();
    b.wait_for("#reconnecting-banner").await;

    b.close().await;
    eprintln!(
        "browser test spa_prompt_to_runs took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The queue changes between the preview and the order: the daemon refuses the stale plan,
/// the page shows why and the fresh plan, and executing that one works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_stale_plan_shows_the_fresh_plan() {
    let app = start_daemon(&[]);
    app.pause();
    let prompt = app.create_prompt("a stale plan");
    app.add_job(&prompt, json!({"edge": 0.5}));
    app.add_job(&prompt, json!({"edge": 0.5}));
    let b = Browser::start().await;
    b.goto(&format!("{}/queue", app.base)).await;
    b.wait_text("#plan-grouping", "2 jobs → 1 batch").await;
    // Someone else adds a job right before the browser's order reaches the daemon.
    let hook = format!(
        "const orig = window.fetch.bind(window); \
         window.fetch = async (req, init) => {{ \
           if (req instanceof Request && req.method === 'POST' \
               && req.url.endsWith('/api/v1/batches') && !window.staled) {{ \
             window.staled = true; \
             await orig('/api/v1/jobs', {{method: 'POST', \
               headers: {{'content-type': 'application/json'}}, \
               body: JSON.stringify({{prompt_id: {}, config: {{weights: {{edge: 0.5}}}}}})}}); \
           }} \
           return orig(req, init); \
         }};",
        json!(prompt)
    );
    b.js(&hook).await;
    b.click("#execute-smart-batch").await;
    b.wait_text(
        "#plan-message",
        "The queue changed since this plan was previewed",
    )
    .await;
    b.wait_text("#plan-message .plan", "3 jobs → 1 batch").await;
    assert_eq!(app.get("/api/v1/batches").body.as_array().unwrap().len(), 0);
    b.click("#execute-daemon-plan").await;
    app.wait_until(60, "the fresh plan's jobs to succeed", |app| {
        let jobs = app.jobs();
        jobs.len() == 3 && jobs.iter().all(|j| j["status"] == "succeeded")
    });
    b.close().await;
}

/// With a token configured: the page says what to do in plain words, and works once the
/// token is entered in Settings (REST with the header, the event stream with the query).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_with_access_token() {
    let app = start_daemon(&[("COSMOSQ_AUTH_TOKEN", "s3cret-token")]);
    let b = Browser::start().await;
    b.goto(&format!("{}/queue", app.base)).await;
    b.wait_text(".notices", "access token").await;
    b.wait_for("#reconnecting-banner").await;
    b.click("#settings-toggle").await;
    b.wait_for("#token-input").await;
    b.screenshot("access-token").await;
    b.type_into("#token-input", "s3cret-token").await;
    b.click(".settings button[type=submit]").await;
    b.wait_text(".link", "Live").await;
    b.wait_text("#executor-label", "Simulated executor").await;
    assert_eq!(b.count("#reconnecting-banner").await, 0);
    b.close().await;
}

/// The preview's cost in the browser: 1,000 queued jobs planned in each mode
/// (`COSMOSQ_BENCH_ITERS` times, 5 by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_preview_benchmark() {
    let app = start_daemon(&[]);
    let b = Browser::start().await;
    let iters = std::env::var("COSMOSQ_BENCH_ITERS").unwrap_or_else(|_| "5".into());
    b.goto(&format!("{}/queue?bench=1000&iters={iters}", app.base))
        .await;
    b.until("the benchmark", 60, || async {
        b.count("#bench-result").await > 0
    })
    .await;
    let result: Value = serde_json::from_str(&b.text("#bench-result").await).unwrap();
    eprintln!("preview recompute for 1,000 jobs in the browser: {result}");
    for mode in ["strict", "mixed"] {
        assert!(result[mode]["batches"].as_u64().unwrap() > 0, "{result}");
    }
    assert!(
        result["first_render_ms"].as_f64().unwrap() > 0.0,
        "{result}"
    );
    b.close().await;
}

/// The Runs page's player source: `GET /api/v1/jobs/{id}/output` serves the job's recorded
/// output video with Range support, and a plain 404 where there is none.
#[test]
fn output_route_serves_the_recorded_video_with_ranges() {
    let app = TestApp::start(&[("COSMOSQ_EXECUTOR__TIME_SCALE", "0.0005")]);
    app.pause();
    let prompt = app.create_prompt("an output to watch");
    let job = app.add_job(&prompt, json!({"edge": 0.5}));
    let r = app.get(&format!("/api/v1/jobs/{job}/output"));
    assert_eq!(
        (r.status, r.code()),
        (404, "output_not_found"),
        "queued: no output yet"
    );
    let r = app.get("/api/v1/jobs/jb_nope/output");
    assert_eq!((r.status, r.code()), (404, "job_not_found"));

    app.resume();
    app.wait_idle(30);
    let video = app.job(&job)["outputs"]["video"]
        .as_str()
        .unwrap()
        .to_string();
    let size = std::fs::metadata(&video).unwrap().len();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}/api/v1/jobs/{job}/output", app.base);
    let mut whole = agent.get(&url).call().unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["content-type"], "video/mp4");
    let body = whole.body_mut().read_to_vec().unwrap();
    assert_eq!(body, std::fs::read(&video).unwrap());
    let mut part = agent
        .get(&url)
        .header("Range", "bytes=0-99")
        .call()
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 0-99/{size}").as_str()
    );
    assert_eq!(part.body_mut().read_to_vec().unwrap().len(), 100);

    // A job whose file is gone answers 404, never anything else on the disk.
    std::fs::remove_file(&video).unwrap();
    let r = app.get(&format!("/api/v1/jobs/{job}/output"));
    assert_eq!((r.status, r.code()), (404, "output_not_found"));
}

/// Presets in Add to Queue: choosing one fills the form, the form saves as a new one, a job
/// added from it has its settings, and a preset can be deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_presets_fill_save_and_delete() {
    let app = start_daemon(&[]);
    app.pause();
    let prompt = app.create_prompt("a preset from the browser");
    let r = app.post(
        "/api/v1/presets",
        json!({"name": "depth look", "config": {"weights": {"depth": 0.6, "edge": 0.2}, "num_steps": 12, "seed": 4}}),
    );
    assert_eq!(r.status, 201);
    let b = Browser::start().await;
    b.goto(&format!("{}/prompts", app.base)).await;
    b.click(&format!("tr.prompt-row[data-id='{prompt}']")).await;
    b.wait_for("#preset-select option[value='depth look']")
        .await;
    b.js(
        "const s = document.querySelector('#preset-select'); s.value = 'depth look'; \
          s.dispatchEvent(new Event('change', {bubbles: true}));",
    )
    .await;
    b.until("the form to take the preset", 20, || async {
        b.js("return document.querySelector('#weight-depth').value")
            .await
            == "0.6"
            && b.js("return document.querySelector('#set-steps').value")
                .await
                == "12"
    })
    .await;
    // Change a weight and save it under a new name.
    b.set_range("#weight-edge", 0.5).await;
    b.type_into("#preset-name", "depth strong edge").await;
    b.click("#save-preset").await;
    b.until("the new preset to be saved", 20, || async {
        app.get("/api/v1/presets").body.as_array().unwrap().len() == 2
    })
    .await;
    let saved = app.get("/api/v1/presets").body[1].clone();
    assert_eq!(saved["name"], "depth strong edge", "by name");
    assert_eq!(
        saved["config"]["weights"],
        json!({"depth": 0.6, "edge": 0.5})
    );
    assert_eq!(saved["config"]["seed"], 4);
    // A job from the form has the settings.
    b.click("#add-to-queue").await;
    b.until("the job to be added", 20, || async {
        app.jobs().len() == 1
    })
    .await;
    let job = &app.jobs()[0];
    assert_eq!(job["config"]["weights"], json!({"depth": 0.6, "edge": 0.5}));
    assert_eq!(job["config"]["num_steps"], 12);
    // The saved one is the chosen one.
    b.until("the saved preset to be chosen", 20, || async {
        b.js("return document.querySelector('#preset-select').value")
            .await
            == "depth strong edge"
    })
    .await;
    b.screenshot("presets").await;
    // Delete the chosen preset.
    b.click("#delete-preset").await;
    b.until("the preset to be deleted", 20, || async {
        app.get("/api/v1/presets").body.as_array().unwrap().len() == 1
    })
    .await;
    b.close().await;
}

/// "Vary a setting" in Add to Queue: a range of a weight shows its job count before the
/// click, and one click adds them all (one bulk request); a bad range says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_vary_a_setting_adds_a_sweep_in_one_click() {
    let app = start_daemon(&[]);
    app.pause();
    let prompt = app.create_prompt("a sweep from the browser");
    let b = Browser::start().await;
    b.goto(&format!("{}/prompts", app.base)).await;
    b.click(&format!("tr.prompt-row[data-id='{prompt}']")).await;
    b.set_range("#weight-depth", 0.5).await;
    b.type_into("#set-seed", "7").await;
    b.js(
        "const s = document.querySelector('#vary-setting'); s.value = 'weight:edge'; \
          s.dispatchEvent(new Event('change', {bubbles: true}));",
    )
    .await;
    b.type_into("#vary-values", "0.2..0.6").await;
    b.wait_text("#vary-count", "step").await;
    b.type_into("#vary-values", "0.2..0.6 step 0.2").await;
    b.wait_text("#vary-count", "3 jobs").await;
    b.wait_text("#add-to-queue", "Add 3 jobs").await;
    b.click("#add-to-queue").await;
    b.until("the three jobs to be added", 20, || async {
        app.jobs().len() == 3
    })
    .await;
    let mut edges: Vec<f64> = app
        .jobs()
        .iter()
        .map(|j| {
            assert_eq!(j["config"]["weights"]["depth"], 0.5, "{j}");
            assert_eq!(j["config"]["seed"], 7, "{j}");
            j["config"]["weights"]["edge"].as_f64().unwrap()
        })
        .collect();
    edges.sort_by(f64::total_cmp);
    assert_eq!(edges, [0.2, 0.4, 0.6]);
    b.close().await;
}

/// "Then upscale": one click adds the job and an upscale of its output that waits for it;
/// the queue shows what it waits for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_then_upscale_adds_an_upscale_that_waits() {
    let app = start_daemon(&[]);
    app.pause();
    let prompt = app.create_prompt("then upscale it");
    let b = Browser::start().await;
    b.goto(&format!("{}/prompts", app.base)).await;
    b.click(&format!("tr.prompt-row[data-id='{prompt}']")).await;
    b.set_range("#weight-edge", 0.5).await;
    b.click("#then-upscale").await;
    b.click("#add-to-queue").await;
    b.until("the job and its upscale", 20, || async {
        app.jobs().len() == 2
    })
    .await;
    let jobs = app.jobs();
    let first = jobs.iter().find(|j| j["kind"] == "inference").unwrap();
    let up = jobs.iter().find(|j| j["kind"] == "upscale").unwrap();
    assert_eq!(up["input_from"], first["id"]);
    assert_eq!(up["waiting_for"], json!([first["id"]]));
    b.goto(&format!("{}/queue", app.base)).await;
    let up_id = up["id"].as_str().unwrap();
    b.wait_text(
        &format!("tr.job-row[data-id='{up_id}'] .waits-for"),
        "waits for",
    )
    .await;
    app.resume();
    app.wait_idle(60);
    assert_eq!(app.job(up_id)["status"], "succeeded");
    // The Runs page shows the disk use.
    b.goto(&format!("{}/runs", app.base)).await;
    b.wait_text("#storage", "free of").await;
    b.close().await;
}

/// Several jobs at once: select in the queue, move them to the top and cancel them, cancel
/// all queued (after a confirmation); in Runs, retry and delete the selected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_bulk_actions_in_queue_and_runs() {
    let app = start_daemon(&[]);
    app.pause();
    let prompt = app.create_prompt("several at once");
    let ids: Vec<String> = (0..5)
        .map(|i| app.add_job(&prompt, json!({"edge": 0.1 + i as f64 / 10.0})))
        .collect();
    let b = Browser::start().await;
    b.goto(&format!("{}/queue", app.base)).await;
    let pick = |id: &str| format!("tr.job-row[data-id='{id}'] input.select-job");
    b.click(&pick(&ids[3])).await;
    b.click(&pick(&ids[4])).await;
    b.wait_text("#selected-count", "2 jobs selected").await;
    b.click("#top-selected").await;
    b.until("the two at the top, in order", 20, || async {
        position(&app, &ids[3]) == 1 && position(&app, &ids[4]) == 2
    })
    .await;
    b.click(&pick(&ids[0])).await;
    b.click("#cancel-selected").await;
    b.until("the selected job canceled", 20, || async {
        app.job(&ids[0])["status"] == "canceled"
    })
    .await;
    // Cancel all queued asks first.
    b.click("#cancel-all-queued").await;
    b.wait_text("#confirm-cancel-all", "Cancel all 4 queued?")
        .await;
    b.click("#confirm-cancel-all").await;
    b.until("every job canceled", 20, || async {
        app.jobs().iter().all(|j| j["status"] == "canceled")
    })
    .await;
    // Runs: retry two, delete one.
    b.goto(&format!("{}/runs", app.base)).await;
    let pick_run = |id: &str| format!("article.run-card[data-id='{id}'] input.select-run");
    b.click(&pick_run(&ids[1])).await;
    b.click(&pick_run(&ids[2])).await;
    b.wait_text("#runs-selected-count", "2 runs selected").await;
    b.click("#retry-selected").await;
    b.until("two queued again", 20, || async {
        app.job(&ids[1])["status"] == "queued" && app.job(&ids[2])["status"] == "queued"
    })
    .await;
    b.click(&pick_run(&ids[0])).await;
    b.click("#delete-selected").await;
    b.until("the run deleted", 20, || async {
        app.get(&format!("/api/v1/jobs/{}", ids[0])).status == 404
    })
    .await;
    b.wait_for("#runs-list").await;
    b.until("the page to drop it", 20, || async {
        b.count(&format!("article.run-card[data-id='{}']", ids[0]))
            .await
            == 0
    })
    .await;
    b.close().await;
}
