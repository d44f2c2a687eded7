//! Loopback is not a security boundary for browsers: what a web page can send (a foreign
//! `Host` through DNS rebinding, a cross-site form, a text/plain body) is refused and changes
//! nothing; the daemon's own web interface and programs are unaffected.

use crate::support::TestApp;
use serde_json::{json, Value};

/// Send one request exactly as written; its status and JSON body.
fn raw(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let r = app.raw(method, path, headers, body);
    (r.status, r.json())
}

#[test]
fn web_pages_cannot_drive_a_daemon_without_a_token() {
    let app = TestApp::start(&[]);
    let prompt = app.create_prompt("mine");
    let job = app.add_job(&prompt, json!({"edge": 0.5}));
    // The job runs by itself: let it end first, so that nothing but the refused requests
    // below could change what is stored.
    app.wait_idle(60);
    let before = app.stored();
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let evil_host = format!("evil.example:{port}");
    let evil_origin = format!("http://evil.example:{port}");

    // DNS rebinding: the page's own name in Host, reading and writing.
    for (method, path) in [
        ("GET", "/api/v1/jobs"),
        ("GET", "/api/v1/prompts"),
        ("GET", "/"),
        ("GET", &format!("/api/v1/jobs/{job}/output")),
    ] {
        let (status, body) = raw(&app, method, path, &[("Host", &evil_host)], "");
        assert_eq!(
            (status, body["code"].as_str()),
            (421, Some("host_not_allowed")),
            "{method} {path}"
        );
    }
    let (status, body) = raw(
        &app,
        "POST",
        "/api/v1/queue/pause",
        &[
            ("Host", &evil_host),
            ("Origin", &evil_origin),
            ("Content-Type", "application/json"),
        ],
        "{}",
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (421, Some("host_not_allowed"))
    );

    // A cross-site form post to the real address: form-encoded, the page's Origin.
    let (status, body) = raw(
        &app,
        "POST",
        "/api/v1/queue/pause",
        &[
            ("Origin", "http://evil.example"),
            ("Sec-Fetch-Site", "cross-site"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "a=b",
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("cross_origin_request"))
    );
    // An enctype=text/plain form whose body looks like JSON, from a browser that sends no
    // Sec-Fetch-Site; and one whose Origin is another port on this machine.
    let job_body = json!({"prompt_id": prompt, "config": {"weights": {"edge": 1}}}).to_string();
    for origin in ["http://evil.example", "http://127.0.0.1:1", "null"] {
        let (status, body) = raw(
            &app,
            "POST",
            "/api/v1/jobs",
            &[("Origin", origin), ("Content-Type", "text/plain")],
            &job_body,
        );
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("cross_origin_request")),
            "{origin}"
        );
    }
    // No Origin at all (an old browser, or a redirect): a form cannot send JSON.
    let (status, body) = raw(
        &app,
        "POST",
        "/api/v1/jobs",
        &[("Content-Type", "text/plain")],
        &job_body,
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    for path in ["/api/v1/queue/pause", &format!("/api/v1/jobs/{job}/cancel")] {
        let (status, body) = raw(&app, "POST", path, &[], "");
        assert_eq!(
            (status, body["code"].as_str()),
            (415, Some("unsupported_media_type")),
            "{path}"
        );
    }
    let (status, _) = raw(
        &app,
        "DELETE",
        &format!("/api/v1/prompts/{prompt}"),
        &[],
        "",
    );
    assert_eq!(status, 415);
    assert_eq!(app.stored(), before, "nothing changed");

    // The daemon's own web interface: same origin, JSON; and programs (no Origin).
    let own = app.base.clone();
    let (status, body) = raw(
        &app,
        "POST",
        "/api/v1/queue/pause",
        &[
            ("Origin", &own),
            ("Sec-Fetch-Site", "same-origin"),
            ("Content-Type", "application/json"),
        ],
        "",
    );
    assert_eq!((status, body["paused"].as_bool()), (200, Some(true)));
    for host in [
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        format!("127.0.0.1:{port}"),
    ] {
        let (status, _) = raw(&app, "GET", "/api/v1/queue", &[("Host", &host)], "");
        assert_eq!(status, 200, "{host}");
    }
    let (status, body) = raw(
        &app,
        "POST",
        "/api/v1/queue/resume",
        &[("Content-Type", "application/json")],
        "",
    );
    assert_eq!((status, body["paused"].as_bool()), (200, Some(false)));
}

#[test]
fn with_a_token_any_host_is_served_but_cross_site_changes_are_not() {
    let app = TestApp::start(&[("COSMOSQ_AUTH_TOKEN", "s3cret-token")]);
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let host = format!("gpu-box.example:{port}");
    let bearer = "Bearer s3cret-token";
    let (status, _) = raw(
        &app,
        "GET",
        "/api/v1/queue",
        &[("Host", &host), ("Authorization", bearer)],
        "",
    );
    assert_eq!(status, 200, "behind a proxy, under the machine's name");
    let (status, _) = raw(&app, "GET", "/api/v1/queue", &[("Host", &host)], "");
    assert_eq!(status, 401);
    let (status, body) = raw(
        &app,
        "POST",
        "/api/v1/queue/pause",
        &[
            ("Host", &host),
            ("Authorization", bearer),
            ("Sec-Fetch-Site", "cross-site"),
            ("Content-Type", "application/json"),
        ],
        "",
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("cross_origin_request"))
    );
    let (status, _) = raw(
        &app,
        "POST",
        "/api/v1/queue/pause",
        &[
            ("Authorization", bearer),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "",
    );
    assert_eq!(status, 415);
    let (status, body) = raw(
        &app,
        "POST",
        "/api/v1/queue/pause",
        &[
            ("Host", &host),
            ("Authorization", bearer),
            ("Content-Type", "application/json"),
        ],
        "",
    );
    assert_eq!((status, body["paused"].as_bool()), (200, Some(true)));
}
