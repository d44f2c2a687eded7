//! The `cosmos-transfer2.5` profile: one `examples/inference.py -i batch.jsonl -o outputs`
//! invocation per batch. Each JSONL line is self-contained (unique `name` = the job id, every
//! setting the job named, and each of its own controls with its weight); outputs are
//! `<name>.mp4`, `<name>.txt` (prompt), `<name>.json`, `<name>_control_<key>.mp4`. The program
//! runs jobs one after another with the model loaded once and skips blocked jobs.
//!
//! What upstream does with the lines: the process's control keys are the union over its
//! lines, and one key loads that control's checkpoint, several the multibranch model (the
//! planner keeps one-control jobs apart for that). A line's absent key runs with weight 0 and
//! its branch is skipped, but a present key without `control_path` is generated: so a line
//! names only the job's own controls. `sigma_max` has no default (generation starts from
//! noise), so it is sent only when the job set it, and there is no fps setting at all.

use super::cosmos::{self, read_text, Ended, Program};
use super::process::parse_progress;
use super::BatchResult;
use super::Claimed;
use cosmosq_shared::api::JobOutputs;
use cosmosq_shared::{Control, Profile};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs batches with Cosmos-Transfer2.5's `examples/inference.py`.
pub struct Transfer25;

/// One self-contained JSONL line per job.
pub fn lines(claimed: &Claimed) -> Vec<Value> {
    claimed
        .jobs
        .iter()
        .map(|(job, prompt)| {
            let c = &job.config;
            let mut line = Map::new();
            line.insert("name".into(), json!(job.id));
            line.insert("prompt".into(), json!(prompt.text));
            if let Some(n) = &prompt.negative_prompt {
                line.insert("negative_prompt".into(), json!(n));
            }
            line.insert("video_path".into(), json!(prompt.input_video));
            // Transfer2.5's config takes guidance as an integer and sigma_max as a string.
            line.insert("guidance".into(), json!(c.guidance as i64));
            line.insert("seed".into(), json!(c.seed));
            line.insert("num_steps".into(), json!(c.num_steps));
            if let Some(sigma) = c.sigma_max {
                line.insert("sigma_max".into(), json!(sigma.to_string()));
            }
            line.insert("resolution".into(), json!("720"));
            for (control, weight) in c.weights.iter().filter(|(_, w)| **w > 0.0) {
                let (control, weight) = (*control, *weight);
                let mut entry = Map::new();
                entry.insert("control_weight".into(), json!(weight));
                if let Some(path) = prompt.control_videos.get(&control) {
                    entry.insert("control_path".into(), json!(path));
                }
                // The blur and Canny presets live on their controls in Transfer2.5.
                match control {
                    Control::Vis => {
                        entry.insert(
                            "preset_blur_strength".into(),
                            json!(c.blur_strength.as_str()),
                        );
                    }
                    Control::Edge => {
                        entry.insert(
                            "preset_edge_threshold".into(),
                            json!(c.canny_threshold.as_str()),
                        );
                    }
                    _ => {}
                }
                line.insert(control.as_str().into(), Value::Object(entry));
            }
            Value::Object(line)
        })
        .collect()
}

/// Whether a log line announces a job's output: "Generated video saved to <name>.mp4". A job's
/// control videos have "<key> control video saved to" lines of their own, which do not count.
fn announces_output(line: &str) -> bool {
    line.contains("Generated video saved to")
}

/// Outputs of each job: `<id>.mp4` whose `<id>.txt` is the job's prompt.
pub fn verify(claimed: &Claimed, out: &Path) -> Vec<Option<JobOutputs>> {
    claimed
        .jobs
        .iter()
        .map(|(job, prompt)| {
            let video = out.join(format!("{}.mp4", job.id));
            let text = read_text(&out.join(format!("{}.txt", job.id)));
            if !video.is_file() || text.as_deref() != Some(prompt.text.trim()) {
                return None;
            }
            let mut control_videos = BTreeMap::new();
            for c in Profile::Transfer25.controls().iter() {
                let p = out.join(format!("{}_control_{c}.mp4", job.id));
                if p.is_file() {
                    control_videos.insert(c, p.display().to_string());
                }
            }
            let params = out.join(format!("{}.json", job.id));
            Some(JobOutputs {
                video: Some(video.display().to_string()),
                control_videos,
                log: None,
                params: params.is_file().then(|| params.display().to_string()),
            })
        })
        .collect()
}

impl Program for Transfer25 {
    fn prepare(&self, claimed: &Claimed) -> std::io::Result<Vec<String>> {
        let dir = &claimed.dir;
        let out = dir.join("outputs");
        let jsonl = dir.join("batch.jsonl");
        std::fs::create_dir_all(dir)?;
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out)?;
        let mut text = String::new();
        for line in lines(claimed) {
            text += &serde_json::to_string(&line)?;
            text.push('\n');
        }
        std::fs::write(&jsonl, text)?;
        Ok(vec![
            "-i".to_string(),
            jsonl.display().to_string(),
            "-o".to_string(),
            out.display().to_string(),
        ])
    }

    fn progress(&self, claimed: &Claimed) -> cosmos::StepFn {
        let jobs = claimed.jobs.len().max(1) as f64;
        let done = AtomicUsize::new(0);
        // Progress: finished jobs plus the current job's step fraction.
        Box::new(move |line: &str| -> Option<f64> {
            if announces_output(line) {
                done.fetch_add(1, Ordering::Relaxed);
            }
            let finished = done.load(Ordering::Relaxed) as f64;
            let current = parse_progress(line).unwrap_or(0.0);
            Some(((finished + current) / jobs).clamp(0.0, 1.0))
        })
    }

    fn collect(&self, claimed: &Claimed, ended: &Ended) -> BatchResult {
        let verified = verify(claimed, &claimed.dir.join("outputs"));
        let groups: Vec<_> = (0..claimed.jobs.len()).map(|i| i..i + 1).collect();
        let ambiguous = vec![false; claimed.jobs.len()];
        cosmos::outcomes(claimed, verified, &groups, ended, &ambiguous)
    }
}

#[cfg(test)]
mod tests {
    use super::announces_output;

    #[test]
    fn only_a_jobs_output_counts_towards_progress() {
        let lines = [
            "2025-01-01 INFO edge control video saved to /o/a_control_edge.mp4",
            "2025-01-01 INFO depth control video saved to /o/a_control_depth.mp4",
            "2025-01-01 SUCCESS Generated video saved to /o/a.mp4",
        ];
        assert_eq!(lines.iter().filter(|l| announces_output(l)).count(), 1);
    }
}
