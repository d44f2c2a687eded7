//! The OpenAPI document is a contract: any change to it shows up as a diff of the snapshot.
//! After an intended API change: `COSMOSQ_UPDATE_SNAPSHOTS=1 cargo test -p cosmosq --test e2e openapi`.

use crate::support::TestApp;
use std::path::PathBuf;

fn snapshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/snapshots/openapi.json")
}

#[test]
fn openapi_json_matches_the_snapshot() {
    let app = TestApp::start(&[]);
    let r = app.get("/api-docs/openapi.json");
    assert_eq!(r.status, 200);
    let served = serde_json::to_string_pretty(&r.body).unwrap() + "\n";
    let path = snapshot_path();
    if std::env::var("COSMOSQ_UPDATE_SNAPSHOTS").is_ok() {
        std::fs::write(&path, &served).unwrap();
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        stored == served,
        "openapi.json changed; review and update the snapshot with COSMOSQ_UPDATE_SNAPSHOTS=1"
    );
    // Every route of the contract is documented.
    let paths = r.body["paths"].as_object().unwrap();
    for p in [
        "/healthz",
        "/metrics",
        "/api/v1/prompts",
        "/api/v1/prompts/{id}",
        "/api/v1/jobs",
        "/api/v1/jobs/{id}",
        "/api/v1/jobs/{id}/cancel",
        "/api/v1/jobs/{id}/move",
        "/api/v1/jobs/{id}/retry",
        "/api/v1/queue",
        "/api/v1/queue/pause",
        "/api/v1/queue/resume",
        "/api/v1/queue/settings",
        "/api/v1/batches/preview",
        "/api/v1/batches",
        "/api/v1/batches/{id}",
        "/api/v1/events",
    ] {
        assert!(paths.contains_key(p), "{p} missing from the spec");
    }
}

