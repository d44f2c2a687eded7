//! Resource bounds and security: a full queue refuses adds, event clients that stop reading
//! cost no memory, batch logs are capped, CORS is closed, every response carries safe
//! headers, and the bad inputs the first table does not cover get 4xx codes too.

use crate::executors::daemon;
use crate::support::{test_video, TestApp};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn a_full_queue_refuses_adds_with_queue_full_and_stores_nothing() {
    let app = TestApp::start(&[("COSMOSQ_QUEUE__MAX_QUEUED_JOBS", "3")]);
    app.pause();
    let p = app.create_prompt("full");
    let ids: Vec<String> = (0..3)
        .map(|_| app.add_job(&p, json!({"edge": 0.5})))
        .collect();
    let before = app.stored();
    let r = app.post(
        "/api/v1/jobs",
        json!({"prompt_id": p, "config": {"weights": {"edge": 0.5}}}),
    );
    assert_eq!((r.status, r.code()), (409, "queue_full"), "{}", r.body);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("max_queued_jobs"));
    assert_eq!(app.stored(), before, "nothing stored");
    // Room again once a job leaves the queue.
    assert_eq!(
        app.post(&format!("/api/v1/jobs/{}/cancel", ids[0]), json!({}))
            .status,
        200
    );
    app.add_job(&p, json!({"edge": 0.5}));
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Twenty clients open the event stream and never read it while thousands of changes are
/// published: the daemon's memory stays flat (each stalled client holds at most the shared
/// backlog, then gets `resync`), and everyone else is served normally.
#[test]
fn event_clients_that_stop_reading_do_not_grow_memory() {
    let app = TestApp::start(&[]);
    app.pause();
    let p = app.create_prompt("slow readers");
    let addr = app.base.trim_start_matches("http://").to_string();
    let stalled: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            write!(
                s,
                "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
            )
            .unwrap();
            // From here on nothing is read from this connection.
            s
        })
        .collect();
    // Warm up, then measure: every job event is ~600 bytes to each of 20 clients.
    let mut ids = Vec::new();
    for _ in 0..300 {
        ids.push(app.add_job(&p, json!({"edge": 0.5})));
    }
    let baseline = rss_kib(app.pid());
    let rounds = 6000;
    for i in 0..rounds {
        let id = &ids[i % ids.len()];
        let r = app.post(
            &format!("/api/v1/jobs/{id}/move"),
            json!({"position": 1 + (i % 50)}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let after = rss_kib(app.pid());
    let published_kib = (rounds as u64 * 20 * 600) / 1024;
    eprintln!(
        "slow readers: RSS {baseline} KiB -> {after} KiB after {rounds} changes \
         (~{published_kib} KiB of events addressed to the stalled clients)"
    );
    // The clients may hold 16 MiB; the store's write buffer, one 16 MiB log segment that
    // fills as these changes are written (two while one is replaced), comes on top.
    assert!(
        after < baseline + (16 + 32) * 1024,
        "memory grew from {baseline} KiB to {after} KiB"
    );
    // A stalled client that wakes up is told to reload rather than fed stale events.
    let mut s = stalled.into_iter().next().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while !String::from_utf8_lossy(&got).contains("event: resync") {
        let n = s.read(&mut buf).expect("the stream keeps flowing");
        assert!(n > 0, "stream closed");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(app.get("/api/v1/queue").status, 200);
}

#[test]
fn batch_logs_are_capped() {
    let s = daemon("transfer1", "max_log_bytes = 2000\n", &[]);
    let app = &s.app;
    let p = app.create_prompt("chatty");
    let id = app.add_job(&p, json!({"edge": 0.5}));
    app.wait_idle(60);
    let job = app.job(&id);
    assert_eq!(job["status"], "succeeded", "{job}");
    let log = job["outputs"]["log"].as_str().unwrap();
    let text = std::fs::read_to_string(log).unwrap();
    assert!(text.len() <= 2000 + 200, "log of {} bytes", text.len());
    assert!(text.contains("log truncated at 2000 bytes"), "{text}");
}

#[test]
fn cors_is_closed_and_responses_carry_safe_headers() {
    // A web interface with an inline loader, as Trunk writes it.
    let spa = tempfile::tempdir().unwrap();
    std::fs::write(
        spa.path().join("index.html"),
        "<!doctype html><script type=\"module\">\nimport init from '/app.js';\nawait init();\n</script>",
    )
    .unwrap();
    let app = TestApp::start(&[("COSMOSQ_SPA_DIR", spa.path().to_str().unwrap())]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let evil = "https://evil.example";
    // A preflight from another origin is not granted; nor is a simple cross-origin read.
    let pre = agent
        .options(format!("{}/api/v1/jobs", app.base))
        .header("Origin", evil)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "content-type, authorization",
        )
        .call()
        .unwrap();
    assert!(pre.status().as_u16() >= 400, "{}", pre.status());
    let get = agent
        .get(format!("{}/api/v1/queue", app.base))
        .header("Origin", evil)
        .call()
        .unwrap();
    for r in [&pre, &get] {
        assert!(
            r.headers()
                .keys()
                .all(|k| !k.as_str().starts_with("access-control-")),
            "{:?}",
            r.headers()
        );
    }
    let p = app.create_prompt("headers");
    let job = app.add_job(&p, json!({"edge": 0.5}));
    app.wait_idle(60);
    for path in [
        "/".to_string(),
        "/queue".to_string(),
        "/api/v1/queue".to_string(),
        format!("/api/v1/jobs/{job}/output"),
        "/api/v1/nope".to_string(),
    ] {
        let r = agent.get(format!("{}{path}", app.base)).call().unwrap();
        let h = r.headers();
        let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert_eq!(get("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(get("x-frame-options"), "DENY", "{path}");
        assert_eq!(get("referrer-policy"), "no-referrer", "{path}");
        let csp = get("content-security-policy");
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("'unsafe-eval'"), "{path}: {csp}");
        assert!(
            !csp.contains("script-src 'self' 'unsafe-inline'"),
            "{path}: {csp}"
        );
        if path == "/" || path == "/queue" {
            // The page's inline loader is allowed by its hash, no other inline script:
            // printf '\nimport init from '"'"'/app.js'"'"';\nawait init();\n' | openssl dgst -sha256 -binary | base64
            assert!(
                csp.contains("'sha256-mStLiw5ufhC4Rn65S+yuobFT1L6YIq0IsINW02YqTpc='"),
                "{path}: {csp}"
            );
        } else {
            assert!(!csp.contains("'sha256-"), "{path}: {csp}");
        }
    }
    // Swagger UI keeps working: it is the one page without the policy.
    let docs = agent.get(format!("{}/docs/", app.base)).call().unwrap();
    assert_eq!(docs.status().as_u16(), 200);
    assert!(docs.headers().get("content-security-policy").is_none());
}

#[test]
fn more_bad_inputs_get_4xx_codes_and_change_nothing() {
    let root = tempfile::tempdir().unwrap();
    let inside = root.path().join("clip.mp4");
    std::fs::copy(test_video(), &inside).unwrap();
    // A link inside the allowed root to a video outside it.
    let link = root.path().join("link.mp4");
    std::os::unix::fs::symlink(test_video(), &link).unwrap();
    let app = TestApp::start(&[("COSMOSQ_ALLOWED_ROOTS", root.path().to_str().unwrap())]);
    app.pause();
    let ok = app.post(
        "/api/v1/prompts",
        json!({"text": "in", "input_video": inside}),
    );
    assert_eq!(ok.status, 201, "{}", ok.body);
    let p = ok.body["id"].as_str().unwrap().to_string();
    let before = app.stored();
    let raw_job = |weights: &str| {
        format!("{{\"prompt_id\":\"{p}\",\"config\":{{\"weights\":{{\"edge\":{weights}}}}}}}")
    };
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let huge = format!("[{}]", vec!["1"; 2_000_000].join(","));
    let raw: Vec<(&str, String, u16, &str)> = vec![
        ("NaN weight", raw_job("NaN"), 400, "malformed_json"),
        (
            "Infinity weight",
            raw_job("Infinity"),
            400,
            "malformed_json",
        ),
        ("1e400 weight", raw_job("1e400"), 400, "malformed_json"),
        ("nesting 5000 deep", deep, 400, "malformed_json"),
        (
            "array of 2,000,000 numbers (4 MB)",
            huge,
            413,
            "body_too_large",
        ),
    ];
    for (what, body, status, code) in &raw {
        let r = app.post_raw("/api/v1/jobs", "application/json", body);
        assert_eq!((r.status, r.code()), (*status, *code), "{what}: {}", r.body);
    }
    let r = app.post_bytes("/api/v1/jobs", b"{\"prompt_id\": \"\xff\xfe\"}");
    assert_eq!(
        (r.status, r.code()),
        (400, "malformed_json"),
        "invalid UTF-8: {}",
        r.body
    );
    let job = |config: Value| json!({"prompt_id": p, "config": config});
    let long_id = format!("/api/v1/jobs/jb_{}", "a".repeat(4000));
    let cases: Vec<(&str, &str, Value, u16, &str)> = vec![
        (
            "POST",
            "/api/v1/jobs",
            job(json!({"weights": {"edge": 0.5}, "num_steps": -5})),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/jobs",
            job(json!({"weights": {"edge": 0.5}, "seed": 1e30})),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/jobs",
            job(json!({"weights": {"edge": 0.5}, "guidance": "NaN"})),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/jobs",
            job(json!({"weights": {"edge": null}})),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/jobs",
            job(json!({"weights": {}})),
            422,
            "no_active_control",
        ),
        (
            "POST",
            "/api/v1/prompts",
            json!({"text": "out", "input_video": link}),
            422,
            "video_path_not_allowed",
        ),
        (
            "POST",
            "/api/v1/prompts",
            json!({"text": "nul\u{0}byte", "input_video": inside}),
            422,
            "text_has_control_characters",
        ),
        (
            "POST",
            "/api/v1/prompts",
            json!({"text": "esc \u{1b}[31m", "input_video": inside}),
            422,
            "text_has_control_characters",
        ),
        (
            "POST",
            "/api/v1/prompts",
            json!({"text": "x", "input_video": root.path()}),
            422,
            "video_not_a_file",
        ),
        (
            "POST",
            "/api/v1/prompts",
            json!({"text": "x", "input_video": 42}),
            400,
            "invalid_body",
        ),
        ("GET", &long_id, Value::Null, 404, "job_not_found"),
        (
            "GET",
            "/api/v1/jobs/jb_%E2%9C%93",
            Value::Null,
            404,
            "job_not_found",
        ),
        (
            "GET",
            "/api/v1/batches/%00",
            Value::Null,
            404,
            "batch_not_found",
        ),
        (
            "POST",
            "/api/v1/jobs/not-an-id/cancel",
            json!({}),
            404,
            "job_not_found",
        ),
        (
            "DELETE",
            "/api/v1/prompts",
            Value::Null,
            405,
            "method_not_allowed",
        ),
    ];
    for (method, path, body, status, code) in &cases {
        let r = match *method {
            "GET" => app.get(path),
            "DELETE" => app.delete(path),
            _ => app.post(path, body.clone()),
        };
        assert_eq!(
            (r.status, r.code()),
            (*status, *code),
            "{method} {path} {body}: {}",
            r.body
        );
        assert!(!r.body["message"].as_str().unwrap_or("").is_empty());
    }
    assert_eq!(app.stored(), before, "a rejected request stored something");
    // Unicode that is not a control character is text like any other, stored verbatim.
    let text = "ロボット 🤖 stacks cubes — naïve café";
    let r = app.post(
        "/api/v1/prompts",
        json!({"text": text, "input_video": inside}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        app.get(&format!(
            "/api/v1/prompts/{}",
            r.body["id"].as_str().unwrap()
        ))
        .body["text"],
        text
    );
}
