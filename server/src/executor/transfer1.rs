//! The `cosmos-transfer1` profile: one `transfer.py` invocation per batch.
//!
//! Files under `<data_dir>/batches/<batch id>/`: `spec.json` (every control the batch loads,
//! and the negative prompt), `batch.jsonl` (one line per job, its own weight for every loaded
//! control — an explicit 0 for those it did not ask for — and its own control video, or null
//! to generate it), `outputs/` (`video_<n>/output.mp4` and `prompt.txt`) and `run.log`.
//!
//! What upstream's `transfer.py` does with these, and so what this file sends:
//! - It generates the control video of every loaded control whose `input_control` is null,
//!   weight 0 included, and a branch's output is multiplied by its weight: so a control a job
//!   did not ask for gets the job's own input video (any valid video serves) and costs nothing.
//! - A top-level scalar of the spec replaces a flag's value unless the literal `--key` is in
//!   argv, and argparse takes a value starting with `-` for a flag: the negative prompt goes in
//!   the spec, never as a flag value.
//! - `--is_av_sample` selects the AV model (hdmap, lidar), `--use_distilled` the distilled
//!   edge model; a setting the job left out is not sent, so the program's default applies.
//!
//! Every setting is passed as its own flag and value tokens; nothing goes through a shell.

use super::cosmos::{self, read_text, Ended, Program};
use super::process::parse_progress;
use super::Claimed;
use super::{line_weights, BatchResult};
use crate::config::ExecutorConfig;
use cosmosq_shared::api::{JobOutputs, Prompt};
use cosmosq_shared::{Control, Family, JobKind, Profile};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Runs batches with Cosmos-Transfer1's `transfer.py`.
pub struct Transfer1 {
    config: ExecutorConfig,
}

impl Transfer1 {
    pub fn new(config: ExecutorConfig) -> Self {
        Transfer1 { config }
    }
}

/// Weight of the 4K upscaler's control branch for `upscale` jobs (Cosmos' example value).
pub const UPSCALE_WEIGHT: f64 = 0.5;

/// The spec and JSONL for a batch.
pub fn inputs(claimed: &Claimed) -> (Value, Vec<Value>) {
    let batch = &claimed.batch;
    let (first_job, first_prompt) = &claimed.jobs[0];
    if first_job.kind == JobKind::Upscale {
        // An upscale job runs alone: the 4K upscaler is the spec's only control, applied to
        // the prompt's input video (e.g. an earlier output).
        let spec = json!({
            "input_video_path": first_prompt.input_video,
            "prompt": first_prompt.text,
            "upscale": {"control_weight": UPSCALE_WEIGHT},
        });
        let line = json!({"visual_input": first_prompt.input_video, "prompt": first_prompt.text});
        return (spec, vec![line]);
    }
    let mut spec = Map::new();
    // Batch mode still validates a global input video: the first job's.
    spec.insert("input_video_path".into(), json!(first_prompt.input_video));
    spec.insert("prompt".into(), json!(first_prompt.text));
    if let Some(negative) = &first_prompt.negative_prompt {
        spec.insert("negative_prompt".into(), json!(negative));
    }
    let controls = |job, prompt| -> Map<String, Value> {
        let weights = line_weights(batch, job);
        batch
            .controls
            .iter()
            .map(|c| {
                let entry = json!({
                    "control_weight": weights[c],
                    "input_control": control_input(prompt, *c, weights[c]),
                });
                (c.as_str().to_string(), entry)
            })
            .collect()
    };
    spec.extend(controls(first_job, first_prompt));
    let lines = claimed
        .jobs
        .iter()
        .map(|(job, prompt)| {
            let overrides = controls(job, prompt);
            json!({
                "visual_input": prompt.input_video,
                "prompt": prompt.text,
                "control_overrides": overrides,
            })
        })
        .collect();
    (Value::Object(spec), lines)
}

/// The control video a job's line names for `control`: the prompt's, else null (the program
/// generates it) for a control the job asked for, else the job's own input video, which a
/// branch of weight 0 never uses (its output is multiplied by 0) and which saves generating a
/// control video nobody needs.
fn control_input(prompt: &Prompt, control: Control, weight: f64) -> Option<&str> {
    match prompt.control_videos.get(&control) {
        Some(video) => Some(video),
        None if weight > 0.0 => None,
        None => Some(&prompt.input_video),
    }
}

/// The flags after the command: files, then every setting the batch's jobs share, as the
/// program resolves them (a setting the jobs left out is not sent: the program's default).
pub fn args(
    config: &ExecutorConfig,
    claimed: &Claimed,
    spec: &Path,
    jsonl: &Path,
    out: &Path,
) -> Vec<String> {
    let (job, _) = &claimed.jobs[0];
    let c = &job.config;
    let mut a: Vec<String> = Vec::new();
    let mut flag = |k: &str, v: String| {
        a.push(format!("--{k}"));
        a.push(v);
    };
    flag("controlnet_specs", spec.display().to_string());
    flag("batch_input_path", jsonl.display().to_string());
    flag("video_save_folder", out.display().to_string());
    flag("checkpoint_dir", config.checkpoint_dir.clone());
    flag("num_gpus", config.num_gpus.to_string());
    flag("batch_size", claimed.batch.batch_size.to_string());
    flag("num_steps", c.num_steps.to_string());
    flag("guidance", c.guidance.to_string());
    flag("seed", c.seed.to_string());
    if let Some(sigma) = c.sigma_max {
        flag("sigma_max", sigma.to_string());
    }
    flag("blur_strength", c.blur_strength.as_str().to_string());
    flag("canny_threshold", c.canny_threshold.as_str().to_string());
    if let Some(fps) = c.fps {
        flag("fps", fps.to_string());
    }
    match Profile::Transfer1.family(c) {
        Family::Av => a.push("--is_av_sample".into()),
        Family::DistilledEdge => a.push("--use_distilled".into()),
        _ => {}
    }
    a
}