#[test]
fn docs_ui_is_served_offline() {
    let app = TestApp::start(&[]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent.get(format!("{}/docs/", app.base)).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let html = resp.body_mut().read_to_string().unwrap();
    assert!(html.contains("swagger"), "{html}");
    assert!(
        !html.contains("https://"),
        "the docs page must not load assets from the network"
    );
}

// Regressions found by the API fuzz run (scripts/fuzz.sh, Schemathesis): every answer must
// have a documented status, content type and body.

/// One raw HTTP/1.1 exchange: (status, headers, body).
fn raw(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let r = app.raw(method, path, headers, body);
    (r.status, r.headers, r.body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn with_spa() -> (tempfile::TempDir, TestApp) {
    let spa = tempfile::tempdir().unwrap();
    std::fs::write(
        spa.path().join("index.html"),
        "<!doctype html><title>x</title>",
    )
    .unwrap();
    let dir = spa.path().display().to_string();
    let app = TestApp::start(&[("COSMOSQ_SPA_DIR", dir.as_str())]);
    (spa, app)
}

/// A method a path does not take answered 405 without `Allow` (/healthz, from the SPA's file
/// service) or an empty 404 (/api/v1/..., with the SPA served): now 405, `Allow` and the
/// error shape; an unknown API path is a JSON 404 with the SPA served too.
#[test]
fn fuzz_wrong_method_is_405_with_allow() {
    let (_spa, app) = with_spa();
    for (method, path, allow) in [
        ("TRACE", "/api/v1/queue", "GET"),
        ("DELETE", "/api/v1/jobs", "GET, POST"),
        (
            "PUT",
            "/api/v1/jobs/jb_0000000000000000",
            "GET, DELETE, PATCH",
        ),
        ("OPTIONS", "/api/v1/prompts/ps_0", "GET, DELETE"),
        ("GET", "/api/v1/queue/pause", "POST"),
        ("TRACE", "/healthz", "GET"),
        ("POST", "/metrics", "GET"),
    ] {
        let (status, headers, body) = raw(&app, method, path, &[], "");
        assert_eq!(status, 405, "{method} {path}: {body}");
        assert_eq!(header(&headers, "allow"), Some(allow), "{method} {path}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["code"], "method_not_allowed", "{method} {path}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    for path in ["/api/v1/nope", "/api/v1/jobs/jb_0/nope", "/api/v2/queue"] {
        let (status, headers, body) = raw(&app, "GET", path, &[], "");
        assert_eq!(status, 404, "{path}");
        assert!(header(&headers, "content-type").is_some_and(|c| c.starts_with("application/json")));
        assert!(body.contains("\"route_not_found\""), "{path}: {body}");
    }
    // The SPA keeps its client-side routes.
    assert_eq!(raw(&app, "GET", "/queue", &[], "").0, 200);
}

/// serde fills a struct from a JSON array too: `PATCH /queue/settings` with `[null, null]` was
/// 200. Bodies must be JSON objects.
#[test]
fn fuzz_json_bodies_must_be_objects() {
    let app = TestApp::start(&[]);
    let before = app.get("/api/v1/queue").body["settings"].clone();
    for (method, path, body) in [
        ("PATCH", "/api/v1/queue/settings", "[null, null]"),
        ("PATCH", "/api/v1/queue/settings", "[true, 4, false]"),
        ("POST", "/api/v1/batches", "[\"pl_0\"]"),
        ("POST", "/api/v1/jobs/jb_0000000000000000/move", "[1]"),
        ("POST", "/api/v1/prompts", "[\"text\", \"/tmp/clip.mp4\"]"),
        ("POST", "/api/v1/jobs", "\"ps_0\""),
    ] {
        let (status, _, reply) = raw(
            &app,
            method,
            path,
            &[("Content-Type", "application/json")],
            body,
        );
        assert_eq!(status, 400, "{method} {path} {body}: {reply}");
        assert!(reply.contains("\"invalid_body\""), "{reply}");
    }
    assert_eq!(app.get("/api/v1/queue").body["settings"], before);
}

/// JSON Schema counts 3.0 as an integer: `{"position": 3.0}` was refused as malformed (400).
#[test]
fn fuzz_integral_numbers_are_integers() {
    let app = TestApp::start(&[]);
    app.pause();
    let p = app.create_prompt("integral numbers");
    let first = app.add_job(&p, serde_json::json!({"edge": 0.5}));
    let r = app.post(
        "/api/v1/jobs",
        serde_json::json!({"prompt_id": p, "config": {"weights": {"edge": 1.0}, "num_steps": 30.0, "fps": 24.0}}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["config"]["num_steps"], 30);
    let second = r.body["id"].as_str().unwrap().to_string();
    let r = app.post(
        &format!("/api/v1/jobs/{second}/move"),
        serde_json::json!({"position": 1.0}),
    );
    assert_eq!(
        (r.status, r.body["position"].clone()),
        (200, 1.into()),
        "{}",
        r.body
    );
    assert_eq!(app.job(&first)["position"], 2);
    let r = app.patch(
        "/api/v1/queue/settings",
        serde_json::json!({"max_batch_size": 4.0}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["settings"]["max_batch_size"], 4);
    // A fraction is still not an integer.
    let r = app.post(
        &format!("/api/v1/jobs/{second}/move"),
        serde_json::json!({"position": 1.5}),
    );
    assert_eq!((r.status, r.code()), (400, "invalid_body"));
}

/// With a token, every `/api` answer may be 401; JSON bodies may get 400, 413 and 415; these
/// were sent but not documented. Operation ids were not unique (`show` four times).
#[test]
fn fuzz_every_status_sent_is_documented() {
    let app = TestApp::start(&[("COSMOSQ_AUTH_TOKEN", "t0ken")]);
    let doc = app.get("/api-docs/openapi.json").body;
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_string()), "operationId {id} twice");
            let responses = op["responses"].as_object().unwrap();
            let has = |s: &str| responses.contains_key(s);
            if path.starts_with("/api/") {
                assert!(has("401"), "{method} {path} lacks 401");
            }
            if op.get("requestBody").is_some() {
                for s in ["400", "413", "415"] {
                    assert!(has(s), "{method} {path} lacks {s}");
                }
            }
            if path.contains('{') {
                assert!(has("400"), "{method} {path} lacks 400");
            }
        }
    }
    let r = app.get("/api/v1/jobs");
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
    let (status, _, body) = raw(
        &app,
        "POST",
        "/api/v1/queue/settings",
        &[
            ("Authorization", "Bearer t0ken"),
            ("Content-Type", "text/plain"),
        ],
        "{}",
    );
    assert_eq!(status, 405, "{body}");
    let (status, _, body) = raw(
        &app,
        "PATCH",
        "/api/v1/queue/settings",
        &[
            ("Authorization", "Bearer t0ken"),
            ("Content-Type", "text/plain"),
        ],
        "{}",
    );
    assert_eq!(status, 415, "{body}");
    assert!(body.contains("\"unsupported_media_type\""));
}

/// The event stream was documented as one `Event` object per frame; a frame is `event:` and
/// `data:` (the JSON of an `Event`), now documented as such (`EventFrame`).
#[test]
fn fuzz_event_stream_frames_match_the_doc() {
    use std::io::BufRead;
    let app = TestApp::start(&[]);
    let doc = app.get("/api-docs/openapi.json").body;
    let media = &doc["paths"]["/api/v1/events"]["get"]["responses"]["200"]["content"]
        ["text/event-stream"]["schema"];
    assert_eq!(media["$ref"], "#/components/schemas/EventFrame");
    let frame = &doc["components"]["schemas"]["EventFrame"];
    assert_eq!(frame["required"], serde_json::json!(["event", "data"]));
    assert_eq!(
        frame["properties"]["data"]["contentSchema"]["$ref"],
        "#/components/schemas/Event"
    );
    assert!(doc["components"]["schemas"]["Event"].is_object());
    let names = frame["properties"]["event"]["enum"].clone();

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .get(format!("{}/api/v1/events", app.base))
        .call()
        .unwrap();
    let mut reader = std::io::BufReader::new(resp.body_mut().as_reader());
    let (mut event, mut data) = (String::new(), String::new());
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if let Some(v) = line.strip_prefix("event: ") {
            event = v.to_string();
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = v.to_string();
        } else if line.is_empty() && !data.is_empty() {
            break;
        }
    }
    assert!(
        names.as_array().unwrap().contains(&event.clone().into()),
        "{event}"
    );
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(data["type"], event.as_str());
}
