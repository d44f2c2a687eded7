//! Operations: executor slots (quarantine of a broken one while a healthy one runs the queue,
//! drain, states that survive kill -9), batch logs (byte ranges, offsets, following a running
//! batch, one job's lines) and stalled programs.

use crate::executors::{add, daemon};
use crate::support::{TestApp, BIN};
use serde_json::{json, Value};
use std::process::Command;

fn slot(app: &TestApp, name: &str) -> Value {
    let slots = app.get("/api/v1/slots").body;
    slots
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no slot {name} in {slots}"))
        .clone()
}

fn batches(app: &TestApp) -> Vec<Value> {
    app.get("/api/v1/batches").body.as_array().unwrap().clone()
}

fn header<'a>(r: &'a crate::support::RawReply, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn metric(app: &TestApp, line_start: &str) -> Option<String> {
    let r = app.raw("GET", "/metrics", &[], "");
    r.body
        .lines()
        .find(|l| l.starts_with(line_start))
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
}

#[test]
fn a_slot_whose_program_is_missing_is_quarantined_while_the_healthy_slot_runs_the_queue() {
    let s = daemon(
        "transfer1",
        "quarantine_after = 3\n\
         [[executor.slots]]\nname = \"good\"\n\
         [[executor.slots]]\nname = \"broken\"\nprefix = [\"/nonexistent/cosmosq-wrapper\"]\n",
        &[],
    );
    let mut app = s.app;
    let prompt = app.create_prompt("a street at dusk");
    let mut jobs = Vec::new();
    // Jobs keep coming until the broken slot has failed three times in a row.
    for _ in 0..200 {
        jobs.push(add(&app, &prompt, json!({"weights": {"edge": 0.5}})));
        std::thread::sleep(std::time::Duration::from_millis(150));
        if slot(&app, "broken")["state"] == "quarantined" {
            break;
        }
    }
    let broken = slot(&app, "broken");
    assert_eq!(broken["state"], "quarantined", "{broken}");
    assert_eq!(broken["consecutive_failures"], 3, "{broken}");
    let why = broken["last_error"].as_str().unwrap();
    assert!(why.contains("could not start"), "{why}");
    app.wait_idle(120);
    for id in &jobs {
        let job = app.job(id);
        assert_eq!(job["status"], "succeeded", "{job}");
        // The broken slot's starts did not count against the jobs.
        assert_eq!(job["attempts"], 1, "{job}");
    }
    let all = batches(&app);
    let on_broken: Vec<&Value> = all.iter().filter(|b| b["slot"] == "broken").collect();
    assert_eq!(on_broken.len(), 3, "three batches tried the broken slot");
    assert!(on_broken.iter().all(|b| b["status"] == "failed"));
    assert!(
        on_broken
            .iter()
            .any(|b| b["error"]["code"] == "slot_quarantined"),
        "the batch that quarantined it says so"
    );
    assert!(all
        .iter()
        .filter(|b| b["status"] == "succeeded")
        .all(|b| b["slot"] == "good"));
    assert_eq!(
        metric(&app, "cosmosq_slots{state=\"quarantined\"}").as_deref(),
        Some("1")
    );
    assert_eq!(
        metric(&app, "cosmosq_slot_quarantines_total").as_deref(),
        Some("1")
    );

    // The quarantine survives kill -9; enable puts the slot back (and it fails again).
    app.kill9_and_restart();
    let broken = slot(&app, "broken");
    assert_eq!(broken["state"], "quarantined", "{broken}");
    assert_eq!(slot(&app, "good")["state"], "idle");
    let r = app.post("/api/v1/slots/broken/enable", json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["state"], "idle");
    assert_eq!(r.body["consecutive_failures"], 0);
    let r = app.post("/api/v1/slots/nope/drain", json!({}));
    assert_eq!((r.status, r.code()), (404, "slot_not_found"));
}

/// A simulated daemon whose batches take a few seconds.
fn slow_daemon(extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![("COSMOSQ_EXECUTOR__TIME_SCALE", "0.02")];
    env.extend_from_slice(extra);
    TestApp::start(&env)
}

