//! What both Cosmos profiles share: launching the program for a batch, and turning verified
//! outputs plus the way the program ended into per-job outcomes.

use super::process;
pub use super::process::{Ended, Launch};
use super::Claimed;
use super::{BatchResult, BoxFuture, Executor, Finished, Handle, JobOutcome, Progress};
use crate::config::{ExecutorConfig, SlotConfig};
use crate::template;
use cosmosq_shared::api::{ErrorBody, JobOutputs};
use cosmosq_shared::ErrorCode;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn error(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(code, message)
}

/// One argv token as a POSIX shell word: as it is when it holds only characters no shell
/// treats specially, else in single quotes (a `'` inside becomes `'\''`).
pub fn shell_quote(token: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./=:,+@%".contains(c);
    if !token.is_empty() && token.chars().all(plain) {
        token.to_string()
    } else {
        format!("'{}'", token.replace('\'', "'\\''"))
    }
}

/// Overall progress (0..=1) from a line of output, when the line tells.
pub type StepFn = Box<dyn Fn(&str) -> Option<f64> + Send + Sync>;

/// What a Cosmos profile knows of its program: the files and flags of a batch, progress
/// from its output, and which outputs belong to which job.
pub trait Program: Send + Sync {
    /// Write the batch's files (under `claimed.dir`); the flags after the command.
    fn prepare(&self, claimed: &Claimed) -> std::io::Result<Vec<String>>;
    /// Overall progress (0..=1) from a line of the program's output, when the line tells.
    fn progress(&self, claimed: &Claimed) -> StepFn;
    /// Per-job outcomes from the verified outputs and how the program ended.
    fn collect(&self, claimed: &Claimed, ended: &Ended) -> BatchResult;
}

/// Where a Cosmos program runs: a local process or a Slurm job. `run.argv` is empty when
/// watching a batch submitted by an earlier run of the daemon.
pub trait Launcher: Send + Sync {
    /// Start the program; `Err` says why it could not start (nothing ran).
    fn submit<'a>(&'a self, run: &'a Launch) -> BoxFuture<'a, Result<Handle, String>>;
    /// Watch it to its end (stopping it when `cancel` fires or past `run.timeout`), streaming
    /// its output to `progress`; how it ended, and the seconds it ran when known.
    fn watch<'a>(
        &'a self,
        run: &'a Launch,
        handle: Option<&'a Handle>,
        cancel: &'a CancellationToken,
        progress: &'a dyn Progress,
        step: &'a (dyn Fn(&str) -> Option<f64> + Sync),
    ) -> BoxFuture<'a, (Ended, Option<f64>)>;
    /// Whether its programs keep running without the daemon.
    fn outlives_daemon(&self) -> bool;
}

/// A Cosmos profile's program on a launcher: the [`Executor`] of the Cosmos profiles.
pub struct Cosmos<P> {
    config: ExecutorConfig,
    program: P,
    launcher: Arc<dyn Launcher>,
}

impl<P: Program> Cosmos<P> {
    pub fn new(config: ExecutorConfig, program: P, launcher: Arc<dyn Launcher>) -> Self {
        Cosmos {
            config,
            program,
            launcher,
        }
    }

    /// The launch of `claimed` on `slot` with the profile's flags `args`.
    fn launch(&self, claimed: &Claimed, slot: &SlotConfig, args: Option<Vec<String>>) -> Launch {
        let config = &self.config;
        let value = variables(
            config,
            slot,
            &claimed.batch.id,
            &claimed.dir,
            claimed.jobs.len(),
        );
        // Checked at start-up (`Config::validate`): the templates expand.
        let (argv, workdir, env) = match args {
            Some(args) => launch_settings(config, slot, args, &value).unwrap_or_default(),
            None => Default::default(),
        };
        let stop = stop_command(slot, &value).unwrap_or_default();
        let wall_estimate = claimed.batch.estimated_seconds * config.time_scale;
        let timeout = (wall_estimate * config.timeout_factor).max(config.timeout_min_seconds);
        Launch {
            batch_id: claimed.batch.id.clone(),
            argv,
            workdir,
            env,
            log: claimed.dir.join("run.log"),
            max_log_bytes: config.max_log_bytes,
            timeout: Duration::from_secs_f64(timeout),
            cancel_grace: Duration::from_secs_f64(config.cancel_grace_seconds),
            stop,
            stall: config.stall_seconds.map(Duration::from_secs_f64),
        }
    }
}

