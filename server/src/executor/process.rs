//! Running a Cosmos program: spawn it (no shell: argv tokens go to the program verbatim),
//! stream its output into the batch log and progress, stop it on cancel or timeout
//! (SIGTERM to its process group, SIGKILL after a grace period), and say how it ended.

use super::leftovers::{group_alive, signal_group};
use super::Progress;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// One launch of a program: its argv, where and with what environment it runs, its log,
/// and its time limits.
pub struct Launch {
    pub batch_id: String,
    pub argv: Vec<String>,
    pub workdir: Option<PathBuf>,
    pub env: BTreeMap<String, String>,
    pub log: PathBuf,
    pub max_log_bytes: u64,
    pub timeout: Duration,
    pub cancel_grace: Duration,
    /// The slot's `stop` command, expanded; run when the daemon stops the program.
    pub stop: Vec<String>,
    /// A running program that prints nothing for this long is stopped as stalled.
    pub stall: Option<Duration>,
}

/// How the program ended.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Ended {
    /// Exit code; `None` when killed by a signal or never started.
    pub code: Option<i32>,
    pub canceled: bool,
    pub timed_out: bool,
    /// The log shows CUDA running out of memory.
    pub out_of_memory: bool,
    /// The log mentions the safety filter blocking something.
    pub blocked: bool,
    /// The program could not be started at all.
    pub spawn_error: Option<String>,
    /// The cluster lost the program (its node failed, it was preempted or requeued): why.
    /// Jobs without output go back to the queue.
    pub lost: Option<String>,
    /// Someone else canceled the program (an `scancel` outside the daemon): why. Jobs
    /// without output go back to the queue.
    pub canceled_outside: Option<String>,
    /// It printed nothing for `stall_seconds` and the daemon stopped it.
    pub stalled: bool,
    /// Its output shows an error of the program itself (a Python traceback, an `ERROR` or
    /// `CRITICAL` line): a death is then the program's, not its slot's.
    pub program_error: bool,
}

impl Ended {
    pub fn succeeded(&self) -> bool {
        self.code == Some(0) && !self.canceled && !self.timed_out && !self.stalled
    }
}

/// The batch log: every line of the program, capped in size.
struct Log {
    file: Option<std::fs::File>,
    written: u64,
    cap: u64,
}

impl Log {
    fn write(&mut self, line: &str) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        if self.written + line.len() as u64 + 1 > self.cap {
            let _ = writeln!(file, "[cosmosq] log truncated at {} bytes", self.cap);
            self.file = None;
            return;
        }
        self.written += line.len() as u64 + 1;
        let _ = writeln!(file, "{line}");
    }
}

/// Progress from Cosmos-style lines: `N/M` after "step", or tqdm's `NN%|`.
pub fn parse_progress(line: &str) -> Option<f64> {
    let lower = line.to_ascii_lowercase();
    if let Some(at) = lower.find("step") {
        let rest = &lower[at + 4..];
        let digits: String = rest
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(|c| c.is_ascii_digit() || *c == '/')
            .collect();
        if let Some((n, m)) = digits.split_once('/') {
            if let (Ok(n), Ok(m)) = (n.parse::<f64>(), m.parse::<f64>()) {
                if m > 0.0 {
                    return Some((n / m).clamp(0.0, 1.0));
                }
            }
        }
    }
    if let Some(pct) = lower.find("%|") {
        let head: String = lower[..pct]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        let n: String = head.chars().rev().collect();
        return n.parse::<f64>().ok().map(|p| (p / 100.0).clamp(0.0, 1.0));
    }
    None
}

pub fn is_oom(line: &str) -> bool {
    line.contains("CUDA out of memory") || line.contains("OutOfMemoryError")
}

/// A line that shows the program failing on its own account (a Python exception, a logged
/// error): see [`Ended::program_error`].
pub fn is_program_error(line: &str) -> bool {
    line.contains("Traceback (most recent call last)")
        || line.contains("ERROR")
        || line.contains("CRITICAL")
        || line.contains("Error:")
}

pub fn is_block(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    lower.contains("guardrail") && lower.contains("block") || lower.contains("blocked by")
}