#[test]
fn a_drained_slot_finishes_its_batch_starts_no_other_and_stays_out_across_kill_9() {
    let mut app = slow_daemon(&[]);
    let p = app.create_prompt("a harbour");
    let first = app.add_job(&p, json!({"edge": 0.5}));
    app.wait_until(30, "the first job to run", |a| {
        a.job(&first)["status"] == "running"
    });
    // A job for another batch (the first is running: it cannot join it).
    let second = app.add_job(&p, json!({"edge": 0.7}));
    let r = app.post("/api/v1/slots/slot0/drain", json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["state"], "draining");
    assert!(r.body["batch_id"].is_string());
    app.wait_until(60, "the first job to finish", |a| {
        a.job(&first)["status"] == "succeeded"
    });
    assert_eq!(slot(&app, "slot0")["state"], "disabled");
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(
        app.job(&second)["status"],
        "queued",
        "no other batch started"
    );
    assert_eq!(batches(&app).len(), 1);

    app.kill9_and_restart();
    // After an unclean stop the queue starts paused: resumed, the slot still keeps it.
    app.resume();
    assert_eq!(slot(&app, "slot0")["state"], "disabled");
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(app.job(&second)["status"], "queued");

    // The CLI sees and changes the same state.
    let out = Command::new(BIN)
        .args(["slots", "ls", "--server", &app.base])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("disabled"), "{text}");
    let out = Command::new(BIN)
        .args(["slots", "enable", "slot0", "--server", &app.base])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    app.wait_until(120, "the second job to run", |a| {
        a.job(&second)["status"] == "succeeded"
    });
}

#[test]
fn disabling_a_busy_slot_stops_its_batch_and_gives_the_jobs_back_without_an_attempt() {
    let app = slow_daemon(&[]);
    let p = app.create_prompt("a field");
    let job = app.add_job(&p, json!({"edge": 0.5}));
    app.wait_until(30, "the job to run", |a| a.job(&job)["status"] == "running");
    let r = app.post("/api/v1/slots/slot0/disable", json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    app.wait_until(30, "the job to go back", |a| {
        a.job(&job)["status"] == "queued"
    });
    assert_eq!(app.job(&job)["attempts"], 0);
    assert_eq!(batches(&app)[0]["status"], "canceled");
    assert_eq!(slot(&app, "slot0")["state"], "disabled");
}

#[test]
fn a_batch_log_is_read_by_range_and_offset_followed_while_it_runs_and_split_by_job() {
    let app = slow_daemon(&[]);
    let p = app.create_prompt("a bridge");
    app.pause();
    let a = app.add_job(&p, json!({"edge": 0.5}));
    let b = app.add_job(&p, json!({"edge": 0.7}));
    app.resume();
    app.wait_until(30, "the batch to start", |app| {
        batches(app)
            .first()
            .is_some_and(|b| b["status"] == "running")
    });
    let id = batches(&app)[0]["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/batches/{id}/log");

    // Follow: ask from the bytes read so far until the daemon says the log is complete.
    let mut followed = String::new();
    let mut polls_while_running = 0;
    loop {
        let r = app.raw("GET", &format!("{path}?offset={}", followed.len()), &[], "");
        assert_eq!(r.status, 200, "{}", r.body);
        let complete = header(&r, "x-log-complete") == Some("true");
        followed += &r.body;
        assert_eq!(
            header(&r, "x-log-size").unwrap(),
            followed.len().to_string(),
            "each answer ends where the log ends"
        );
        if complete {
            break;
        }
        polls_while_running += 1;
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        polls_while_running > 1,
        "the batch ran while it was followed"
    );
    let whole = app.raw("GET", &path, &[], "");
    assert_eq!(whole.status, 200);
    assert_eq!(followed, whole.body, "following got every byte once");
    assert!(whole.body.contains(&a) && whole.body.contains(&b));

    // Byte ranges.
    let r = app.raw("GET", &path, &[("Range", "bytes=0-9")], "");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, whole.body[..10]);
    let size = whole.body.len();
    assert_eq!(
        header(&r, "content-range").unwrap(),
        format!("bytes 0-9/{size}")
    );
    let r = app.raw("GET", &path, &[("Range", "bytes=-5")], "");
    assert_eq!((r.status, r.body.as_str()), (206, &whole.body[size - 5..]));
    let r = app.raw("GET", &path, &[("Range", &format!("bytes={size}-"))], "");
    assert_eq!(r.status, 416);
    assert_eq!(r.json()["code"], "range_not_satisfiable");
    // An offset past the end is an empty answer (nothing more yet), not an error.
    let r = app.raw("GET", &format!("{path}?offset={}", size + 1), &[], "");
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert_eq!(header(&r, "x-log-size").unwrap(), size.to_string());
    let r = app.raw(
        "GET",
        &format!("{path}?offset=9223372036854775808"),
        &[],
        "",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "invalid_query");

    // One job's lines: its own, not the other's.
    let r = app.raw("GET", &format!("{path}?job={a}"), &[], "");
    assert_eq!(r.status, 200);
    assert!(r.body.contains(&a) && !r.body.contains(&b), "{}", r.body);
    let r = app.raw("GET", &format!("{path}?job=jb_nope"), &[], "");
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (404, Some("job_not_found"))
    );
    let r = app.raw("GET", "/api/v1/batches/bt_nope/log", &[], "");
    assert_eq!(r.status, 404);

    // The CLI prints the same log.
    let out = Command::new(BIN)
        .args(["batch", "log", &id, "--server", &app.base])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), whole.body);
}

