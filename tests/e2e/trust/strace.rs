//! What reaches the disk, seen by `strace`: every acknowledged change is fdatasynced (or
//! fsynced) on the store's log file after the change was written there and before its reply
//! (or, for a claim, before its batch starts).

use crate::support::{Options, TestApp};
use serde_json::json;
use std::collections::HashMap;

/// One system call: who made it, when it began and ended (seconds), its name and arguments
/// as strace printed them.
#[derive(Debug, Clone)]
struct Call {
    start: f64,
    end: f64,
    name: String,
    args: String,
}

/// Parse `strace -f -ttt -T -yy` output, joining `<unfinished ...>` / `<... resumed>` pairs.
fn parse(trace: &str) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut pending: HashMap<String, (f64, String, String)> = HashMap::new();
    let duration = |line: &str| -> f64 {
        line.rsplit_once('<')
            .and_then(|(_, d)| d.trim_end().strip_suffix('>'))
            .and_then(|d| d.parse().ok())
            .unwrap_or(0.0)
    };
    for line in trace.lines() {
        // strace pads the pid to five columns: "9613  1796214081.65 fsync(...)".
        let Some((pid, line)) = line.trim_start().split_once(' ') else {
            continue;
        };
        let Some((ts, rest)) = line.trim_start().split_once(' ') else {
            continue;
        };
        let Ok(ts) = ts.parse::<f64>() else { continue };
        if let Some(resumed) = rest.strip_prefix("<... ") {
            let Some((name, tail)) = resumed.split_once(" resumed>") else {
                continue;
            };
            if let Some((start, n, args)) = pending.remove(pid) {
                debug_assert_eq!(n, name);
                calls.push(Call {
                    start,
                    end: start + duration(tail),
                    name: n,
                    args: args + tail,
                });
            }
            continue;
        }
        let Some((name, args)) = rest.split_once('(') else {
            continue;
        };
        if let Some(args) = args.strip_suffix(" <unfinished ...>") {
            pending.insert(pid.to_string(), (ts, name.to_string(), args.to_string()));
            continue;
        }
        calls.push(Call {
            start: ts,
            end: ts + duration(args),
            name: name.to_string(),
            args: args.to_string(),
        });
    }
    calls.sort_by(|a, b| a.start.total_cmp(&b.start));
    calls
}

/// The store's log file as `-y` names it in a call's first argument.
fn on_log(call: &Call) -> bool {
    call.args
        .split_once('>')
        .is_some_and(|(fd, _)| fd.ends_with("/db/db"))
}

fn is_log_write(c: &Call) -> bool {
    c.name.starts_with("pwrite") && on_log(c)
}

fn is_log_sync(c: &Call) -> bool {
    (c.name == "fsync" || c.name == "fdatasync") && on_log(c)
}

/// The TCP connection a call is on (`-yy`: `fd<TCP:[local->peer]>`), if any.
fn socket(c: &Call) -> Option<&str> {
    let (fd, rest) = c.args.split_once("<TCP:[")?;
    if !fd.chars().all(|ch| ch.is_ascii_digit()) {
        return None;
    }
    rest.split_once("]>").map(|(s, _)| s)
}

fn is_socket_read(c: &Call) -> bool {
    matches!(c.name.as_str(), "recvfrom" | "read" | "recvmsg") && socket(c).is_some()
}

fn is_socket_write(c: &Call) -> bool {
    matches!(c.name.as_str(), "sendto" | "write" | "writev" | "sendmsg")
        && socket(c).is_some()
        && c.args.contains("HTTP/1.1 ")
}

/// A change and where it became visible: `marker` identifies the change's data in the log
/// (a job or batch id), `after` is when the request arrived (the change cannot have been
/// written before), `seen` when the daemon acted on it (its reply, or the batch's start).
struct Acknowledged {
    what: String,
    marker: String,
    after: f64,
    seen: f64,
}

/// The fault the test looks for: an acknowledgement with no log sync between the change's
/// write to the log and the acknowledgement.
fn unsynced(calls: &[Call], ack: &Acknowledged) -> Option<String> {
    let Some(write) = calls
        .iter()
        .find(|c| c.start >= ack.after && is_log_write(c) && c.args.contains(&ack.marker))
    else {
        return Some(format!(
            "{}: no write of `{}` to the log",
            ack.what, ack.marker
        ));
    };
    if write.end > ack.seen {
        return Some(format!(
            "{}: acknowledged before its write to the log ended",
            ack.what
        ));
    }
    let synced = calls
        .iter()
        .any(|c| is_log_sync(c) && c.start >= write.end && c.end <= ack.seen);
    (!synced).then(|| {
        format!(
            "{}: acknowledged {:.6} s after its log write with no fsync/fdatasync of the log in between",
            ack.what,
            ack.seen - write.end
        )
    })
}

/// Requests answered on each connection: (request line, arrival, reply start, reply text).
fn exchanges(calls: &[Call]) -> Vec<(String, f64, f64, String)> {
    let mut open: HashMap<&str, (String, f64)> = HashMap::new();
    let mut done = Vec::new();
    for c in calls {
        let Some(sock) = socket(c) else { continue };
        if is_socket_read(c) {
            // The request line is at the start of the data string.
            if let Some(line) = c
                .args
                .split_once(", \"")
                .map(|(_, data)| data.split("\\r\\n").next().unwrap_or("").to_string())
                .filter(|l| l.ends_with(" HTTP/1.1"))
            {
                open.insert(sock, (line, c.start));
            }
        } else if is_socket_write(c) {
            if let Some((line, at)) = open.remove(sock) {
                done.push((line, at, c.start, c.args.clone()));
            }
        }
    }
    done
}