/// Longest line of program output the daemon keeps (log, progress, events): the rest of a
/// longer line is dropped, with a note of how much. A program that prints 100 MB without a
/// newline cannot take the daemon's memory.
pub const MAX_LINE_BYTES: usize = 16 << 10;

/// Splits a byte stream into lines of at most [`MAX_LINE_BYTES`], invalid UTF-8 replaced.
#[derive(Default)]
pub struct Lines {
    line: Vec<u8>,
    /// Bytes of the current line dropped past the cap.
    dropped: u64,
}

impl Lines {
    /// Feed a chunk; `emit` gets every line it completes.
    pub fn feed(&mut self, mut chunk: &[u8], emit: &mut impl FnMut(String)) {
        while !chunk.is_empty() {
            let (part, rest, ended) = match chunk.iter().position(|b| *b == b'\n') {
                Some(i) => (&chunk[..i], &chunk[i + 1..], true),
                None => (chunk, &[][..], false),
            };
            let room = MAX_LINE_BYTES - self.line.len();
            let kept = part.len().min(room);
            self.line.extend_from_slice(&part[..kept]);
            self.dropped += (part.len() - kept) as u64;
            if ended {
                emit(self.take());
            }
            chunk = rest;
        }
    }

    /// The line so far (at the end of the stream).
    pub fn finish(&mut self, emit: &mut impl FnMut(String)) {
        if !self.line.is_empty() || self.dropped > 0 {
            emit(self.take());
        }
    }

    fn take(&mut self) -> String {
        let bytes = std::mem::take(&mut self.line);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(&bytes);
        let mut line = String::from_utf8_lossy(bytes).into_owned();
        if self.dropped > 0 {
            line.push_str(&format!(
                " [cosmosq: {} more bytes of this line dropped]",
                self.dropped
            ));
            self.dropped = 0;
        }
        line
    }
}

async fn pump<R: AsyncRead + Unpin>(
    mut reader: R,
    stream: &str,
    log: &Mutex<Log>,
    ended: &Mutex<Ended>,
    heard: &Mutex<std::time::Instant>,
    progress: &dyn Progress,
    step: &(dyn Fn(&str) -> Option<f64> + Sync),
) {
    let mut handle = |line: String| {
        *heard.lock().unwrap_or_else(|p| p.into_inner()) = std::time::Instant::now();
        {
            let mut e = ended.lock().unwrap_or_else(|p| p.into_inner());
            e.out_of_memory |= is_oom(&line);
            e.blocked |= is_block(&line);
            e.program_error |= is_program_error(&line);
        }
        let fraction = step(&line);
        let shown = if stream == "stderr" {
            format!("[stderr] {line}")
        } else {
            line
        };
        log.lock().unwrap_or_else(|p| p.into_inner()).write(&shown);
        progress.report(fraction, Some(shown));
    };
    let mut lines = Lines::default();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => lines.feed(&buf[..n], &mut handle),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // The pipe broke: nothing more will come.
            Err(_) => break,
        }
    }
    lines.finish(&mut handle);
}

/// A started program: the child, its process group and the log its output goes to.
pub struct Spawned {
    child: tokio::process::Child,
    pub pid: u32,
    log: Mutex<Log>,
    started: std::time::Instant,
}

