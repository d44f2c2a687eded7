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
