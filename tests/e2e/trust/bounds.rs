//! Bounds on what the outside can make the daemon hold or do: a program's output, event-stream
//! clients, ffprobe, video paths swapped after the fact, programs that cannot start, and the
//! environment the programs inherit.

use crate::executors::{daemon, standin};
use crate::support::{test_video, Options, TestApp};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

/// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_50_mb_line_and_invalid_utf8_leave_memory_bounded_and_the_outcome_right() {
    let s = daemon("transfer1", "", &[]);
    let app = &s.app;
    app.pause();
    let plain = app.create_prompt("a plain job");
    let noisy = app.create_prompt("a noisy job [standin:long_line] [standin:bad_utf8]");
    let jobs = [
        app.add_job(&plain, json!({"edge": 0.5})),
        app.add_job(&noisy, json!({"edge": 0.5})),
    ];
    let pid = app.pid();
    let before = status_kib(pid, "VmRSS");
    app.resume();
    app.wait_idle(120);
    let peak = status_kib(pid, "VmHWM");
    for id in &jobs {
        assert_eq!(app.job(id)["status"], "succeeded", "{}", app.job(id));
    }
    let log = std::fs::read(app.job(&jobs[1])["outputs"]["log"].as_str().unwrap()).unwrap();
    let log = String::from_utf8(log).expect("the run log is UTF-8");
    assert!(
        log.contains("more bytes of this line dropped"),
        "the cut is noted"
    );
    assert!(log.contains("bytes that are not UTF-8: \u{fffd}\u{fffd}\u{fffd}( end"));
    assert!(
        log.len() < 1 << 20,
        "the log holds the capped line: {} bytes",
        log.len()
    );
    println!("daemon RSS before the batch {before} KiB, peak {peak} KiB");
    assert!(
        peak < before + 32 * 1024,
        "a 50 MB line took the daemon from {before} KiB to a peak of {peak} KiB"
    );
}

/// Open the event stream and read its first frame; `None` when refused (with the status).
fn open_stream(app: &TestApp) -> Result<BufReader<std::net::TcpStream>, (u16, String)> {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let code: u16 = status.split(' ').nth(1).unwrap().parse().unwrap();
    if code != 200 {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
        return Err((code, rest));
    }
    Ok(reader)
}

#[test]
fn event_stream_clients_are_capped() {
    let app = TestApp::start(&[("COSMOSQ_MAX_EVENT_STREAMS", "2")]);
    let first = open_stream(&app).unwrap();
    let _second = open_stream(&app).unwrap();
    let (status, body) = open_stream(&app).expect_err("a third client is refused");
    assert_eq!(status, 429);
    assert!(body.contains("too_many_event_streams"), "{body}");
    // A client that leaves gives its place back (noticed at the next write to it).
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Changes make the daemon write to every client.
        app.pause();
        app.resume();
        match open_stream(&app) {
            Ok(_) => break,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "the place never came back: {e:?}"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

#[test]
fn ffprobe_reads_single_video_files_only_and_not_forever() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    std::fs::copy(test_video(), &clip).unwrap();
    // An HLS playlist of the same clip: a plain file, but one that opens others.
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&clip)
        .args(["-c", "copy", "-f", "hls", "-hls_time", "1"])
        .arg(dir.path().join("list.m3u8"))
        .status()
        .unwrap();
    assert!(status.success());
    let slow = dir.path().join("slow-ffprobe");
    std::fs::write(&slow, "#!/bin/sh\nsleep 30\n").unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&slow)
        .status()
        .unwrap();
    let app = TestApp::start(&[("COSMOSQ_ALLOWED_ROOTS", dir.path().to_str().unwrap())]);
    let add = |video: &str| {
        app.post(
            "/api/v1/prompts",
            json!({"text": "a video", "input_video": video}),
        )
    };
    let r = add(dir.path().join("list.m3u8").to_str().unwrap());
    assert_eq!(
        (r.status, r.code()),
        (422, "video_format_not_allowed"),
        "{}",
        r.body
    );
    assert_eq!(add(clip.to_str().unwrap()).status, 201);
    // Outside the roots, existing or not: the same answer, so it reveals nothing.
    let missing = add("/etc/no-such-file.mp4");
    let existing = add("/etc/hostname");
    assert_eq!(
        (missing.status, missing.code()),
        (422, "video_path_not_allowed")
    );
    assert_eq!(
        (existing.status, existing.code()),
        (422, "video_path_not_allowed")
    );
    let inside_missing = add(dir.path().join("gone.mp4").to_str().unwrap());
    assert_eq!(inside_missing.code(), "video_not_found");

    let mut app = app;
    app.set_env("COSMOSQ_FFPROBE", slow.to_str().unwrap());
    app.set_env("COSMOSQ_PROBE_TIMEOUT_SECONDS", "0.5");
    app.restart();
    let started = Instant::now();
    let r = app.post(
        "/api/v1/prompts",
        json!({"text": "a video", "input_video": clip}),
    );
    assert_eq!(
        (r.status, r.code()),
        (422, "video_probe_timeout"),
        "{}",
        r.body
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the probe was stopped"
    );
}