/// Start the program (its own process group, no input, output piped for [`watch`]); `Err`
/// says why it could not start.
pub fn spawn(launch: &Launch) -> Result<Spawned, String> {
    let file = std::fs::File::create(&launch.log).ok();
    let log = Mutex::new(Log {
        file,
        written: 0,
        cap: launch.max_log_bytes,
    });
    log.lock()
        .unwrap_or_else(|p| p.into_inner())
        .write(&format!("[cosmosq] argv: {:?}", launch.argv));
    let Some(program) = launch.argv.first() else {
        return Err("no program to start".into());
    };
    let mut cmd = Command::new(program);
    // The daemon's own settings (its token) stay with the daemon; the slot's and the
    // executor's `env` may still set such a variable on purpose.
    for k in super::daemon_variables() {
        cmd.env_remove(k);
    }
    cmd.args(&launch.argv[1..])
        .envs(&launch.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &launch.workdir {
        cmd.current_dir(dir);
    }
    // Every process of the run inherits the batch directory: a daemon killed before it could
    // record the program still finds it at its next start (see `leftovers`).
    if let Some(dir) = launch.log.parent() {
        cmd.env(super::leftovers::MARKER, dir);
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let message = format!("cannot start `{program}`: {e}");
            log.lock()
                .unwrap_or_else(|p| p.into_inner())
                .write(&format!("[cosmosq] {message}"));
            return Err(message);
        }
    };
    let pid = child.id().unwrap_or(0);
    if let Some(dir) = launch.log.parent() {
        super::leftovers::record(dir, pid);
    }
    Ok(Spawned {
        child,
        pid,
        log,
        started: std::time::Instant::now(),
    })
}

