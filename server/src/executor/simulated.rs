//! The `simulated` executor: no GPU. It takes the cost model's estimate scaled by
//! `time_scale`, runs the jobs one after another (progress and a log as a real run would),
//! and writes placeholder outputs: the input video as `output.mp4`, plus `prompt.txt` and
//! `params.json` recording exactly the weights and settings the job ran with.
//! Markers in a prompt's text inject faults, to try the failure paths without a GPU:
//! `[simulate:fail]` fails its jobs; `[simulate:oom]` runs out of GPU memory whenever its job
//! shares the batch with others (the queue then splits the batch and retries the parts, and
//! learns the lower safe size), and succeeds alone.

use super::Claimed;
use super::{
    line_weights, BatchResult, BoxFuture, Executor, Finished, Handle, JobOutcome, Progress,
};
use crate::config::SlotConfig;
use cosmosq_shared::api::{ErrorBody, JobOutputs};
use cosmosq_shared::{ErrorCode, Profile};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// Marker in a prompt's text that makes the simulated run of its jobs fail.
pub const FAIL_MARKER: &str = "[simulate:fail]";
/// Marker in a prompt's text that makes a batch of more than one job run out of memory.
pub const OOM_MARKER: &str = "[simulate:oom]";

/// Runs batches without a GPU: the cost model's time, scaled; placeholder outputs.
pub struct Simulated {
    time_scale: f64,
}

impl Simulated {
    pub fn new(time_scale: f64) -> Self {
        Simulated { time_scale }
    }
}

struct Log(std::fs::File);

impl Log {
    fn line(&mut self, progress: &dyn Progress, fraction: f64, text: String) {
        let _ = writeln!(self.0, "{text}");
        progress.report(Some(fraction), Some(text));
    }
}

fn write_outputs(dir: &Path, claimed: &Claimed, index: usize) -> std::io::Result<JobOutputs> {
    let (job, prompt) = &claimed.jobs[index];
    let out = dir.join(format!("video_{index}"));
    std::fs::create_dir_all(&out)?;
    let video = out.join("output.mp4");
    let _ = std::fs::remove_file(&video);
    if std::fs::hard_link(&prompt.input_video, &video).is_err() {
        std::fs::copy(&prompt.input_video, &video)?;
    }
    std::fs::write(out.join("prompt.txt"), &prompt.text)?;
    let params = out.join("params.json");
    // The simulation imitates Transfer1: its models, its defaults, its weight arithmetic.
    let profile = Profile::Simulated;
    let c = &profile.resolve(&job.config);
    let record = json!({
        "executor": "simulated",
        "job_id": job.id,
        "batch_id": claimed.batch.id,
        "model": profile.family(c).describe(),
        "controls": claimed.batch.controls,
        "batch_size": claimed.batch.batch_size,
        "weights": line_weights(&claimed.batch, job),
        "effective_weights": profile.effective_weights(c),
        "distilled": c.distilled,
        "num_steps": c.num_steps,
        "guidance": c.guidance,
        "seed": c.seed,
        "sigma_max": c.sigma_max,
        "blur_strength": c.blur_strength,
        "canny_threshold": c.canny_threshold,
        "fps": c.fps,
        "negative_prompt": prompt.negative_prompt,
        "input_video": prompt.input_video,
    });
    std::fs::write(&params, serde_json::to_vec_pretty(&record)?)?;
    Ok(JobOutputs {
        video: Some(video.display().to_string()),
        control_videos: Default::default(),
        log: None,
        params: Some(params.display().to_string()),
    })
}

impl Executor for Simulated {
    fn submit<'a>(
        &'a self,
        _claimed: &'a Claimed,
        _slot: &'a SlotConfig,
    ) -> BoxFuture<'a, Result<Handle, BatchResult>> {
        Box::pin(async { Ok(Handle::Simulated) })
    }

    fn watch<'a>(
        &'a self,
        claimed: &'a Claimed,
        _slot: &'a SlotConfig,
        _handle: Option<&'a Handle>,
        progress: &'a dyn Progress,
    ) -> BoxFuture<'a, Finished> {
        Box::pin(async move {
            Finished {
                result: self.run(claimed, progress).await,
                run_seconds: None,
            }
        })
    }
}