#[test]
fn batch_log_follow_prints_a_running_batch_to_its_end() {
    let app = slow_daemon(&[]);
    let p = app.create_prompt("a canal");
    let job = app.add_job(&p, json!({"edge": 0.5}));
    app.wait_until(30, "the job to run", |a| a.job(&job)["status"] == "running");
    let id = app.job(&job)["batch_id"].as_str().unwrap().to_string();
    let out = Command::new(BIN)
        .args(["batch", "log", &id, "--follow", "--server", &app.base])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        app.job(&job)["status"],
        "succeeded",
        "it returned once the batch ended"
    );
    let whole = app.raw("GET", &format!("/api/v1/batches/{id}/log"), &[], "");
    assert_eq!(String::from_utf8_lossy(&out.stdout), whole.body);
    assert!(whole.body.contains("started"));
}

#[test]
fn a_program_that_goes_silent_is_stopped_as_stalled_and_its_jobs_rerun() {
    let flag = tempfile::tempdir().unwrap();
    let flag = flag.path().join("hung");
    let s = daemon(
        "transfer1",
        "stall_seconds = 2",
        &[("STANDIN_HANG_ONCE", flag.to_str().unwrap())],
    );
    let app = &s.app;
    let p = app.create_prompt("a tunnel");
    let job = add(app, &p, json!({"weights": {"edge": 0.5}}));
    app.wait_idle(90);
    assert!(flag.exists(), "the first run hung");
    let done = app.job(&job);
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["attempts"], 2, "the stalled run counted as an attempt");
    let all = batches(app);
    assert_eq!(all.len(), 2);
    let stalled = &all[1];
    assert_eq!(stalled["status"], "failed", "{stalled}");
    assert_eq!(stalled["error"]["code"], "stalled", "{stalled}");
    assert_eq!(all[0]["status"], "succeeded");
    let log = app.raw(
        "GET",
        &format!("/api/v1/batches/{}/log", stalled["id"].as_str().unwrap()),
        &[],
        "",
    );
    assert!(log.body.contains("stopped as stalled"), "{}", log.body);
    assert_eq!(
        metric(app, "cosmosq_batches_stalled_total").as_deref(),
        Some("1")
    );
    // A stall is not the slot's fault.
    assert_eq!(slot(app, "slot0")["consecutive_failures"], 0);
}
