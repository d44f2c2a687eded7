//! Notifications: a webhook receiver on loopback gets every event, signed, at least once per
//! id, also across a kill -9 of the daemon while events wait in the outbox.

use crate::support::TestApp;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What the receiver got: (headers lower-cased, body).
type Got = Arc<Mutex<Vec<(Vec<(String, String)>, String)>>>;

/// A tiny HTTP receiver: answers 503 while `refuse` is set (recording nothing), else 200.
fn receiver(refuse: Arc<AtomicBool>) -> (String, Got) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got: Got = Arc::default();
    let g = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            let _ = reader.read_line(&mut line); // request line
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.trim_end().split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let status = if refuse.load(Ordering::SeqCst) {
                "503 Service Unavailable"
            } else {
                g.lock()
                    .unwrap()
                    .push((headers, String::from_utf8_lossy(&body).into_owned()));
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (url, got)
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn every_event_reaches_the_receiver_signed_at_least_once_per_id_across_kill_9() {
    let refuse = Arc::new(AtomicBool::new(true));
    let (url, got) = receiver(refuse.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = TestApp::write_config(
        dir.path(),
        &format!("[[notify]]\nurl = \"{url}\"\nsecret = \"s3cret\"\n\n[[notify]]\nurl = \"{url}\"\nevents = [\"queue.drained\"]\n"),
    );
    let mut app = TestApp::start(&[
        ("COSMOSQ_CONFIG", &config),
        ("COSMOSQ_EXECUTOR__TIME_SCALE", "0.0005"),
    ]);
    let good = app.create_prompt("a calm sea");
    let bad = app.create_prompt("a storm [simulate:fail]");
    let jobs = [
        app.add_job(&good, json!({"edge": 0.5})),
        app.add_job(&good, json!({"depth": 0.5})),
        app.add_job(&bad, json!({"seg": 0.5})),
    ];
    app.wait_idle(60);
    // The receiver refused everything so far: the events wait in the outbox. Kill the daemon.
    app.kill9_and_restart();
    assert!(got.lock().unwrap().is_empty());
    refuse.store(false, Ordering::SeqCst);
    let batches = app.get("/api/v1/batches").body.as_array().unwrap().len();
    // 2 succeeded + 1 failed + the batches + at least one drain for each receiver.
    app.wait_until(60, "every event delivered", |_| {
        let g = got.lock().unwrap();
        let ids: std::collections::HashSet<String> = g
            .iter()
            .filter_map(|(_, b)| serde_json::from_str::<Value>(b).ok())
            .filter(|v| v["event"] != "queue.drained")
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect();
        let drains = g
            .iter()
            .filter(|(h, _)| header(h, "x-cosmosq-event") == Some("queue.drained"))
            .count();
        ids.len() >= 3 + batches && drains >= 2
    });
    let g = got.lock().unwrap().clone();
    let mut by_id: std::collections::HashMap<(String, bool), Value> = Default::default();
    for (h, body) in &g {
        let v: Value = serde_json::from_str(body).unwrap();
        let id = v["id"].as_str().unwrap().to_string();
        assert_eq!(header(h, "x-cosmosq-delivery"), Some(id.as_str()));
        assert_eq!(header(h, "x-cosmosq-event"), v["event"].as_str());
        let signed = header(h, "x-cosmosq-signature");
        if let Some(sig) = signed {
            let want = format!(
                "sha256={}",
                cosmosq::queue::signature(b"s3cret", body.as_bytes())
            );
            assert_eq!(sig, want, "the signature verifies");
        }
        // A duplicate (at least once) carries the same body.
        if let Some(prev) = by_id.insert((id.clone(), signed.is_some()), v.clone()) {
            assert_eq!(prev, v, "a redelivery is the same event");
        }
    }
    let events: Vec<(String, String)> = by_id
        .iter()
        .filter(|((_, signed), _)| *signed)
        .map(|(_, v)| {
            let what = v["job"]["id"]
                .as_str()
                .or(v["batch"]["id"].as_str())
                .unwrap_or("queue");
            (v["event"].as_str().unwrap().to_string(), what.to_string())
        })
        .collect();
    for (i, job) in jobs.iter().enumerate() {
        let want = if i == 2 {
            "job.failed"
        } else {
            "job.succeeded"
        };
        assert_eq!(
            events.iter().filter(|(e, j)| e == want && j == job).count(),
            1,
            "{want} {job}: {events:?}"
        );
    }
    assert_eq!(
        events.iter().filter(|(e, _)| e == "batch.finished").count(),
        batches
    );
    // The second receiver asked for queue.drained only, unsigned.
    assert!(by_id
        .iter()
        .filter(|((_, signed), _)| !*signed)
        .all(|(_, v)| v["event"] == "queue.drained"));
    // Delivered means removed from the outbox: a restart sends nothing again.
    let delivered = g.len();
    std::thread::sleep(std::time::Duration::from_millis(500));
    app.restart();
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(
        got.lock().unwrap().len(),
        delivered,
        "nothing sent twice after a clean restart"
    );
}
