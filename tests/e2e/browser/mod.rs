//! Browser tests: the built web interface (`dist/`, see `frontend/build.sh`) served by the real
//! daemon (simulated executor), driven in headless Chromium through chromedriver.
//!
//! Screenshots of each page go to `target/screenshots/`; with `COSMOSQ_UPDATE_SCREENSHOTS=1`
//! they also replace the committed ones in `docs/screenshots/`.

mod flows;
mod ops;
mod slurm;

use crate::support::TestApp;
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
pub(super) fn start_daemon(extra: &[(&str, &str)]) -> TestApp {
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
pub(super) struct Browser {
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
pub(super) async fn create_prompt(b: &Browser, app: &TestApp, text: &str, video: &str) -> String {
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
pub(super) async fn add_job(b: &Browser, app: &TestApp, weights: &[(&str, f64)]) -> String {
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
pub(super) async fn shown_at(b: &Browser, app: &TestApp, job: &str, to: u64) {
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

pub(super) fn position(app: &TestApp, job: &str) -> Value {
    app.job(job)["position"].clone()
}
