//! Test harness: start the real `cosmosq serve` on a random port with a temp data dir, talk
//! HTTP, kill it (gracefully or with SIGKILL) and start it again on the same data.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_cosmosq");

/// A small real video (48 frames, 320x180, 24 fps), made once per test run with ffmpeg.
pub fn test_video() -> PathBuf {
    video_of(48)
}

/// A real video of `frames` frames (320x180, 24 fps), made once per test run with ffmpeg.
pub fn video_of(frames: u32) -> PathBuf {
    static VIDEOS: OnceLock<std::sync::Mutex<std::collections::HashMap<u32, PathBuf>>> =
        OnceLock::new();
    let mut videos = VIDEOS.get_or_init(Default::default).lock().unwrap();
    videos
        .entry(frames)
        .or_insert_with(|| {
            let dir = std::env::temp_dir().join(format!("cosmosq-e2e-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("clip-{frames}.mp4"));
            let status = Command::new("ffmpeg")
                .args([
                    "-v",
                    "error",
                    "-y",
                    "-f",
                    "lavfi",
                    "-i",
                    "testsrc=size=320x180:rate=24",
                ])
                .args(["-frames:v", &frames.to_string(), "-pix_fmt", "yuv420p"])
                .arg(&path)
                .status()
                .expect("ffmpeg is installed (the README's test command installs it)");
            assert!(status.success());
            path
        })
        .clone()
}

pub struct TestApp {
    pub base: String,
    pub data: tempfile::TempDir,
    env: Vec<(String, String)>,
    options: Options,
    child: Option<Child>,
    /// Held open so the daemon's stdout never breaks.
    stdout: Option<BufReader<std::process::ChildStdout>>,
    agent: ureq::Agent,
}

/// A response: status and JSON body (Null when empty or not JSON).
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

/// The answer to [`TestApp::raw`]: status, headers (names lowercased) and body text.
pub struct RawReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawReply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

/// How a [`TestApp`] starts its daemon beyond the environment.
#[derive(Default, Clone)]
pub struct Options {
    /// A program the daemon runs under (e.g. `strace ...`); [`TestApp::pid`] is still the
    /// daemon's.
    pub wrapper: Vec<String>,
    /// Where the daemon's stderr goes (else nowhere, unless `COSMOSQ_TEST_LOG` is set).
    pub stderr: Option<PathBuf>,
    /// The data directory (else the temporary `data`); relative to `cwd` when relative.
    pub data_dir: Option<PathBuf>,
    /// The daemon's working directory (else the test's).
    pub cwd: Option<PathBuf>,
}

impl TestApp {
    /// Start a daemon with extra `COSMOSQ_*` settings.
    pub fn start(env: &[(&str, &str)]) -> TestApp {
        Self::start_with(env, Options::default())
    }

    /// [`TestApp::start`] with [`Options`].
    pub fn start_with(env: &[(&str, &str)], options: Options) -> TestApp {
        let mut app = TestApp {
            base: String::new(),
            data: tempfile::tempdir().unwrap(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            options,
            child: None,
            stdout: None,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into(),
        };
        app.launch();
        app
    }

    /// The daemon's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.options
            .data_dir
            .clone()
            .unwrap_or_else(|| self.data.path().to_path_buf())
    }

    /// Start the next launches with another data directory.
    pub fn set_data_dir(&mut self, dir: &std::path::Path) {
        self.options.data_dir = Some(dir.to_path_buf());
    }

    fn launch(&mut self) {
        let wrapper = &self.options.wrapper;
        let mut cmd = match wrapper.first() {
            Some(program) => {
                let mut c = Command::new(program);
                c.args(&wrapper[1..]).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        cmd.args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(self.data_dir())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "COSMOSQ_LOG",
                std::env::var("COSMOSQ_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env("COSMOSQ_SPA_DIR", self.data.path().join("no-spa"))
            .stdout(Stdio::piped())
            .stderr(match &self.options.stderr {
                Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
                None if std::env::var("COSMOSQ_TEST_LOG").is_ok() => Stdio::inherit(),
                None => Stdio::null(),
            });
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(dir) = &self.options.cwd {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().expect("start cosmosq serve");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("cosmosq listening on ")
            .unwrap_or_else(|| panic!("daemon did not start: {line:?}"));
        self.base = url.to_string();
        self.child = Some(child);
        self.stdout = Some(stdout);
    }

    /// The daemon's process id (under a wrapper: the wrapper's child).
    pub fn pid(&self) -> u32 {
        let pid = self.child.as_ref().expect("the daemon runs").id();
        if self.options.wrapper.is_empty() {
            return pid;
        }
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        children
            .split_whitespace()
            .next()
            .and_then(|c| c.parse().ok())
            .expect("the wrapper runs the daemon")
    }

    /// Wait for the daemon to exit by itself; its exit code.
    pub fn wait_exit(&mut self, secs: u64) -> Option<i32> {
        let mut child = self.child.take().expect("the daemon runs");
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the daemon did not exit within {secs} s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL the daemon (no chance to clean up) and start it again on the same data.
    pub fn kill9_and_restart(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        self.launch();
    }

    /// SIGTERM the daemon and wait for it (and its wrapper) to exit; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let pid = self.pid();
        let mut child = self.child.take().unwrap();
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        child.wait().unwrap().code()
    }

    /// Set (or replace) a variable of the daemon's environment for its next start.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.terminate();
        }
        self.launch();
    }

    fn reply(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut resp = resp.expect("request reaches the daemon");
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        Self::reply(self.agent.get(format!("{}{path}", self.base)).call())
    }

    pub fn post(&self, path: &str, body: Value) -> Reply {
        Self::reply(
            self.agent
                .post(format!("{}{path}", self.base))
                .send_json(body),
        )
    }

    pub fn post_raw(&self, path: &str, content_type: &str, body: &str) -> Reply {
        Self::reply(
            self.agent
                .post(format!("{}{path}", self.base))
                .header("content-type", content_type)
                .send(body),
        )
    }

    /// POST raw bytes as JSON (for bodies that are not even UTF-8).
    pub fn post_bytes(&self, path: &str, body: &[u8]) -> Reply {
        Self::reply(
            self.agent
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .send(body),
        )
    }

    /// One raw HTTP/1.1 exchange, exactly as written, so any method, header (a foreign `Host`
    /// included) and body can be sent; `Host` is the daemon's unless `headers` names one.
    pub fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> RawReply {
        use std::io::{Read, Write};
        let addr = self.base.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            req += &format!("Host: {addr}\r\n");
        }
        for (k, v) in headers {
            req += &format!("{k}: {v}\r\n");
        }
        req += &format!("Content-Length: {}\r\n\r\n{body}", body.len());
        stream.write_all(req.as_bytes()).unwrap();
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {text:.200}"));
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        RawReply {
            status,
            headers,
            body: body.to_string(),
        }
    }

    /// Everything a request could change: prompts, jobs, batches and the queue's settings
    /// and pause state (to show that a rejected request changed nothing).
    pub fn stored(&self) -> Value {
        let queue = self.get("/api/v1/queue").body;
        json!({
            "prompts": self.get("/api/v1/prompts").body,
            "jobs": self.get("/api/v1/jobs").body,
            "batches": self.get("/api/v1/batches").body,
            "settings": queue["settings"],
            "paused": queue["paused"],
        })
    }

    pub fn patch(&self, path: &str, body: Value) -> Reply {
        Self::reply(
            self.agent
                .patch(format!("{}{path}", self.base))
                .send_json(body),
        )
    }

    pub fn delete(&self, path: &str) -> Reply {
        Self::reply(
            self.agent
                .delete(format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .call(),
        )
    }

    /// Write a TOML config into the data dir's parent and return its path (for COSMOSQ_CONFIG).
    pub fn write_config(dir: &std::path::Path, toml: &str) -> String {
        let path = dir.join("cosmosq.toml");
        std::fs::write(&path, toml).unwrap();
        path.display().to_string()
    }

    pub fn create_prompt(&self, text: &str) -> String {
        let r = self.post(
            "/api/v1/prompts",
            json!({"text": text, "input_video": test_video()}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    }

    pub fn add_job(&self, prompt: &str, weights: Value) -> String {
        let r = self.post(
            "/api/v1/jobs",
            json!({"prompt_id": prompt, "config": {"weights": weights}}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    }

    pub fn pause(&self) {
        assert_eq!(self.post("/api/v1/queue/pause", json!({})).status, 200);
    }

    pub fn resume(&self) {
        assert_eq!(self.post("/api/v1/queue/resume", json!({})).status, 200);
    }

    pub fn jobs(&self) -> Vec<Value> {
        self.get("/api/v1/jobs").body.as_array().unwrap().clone()
    }

    pub fn job(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/jobs/{id}")).body
    }

    /// Poll until `done` holds (panics after `secs`).
    pub fn wait_until(&self, secs: u64, what: &str, mut done: impl FnMut(&TestApp) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until no job is queued or running.
    pub fn wait_idle(&self, secs: u64) {
        self.wait_until(secs, "the queue to drain", |app| {
            let c = &app.get("/api/v1/queue").body["counts"];
            c["queued"] == 0 && c["running"] == 0
        });
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A tiny deterministic generator per client.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Held by the tests that load the machine hard (eight clients for a minute) or measure time
/// (the cost-model refit), so that the two never run at once on a 2-core CI box.
pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());
    HEAVY.lock().unwrap_or_else(|p| p.into_inner())
}
