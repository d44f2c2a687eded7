//! A slot whose prefix puts the program out of the daemon's reach, as `docker run` and `ssh`
//! do (the wrapper can die and the program run on), names a `stop` command: the daemon runs
//! it when it stops a batch and, for a batch a killed daemon left running, at the next start.

use super::{add, daemon};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What `docker run` or `ssh host` does, in miniature: start the program in a session of
/// its own, without the daemon's marker variable and with its own output file, so that
/// neither the daemon's process-group signals nor its leftover scan reach it; record its pid.
const WRAPPER: &str = r#"
import os, subprocess, sys
batch_dir, argv = sys.argv[1], sys.argv[2:]
env = dict(os.environ)
env.pop("COSMOSQ_BATCH_DIR", None)
out = open(os.path.join(batch_dir, "far-away.log"), "w")
p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                     start_new_session=True)
with open(os.path.join(batch_dir, "far-away.pid"), "w") as f:
    f.write(str(p.pid))
sys.exit(p.wait())
"#;

/// `docker stop` in miniature: end the recorded program and note which batch it was for.
const STOP: &str = r#"
import os, signal, sys
batch_dir, batch_id, noted = sys.argv[1:4]
with open(os.path.join(batch_dir, "far-away.pid")) as f:
    pid = int(f.read())
try:
    os.kill(pid, signal.SIGTERM)
except ProcessLookupError:
    pass
with open(noted, "a") as f:
    f.write(batch_id + "\n")
"#;

/// Whether `pid` is a live process (zombies do not count).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let state = s[s.rfind(')')? + 1..]
                .split_whitespace()
                .next()?
                .to_string();
            Some(state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

fn wait_dead(pid: u32, what: &str) {
    let until = Instant::now() + Duration::from_secs(20);
    while alive(pid) {
        assert!(
            Instant::now() < until,
            "{what}: the wrapped program {pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Ends whatever a failed assertion left running.
struct Reaper(Vec<u32>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for pid in &self.0 {
            if alive(*pid) {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

/// The running job's batch directory and its wrapped program's pid, once it started.
fn started(app: &crate::support::TestApp, job: &str) -> (String, PathBuf, u32) {
    app.wait_until(30, "the batch to run", |app| {
        app.job(job)["status"] == "running"
    });
    let batch_id = app.job(job)["batch_id"].as_str().unwrap().to_string();
    let dir = app.data_dir().join("batches").join(&batch_id);
    let pid_file = dir.join("far-away.pid");
    app.wait_until(30, "the wrapped program to start", |_| {
        std::fs::read_to_string(&pid_file).is_ok_and(|s| !s.is_empty())
    });
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(pid));
    (batch_id, dir, pid)
}

fn noted(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_slot_stop_command_ends_the_wrapped_program_on_cancel_and_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (wrapper, stop) = (dir.path().join("wrapper.py"), dir.path().join("stop.py"));
    std::fs::write(&wrapper, WRAPPER).unwrap();
    std::fs::write(&stop, STOP).unwrap();
    let stopped = dir.path().join("stopped.txt");
    let mut s = daemon(
        "transfer1",
        &format!(
            "[[executor.slots]]\nname = \"far\"\n\
             prefix = [\"python3\", \"{}\", \"{{batch_dir}}\"]\n\
             stop = [\"python3\", \"{}\", \"{{batch_dir}}\", \"{{batch_id}}\", \"{}\"]\n",
            wrapper.display(),
            stop.display(),
            stopped.display()
        ),
        // Slow enough to be running whenever the test looks.
        &[("STANDIN_TIME_SCALE", "1")],
    );
    let mut reaper = Reaper(Vec::new());
    let app = &mut s.app;

    // Cancel: the daemon ends its wrapper, and the stop command the program.
    let first = add(
        app,
        &app.create_prompt("far away, canceled"),
        json!({"weights": {"edge": 0.5}}),
    );
    let (batch, batch_dir, pid) = started(app, &first);
    reaper.0.push(pid);
    let r = app.post(&format!("/api/v1/jobs/{first}/cancel"), json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    wait_dead(pid, "after a cancel");
    assert_eq!(noted(&stopped), std::slice::from_ref(&batch));
    app.wait_until(30, "the batch to end", |app| {
        app.get(&format!("/api/v1/batches/{batch}")).body["status"] == "canceled"
    });
    let log = std::fs::read_to_string(batch_dir.join("run.log")).unwrap();
    assert!(log.contains("[cosmosq] stop command"), "{log}");

    // kill -9: no daemon is left to stop anything; the next start runs the stop command for
    // the batch it finds left running, before its job goes back to the queue.
    let second = add(
        app,
        &app.create_prompt("far away, orphaned"),
        json!({"weights": {"edge": 0.5}}),
    );
    let (batch2, batch_dir2, pid2) = started(app, &second);
    reaper.0.push(pid2);
    app.kill9_and_restart();
    wait_dead(pid2, "after kill -9 and a restart");
    assert_eq!(noted(&stopped), [batch, batch2]);
    let log = std::fs::read_to_string(batch_dir2.join("run.log")).unwrap();
    assert!(log.contains("(at the next start)"), "{log}");
    let job = app.job(&second);
    assert_eq!(job["status"], "queued", "{job}");
    assert_eq!(job["attempts"], 1, "{job}");
}
