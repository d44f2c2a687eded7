//! Every bad input gets a 4xx with a stable code, and nothing is stored.

use crate::support::{test_video, TestApp};
use serde_json::{json, Value};

#[test]
fn bad_requests_get_4xx_codes_and_change_nothing() {
    let app = TestApp::start(&[("COSMOSQ_MAX_BODY_BYTES", "4096")]);
    app.pause();
    let p = app.create_prompt("valid prompt");
    let j = app.add_job(&p, json!({"edge": 0.5}));
    let before = app.stored();
    let dir = tempfile::tempdir().unwrap();
    let text_file = dir.path().join("notes.mp4");
    std::fs::write(&text_file, "not a video").unwrap();
    let video = test_video();
    let job = |config: Value| json!({"prompt_id": p, "config": config});
    let move_path = format!("/api/v1/jobs/{j}/move");
    let prompt_path = format!("/api/v1/prompts/{p}");

    let cases: Vec<(&str, &str, Value, u16, &str)> = vec![
        (
            "POST",
            "/api/v1/jobs",
            json!({"prompt_id": p}),
            422,
            "no_active_control",
        ),
        (
            "POST",
            "/api/v1/jobs",
            job(json!({"weights": {"edge": 1.5}})),
            422,
            "weight_out_of_range",
        ),
        (
            "POST",
            "/api/v1/jobs",
            job(json!({"weights": {"edge": -0.1}})),
            422,
            "weight_out_of_range",
        ),
        (
            "POST",
            "/api/v1/jobs",
            job(json!({"weights": {"sketch": 0.5}})),
            422,
            "unknown_control",
        ),
        (
            "POST",
            "/api/v1/jobs",
            job(json!({"weights": {"edge": 0}})),
            422,
            "no_active_control",
        ),
        (
            "POST",
            "/api/v1/jobs",
            job(json!({"weights": {"edge": 1}, "num_steps": 0})),
            422,
            "num_steps_out_of_range",
        ),
        (
            "POST",
            "/api/v1/jobs",
            job(json!({"weights": {"edge": 1}, "num_steps": 1_000_000_000u64})),
            422,
            "num_steps_out_of_range",
        ),
        (
            "POST",
            "/api/v1/jobs",
            job(json!({"weights": {"edge": 1}, "guidance": 99})),
            422,
            "guidance_out_of_range",
        ),
        (
            "POST",
            "/api/v1/jobs",
            job(json!({"weights": {"edge": 1}, "fps": 0})),
            422,
            "fps_out_of_range",
        ),
        (
            "POST",
            "/api/v1/jobs",
            job(json!({"weights": {"edge": 1}, "blur_strength": "max"})),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/jobs",
            job(json!({"weights": {"edge": "high"}})),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/jobs",
            job(json!({"weights": {"edge": 1}, "stepz": 3})),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/jobs",
            json!({"prompt_id": p, "config": {"weights": {"edge": 1}}, "priority": 1}),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/jobs",
            json!({"prompt_id": "ps_0000000000000000", "config": {"weights": {"edge": 1}}}),
            422,
            "prompt_not_found",
        ),
        (
            "POST",
            "/api/v1/jobs",
            job(json!({"weights": {"hdmap": 1}})),
            422,
            "control_video_required",
        ),
        (
            "POST",
            "/api/v1/jobs",
            json!({"prompt_id": p, "kind": "train", "config": {}}),
            400,
            "invalid_body",
        ),
        ("POST", "/api/v1/jobs", json!([1, 2]), 400, "invalid_body"),
        (
            "POST",
            "/api/v1/prompts",
            json!({"text": "x", "input_video": "relative/clip.mp4"}),
            422,
            "video_path_not_absolute",
        ),
        (
            "POST",
            "/api/v1/prompts",
            json!({"text": "x", "input_video": "/no/such/clip.mp4"}),
            422,
            "video_not_found",
        ),
        (
            "POST",
            "/api/v1/prompts",
            json!({"text": "x", "input_video": dir.path()}),
            422,
            "video_not_a_file",
        ),
        (
            "POST",
            "/api/v1/prompts",
            json!({"text": "x", "input_video": text_file}),
            422,
            "video_unreadable",
        ),
        (
            "POST",
            "/api/v1/prompts",
            json!({"text": "   ", "input_video": video}),
            422,
            "text_required",
        ),
        (
            "POST",
            "/api/v1/prompts",
            json!({"text": "bell \u{7} here", "input_video": video}),
            422,
            "text_has_control_characters",
        ),
        (
            "POST",
            "/api/v1/prompts",
            json!({"text": "x", "input_video": video, "control_videos": {"sketch": video}}),
            422,
            "unknown_control",
        ),
        (
            "POST",
            "/api/v1/prompts",
            json!({"text": "x", "input_video": video, "control_videos": {"depth": "/no/depth.mp4"}}),
            422,
            "video_not_found",
        ),
        (
            "POST",
            "/api/v1/prompts",
            json!({"text": "x"}),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/prompts",
            json!({"text": "x".repeat(5000), "input_video": video}),
            413,
            "body_too_large",
        ),
        (
            "GET",
            "/api/v1/jobs/jb_0000000000000000",
            Value::Null,
            404,
            "job_not_found",
        ),
        (
            "GET",
            "/api/v1/jobs/..%2F..%2Fetc",
            Value::Null,
            404,
            "job_not_found",
        ),
        (
            "GET",
            "/api/v1/prompts/nope",
            Value::Null,
            404,
            "prompt_not_found",
        ),
        (
            "GET",
            "/api/v1/batches/bt_zz",
            Value::Null,
            404,
            "batch_not_found",
        ),
        (
            "GET",
            "/api/v1/jobs?status=done",
            Value::Null,
            400,
            "invalid_query",
        ),
        (
            "GET",
            "/api/v1/batches/preview?mode=fast",
            Value::Null,
            400,
            "invalid_query",
        ),
        (
            "GET",
            "/api/v1/batches/preview?max_batch_size=0",
            Value::Null,
            422,
            "max_batch_size_out_of_range",
        ),
        (
            "GET",
            "/api/v1/batches/preview?max_batch_size=-3",
            Value::Null,
            400,
            "invalid_query",
        ),
        (
            "GET",
            "/api/v1/nothing-here",
            Value::Null,
            404,
            "route_not_found",
        ),
        (
            "POST",
            &move_path,
            json!({"position": 0}),
            422,
            "position_out_of_range",
        ),
        (
            "POST",
            &move_path,
            json!({"position": "top"}),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/jobs/jb_0000000000000000/cancel",
            json!({}),
            404,
            "job_not_found",
        ),
        (
            "POST",
            "/api/v1/batches",
            json!({"plan_id": "pl_0"}),
            409,
            "stale_plan",
        ),
        ("POST", "/api/v1/batches", json!({}), 400, "invalid_body"),
        ("DELETE", &prompt_path, Value::Null, 409, "prompt_in_use"),
    ];
    for (method, path, body, status, code) in &cases {
        let r = match *method {
            "GET" => app.get(path),
            "DELETE" => app.delete(path),
            _ => app.post(path, body.clone()),
        };
        assert_eq!(r.status, *status, "{method} {path} {body}: {}", r.body);
        assert_eq!(r.code(), *code, "{method} {path} {body}: {}", r.body);
        assert!(!r.body["message"].as_str().unwrap_or("").is_empty());
    }
    let patch = app.patch("/api/v1/queue/settings", json!({"max_batch_size": 65}));
    assert_eq!(
        (patch.status, patch.code()),
        (422, "max_batch_size_out_of_range")
    );
    let raw = [
        (
            "application/json",
            "{\"prompt_id\": ",
            400,
            "malformed_json",
        ),
        ("application/json", "", 400, "malformed_json"),
        ("text/plain", "{}", 415, "unsupported_media_type"),
    ];
    for (ct, body, status, code) in raw {
        let r = app.post_raw("/api/v1/jobs", ct, body);
        assert_eq!((r.status, r.code()), (status, code), "{body:?}");
    }
    assert_eq!(app.stored(), before, "a rejected request stored something");
    assert_eq!(
        app.get("/api/v1/queue").body["settings"]["max_batch_size"],
        8
    );
}

