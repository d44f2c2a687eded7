//! Browser tests: the built web interface (`dist/`, see `frontend/build.sh`) served by the real
//! daemon (simulated executor), driven in headless Chromium through chromedriver.
//!
//! Screenshots of each page go to `target/screenshots/`; with `COSMOSQ_UPDATE_SCREENSHOTS=1`
//! they also replace the committed ones in `docs/screenshots/`.

use crate::support::{test_video, TestApp};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The built SPA; the tests cannot run without it.
pub(crate) fn dist() -> PathBuf {
    let dist = workspace().join("dist");
    assert!(
        dist.join("index.html").is_file(),
        "the web interface is not built ({}/index.html is missing): run `bash frontend/build.sh` \
         first (scripts/test.sh does it before the tests)",
        dist.display()
    );
    dist
}

/// A daemon serving the SPA, its jobs fast but slow enough to watch a batch run.
fn start_daemon(extra: &[(&str, &str)]) -> TestApp {
    let dist = dist();
    let mut env = vec![
        ("COSMOSQ_SPA_DIR", dist.to_str().unwrap()),
        ("COSMOSQ_EXECUTOR__TIME_SCALE", "0.003"),
    ];
    env.extend_from_slice(extra);
    TestApp::start(&env)
}

/// One browser at a time: Chromium is heavy on a 2-core machine, and its waits stay reliable
/// when it has the CPU (the other end-to-end tests still run beside it).
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// chromedriver on a free port, and one headless Chromium session through it.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Browser {
    async fn start() -> Browser {
        let turn = ONE_BROWSER.lock().await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (scripts/setup.sh installs chromium-driver)");
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1440,1100",
            "--autoplay-policy=no-user-gesture-required",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
        });
        let caps = caps.as_object().unwrap().clone();
        let deadline = Instant::now() + Duration::from_secs(15);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("cannot start headless Chromium through chromedriver: {e}"),
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
            _turn: turn,
        }
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Run a JavaScript snippet (its `return` value comes back).
    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    async fn text(&self, css: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.innerText : null;",
            json!(css)
        );
        self.js(&script).await.as_str().unwrap_or("").to_string()
    }

    async fn count(&self, css: &str) -> u64 {
        let script = format!("return document.querySelectorAll({}).length;", json!(css));
        self.js(&script).await.as_u64().unwrap_or(0)
    }

    async fn click(&self, css: &str) {
        self.wait_for(css).await;
        // Clear of the sticky top bar and the notices.
        let script = format!(
            "document.querySelector({}).scrollIntoView({{block: 'center'}});",
            json!(css)
        );
        self.js(&script).await;
        // A live update may replace the element between finding and clicking it: find again.
        let mut tries = 0;
        loop {
            let found = self.client.find(Locator::Css(css)).await.unwrap();
            match found.click().await {
                Ok(_) => break,
                Err(e) if tries < 5 && e.to_string().contains("stale element") => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot click {css}: {e}"),
            }
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.wait_for(css).await;
        let e = self.client.find(Locator::Css(css)).await.unwrap();
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// Set a range input the way a drag does (value + input event).
    async fn set_range(&self, css: &str, value: f64) {
        let script = format!(
            "const e = document.querySelector({}); e.value = {value}; \
             e.dispatchEvent(new Event('input', {{bubbles: true}}));",
            json!(css)
        );
        self.js(&script).await;
    }

    async fn wait_for(&self, css: &str) {
        let what = format!("element {css}");
        self.until(&what, 20, || async { self.count(css).await > 0 })
            .await;
    }

    /// Wait until the element's text contains `needle`; returns the text.
    async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.text(css).await;
            if text.contains(needle) {
                return text;
            }
            if Instant::now() > deadline {
                let notices = self.text(".notices").await;
                panic!("timed out waiting for {css} to contain {needle:?} (it reads {text:?}); notices on the page: {notices:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Poll `done` every 100 ms; panic (with the page's notices) after `secs`.
    async fn until<F, Fut>(&self, what: &str, secs: u64, mut done: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !done().await {
            if Instant::now() > deadline {
                let notices = self.text(".notices").await;
                panic!("timed out waiting for {what}; notices on the page: {notices:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        // The page as a person lands on it: at the top, without passing confirmations.
        // (A confirmation may still be on its way: dismiss until none is left.)
        self.until("the confirmations to go", 5, || async {
            self.js(
                "document.querySelectorAll('.notice.info button').forEach(b => b.click()); \
                 window.scrollTo(0, 0);",
            )
            .await;
            self.count(".notice.info").await == 0
        })
        .await;
        let png = self.client.screenshot().await.unwrap();
        let out = workspace().join("target/screenshots");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join(format!("{name}.png")), &png).unwrap();
        if std::env::var_os("COSMOSQ_UPDATE_SCREENSHOTS").is_some() {
            let docs = workspace().join("docs/screenshots");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::write(docs.join(format!("{name}.png")), &png).unwrap();
        }
    }

    async fn close(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Create a prompt through the form; returns its id.
async fn create_prompt(b: &Browser, app: &TestApp, text: &str, video: &str) -> String {
    if b.count("#prompt-form").await == 0 {
        b.click("#new-prompt").await;
    }
    b.type_into("#prompt-text", text).await;
    b.type_into("#prompt-video", video).await;
    let before = app.get("/api/v1/prompts").body.as_array().unwrap().len();
    b.click("#create-prompt").await;
    b.until("the prompt to be created", 20, || async {
        app.get("/api/v1/prompts").body.as_array().unwrap().len() > before
    })
    .await;
    app.get("/api/v1/prompts").body[0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Set the control weights (others 0) and click Add to Queue once; returns the new job's id.
async fn add_job(b: &Browser, app: &TestApp, weights: &[(&str, f64)]) -> String {
    for c in ["vis", "edge", "depth", "seg", "keypoint"] {
        let w = weights
            .iter()
            .find(|(n, _)| *n == c)
            .map_or(0.0, |(_, w)| *w);
        b.set_range(&format!("#weight-{c}"), w).await;
    }
    let ids = |app: &TestApp| -> Vec<String> {
        app.jobs()
            .iter()
            .map(|j| j["id"].as_str().unwrap().to_string())
            .collect()
    };
    let before = ids(app);
    b.click("#add-to-queue").await;
    b.until("the job to be added", 20, || async {
        ids(app).len() == before.len() + 1
    })
    .await;
    ids(app)
        .into_iter()
        .find(|id| !before.contains(id))
        .unwrap()
}

/// Wait until `job` is at `to` in the daemon's queue and the queue page shows it there.
async fn shown_at(b: &Browser, app: &TestApp, job: &str, to: u64) {
    b.until(&format!("{job} at position {to}"), 20, || async {
        position(app, job) == to
    })
    .await;
    let script = format!(
        "const r = document.querySelector({}); return r && r.textContent",
        json!(format!("tr.job-row[data-id='{job}'] td.num"))
    );
    b.until(&format!("the page to show {job} at {to}"), 20, || async {
        b.js(&script).await == to.to_string().as_str()
    })
    .await;
}

fn position(app: &TestApp, job: &str) -> Value {
    app.job(job)["position"].clone()
}

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
