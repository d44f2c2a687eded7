//! Programs a dead daemon left running.
//!
//! While a program runs, its batch directory holds `program.pid`: the process group id and
//! the leader's start time (from `/proc`). A clean end removes it. A daemon killed with
//! SIGKILL cannot stop its programs, and a Cosmos run keeps the GPU busy for minutes after
//! its parent died; the next start stops every program still recorded, before any new batch
//! starts, so a job is never run twice at once and the GPU's memory is free again.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const PID_FILE: &str = "program.pid";

/// The leader's start time in clock ticks since boot (field 22 of `/proc/<pid>/stat`):
/// together with the pid it names one process, even after the pid is reused.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields resume after the
    // last ')'. Field 3 is the first after it, so field 22 is the 20th.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Record a started program (best effort: the daemon carries on without the file).
pub fn record(dir: &Path, pid: u32) {
    let Some(started) = start_time(pid) else {
        return;
    };
    let path = dir.join(PID_FILE);
    let written = std::fs::File::create(&path).and_then(|mut f| {
        use std::io::Write;
        writeln!(f, "{pid} {started}")?;
        f.sync_all()
    });
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), "cannot record the program's pid: {e}");
    }
}

/// The program ended (or was stopped): nothing to stop at the next start.
pub fn forget(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(PID_FILE));
}

fn group_alive(pgid: u32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the group exists; nothing is sent.
    unsafe { libc::kill(-(pgid as i32), 0) == 0 }
}

fn signal_group(pgid: u32, signal: i32) {
    // SAFETY: kill(2) on a process group; no memory is touched.
    unsafe {
        libc::kill(-(pgid as i32), signal);
    }
}

fn wait_gone(pgid: u32, within: Duration) -> bool {
    let until = Instant::now() + within;
    while group_alive(pgid) {
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Stop the program recorded in one batch directory, if it still runs: SIGTERM to its
/// process group, SIGKILL after `grace`. Returns whether something was stopped.
fn stop_one(dir: &Path, grace: Duration) -> bool {
    let path = dir.join(PID_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return false;
    };
    let mut fields = text.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(pid)), Some(Ok(started))) = (fields.next(), fields.next()) else {
        forget(dir);
        return false;
    };
    let Ok(pgid) = u32::try_from(pid) else {
        forget(dir);
        return false;
    };
    // A live process with this pid but another start time is someone else: the pid was
    // reused, which the kernel does only once no process is left in our group.
    let ours = match start_time(pgid) {
        Some(t) => t == started,
        // The leader is gone; its workers may not be, and the group id stays theirs while
        // any of them lives.
        None => true,
    };
    let mut stopped = false;
    if ours && pgid > 1 && group_alive(pgid) {
        stopped = true;
        tracing::warn!(dir = %dir.display(), pgid, "stopping a program the last run left behind");
        signal_group(pgid, libc::SIGTERM);
        if !wait_gone(pgid, grace) {
            signal_group(pgid, libc::SIGKILL);
            wait_gone(pgid, Duration::from_secs(5));
        }
        let note =
            "[cosmosq] the program outlived a daemon that was killed; stopped at the next start";
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("run.log"))
        {
            use std::io::Write;
            let _ = writeln!(log, "{note}");
        }
    }
    forget(dir);
    stopped
}

/// Stop every program recorded under `batches_dir`; returns the batch directories whose
/// program was still running.
pub fn stop_all(batches_dir: &Path, grace: Duration) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(batches_dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|dir| dir.join(PID_FILE).is_file())
        .filter(|dir| stop_one(dir, grace))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    fn sleeper() -> std::process::Child {
        std::process::Command::new("sleep")
            .arg("60")
            .process_group(0)
            .spawn()
            .unwrap()
    }

    #[test]
    fn a_recorded_program_is_stopped_and_forgotten() {
        let batches = tempfile::tempdir().unwrap();
        let dir = batches.path().join("bt_1");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("run.log"), "step 1/35\n").unwrap();
        let mut child = sleeper();
        record(&dir, child.id());
        assert!(dir.join(PID_FILE).is_file());
        // Reap it as soon as it ends, as init does for a dead daemon's orphans (a zombie
        // still counts as a member of its group).
        let reaper = std::thread::spawn(move || child.wait().unwrap());
        let stopped = stop_all(batches.path(), Duration::from_secs(5));
        assert_eq!(stopped, vec![dir.clone()]);
        let status = reaper.join().unwrap();
        assert!(!status.success(), "the program was signalled");
        assert!(!dir.join(PID_FILE).exists());
        let log = std::fs::read_to_string(dir.join("run.log")).unwrap();
        assert!(log.contains("outlived a daemon"), "{log}");
        assert!(stop_all(batches.path(), Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn a_reused_pid_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = sleeper();
        // Same pid, another start time: not the program we started.
        std::fs::write(dir.path().join(PID_FILE), format!("{} 1\n", child.id())).unwrap();
        assert!(!stop_one(dir.path(), Duration::from_secs(1)));
        assert!(child.try_wait().unwrap().is_none(), "still running");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!dir.path().join(PID_FILE).exists());
    }

    #[test]
    fn an_ended_or_garbled_record_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PID_FILE), "not a pid").unwrap();
        assert!(!stop_one(dir.path(), Duration::from_secs(1)));
        assert!(!dir.path().join(PID_FILE).exists());
        let mut child = sleeper();
        let pid = child.id();
        let started = start_time(pid).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        std::fs::write(dir.path().join(PID_FILE), format!("{pid} {started}")).unwrap();
        assert!(!stop_one(dir.path(), Duration::from_secs(1)));
    }
}