#[test]
fn allowed_roots_keep_videos_inside() {
    let root = tempfile::tempdir().unwrap();
    let inside = root.path().join("clip.mp4");
    std::fs::copy(test_video(), &inside).unwrap();
    let root_str = root.path().to_str().unwrap().to_string();
    let app = TestApp::start(&[("COSMOSQ_ALLOWED_ROOTS", &root_str)]);
    let ok = app.post(
        "/api/v1/prompts",
        json!({"text": "in", "input_video": inside}),
    );
    assert_eq!(ok.status, 201, "{}", ok.body);
    // Both temp dirs share a parent: climb out of the root with `..` and into the other.
    let video = test_video();
    let other = video
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let escape = format!("{root_str}/../{other}/clip.mp4");
    for path in [test_video().display().to_string(), escape] {
        let r = app.post(
            "/api/v1/prompts",
            json!({"text": "out", "input_video": path}),
        );
        assert_eq!(
            (r.status, r.code()),
            (422, "video_path_not_allowed"),
            "{path}"
        );
    }
}

#[test]
fn a_token_guards_every_api_route() {
    let app = TestApp::start(&[("COSMOSQ_AUTH_TOKEN", "s3cret-token")]);
    assert_eq!(app.get("/healthz").status, 200, "health needs no token");
    for path in [
        "/api/v1/queue",
        "/api/v1/jobs",
        "/api/v1/prompts",
        "/api/v1/events",
        "/api/v1/nope",
        "/metrics",
        // Percent-encoded spellings route to the same handlers: the token must hold there too.
        "/%61pi/v1/prompts",
        "/api%2Fv1/prompts",
        "/%6Detrics",
        "/api/v1/%71ueue",
    ] {
        let r = app.get(path);
        assert_eq!((r.status, r.code()), (401, "unauthorized"), "{path}");
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let call = |auth: &str| {
        agent
            .get(format!("{}/api/v1/queue", app.base))
            .header("Authorization", auth)
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(call("Bearer s3cret-token"), 200);
    assert_eq!(call("Bearer s3cret-tokeN"), 401);
    assert_eq!(call("Basic s3cret-token"), 401);
}

#[test]
fn refuses_to_listen_beyond_loopback_without_a_token() {
    let out = std::process::Command::new(crate::support::BIN)
        .args(["serve", "--bind", "0.0.0.0:0", "--data-dir"])
        .arg(tempfile::tempdir().unwrap().path())
        .env_remove("COSMOSQ_AUTH_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("auth_token"));
}