impl<P: Program> Executor for Cosmos<P> {
    fn submit<'a>(
        &'a self,
        claimed: &'a Claimed,
        slot: &'a SlotConfig,
    ) -> BoxFuture<'a, Result<Handle, BatchResult>> {
        Box::pin(async move {
            let args = self.program.prepare(claimed).map_err(io_failure)?;
            let launch = self.launch(claimed, slot, Some(args));
            match self.launcher.submit(&launch).await {
                Ok(handle) => Ok(handle),
                Err(message) => {
                    let ended = Ended {
                        spawn_error: Some(message),
                        ..Ended::default()
                    };
                    Err(self.program.collect(claimed, &ended))
                }
            }
        })
    }

    fn watch<'a>(
        &'a self,
        claimed: &'a Claimed,
        slot: &'a SlotConfig,
        handle: Option<&'a Handle>,
        progress: &'a dyn Progress,
    ) -> BoxFuture<'a, Finished> {
        Box::pin(async move {
            let launch = self.launch(claimed, slot, None);
            let step = self.program.progress(claimed);
            let (ended, run_seconds) = self
                .launcher
                .watch(&launch, handle, &claimed.cancel, progress, step.as_ref())
                .await;
            Finished {
                result: self.program.collect(claimed, &ended),
                run_seconds,
            }
        })
    }

    fn outlives_daemon(&self) -> bool {
        self.launcher.outlives_daemon()
    }
}

/// The template variables (see [`template`]) of batch `batch_id` on `slot`, whose files are
/// in `dir` (`<data_dir>/batches/<batch id>`) and which holds `jobs` jobs.
pub fn variables<'a>(
    config: &'a ExecutorConfig,
    slot: &'a SlotConfig,
    batch_id: &'a str,
    dir: &'a Path,
    jobs: usize,
) -> impl Fn(&str) -> Option<String> + 'a {
    let data_dir = dir
        .parent()
        .and_then(|batches| batches.parent())
        .unwrap_or(dir);
    move |name: &str| -> Option<String> {
        Some(match name {
            "batch_id" => batch_id.to_string(),
            "batch_dir" => dir.display().to_string(),
            "data_dir" => data_dir.display().to_string(),
            "slot" => slot.name.clone().unwrap_or_default(),
            "jobs" => jobs.to_string(),
            "num_gpus" => config.num_gpus.to_string(),
            _ => return None,
        })
    }
}

/// The slot's `stop` command with its variables expanded (empty when it has none).
pub fn stop_command(
    slot: &SlotConfig,
    value: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    slot.stop
        .iter()
        .map(|t| template::expand(t, value))
        .collect()
}

/// Run the slot's `stop` command for batch `batch_id` (files in `dir`, `jobs` jobs) that no
/// running launch holds any more (a killed daemon's); a line for its log, `None` when the
/// slot has no stop command.
pub fn stop_wrapped(
    config: &ExecutorConfig,
    slot: &SlotConfig,
    batch_id: &str,
    dir: &Path,
    jobs: usize,
) -> Option<String> {
    let value = variables(config, slot, batch_id, dir, jobs);
    let argv = match stop_command(slot, &value) {
        Ok(argv) => argv,
        Err(e) => {
            return Some(format!(
                "[cosmosq] cannot expand the slot's stop command: {e}"
            ))
        }
    };
    let grace = Duration::from_secs_f64(config.cancel_grace_seconds);
    process::run_stop_command(&argv, grace)
}

type Settings = (Vec<String>, Option<PathBuf>, BTreeMap<String, String>);