impl Simulated {
    async fn run(&self, claimed: &Claimed, progress: &dyn Progress) -> BatchResult {
        {
            let mut result = BatchResult::default();
            let dir = &claimed.dir;
            let log_path = dir.join("run.log");
            let file = std::fs::create_dir_all(dir).and_then(|_| std::fs::File::create(&log_path));
            let mut log = match file {
                Ok(f) => Log(f),
                Err(e) => {
                    result.error = Some(ErrorBody {
                        code: ErrorCode::ExecutorIo,
                        message: format!("cannot write {}: {e}", log_path.display()),
                    });
                    return result;
                }
            };
            result.log_path = Some(log_path.display().to_string());
            let batch = &claimed.batch;
            let total =
                Duration::from_secs_f64((batch.estimated_seconds * self.time_scale).max(0.0));
            let jobs = claimed.jobs.len().max(1);
            let load_share = 0.2;
            log.line(
                progress,
                0.0,
                format!(
                    "[simulated] loading model with controls {} (batch_size {})",
                    batch
                        .controls
                        .iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join("+"),
                    batch.batch_size
                ),
            );
            if sleep_or_cancel(total.mul_f64(load_share), claimed).await {
                log.line(progress, 0.0, "[simulated] stopped while loading".into());
                return result;
            }
            if jobs > 1
                && claimed
                    .jobs
                    .iter()
                    .any(|(_, p)| p.text.contains(OOM_MARKER))
            {
                log.line(
                    progress,
                    load_share,
                    format!(
                        "[simulated] torch.OutOfMemoryError: CUDA out of memory ({jobs} jobs, \
                         a prompt asks the simulator for it: {OOM_MARKER})"
                    ),
                );
                for (job, _) in &claimed.jobs {
                    result
                        .outcomes
                        .insert(job.id.clone(), JobOutcome::RetrySmaller);
                }
                return result;
            }
            for (i, (job, prompt)) in claimed.jobs.iter().enumerate() {
                let share = (1.0 - load_share) / jobs as f64;
                let start = load_share + share * i as f64;
                log.line(
                    progress,
                    start,
                    format!("[simulated] job {}/{} {} started", i + 1, jobs, job.id),
                );
                let ticks = 4;
                for t in 1..=ticks {
                    if sleep_or_cancel(total.mul_f64(share / ticks as f64), claimed).await {
                        log.line(
                            progress,
                            start,
                            format!("[simulated] stopped during job {}", job.id),
                        );
                        return result;
                    }
                    progress.report(Some(start + share * t as f64 / ticks as f64), None);
                }
                let outcome = if prompt.text.contains(FAIL_MARKER) {
                    JobOutcome::Failed(ErrorBody {
                        code: ErrorCode::SimulatedFailure,
                        message: format!("the prompt asks the simulator to fail ({FAIL_MARKER})"),
                    })
                } else {
                    match write_outputs(dir, claimed, i) {
                        Ok(outputs) => JobOutcome::Succeeded(outputs),
                        Err(e) => JobOutcome::Failed(ErrorBody {
                            code: ErrorCode::OutputWriteFailed,
                            message: format!("cannot write the outputs: {e}"),
                        }),
                    }
                };
                let word = if matches!(outcome, JobOutcome::Succeeded(_)) {
                    "succeeded"
                } else {
                    "failed"
                };
                log.line(
                    progress,
                    start + share,
                    format!("[simulated] job {}/{} {} {word}", i + 1, jobs, job.id),
                );
                result.outcomes.insert(job.id.clone(), outcome);
            }
            log.line(progress, 1.0, "[simulated] batch done".into());
            result
        }
    }
}

/// Sleep, unless the batch is canceled first (then true).
async fn sleep_or_cancel(duration: Duration, claimed: &Claimed) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => false,
        _ = claimed.cancel.cancelled() => true,
    }
}