#[test]
fn acknowledged_changes_are_fdatasynced_before_their_replies() {
    let trace_dir = tempfile::tempdir().unwrap();
    let trace = trace_dir.path().join("trace");
    let wrapper = [
        "strace",
        "-f",
        "-qq",
        "-ttt",
        "-T",
        "-yy",
        "-s",
        "4194304",
        "-e",
        "trace=pwrite64,pwritev,pwritev2,fsync,fdatasync,sync_file_range,write,writev,sendto,sendmsg,recvfrom,recvmsg,read,mkdir,mkdirat,openat",
        "-o",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([trace.display().to_string()])
    .collect();
    let mut app = TestApp::start_with(
        &[("COSMOSQ_EXECUTOR__TIME_SCALE", "0.0005")],
        Options {
            wrapper,
            ..Options::default()
        },
    );
    let app_ref = &app;
    app.pause();
    let prompt = app.create_prompt("traced");
    let first: Vec<String> = (0..10)
        .map(|i| app.add_job(&prompt, json!({"edge": 0.1 + i as f64 / 20.0})))
        .collect();
    // The burst: three clients at once, adding, moving and canceling.
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..15 {
                app_ref.add_job(&prompt, json!({"depth": 0.2 + i as f64 / 40.0}));
            }
        });
        s.spawn(|| {
            // Not the ones being canceled (a canceled job no longer moves), each to the bottom,
            // where it never is already (a move to where a job is changes nothing, and
            // writes nothing).
            for (_, id) in first.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
                let r = app_ref.post(
                    &format!("/api/v1/jobs/{id}/move"),
                    json!({"position": 10_000}),
                );
                assert_eq!(r.status, 200, "{}", r.body);
            }
        });
        s.spawn(|| {
            for id in first.iter().step_by(3) {
                let r = app_ref.post(&format!("/api/v1/jobs/{id}/cancel"), json!({}));
                assert_eq!(r.status, 200, "{}", r.body);
            }
        });
    });
    // Claims: the worker takes automatic batches once the queue resumes.
    app.resume();
    app.wait_idle(120);
    let batches: Vec<String> = app
        .get("/api/v1/batches")
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!batches.is_empty());
    assert_eq!(app.terminate(), Some(0));
    let calls = parse(&std::fs::read_to_string(&trace).unwrap());
    assert!(calls.iter().any(is_log_sync), "no sync of the log at all");

    let mut acks = Vec::new();
    for (line, at, reply_at, reply) in exchanges(&calls) {
        let (method, path) = line.split_once(' ').unwrap_or(("", ""));
        let path = path.trim_end_matches(" HTTP/1.1");
        if method != "POST" {
            continue;
        }
        let marker = if path == "/api/v1/jobs" {
            // The new job's id is in the reply.
            let Some((_, rest)) = reply.split_once("{\\\"id\\\":\\\"") else {
                panic!("no job in the reply to {line}: {reply:.300}")
            };
            rest.split("\\\"").next().unwrap().to_string()
        } else if let Some(id) = path
            .strip_prefix("/api/v1/jobs/")
            .and_then(|p| p.split('/').next())
        {
            id.to_string()
        } else {
            continue;
        };
        acks.push(Acknowledged {
            what: line.clone(),
            marker,
            after: at,
            seen: reply_at,
        });
    }
    let changes = acks.len();
    assert_eq!(
        changes,
        10 + 15 + 6 + 4,
        "every add, move and cancel was traced"
    );
    for batch in &batches {
        // The claim writes the batch (running) and its jobs; the batch starts by creating its
        // directory.
        let started = calls
            .iter()
            .find(|c| c.args.contains(&format!("batches/{batch}")))
            .unwrap_or_else(|| panic!("batch {batch} never started"));
        acks.push(Acknowledged {
            what: format!("claim of {batch}"),
            marker: batch.clone(),
            after: 0.0,
            seen: started.start,
        });
    }
    let faults: Vec<String> = acks.iter().filter_map(|a| unsynced(&calls, a)).collect();
    println!(
        "{} changes and {} claims traced; {} log syncs; {} acknowledged without one",
        changes,
        batches.len(),
        calls.iter().filter(|c| is_log_sync(c)).count(),
        faults.len()
    );
    assert!(faults.is_empty(), "{faults:#?}");
}

#[test]
fn the_trace_parser_joins_unfinished_calls_and_reads_padded_pids() {
    let text = "\
10 1.000000 pwrite64(9</d/db/db>, \"jb_1\", 4, 0 <unfinished ...>
  11  1.000100 fdatasync(11</d/db/db>) = 0 <0.000050>
10 1.000200 <... pwrite64 resumed>) = 4 <0.000300>
12 1.000400 fdatasync(11</d/db/db> <unfinished ...>
12 1.000600 <... fdatasync resumed>) = 0 <0.000100>
13 1.000700 sendto(5<TCP:[1->2]>, \"HTTP/1.1 200 OK\\r\\n\", 17, 0, NULL, 0) = 17 <0.000010>
";
    let calls = parse(text);
    assert_eq!(calls.len(), 4);
    assert!(is_log_write(&calls[0]) && (calls[0].end - 1.0003).abs() < 1e-9);
    let ack = |seen| Acknowledged {
        what: "x".into(),
        marker: "jb_1".into(),
        after: 0.0,
        seen,
    };
    // The first sync began before the write ended; the second one counts.
    assert!(unsynced(&calls, &ack(1.0007)).is_none());
    assert!(unsynced(&calls, &ack(1.00045)).is_some());
    assert!(is_socket_write(&calls[3]));
}