/// The argv, working directory and environment of one launch: the slot's prefix, the command,
/// the profile's flags (`args`, never expanded: they carry prompt text) and the extra
/// arguments, with the template variables expanded (see [`template`]).
fn launch_settings(
    config: &ExecutorConfig,
    slot: &SlotConfig,
    args: Vec<String>,
    value: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, String> {
    let expand = |t: &String| template::expand(t, value);
    let mut argv = slot
        .prefix
        .iter()
        .map(expand)
        .collect::<Result<Vec<_>, _>>()?;
    let command = config
        .command()
        .iter()
        .map(expand)
        .collect::<Result<Vec<_>, _>>()?;
    let extra = config
        .extra_args
        .iter()
        .map(expand)
        .collect::<Result<Vec<_>, _>>()?;
    let program = command.into_iter().chain(args).chain(extra);
    if slot.remote_shell {
        argv.extend(program.map(|t| shell_quote(&t)));
    } else {
        argv.extend(program);
    }
    let mut env = BTreeMap::new();
    for (k, v) in config.env.iter().chain(&slot.env) {
        env.insert(k.clone(), expand(v)?);
    }
    let workdir = match &config.workdir {
        Some(w) => Some(PathBuf::from(expand(&w.display().to_string())?)),
        None => None,
    };
    Ok((argv, workdir, env))
}

/// The result of a batch whose files could not be written: no job ran.
pub fn io_failure(e: std::io::Error) -> BatchResult {
    BatchResult {
        error: Some(error(
            ErrorCode::ExecutorIo,
            format!("cannot write the batch files: {e}"),
        )),
        ..BatchResult::default()
    }
}

/// Read a small text file, trimmed; `None` when missing.
pub fn read_text(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Exit statuses that are the wrapper's, not the program's: a shell's "cannot execute" (126)
/// and "not found" (127), `docker run`'s own failure (125), `ssh`'s connection failure (255).
const WRAPPER_EXITS: [i32; 4] = [125, 126, 127, 255];

/// Why a batch that produced no output failed for a cause of its slot, if it did: the program
/// could not start, the wrapper failed, or it died without a CUDA error, a safety block or an
/// error of its own in its output. `None` for a batch with any output, a clean exit, a
/// cancel, a timeout, a stall, or a failure the program explained.
pub fn slot_fault(ended: &Ended, any_output: bool) -> Option<String> {
    if let Some(e) = &ended.spawn_error {
        return Some(format!("the program could not start: {e}"));
    }
    if any_output
        || ended.code == Some(0)
        || ended.canceled
        || ended.canceled_outside.is_some()
        || ended.timed_out
        || ended.stalled
        || ended.lost.is_some()
        || ended.out_of_memory
        || ended.blocked
    {
        return None;
    }
    match ended.code {
        Some(c) if WRAPPER_EXITS.contains(&c) => Some(format!(
            "the wrapper or program could not run (exit status {c})"
        )),
        _ if ended.program_error => None,
        Some(c) => Some(format!(
            "the program exited with {c} without a CUDA or job error"
        )),
        None => Some("the program was killed by a signal without a CUDA or job error".into()),
    }
}

/// Per-job outcomes from what could be verified and how the program ended.
///
/// `verified[i]` holds job i's outputs when they exist and belong to it. `groups` are the
/// runs of jobs the program processes together (line order). Jobs without verified output:
/// - the program exited 0: they failed (blocked by the safety filter, or no output);
/// - it was canceled: back to the queue;
/// - it ran out of memory: retry smaller (the queue splits and retries them);
/// - its node was lost (Slurm's NODE_FAIL, PREEMPTED, BOOT_FAIL): back to the queue;
/// - it died or timed out: the first group with a missing output failed (that is where it
///   died); later groups never ran and go back to the queue.
pub fn outcomes(
    claimed: &Claimed,
    verified: Vec<Option<JobOutputs>>,
    groups: &[Range<usize>],
    ended: &Ended,
    ambiguous: &[bool],
) -> BatchResult {
    let mut result = BatchResult {
        log_path: Some(claimed.dir.join("run.log").display().to_string()),
        ..BatchResult::default()
    };
    let missing_reason = || {
        if ended.blocked {
            error(
                ErrorCode::BlockedBySafetyFilter,
                "the program's safety filter blocked this job: no output was written",
            )
        } else {
            error(
                ErrorCode::NoOutput,
                "the program finished without writing this job's output (the safety filter may have blocked it; see the log)",
            )
        }
    };
    let death = || {
        if let Some(e) = &ended.spawn_error {
            error(ErrorCode::ExecutorUnavailable, e.clone())
        } else if let Some(why) = &ended.lost {
            error(ErrorCode::ClusterLost, why.clone())
        } else if ended.stalled {
            error(
                ErrorCode::Stalled,
                "the program printed nothing for stall_seconds and was stopped; its jobs went back to the queue",
            )
        } else if ended.timed_out {
            error(
                ErrorCode::Timeout,
                "the batch ran past its time limit and was stopped",
            )
        } else if ended.blocked {
            error(
                ErrorCode::BlockedBySafetyFilter,
                "the safety filter blocked this job's whole group and the program died",
            )
        } else {
            error(
                ErrorCode::ProcessDied,
                format!(
                    "the program exited with {:?} before writing this job's output",
                    ended.code
                ),
            )
        }
    };
    let slot_fault = slot_fault(ended, verified.iter().any(Option::is_some));
    let mut died_in: Option<usize> = None;
    for (g, range) in groups.iter().enumerate() {
        for i in range.clone() {
            let job_id = claimed.jobs[i].0.id.clone();
            let outcome = match &verified[i] {
                Some(outputs) => Some(JobOutcome::Succeeded(outputs.clone())),
                None if ambiguous.get(i).copied().unwrap_or(false) => Some(JobOutcome::Failed(error(
                    ErrorCode::OutputUnverified,
                    "another job of its group was dropped and outputs were re-indexed; this job's output cannot be told apart from an identical prompt's: retry it",
                ))),
                None if ended.canceled || ended.canceled_outside.is_some() || ended.stalled => {
                    Some(JobOutcome::Requeue)
                }
                // The slot failed, not the job: back to its place, no attempt counted.
                None if slot_fault.is_some() => Some(JobOutcome::NotStarted),
                None if ended.succeeded() => Some(JobOutcome::Failed(missing_reason())),
                None if ended.out_of_memory && ended.spawn_error.is_none() => {
                    Some(JobOutcome::RetrySmaller)
                }
                // Lost with its node (Slurm's NODE_FAIL, PREEMPTED, ...): back to its place.
                None if ended.lost.is_some() => Some(JobOutcome::Requeue),
                // The program could not be started: nothing ran, the jobs go back (a slot
                // whose program is missing must not fail the queue's jobs one by one).
                None if ended.spawn_error.is_some() => Some(JobOutcome::NotStarted),
                None => {
                    let first = *died_in.get_or_insert(g);
                    if g == first {
                        Some(JobOutcome::Failed(death()))
                    } else {
                        Some(JobOutcome::Requeue)
                    }
                }
            };
            if let Some(o) = outcome {
                result.outcomes.insert(job_id, o);
            }
        }
    }
    result.slot_fault = slot_fault;
    if !ended.succeeded() && !ended.canceled {
        result.error = Some(if let Some(why) = &ended.canceled_outside {
            error(ErrorCode::CanceledInCluster, why.clone())
        } else if ended.out_of_memory {
            error(
                ErrorCode::OutOfMemory,
                "CUDA ran out of memory; the batch is split and retried smaller",
            )
        } else {
            death()
        });
    }
    result
}

#[cfg(test)]
mod tests {
    use super::{launch_settings, outcomes, shell_quote, Ended, ExecutorConfig, SlotConfig};
    use crate::executor::Claimed;
    use crate::executor::JobOutcome;
    use cosmosq_shared::api::{Batch, BatchStatus, Job, JobOutputs, JobStatus, Prompt, VideoInfo};
    use cosmosq_shared::{ErrorCode, JobConfig, PlanMode, Profile};

    /// A claimed batch of `n` jobs in groups of `batch_size`.
    fn claimed(n: usize, batch_size: u32) -> Claimed {
        let jobs = (0..n)
            .map(|i| {
                let job = Job {
                    id: format!("jb_{i}"),
                    prompt_id: format!("ps_{i}"),
                    kind: Default::default(),
                    config: JobConfig::default(),
                    effective_weights: Default::default(),
                    status: JobStatus::Running,
                    position: None,
                    attempts: 1,
                    created_at: String::new(),
                    started_at: None,
                    finished_at: None,
                    batch_id: Some("bt_1".into()),
                    outputs: JobOutputs::default(),
                    error: None,
                    after: Vec::new(),
                    waiting_for: Vec::new(),
                    input_from: None,
                    pinned: false,
                    pruned: false,
                };
                let prompt = Prompt {
                    id: format!("ps_{i}"),
                    name: String::new(),
                    text: format!("prompt {i}"),
                    negative_prompt: None,
                    input_video: "/v.mp4".into(),
                    video: VideoInfo {
                        frames: 121,
                        fps: 24.0,
                        width: 1280,
                        height: 704,
                        aspect_bucket: Default::default(),
                    },
                    control_videos: Default::default(),
                    created_at: String::new(),
                };
                (job, prompt)
            })
            .collect::<Vec<_>>();
        Claimed {
            batch: Batch {
                id: "bt_1".into(),
                mode: PlanMode::Strict,
                plan_id: None,
                job_ids: jobs.iter().map(|(j, _)| j.id.clone()).collect(),
                controls: vec![],
                batch_size,
                reason: String::new(),
                status: BatchStatus::Running,
                executor: Profile::Transfer1,
                slot: None,
                estimated_seconds: 1.0,
                measured_seconds: None,
                progress: 0.0,
                created_at: String::new(),
                started_at: None,
                finished_at: None,
                log_path: None,
                slurm: None,
                error: None,
            },
            jobs,
            dir: "/data/batches/bt_1".into(),
            cancel: Default::default(),
        }
    }

    fn output() -> Option<JobOutputs> {
        Some(JobOutputs {
            video: Some("/out.mp4".into()),
            ..JobOutputs::default()
        })
    }

    /// Each job's outcome as a short word, in job order.
    fn judged(c: &Claimed, verified: Vec<Option<JobOutputs>>, ended: Ended) -> Vec<String> {
        let n = c.jobs.len();
        let size = c.batch.batch_size as usize;
        let groups: Vec<_> = (0..n).step_by(size).map(|s| s..(s + size).min(n)).collect();
        let mut r = outcomes(c, verified, &groups, &ended, &vec![false; n]);
        (0..n)
            .map(|i| match r.outcomes.remove(&format!("jb_{i}")) {
                Some(JobOutcome::Succeeded(_)) => "ok".to_string(),
                Some(JobOutcome::Failed(e)) => e.code.as_str().to_string(),
                Some(JobOutcome::Requeue) => "requeue".into(),
                Some(JobOutcome::NotStarted) => "not_started".into(),
                Some(JobOutcome::RetrySmaller) => "smaller".into(),
                None => "none".into(),
            })
            .collect()
    }

    #[test]
    fn outcomes_follow_how_the_program_ended() {
        let c = claimed(6, 2);
        let exited = |code| Ended {
            code: Some(code),
            ..Ended::default()
        };
        // A clean exit: a missing output failed (blocked when the log says so).
        let some = vec![output(), None, output(), output(), output(), output()];
        assert_eq!(
            judged(&c, some.clone(), exited(0))[..2],
            ["ok", "no_output"]
        );
        let blocked = Ended {
            blocked: true,
            ..exited(0)
        };
        assert_eq!(judged(&c, some, blocked)[1], "blocked_by_safety_filter");
        // It died in its second group: that group failed, the first kept its outputs, the
        // third never ran.
        let died = vec![output(), output(), output(), None, None, None];
        assert_eq!(
            judged(&c, died.clone(), exited(1)),
            ["ok", "ok", "ok", "process_died", "requeue", "requeue"]
        );
        let timed_out = Ended {
            timed_out: true,
            ..Ended::default()
        };
        assert_eq!(judged(&c, died.clone(), timed_out)[3], "timeout");
        // Canceled: whatever did not finish goes back.
        let canceled = Ended {
            canceled: true,
            ..exited(143)
        };
        assert_eq!(judged(&c, died.clone(), canceled)[3..], ["requeue"; 3]);
        // Out of memory: the unfinished are retried smaller (the queue splits them).
        let oom = Ended {
            out_of_memory: true,
            ..exited(1)
        };
        assert_eq!(judged(&c, died.clone(), oom)[3..], ["smaller"; 3]);
        // Lost with its node, or canceled outside: whatever did not finish goes back.
        let lost = Ended {
            lost: Some("NODE_FAIL".into()),
            ..Ended::default()
        };
        assert_eq!(
            judged(&c, died.clone(), lost)[..4],
            ["ok", "ok", "ok", "requeue"]
        );
        let outside = Ended {
            canceled_outside: Some("scancel".into()),
            ..Ended::default()
        };
        assert_eq!(judged(&c, died, outside)[3..], ["requeue"; 3]);
        let one_group = std::iter::once(0..6).collect::<Vec<_>>();
        let mut r = outcomes(&c, vec![None; 6], &one_group, &exited(1), &[false; 6]);
        assert!(r
            .error
            .take()
            .is_some_and(|e| e.code == ErrorCode::ProcessDied));
        // It never started: every job goes back, without an attempt counted.
        let spawn = Ended {
            spawn_error: Some("no such program".into()),
            ..Ended::default()
        };
        assert_eq!(judged(&c, vec![None; 6], spawn), ["not_started"; 6]);
    }

    #[test]
    fn only_failures_the_program_did_not_explain_are_the_slots() {
        use super::slot_fault;
        let died = |code: Option<i32>| Ended {
            code,
            ..Ended::default()
        };
        let spawn = Ended {
            spawn_error: Some("No such file or directory".into()),
            ..Ended::default()
        };
        assert!(slot_fault(&spawn, false)
            .unwrap()
            .contains("could not start"));
        assert!(slot_fault(&died(Some(255)), false).unwrap().contains("255"));
        assert!(slot_fault(&died(Some(1)), false).is_some());
        assert!(slot_fault(&died(None), false).is_some());
        // A job's output, a clean exit, or the program's own explanation: not the slot.
        assert_eq!(slot_fault(&died(Some(1)), true), None);
        assert_eq!(slot_fault(&died(Some(0)), false), None);
        let explained = Ended {
            program_error: true,
            ..died(Some(1))
        };
        assert_eq!(slot_fault(&explained, false), None);
        for ended in [
            Ended {
                out_of_memory: true,
                ..died(Some(1))
            },
            Ended {
                blocked: true,
                ..died(Some(1))
            },
            Ended {
                stalled: true,
                ..died(None)
            },
            Ended {
                timed_out: true,
                ..died(None)
            },
            Ended {
                canceled: true,
                ..died(None)
            },
        ] {
            assert_eq!(slot_fault(&ended, false), None, "{ended:?}");
        }
    }

    #[test]
    fn an_ambiguous_output_is_never_guessed() {
        let c = claimed(2, 2);
        let one_group = std::iter::once(0..2).collect::<Vec<_>>();
        let r = outcomes(
            &c,
            vec![output(), None],
            &one_group,
            &Ended {
                code: Some(0),
                ..Ended::default()
            },
            &[false, true],
        );
        match &r.outcomes["jb_1"] {
            JobOutcome::Failed(e) => assert_eq!(e.code, ErrorCode::OutputUnverified),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.log_path.as_deref(), Some("/data/batches/bt_1/run.log"));
    }

    #[test]
    fn the_default_transfer1_command_starts_one_process_per_gpu() {
        let config = ExecutorConfig {
            profile: cosmosq_shared::Profile::Transfer1,
            num_gpus: 4,
            ..ExecutorConfig::default()
        };
        let value = |name: &str| (name == "num_gpus").then(|| config.num_gpus.to_string());
        let (argv, _, _) = launch_settings(
            &config,
            &SlotConfig::default(),
            vec!["--num_gpus".into(), "4".into()],
            &value,
        )
        .unwrap();
        assert_eq!(argv[..3], ["torchrun", "--nproc_per_node", "4"]);
        assert_eq!(argv[argv.len() - 2..], ["--num_gpus", "4"]);
    }

    #[test]
    fn shell_words_survive_a_shell() {
        assert_eq!(shell_quote("--num_steps"), "--num_steps");
        assert_eq!(
            shell_quote("/data/batches/bt_1/spec.json"),
            "/data/batches/bt_1/spec.json"
        );
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a cat; rm -rf /"), "'a cat; rm -rf /'");
        assert_eq!(shell_quote("it's $(x)"), "'it'\\''s $(x)'");
        // What a shell makes of the quoted word is the token again.
        for token in [
            "it's",
            "a\"b\\c",
            "$(touch x) `y` | z && w",
            "new\nline",
            "ü 🤖",
        ] {
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("printf %s {}", shell_quote(token))])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), token);
        }
    }
}
