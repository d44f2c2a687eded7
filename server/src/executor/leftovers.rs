//! Programs a dead daemon left running.
//!
//! While a program runs, its batch directory holds `program.pid`: the process group id and
//! the leader's start time (from `/proc`). A clean end removes it. A daemon killed with
//! SIGKILL cannot stop its programs, and a Cosmos run keeps the GPU busy for minutes after
//! its parent died; the next start stops every program still recorded, before any new batch
//! starts, so a job is never run twice at once and the GPU's memory is free again.
//!
//! The record is written just after the spawn; a daemon killed in between leaves no file.
//! So every process of a run also inherits `COSMOSQ_BATCH_DIR` (its batch directory), and the
//! next start also stops the process groups of every live process whose environment names a
//! batch directory of this data dir.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const PID_FILE: &str = "program.pid";
/// The environment variable naming the batch directory of a run.
pub use crate::config::BATCH_DIR_VAR as MARKER;

/// The leader's start time in clock ticks since boot (field 22 of `/proc/<pid>/stat`):
/// together with the pid it names one process, even after the pid is reused.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields resume after the
    // last ')'. Field 3 is the first after it, so field 22 is the 20th.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Record a started program (best effort: the daemon carries on without the file). A daemon
/// killed between the spawn and this write leaves a program nobody records: a window of
/// microseconds.
pub fn record(dir: &Path, pid: u32) {
    let Some(started) = start_time(pid) else {
        return;
    };
    let path = dir.join(PID_FILE);
    // No fsync: the file must outlive the daemon, not the machine (a power loss ends the
    // program too), and the page cache survives a SIGKILL.
    let written = std::fs::write(&path, format!("{pid} {started}\n"));
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), "cannot record the program's pid: {e}");
    }
}

/// The program ended (or was stopped): nothing to stop at the next start.
pub fn forget(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(PID_FILE));
}

/// Whether a process of group `pgid` still runs. Zombies do not count: they hold no GPU and
/// wait only for a parent (init, for a dead daemon's programs) to reap them.
pub fn group_alive(pgid: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            return false;
        };
        live_pgrp(pid) == Some(pgid)
    })
}

/// The process group of a live (not zombie) process.
fn live_pgrp(pid: u32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name: state (field 3), ppid, pgrp (field 5).
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    let pgrp = fields.nth(1)?.parse::<i32>().ok()?;
    (!matches!(state, "Z" | "X")).then_some(pgrp)
}

/// Process groups of live processes whose environment marks them as runs of a batch under
/// `batches_dir`, with that batch directory.
fn marked_groups(batches_dir: &Path) -> Vec<(PathBuf, i32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let marker = format!("{MARKER}=");
    // SAFETY: getpgrp(2) has no failure modes and touches no memory.
    let own = unsafe { libc::getpgrp() };
    let mut found: Vec<(PathBuf, i32)> = Vec::new();
    for pid in entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
    {
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let Some(dir) = environ
            .split(|b| *b == 0)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .find_map(|v| v.strip_prefix(marker.as_str()))
            .map(PathBuf::from)
            .filter(|dir| dir.starts_with(batches_dir))
        else {
            continue;
        };
        let Some(pgid) = live_pgrp(pid) else {
            continue;
        };
        if pgid > 1 && pgid != own && !found.iter().any(|(_, g)| *g == pgid) {
            found.push((dir, pgid));
        }
    }
    found
}

