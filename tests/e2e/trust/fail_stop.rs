//! A store that stops taking writes (its disk full) stops the daemon with the reason, and a
//! restart on a healthy disk finds every change that was acknowledged.

use crate::support::{test_video, Options, TestApp};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A small tmpfs, unmounted when dropped.
struct Tmpfs(PathBuf, #[allow(dead_code)] tempfile::TempDir);

impl Tmpfs {
    fn mount(megabytes: u32) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "this test mounts a small tmpfs to fill it up: it needs root (CI runs as root)"
        );
        Tmpfs(dir.path().to_path_buf(), dir)
    }

    /// Fill the file system up to `leave` bytes.
    fn fill(&self, leave: u64) {
        let free = {
            let out = Command::new("df")
                .args(["--output=avail", "-B1"])
                .arg(&self.0)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .nth(1)
                .and_then(|l| l.trim().parse::<u64>().ok())
                .unwrap()
        };
        let filler = vec![0u8; free.saturating_sub(leave) as usize];
        let _ = std::fs::write(self.0.join("filler"), filler);
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_full_disk_stops_the_daemon_and_a_restart_finds_every_acknowledged_change() {
    let disk = Tmpfs::mount(48);
    let data = disk.0.join("data");
    let logs = tempfile::tempdir().unwrap();
    let stderr = logs.path().join("stderr");
    let mut app = TestApp::start_with(
        &[],
        Options {
            stderr: Some(stderr.clone()),
            data_dir: Some(data.clone()),
            ..Options::default()
        },
    );
    app.pause();
    let prompt = app.create_prompt("before the disk filled up");
    let mut acknowledged = Vec::new();
    for _ in 0..5 {
        acknowledged.push(app.add_job(&prompt, json!({"edge": 0.5})));
    }
    disk.fill(32 << 10);
    // Keep adding until the store fails: every add answered 201 was acknowledged and must
    // survive; the one that hit the full disk gets no answer (the daemon is gone).
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut failed = None;
    for i in 0..100_000 {
        let text = format!(
            "{} {i}",
            "a longer prompt to fill the log faster ".repeat(50)
        );
        let r = agent
            .post(format!("{}/api/v1/prompts", app.base))
            .send_json(json!({"text": text, "input_video": test_video()}));
        match r {
            Ok(mut r) if r.status() == 201 => {
                let body: serde_json::Value = r.body_mut().read_json().unwrap();
                acknowledged.push(body["id"].as_str().unwrap().to_string());
            }
            Ok(mut r) => {
                let status = r.status().as_u16();
                failed = Some(format!(
                    "{status} {}",
                    r.body_mut().read_to_string().unwrap_or_default()
                ));
                break;
            }
            Err(e) => {
                failed = Some(e.to_string());
                break;
            }
        }
    }
    let failed = failed.expect("the store filled up");
    let code = app.wait_exit(30);
    let log = std::fs::read_to_string(&stderr).unwrap();
    assert_eq!(code, Some(74), "exit status: {failed}\n{log}");
    assert!(
        log.contains("stopping after a storage failure") && log.to_lowercase().contains("space"),
        "the reason is logged: {log}"
    );
    println!(
        "{} changes acknowledged; then: {failed}; the daemon exited with {code:?}",
        acknowledged.len()
    );

    // The same data, on a healthy disk.
    let healthy = tempfile::tempdir().unwrap();
    copy_dir(&data, healthy.path());
    drop(disk);
    app.set_data_dir(&healthy.path().join("data"));
    app.restart();
    let jobs: Vec<String> = app
        .jobs()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect();
    let prompts: Vec<String> = app
        .get("/api/v1/prompts")
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    for id in &acknowledged {
        assert!(
            jobs.contains(id) || prompts.contains(id),
            "acknowledged {id} was lost"
        );
    }
    let q = app.get("/api/v1/queue").body;
    assert_eq!(q["paused"], true, "the failure was an unclean stop");
    assert_eq!(app.get("/healthz").status, 200);
}