#[test]
fn a_video_swapped_for_a_symlink_fails_its_job_when_the_batch_starts() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let swapped = root.path().join("swapped.mp4");
    let kept = root.path().join("kept.mp4");
    for p in [&swapped, &kept] {
        std::fs::copy(test_video(), p).unwrap();
    }
    let secret = outside.path().join("secret.mp4");
    std::fs::copy(test_video(), &secret).unwrap();
    let app = TestApp::start(&[("COSMOSQ_ALLOWED_ROOTS", root.path().to_str().unwrap())]);
    app.pause();
    let prompt = |text: &str, video: &std::path::Path| -> String {
        let r = app.post(
            "/api/v1/prompts",
            json!({"text": text, "input_video": video}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    };
    let bad = app.add_job(&prompt("swapped later", &swapped), json!({"edge": 0.5}));
    let good = app.add_job(&prompt("left alone", &kept), json!({"edge": 0.5}));
    std::fs::remove_file(&swapped).unwrap();
    std::os::unix::fs::symlink(&secret, &swapped).unwrap();
    app.resume();
    app.wait_idle(60);
    let failed = app.job(&bad);
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["error"]["code"], "video_path_not_allowed",
        "{failed}"
    );
    let ok = app.job(&good);
    assert_eq!(ok["status"], "succeeded", "{ok}");
    assert_eq!(
        ok["attempts"], 1,
        "the refused batch did not count as an attempt"
    );
}

#[test]
fn a_program_that_cannot_start_sends_its_jobs_back_to_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let config = TestApp::write_config(
        dir.path(),
        "[executor]\nprofile = \"cosmos-transfer1\"\ncommand = [\"/no/such/cosmos-program\"]\ntime_scale = 0.001\n",
    );
    let mut app = TestApp::start(&[("COSMOSQ_CONFIG", &config)]);
    let p = app.create_prompt("waits for a working program");
    let job = app.add_job(&p, json!({"edge": 0.5}));
    app.wait_until(30, "a failed start", |app| {
        app.get("/api/v1/batches")
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["status"] == "failed" && b["error"]["code"] == "executor_unavailable")
    });
    let j = app.job(&job);
    assert_eq!(
        (j["status"].as_str(), j["attempts"].as_u64()),
        (Some("queued"), Some(0)),
        "{j}"
    );
    // Fixed: the job runs.
    let working = TestApp::write_config(
        dir.path(),
        &format!(
            "[executor]\nprofile = \"cosmos-transfer1\"\ncommand = [\"python3\", \"{}\", \"transfer1\"]\ntime_scale = 0.001\n",
            standin()
        ),
    );
    app.set_env("COSMOSQ_CONFIG", &working);
    app.restart();
    app.wait_idle(60);
    assert_eq!(app.job(&job)["status"], "succeeded");
}

#[test]
fn programs_do_not_inherit_the_token_and_a_relative_data_dir_holds_in_another_workdir() {
    let cwd = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let config = TestApp::write_config(
        cwd.path(),
        &format!(
            "[executor]\nprofile = \"cosmos-transfer1\"\nworkdir = \"{}\"\n\
             command = [\"sh\", \"-c\", \"env > {{batch_dir}}/env.txt; exec python3 {} transfer1 \\\"$@\\\"\", \"sh\"]\n\
             time_scale = 0.001\n",
            elsewhere.path().display(),
            standin()
        ),
    );
    let app = TestApp::start_with(
        &[
            ("COSMOSQ_CONFIG", &config),
            ("COSMOSQ_AUTH_TOKEN", "do-not-leak-this-token"),
        ],
        Options {
            cwd: Some(cwd.path().to_path_buf()),
            data_dir: Some("relative-data".into()),
            ..Options::default()
        },
    );
    let authorized = |method: &str, path: &str, body: Option<Value>| -> Value {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", app.base);
        let auth = "Bearer do-not-leak-this-token";
        let mut r = match (method, body) {
            ("POST", Some(b)) => agent.post(&url).header("Authorization", auth).send_json(b),
            _ => agent.get(&url).header("Authorization", auth).call(),
        }
        .unwrap();
        r.body_mut().read_json().unwrap()
    };
    let p = authorized(
        "POST",
        "/api/v1/prompts",
        Some(json!({"text": "secret-free", "input_video": test_video()})),
    );
    let job = authorized(
        "POST",
        "/api/v1/jobs",
        Some(json!({"prompt_id": p["id"], "config": {"weights": {"edge": 0.5}}})),
    );
    let id = job["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let j = authorized("GET", &format!("/api/v1/jobs/{id}"), None);
        if j["status"] != "queued" && j["status"] != "running" {
            break j;
        }
        assert!(Instant::now() < deadline, "the job never finished");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(done["status"], "succeeded", "{done}");
    let batch_dir = cwd
        .path()
        .join("relative-data/batches")
        .join(done["batch_id"].as_str().unwrap());
    let env = std::fs::read_to_string(batch_dir.join("env.txt")).unwrap();
    assert!(!env.contains("do-not-leak-this-token"), "{env}");
    assert!(!env.contains("COSMOSQ_AUTH_TOKEN"));
    assert!(
        env.contains("COSMOSQ_BATCH_DIR="),
        "the marker is inherited"
    );
    assert!(
        done["outputs"]["video"].as_str().unwrap().starts_with('/'),
        "outputs are named by absolute paths"
    );
}