/// Signal a process group. `pgid` must be above 1: kill(2) with -1 or 0 means "every
/// process" or "my own group".
pub fn signal_group(pgid: i32, signal: i32) {
    if pgid > 1 {
        // SAFETY: kill(2) on a process group; no memory is touched.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

/// Wait until none of `groups` runs any more; returns those still running after `within`.
fn wait_gone(mut groups: Vec<i32>, within: Duration) -> Vec<i32> {
    let until = Instant::now() + within;
    loop {
        groups.retain(|g| group_alive(*g));
        if groups.is_empty() || Instant::now() >= until {
            return groups;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The live process group recorded in one batch directory, if any; drops the record.
fn live_group(dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(dir.join(PID_FILE)).ok()?;
    forget(dir);
    let mut fields = text.split_whitespace();
    let pgid: i32 = fields.next()?.parse().ok()?;
    let started: u64 = fields.next()?.parse().ok()?;
    let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|m| m.trim().parse::<i32>().ok())
        .unwrap_or(1 << 22);
    if pgid <= 1 || pgid > pid_max {
        return None;
    }
    // A live process with this pid but another start time is someone else: the pid was
    // reused, which the kernel does only once no process is left in our group. When the
    // leader is gone its workers may not be, and the group id stays theirs while any lives.
    let ours = start_time(pgid as u32).is_none_or(|t| t == started);
    (ours && group_alive(pgid)).then_some(pgid)
}

/// Stop every program recorded under `batches_dir`: SIGTERM to all their process groups at
/// once, SIGKILL to those still running after `grace`. Returns the batch directories whose
/// program was still running.
pub fn stop_all(batches_dir: &Path, grace: Duration) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(batches_dir) else {
        return Vec::new();
    };
    let mut live: Vec<(PathBuf, i32)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|dir| dir.join(PID_FILE).is_file())
        .filter_map(|dir| live_group(&dir).map(|g| (dir, g)))
        .collect();
    // Runs started by a daemon killed before it wrote their record.
    for (dir, pgid) in marked_groups(batches_dir) {
        if !live.iter().any(|(_, g)| *g == pgid) {
            live.push((dir, pgid));
        }
    }
    if live.is_empty() {
        return Vec::new();
    }
    for (dir, pgid) in &live {
        tracing::warn!(dir = %dir.display(), pgid, "stopping a program the last run left behind");
        signal_group(*pgid, libc::SIGTERM);
    }
    let stubborn = wait_gone(live.iter().map(|(_, g)| *g).collect(), grace);
    for pgid in &stubborn {
        signal_group(*pgid, libc::SIGKILL);
    }
    let left = wait_gone(stubborn, Duration::from_secs(5));
    if !left.is_empty() {
        tracing::error!(?left, "process groups survived SIGKILL");
    }
    let note = "[cosmosq] the program outlived a daemon that was killed; stopped at the next start";
    for (dir, _) in &live {
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("run.log"))
        {
            use std::io::Write;
            let _ = writeln!(log, "{note}");
        }
    }
    live.into_iter().map(|(dir, _)| dir).collect()
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
    fn an_unrecorded_run_is_found_by_its_marker() {
        let batches = tempfile::tempdir().unwrap();
        let dir = batches.path().join("bt_2");
        std::fs::create_dir(&dir).unwrap();
        // Killed before the record was written: no program.pid, only the inherited marker.
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .env(MARKER, &dir)
            .process_group(0)
            .spawn()
            .unwrap();
        // Until the child has exec'd, /proc shows the parent's environment, without the marker.
        let environ = format!("/proc/{}/environ", child.id());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !std::fs::read(&environ)
            .is_ok_and(|e| e.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()))
        {
            assert!(Instant::now() < deadline, "the child never exec'd");
            std::thread::sleep(Duration::from_millis(5));
        }
        let other = tempfile::tempdir().unwrap();
        assert!(
            stop_all(other.path(), Duration::from_secs(1)).is_empty(),
            "another data dir's"
        );
        let reaper = std::thread::spawn(move || child.wait().unwrap());
        assert_eq!(stop_all(batches.path(), Duration::from_secs(5)), vec![dir]);
        assert!(!reaper.join().unwrap().success());
    }

    #[test]
    fn a_reused_pid_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = sleeper();
        // Same pid, another start time: not the program we started.
        std::fs::write(dir.path().join(PID_FILE), format!("{} 1\n", child.id())).unwrap();
        assert_eq!(live_group(dir.path()), None);
        assert!(child.try_wait().unwrap().is_none(), "still running");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!dir.path().join(PID_FILE).exists());
    }

    #[test]
    fn an_ended_or_garbled_record_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        for garbage in [
            "not a pid",
            "1 5",
            "0 5",
            "-7 5",
            "4294967295 5",
            "2147483648 5",
        ] {
            std::fs::write(dir.path().join(PID_FILE), garbage).unwrap();
            assert_eq!(live_group(dir.path()), None, "{garbage}");
            assert!(!dir.path().join(PID_FILE).exists());
        }
        let mut child = sleeper();
        let pid = child.id();
        let started = start_time(pid).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        std::fs::write(dir.path().join(PID_FILE), format!("{pid} {started}")).unwrap();
        assert_eq!(live_group(dir.path()), None);
    }
}
