//! The paths added for performance keep their contracts: the queue view's `ETag` /
//! `If-None-Match` revalidation, its optional `offset`/`limit` paging, and group commit
//! (concurrent adds share a flush, yet every acknowledged add survives `kill -9`).

use crate::support::TestApp;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// `GET /api/v1/queue`, optionally with `If-None-Match`: status, ETag and body text.
fn get_queue(app: &TestApp, tag: Option<&str>) -> (u16, Option<String>, String) {
    let mut req = agent().get(format!("{}/api/v1/queue", app.base));
    if let Some(t) = tag {
        req = req.header("If-None-Match", t);
    }
    let mut resp = req.call().expect("request reaches the daemon");
    let etag = resp
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    let status = resp.status().as_u16();
    (
        status,
        etag,
        resp.body_mut().read_to_string().unwrap_or_default(),
    )
}

#[test]
fn queue_view_revalidates_with_its_etag_until_anything_changes() {
    let mut app = TestApp::start(&[]);
    app.pause();
    let p = app.create_prompt("etag");
    app.add_job(&p, json!({"edge": 0.5}));
    let (status, tag, body) = get_queue(&app, None);
    assert_eq!(status, 200);
    let tag = tag.expect("the full view carries an ETag");
    let view: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["jobs"].as_array().unwrap().len(), 1);

    // Unchanged: 304 without a body, same tag; also in a list and as a weak tag.
    let (status, again, body) = get_queue(&app, Some(&tag));
    assert_eq!(
        (status, again.as_deref(), body.as_str()),
        (304, Some(tag.as_str()), "")
    );
    assert_eq!(get_queue(&app, Some(&format!("\"x\", W/{tag}"))).0, 304);
    assert_eq!(get_queue(&app, Some("\"something-else\"")).0, 200);

    // Every kind of change makes the old tag stale: a job, a move, a setting.
    let mut current = tag;
    let changes: [&dyn Fn(&TestApp); 3] = [
        &|a| {
            a.add_job(&p, json!({"depth": 0.5}));
        },
        &|a| {
            let last = a.get("/api/v1/queue").body["jobs"][1]["id"].clone();
            let r = a.post(
                &format!("/api/v1/jobs/{}/move", last.as_str().unwrap()),
                json!({"position": 1}),
            );
            assert_eq!(r.status, 200);
        },
        &|a| {
            let r = a.patch("/api/v1/queue/settings", json!({"max_batch_size": 3}));
            assert_eq!(r.status, 200);
        },
    ];
    for change in changes {
        change(&app);
        let (status, tag, body) = get_queue(&app, Some(&current));
        assert_eq!(
            status, 200,
            "a change answers the old tag with the new view"
        );
        let tag = tag.unwrap();
        assert_ne!(tag, current);
        let view: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            view,
            app.get("/api/v1/queue").body,
            "the cached view is the live view"
        );
        current = tag;
    }
    let view = app.get("/api/v1/queue").body;
    assert_eq!(view["settings"]["max_batch_size"], 3);

    // A restart never answers an old tag with 304, even with nothing changed.
    let (_, tag, _) = get_queue(&app, None);
    app.restart();
    assert_eq!(get_queue(&app, Some(&tag.unwrap())).0, 200);
}

#[test]
fn queue_view_pages_with_offset_and_limit() {
    let app = TestApp::start(&[]);
    app.pause();
    let p = app.create_prompt("pages");
    let ids: Vec<String> = (0..5)
        .map(|_| app.add_job(&p, json!({"edge": 0.5})))
        .collect();
    let page = |q: &str| app.get(&format!("/api/v1/queue?{q}")).body;
    let jobs = |v: &Value| -> Vec<(String, u64)> {
        v["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| {
                (
                    j["id"].as_str().unwrap().into(),
                    j["position"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let all: Vec<(String, u64)> = ids.iter().cloned().zip(1..).collect();
    assert_eq!(
        jobs(&app.get("/api/v1/queue").body),
        all,
        "no paging: every job"
    );
    let first = page("limit=2");
    assert_eq!(jobs(&first), all[..2].to_vec());
    assert_eq!(first["counts"]["queued"], 5, "counts cover the whole queue");
    assert_eq!(jobs(&page("offset=3&limit=10")), all[3..].to_vec());
    assert_eq!(jobs(&page("offset=2")), all[2..].to_vec());
    assert!(jobs(&page("offset=9")).is_empty());
    assert!(jobs(&page("limit=0")).is_empty());
    assert!(jobs(&page("offset=2147483647&limit=2147483647")).is_empty());
    // Beyond the documented range (an int32 from 0) is refused, not clamped.
    for q in ["limit=-1", "limit=2147483648", "offset=4294967296"] {
        let r = app.get(&format!("/api/v1/queue?{q}"));
        assert_eq!((r.status, r.code()), (400, "invalid_query"), "{q}");
    }
}

#[test]
fn concurrent_adds_share_flushes_and_every_acknowledged_one_survives_kill_9() {
    let app = Arc::new(TestApp::start(&[]));
    app.pause();
    let p = app.create_prompt("group commit");
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let app = app.clone();
            let p = p.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|_| app.add_job(&p, json!({"edge": 0.5})))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let acknowledged: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let mut app = Arc::try_unwrap(app).ok().expect("clients are done");
    app.kill9_and_restart();
    let view = app.get("/api/v1/queue").body;
    let jobs = view["jobs"].as_array().unwrap();
    let ids: HashSet<&str> = jobs.iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(jobs.len(), 200);
    assert_eq!(ids.len(), 200, "no job twice");
    for id in &acknowledged {
        assert!(ids.contains(id.as_str()), "acknowledged {id} was lost");
    }
    let positions: Vec<u64> = jobs
        .iter()
        .map(|j| j["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, (1..=200).collect::<Vec<_>>());
}