/// The job lines the program processes together: `--batch_size` at a time.
fn groups(jobs: usize, batch_size: u32) -> Vec<Range<usize>> {
    let size = batch_size.max(1) as usize;
    (0..jobs)
        .step_by(size)
        .map(|s| s..(s + size).min(jobs))
        .collect()
}

fn outputs_in(folder: &Path) -> JobOutputs {
    let mut control_videos = BTreeMap::new();
    for c in Control::ALL {
        let generated = folder.join(format!("{c}_input_control_0.mp4"));
        if generated.is_file() {
            control_videos.insert(c, generated.display().to_string());
        }
    }
    let params = folder.join("params.json");
    JobOutputs {
        video: Some(folder.join("output.mp4").display().to_string()),
        control_videos,
        log: None,
        params: params.is_file().then(|| params.display().to_string()),
    }
}

/// Match outputs to jobs. A folder is accepted for a job only when its `prompt.txt` is the
/// job's prompt. When the safety filter drops a job, Transfer1 re-indexes the rest of its
/// group into the wrong folders: then an output is attributed by its prompt text when that
/// text is unique in the group, and otherwise not at all (flagged ambiguous).
pub fn verify(
    claimed: &Claimed,
    out: &Path,
) -> (Vec<Option<JobOutputs>>, Vec<bool>, Vec<Range<usize>>) {
    let n = claimed.jobs.len();
    let folder = |i: usize| out.join(format!("video_{i}"));
    let found: Vec<Option<String>> = (0..n)
        .map(|i| {
            let f = folder(i);
            if f.join("output.mp4").is_file() {
                read_text(&f.join("prompt.txt"))
            } else {
                None
            }
        })
        .collect();
    let texts: Vec<String> = claimed
        .jobs
        .iter()
        .map(|(_, p)| p.text.trim().to_string())
        .collect();
    let mut verified = vec![None; n];
    let mut ambiguous = vec![false; n];
    let groups = groups(n, claimed.batch.batch_size);
    for range in &groups {
        let in_order = range
            .clone()
            .all(|i| found[i].as_deref() == Some(texts[i].as_str()));
        if in_order {
            for i in range.clone() {
                verified[i] = Some(outputs_in(&folder(i)));
            }
            continue;
        }
        let mut count: HashMap<&str, usize> = HashMap::new();
        for i in range.clone() {
            *count.entry(texts[i].as_str()).or_default() += 1;
        }
        for i in range.clone() {
            let holders: Vec<usize> = range
                .clone()
                .filter(|&k| found[k].as_deref() == Some(texts[i].as_str()))
                .collect();
            match (count[texts[i].as_str()], holders.as_slice()) {
                (1, [k]) => verified[i] = Some(outputs_in(&folder(*k))),
                (1, _) => {}
                (_, []) => {}
                _ => ambiguous[i] = true,
            }
        }
    }
    (verified, ambiguous, groups)
}

fn write_inputs(dir: &Path, claimed: &Claimed) -> std::io::Result<(PathBuf, PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let (spec, lines) = inputs(claimed);
    let spec_path = dir.join("spec.json");
    std::fs::write(&spec_path, serde_json::to_vec_pretty(&spec)?)?;
    let jsonl = dir.join("batch.jsonl");
    let mut text = String::new();
    for line in lines {
        text += &serde_json::to_string(&line)?;
        text.push('\n');
    }
    std::fs::write(&jsonl, text)?;
    let out = dir.join("outputs");
    // A retried batch id never reuses a folder, but never trust leftovers either.
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    Ok((spec_path, jsonl, out))
}

/// Overall progress from a line: `group g/G` and `step s/S` when both are there.
fn overall(line: &str) -> Option<f64> {
    let step = parse_progress(line)?;
    let lower = line.to_ascii_lowercase();
    let group = lower.find("group").and_then(|at| {
        let digits: String = lower[at + 5..]
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(|c| c.is_ascii_digit() || *c == '/')
            .collect();
        let (g, n) = digits.split_once('/')?;
        Some((g.parse::<f64>().ok()?, n.parse::<f64>().ok()?))
    });
    match group {
        Some((g, n)) if n > 0.0 && g >= 1.0 => Some(((g - 1.0 + step) / n).clamp(0.0, 1.0)),
        _ => Some(step),
    }
}

impl Program for Transfer1 {
    fn prepare(&self, claimed: &Claimed) -> std::io::Result<Vec<String>> {
        let (spec, jsonl, out) = write_inputs(&claimed.dir, claimed)?;
        Ok(args(&self.config, claimed, &spec, &jsonl, &out))
    }

    fn progress(&self, _claimed: &Claimed) -> cosmos::StepFn {
        Box::new(overall)
    }

    fn collect(&self, claimed: &Claimed, ended: &Ended) -> BatchResult {
        let (verified, ambiguous, groups) = verify(claimed, &claimed.dir.join("outputs"));
        cosmos::outcomes(claimed, verified, &groups, ended, &ambiguous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_follow_batch_size() {
        assert_eq!(groups(5, 2), vec![0..2, 2..4, 4..5]);
        assert_eq!(groups(3, 1), vec![0..1, 1..2, 2..3]);
        assert_eq!(groups(2, 0), vec![0..1, 1..2]);
    }

    #[test]
    fn overall_progress_combines_group_and_step() {
        assert_eq!(overall("[standin] group 2/4 step 10/20"), Some(0.375));
        assert_eq!(overall("step 5/10"), Some(0.5));
        assert_eq!(overall("loading"), None);
    }
}
