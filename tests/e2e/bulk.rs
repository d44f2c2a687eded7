//! `POST /api/v1/jobs/bulk`: many jobs in one request, all or none.

use crate::support::TestApp;
use serde_json::{json, Value};

fn counts(app: &TestApp) -> Value {
    app.get("/api/v1/queue").body["counts"].clone()
}

#[test]
fn two_thousand_jobs_are_added_in_order_at_once_and_survive_kill_9() {
    let mut app = TestApp::start(&[]);
    app.pause();
    let (a, b) = (app.create_prompt("sweep a"), app.create_prompt("sweep b"));
    let single = app.post(
        "/api/v1/jobs",
        json!({"prompt_id": a, "config": {"weights": {"edge": 0.5}}}),
    );
    assert_eq!(single.status, 201, "{}", single.body);
    // A weight sweep over two prompts, with a seed each: 2,000 jobs.
    let items: Vec<Value> = (0..2000)
        .map(|i| {
            json!({
                "prompt_id": if i % 2 == 0 { &a } else { &b },
                "config": {"weights": {"edge": 0.1 + (i % 9) as f64 / 10.0, "depth": 0.5}, "seed": i},
            })
        })
        .collect();
    let r = app.post("/api/v1/jobs/bulk", json!({"jobs": items}));
    assert_eq!(r.status, 201, "{}", r.body);
    let jobs = r.body["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2000);
    for (i, job) in jobs.iter().enumerate() {
        assert_eq!(job["status"], "queued");
        assert_eq!(job["position"], i + 2, "after the job already queued");
        assert_eq!(job["config"]["seed"], i);
        let w = 0.1 + (i % 9) as f64 / 10.0;
        assert_eq!(job["config"]["weights"]["edge"], w);
        // As the program runs them: divided by their sum once it passes 1.
        assert!(job["effective_weights"]["depth"].as_f64().unwrap() <= 0.5);
    }
    assert_eq!(counts(&app)["queued"], 2001);
    // Acknowledged means on disk: all of them after a kill -9, in the same order.
    app.kill9_and_restart();
    let queue = app.get("/api/v1/queue").body;
    assert_eq!(queue["counts"]["queued"], 2001);
    let ids: Vec<&Value> = queue["jobs"].as_array().unwrap()[1..]
        .iter()
        .map(|j| &j["id"])
        .collect();
    let sent: Vec<&Value> = jobs.iter().map(|j| &j["id"]).collect();
    assert_eq!(ids, sent);
}

#[test]
fn one_bad_item_refuses_the_whole_request_and_names_it() {
    let app = TestApp::start(&[("COSMOSQ_QUEUE__MAX_QUEUED_JOBS", "50")]);
    app.pause();
    let p = app.create_prompt("bulk");
    let good = |i: usize| json!({"prompt_id": p, "config": {"weights": {"edge": 0.5}, "seed": i}});
    let cases = [
        (
            7,
            json!({"prompt_id": p, "config": {"weights": {"edge": 1.5}}}),
            "weight_out_of_range",
        ),
        (
            3,
            json!({"prompt_id": "pr_nope", "config": {"weights": {"edge": 0.5}}}),
            "prompt_not_found",
        ),
        (
            9,
            json!({"prompt_id": p, "config": {"weights": {"hdmap": 0.5}}}),
            "control_video_required",
        ),
    ];
    for (at, bad, code) in cases {
        let mut items: Vec<Value> = (0..10).map(good).collect();
        items[at] = bad;
        let r = app.post("/api/v1/jobs/bulk", json!({"jobs": items}));
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(r.body["code"], code, "{}", r.body);
        assert_eq!(r.body["index"], at, "{}", r.body);
        assert!(
            r.body["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("jobs[{at}]: ")),
            "{}",
            r.body
        );
        assert_eq!(counts(&app)["queued"], 0, "nothing stored");
    }
    let r = app.post("/api/v1/jobs/bulk", json!({"jobs": []}));
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("bulk_size_out_of_range"))
    );
    // More than the queue takes: none of them.
    let r = app.post(
        "/api/v1/jobs/bulk",
        json!({"jobs": (0..51).map(good).collect::<Vec<_>>()}),
    );
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("queue_full")),
        "{}",
        r.body
    );
    assert!(r.body.get("index").is_none());
    assert_eq!(counts(&app)["queued"], 0);
    let r = app.post(
        "/api/v1/jobs/bulk",
        json!({"jobs": (0..50).map(good).collect::<Vec<_>>()}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(counts(&app)["queued"], 50);
}

fn statuses(app: &TestApp, ids: &[String]) -> Vec<String> {
    ids.iter()
        .map(|id| app.job(id)["status"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn bulk_cancel_and_retry_take_the_jobs_a_filter_names() {
    let app = TestApp::start(&[("COSMOSQ_EXECUTOR__TIME_SCALE", "1")]);
    app.pause();
    let (a, b) = (app.create_prompt("cat"), app.create_prompt("dog"));
    let add = |p: &str, c: &str| app.add_job(p, json!({c: 0.5}));
    let edge: Vec<String> = (0..2).map(|_| add(&a, "edge")).collect();
    let depth: Vec<String> = (0..2).map(|_| add(&b, "depth")).collect();
    let other = add(&b, "seg");

    // Refusals change nothing.
    let r = app.post("/api/v1/jobs/bulk-cancel", json!({}));
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("filter_required"))
    );
    let r = app.post(
        "/api/v1/jobs/bulk-cancel",
        json!({"ids": [edge[0], "jb_0000000000000000"]}),
    );
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (404, Some("job_not_found")),
        "{}",
        r.body
    );
    assert_eq!(r.body["index"], 1);
    assert_eq!(counts(&app)["queued"], 5);

    // A plan of three batches: edge runs (a slow simulated program), depth and seg wait.
    let plan = app.get("/api/v1/batches/preview?mode=strict").body;
    assert_eq!(plan["batches"].as_array().unwrap().len(), 3);
    let r = app.post("/api/v1/batches", json!({"plan_id": plan["plan_id"]}));
    assert_eq!(r.status, 202, "{}", r.body);
    let depth_batch_id = r.body["batches"][1]["id"].as_str().unwrap().to_string();
    app.wait_until(10, "the edge batch to run", |app| {
        app.job(&edge[0])["status"] == "running"
    });

    // Both jobs of the waiting depth batch leave it together: it ends with none.
    let r = app.post(
        "/api/v1/jobs/bulk-cancel",
        json!({"prompt_id": b, "status": "queued"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let canceled: Vec<&str> = r.body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        canceled,
        [depth[0].as_str(), depth[1].as_str(), other.as_str()]
    );
    let depth_batch = app.get(&format!("/api/v1/batches/{depth_batch_id}")).body;
    assert_eq!(depth_batch["status"], "canceled", "{depth_batch}");
    assert_eq!(depth_batch["job_ids"], json!([]));

    // Running jobs: their batch stops.
    let r = app.post("/api/v1/jobs/bulk-cancel", json!({"status": "running"}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["jobs"].as_array().unwrap().len(), 2);
    app.wait_idle(30);
    assert_eq!(statuses(&app, &edge), ["canceled", "canceled"]);

    // Retry by status: all five back at the bottom, in the order they were listed.
    let r = app.post(
        "/api/v1/jobs/bulk-retry",
        json!({"ids": [depth[1], edge[0]], "status": "canceled"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let positions: Vec<(&str, u64)> = r.body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["id"].as_str().unwrap(), j["position"].as_u64().unwrap()))
        .collect();
    assert_eq!(positions, [(depth[1].as_str(), 1), (edge[0].as_str(), 2)]);
    let r = app.post("/api/v1/jobs/bulk-retry", json!({"status": "canceled"}));
    assert_eq!(r.body["jobs"].as_array().unwrap().len(), 3, "{}", r.body);
    assert_eq!(counts(&app)["queued"], 5);
    // Nothing left to retry: an empty list, not an error.
    let r = app.post("/api/v1/jobs/bulk-retry", json!({"status": "canceled"}));
    assert_eq!(
        (r.status, r.body["jobs"].as_array().unwrap().len()),
        (200, 0)
    );
}