/// Watch a started program to its end, or until `cancel` fires or the timeout passes. `step`
/// turns an output line into overall progress (0..=1) when it can. Returns how it ended and
/// the seconds it ran.
pub async fn watch(
    spawned: Spawned,
    launch: &Launch,
    cancel: &CancellationToken,
    progress: &dyn Progress,
    step: &(dyn Fn(&str) -> Option<f64> + Sync),
) -> (Ended, f64) {
    let Spawned {
        mut child,
        pid,
        log,
        started,
    } = spawned;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let ended = Mutex::new(Ended::default());
    let heard = Mutex::new(std::time::Instant::now());
    let output = async {
        tokio::join!(
            pump(stdout, "stdout", &log, &ended, &heard, progress, step),
            pump(stderr, "stderr", &log, &ended, &heard, progress, step),
        )
    };
    let (mut canceled, mut timed_out, mut stalled) = (false, false, false);
    let status = {
        let wait = async {
            let (status, _) = tokio::join!(child.wait(), output);
            status
        };
        tokio::pin!(wait);
        let timeout = launch.timeout.saturating_sub(started.elapsed());
        tokio::select! {
            s = &mut wait => s,
            _ = cancel.cancelled() => { canceled = true; stop(pid, launch, &log, wait).await }
            _ = tokio::time::sleep(timeout) => { timed_out = true; stop(pid, launch, &log, wait).await }
            _ = silence(&heard, launch.stall) => {
                stalled = true;
                log.lock().unwrap_or_else(|p| p.into_inner()).write(&format!(
                    "[cosmosq] the program printed nothing for {} s: stopped as stalled",
                    launch.stall.map_or(0, |d| d.as_secs())
                ));
                stop(pid, launch, &log, wait).await
            }
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    // Workers that outlived their leader (torchrun's, say) must not outlive the record.
    let pgid = i32::try_from(pid).unwrap_or(0);
    if pgid > 1 && group_alive(pgid) {
        signal_group(pgid, libc::SIGKILL);
    }
    if let Some(dir) = launch.log.parent() {
        super::leftovers::forget(dir);
    }
    let mut ended = ended.into_inner().unwrap_or_else(|p| p.into_inner());
    ended.code = status.ok().and_then(|s| s.code());
    ended.canceled = canceled;
    ended.timed_out = timed_out;
    ended.stalled = stalled;
    let summary = format!(
        "[cosmosq] program ended: code {:?}{}{}{}",
        ended.code,
        if canceled { ", canceled" } else { "" },
        if timed_out { ", timed out" } else { "" },
        if stalled { ", stalled" } else { "" }
    );
    log.lock()
        .unwrap_or_else(|p| p.into_inner())
        .write(&summary);
    (ended, seconds)
}

/// Resolves once nothing was heard from the program for `stall` (never when `None`).
pub async fn silence(heard: &Mutex<std::time::Instant>, stall: Option<Duration>) {
    let Some(stall) = stall else {
        return std::future::pending().await;
    };
    loop {
        let last = *heard.lock().unwrap_or_else(|p| p.into_inner());
        let quiet = last.elapsed();
        if quiet >= stall {
            return;
        }
        tokio::time::sleep(stall - quiet).await;
    }
}

/// Run the slot's `stop` command (if any) while the group gets SIGTERM, wait up to the grace
/// period, then SIGKILL the group. The stop command reaches what the group cannot: a
/// container, a process on another host.
async fn stop<F: std::future::Future<Output = std::io::Result<std::process::ExitStatus>>>(
    pid: u32,
    launch: &Launch,
    log: &Mutex<Log>,
    mut wait: std::pin::Pin<&mut F>,
) -> std::io::Result<std::process::ExitStatus> {
    let stopping = {
        let (argv, within) = (launch.stop.clone(), launch.cancel_grace);
        tokio::task::spawn_blocking(move || run_stop_command(&argv, within))
    };
    // The program runs in its own process group (torchrun starts workers): signal all of it.
    let pgid = i32::try_from(pid).unwrap_or(0);
    signal_group(pgid, libc::SIGTERM);
    let status = match tokio::time::timeout(launch.cancel_grace, &mut wait).await {
        Ok(status) => status,
        Err(_) => {
            signal_group(pgid, libc::SIGKILL);
            wait.await
        }
    };
    if let Ok(Some(note)) = stopping.await {
        log.lock().unwrap_or_else(|p| p.into_inner()).write(&note);
    }
    status
}

/// Run a slot's `stop` command (`argv`, expanded; nothing when empty) to its end or for at
/// most `within` (then SIGKILL), without the daemon's own variables and with no input;
/// returns a line for the batch log.
pub fn run_stop_command(argv: &[String], within: Duration) -> Option<String> {
    let (program, args) = argv.split_first()?;
    let mut cmd = std::process::Command::new(program);
    super::forget_daemon_secrets(&mut cmd);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Some(format!(
                "[cosmosq] stop command {argv:?}: cannot start: {e}"
            ))
        }
    };
    let until = std::time::Instant::now() + within.max(Duration::from_secs(1));
    let outcome = loop {
        match child.try_wait() {
            Ok(Some(status)) => break format!("ended: {status}"),
            Ok(None) if std::time::Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                break format!("killed after {:.1} s", within.as_secs_f64());
            }
            Err(e) => break format!("cannot wait for it: {e}"),
        }
    };
    if outcome != "ended: exit status: 0" {
        tracing::warn!(?argv, "the slot's stop command {outcome}");
    }
    Some(format!("[cosmosq] stop command {argv:?} {outcome}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<String> {
        let mut out = Vec::new();
        let mut lines = Lines::default();
        for c in chunks {
            lines.feed(c, &mut |l| out.push(l));
        }
        lines.finish(&mut |l| out.push(l));
        out
    }

    #[test]
    fn output_lines_are_capped_and_invalid_utf8_replaced() {
        assert_eq!(split(&[b"a\nb", b"c\r\n", b"d"]), ["a", "bc", "d"]);
        assert_eq!(split(&[b"caf\xc3", b"\xa9 \xff\n"]), ["café \u{fffd}"]);
        let long = vec![b'x'; MAX_LINE_BYTES * 3 + 5];
        let out = split(&[&long[..1000], &long[1000..], b"\nnext\n"]);
        assert_eq!(out.len(), 2);
        assert!(out[0].starts_with(&"x".repeat(MAX_LINE_BYTES)));
        assert!(out[0].ends_with(&format!(
            " [cosmosq: {} more bytes of this line dropped]",
            MAX_LINE_BYTES * 2 + 5
        )));
        assert_eq!(out[1], "next");
        // A line that never ends is cut at the cap too.
        let out = split(&[&long]);
        assert_eq!(out.len(), 1);
        assert!(out[0].len() < MAX_LINE_BYTES + 100);
    }

    #[test]
    fn progress_lines() {
        assert_eq!(parse_progress("[standin] group 1/2 step 7/35"), Some(0.2));
        assert_eq!(parse_progress("Sampling step 35/35 done"), Some(1.0));
        assert_eq!(parse_progress(" 42%|████      | 15/35"), Some(0.42));
        assert_eq!(parse_progress("loading model"), None);
        assert!(is_oom(
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB"
        ));
        assert!(is_block("Guardrail blocked the prompt"));
    }
}
