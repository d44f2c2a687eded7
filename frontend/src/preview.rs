//! The live Smart Batching preview: the queue as the daemon's planner sees it, planned in the
//! browser with the same engine (`cosmosq-shared`), so the preview's `plan_id` equals the one
//! `GET /api/v1/batches/preview` gives for the same queue.

use cosmosq_shared::api::{Job, JobStatus, Prompt, QueueView};
use cosmosq_shared::plan::{plan, Plan, PlanJob};
use cosmosq_shared::preview;
use cosmosq_shared::CostModel;
use std::collections::HashMap;

/// Prompts by id.
pub type PromptIndex = HashMap<String, Prompt>;

pub fn index_prompts(prompts: &[Prompt]) -> PromptIndex {
    prompts.iter().map(|p| (p.id.clone(), p.clone())).collect()
}

/// The jobs the daemon would plan now ([`preview::jobs`]: queued jobs in queue order, without
/// those already waiting in an executed plan).
pub fn preview_jobs(jobs: &[Job], prompts: &PromptIndex) -> Vec<PlanJob> {
    let mut queued: Vec<&Job> = jobs
        .iter()
        .filter(|j| j.status == JobStatus::Queued)
        .collect();
    // The queue view lists queued jobs by position already; sorting (stably) keeps that true
    // for a list patched from events.
    queued.sort_by_key(|j| j.position.unwrap_or(u32::MAX));
    preview::jobs(queued, |id| prompts.get(id))
}

/// Queued jobs whose prompt the browser does not know (its prompt list is stale).
pub fn unknown_prompts(jobs: &[Job], prompts: &PromptIndex) -> bool {
    jobs.iter()
        .any(|j| j.status == JobStatus::Queued && !prompts.contains_key(&j.prompt_id))
}

/// Plan the free queued jobs with the queue's settings (Mix Control Inputs → mode,
/// max batch size → limits), as `GET /api/v1/batches/preview` does without parameters.
pub fn preview_plan(
    queue: &QueueView,
    prompts: &PromptIndex,
    cost: &CostModel,
) -> Result<Plan, String> {
    let jobs = preview_jobs(&queue.jobs, prompts);
    let limits = queue.settings.limits(queue.executor);
    let mut plan = plan(&jobs, queue.settings.mode(), limits, cost).map_err(|e| e.to_string())?;
    plan.excluded
        .extend(cosmosq_shared::preview::waiting(&queue.jobs));
    Ok(plan)
}

/// A synthetic queue of `n` jobs (varied controls, weights, settings and prompts), for the
/// preview benchmark (`?bench=N`) and the tests.
pub fn synthetic_queue(n: usize, mix_controls: bool) -> (QueueView, PromptIndex) {
    use cosmosq_shared::api::{JobCounts, JobOutputs, QueueSettings, VideoInfo};
    use cosmosq_shared::{AspectBucket, Control, JobConfig, JobKind};
    use std::collections::BTreeMap;

    let signatures: [&[(Control, f64)]; 6] = [
        &[(Control::Edge, 0.5)],
        &[(Control::Depth, 0.5)],
        &[(Control::Edge, 0.5), (Control::Depth, 0.3)],
        &[(Control::Vis, 0.4)],
        &[(Control::Seg, 0.6), (Control::Edge, 0.2)],
        &[(Control::Edge, 0.8)],
    ];
    let prompts: Vec<Prompt> = (0..8)
        .map(|i| Prompt {
            id: format!("ps_{i:04x}"),
            name: format!("prompt {i}"),
            text: format!("synthetic prompt {i}"),
            negative_prompt: (i % 4 == 3).then(|| "blurry".to_string()),
            input_video: format!("/videos/{i}.mp4"),
            video: VideoInfo {
                frames: [121, 121, 241, 57][i % 4],
                fps: 24.0,
                width: 1280,
                height: 720,
                aspect_bucket: if i % 5 == 4 {
                    AspectBucket::Square960
                } else {
                    AspectBucket::Landscape1280x704
                },
            },
            control_videos: BTreeMap::new(),
            created_at: "2026-01-01T00:00:00Z".into(),
        })
        .collect();
    let jobs = (0..n)
        .map(|i| Job {
            id: format!("jb_{i:06x}"),
            prompt_id: prompts[i % prompts.len()].id.clone(),
            kind: if i % 50 == 49 {
                JobKind::Upscale
            } else {
                JobKind::Inference
            },
            config: JobConfig {
                weights: signatures[i % signatures.len()].iter().copied().collect(),
                num_steps: if i % 7 == 6 { 50 } else { 35 },
                ..JobConfig::default()
            },
            effective_weights: Default::default(),
            status: JobStatus::Queued,
            position: Some(i as u32 + 1),
            attempts: 0,
            created_at: "2026-01-01T00:00:00Z".into(),
            started_at: None,
            finished_at: None,
            batch_id: None,
            outputs: JobOutputs::default(),
            error: None,
            after: Vec::new(),
            waiting_for: Vec::new(),
            input_from: None,
            pinned: false,
            pruned: false,
        })
        .collect();
    let queue = QueueView {
        paused: true,
        paused_reason: None,
        settings: QueueSettings {
            mix_controls,
            ..QueueSettings::default()
        },
        counts: JobCounts {
            queued: n as u64,
            ..JobCounts::default()
        },
        executor: cosmosq_shared::Profile::Simulated,
        jobs,
    };
    (queue, index_prompts(&prompts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmosq_shared::api::JobOutputs;
    use cosmosq_shared::plan::PlanMode;
    use cosmosq_shared::{Control, JobConfig, JobKind};

    fn job(id: &str, prompt: &str, position: Option<u32>, weights: &[(Control, f64)]) -> Job {
        Job {
            id: id.into(),
            prompt_id: prompt.into(),
            kind: JobKind::Inference,
            config: JobConfig {
                weights: weights.iter().copied().collect(),
                ..JobConfig::default()
            },
            effective_weights: Default::default(),
            status: JobStatus::Queued,
            position,
            attempts: 0,
            created_at: String::new(),
            started_at: None,
            finished_at: None,
            batch_id: None,
            outputs: JobOutputs::default(),
            error: None,
            after: Vec::new(),
            waiting_for: Vec::new(),
            input_from: None,
            pinned: false,
            pruned: false,
        }
    }

    #[test]
    fn plan_jobs_take_video_facts_from_the_prompt() {
        let (queue, prompts) = synthetic_queue(4, false);
        let jobs = preview_jobs(&queue.jobs, &prompts);
        assert_eq!(jobs.len(), 4);
        let prompt = &prompts[&queue.jobs[2].prompt_id];
        assert_eq!(jobs[2].frames, prompt.video.frames);
        assert_eq!(jobs[2].bucket, prompt.video.aspect_bucket);
        assert_eq!(jobs[2].config, queue.jobs[2].config);
    }

    #[test]
    fn excludes_running_finished_and_planned_jobs_and_follows_positions() {
        let (_, prompts) = synthetic_queue(1, false);
        let p = "ps_0000";
        let mut running = job("jb_run", p, None, &[(Control::Edge, 0.5)]);
        running.status = JobStatus::Running;
        let mut planned = job("jb_planned", p, Some(1), &[(Control::Edge, 0.5)]);
        planned.batch_id = Some("bt_1".into());
        let mut done = job("jb_done", p, None, &[(Control::Edge, 0.5)]);
        done.status = JobStatus::Succeeded;
        let jobs = vec![
            running,
            planned,
            job("jb_b", p, Some(3), &[(Control::Edge, 0.5)]),
            job("jb_a", p, Some(2), &[(Control::Depth, 0.5)]),
            done,
        ];
        let ids: Vec<String> = preview_jobs(&jobs, &prompts)
            .into_iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(ids, ["jb_a", "jb_b"]);
    }

    #[test]
    fn unknown_prompt_falls_back_to_the_planner_defaults() {
        let j = job("jb_x", "ps_gone", Some(1), &[(Control::Edge, 0.5)]);
        let p = PlanJob::from_job(&j, None);
        assert_eq!(p, {
            let mut d = PlanJob::new("jb_x", &[(Control::Edge, 0.5)]);
            d.config = j.config.clone();
            d
        });
        assert!(unknown_prompts(&[j], &PromptIndex::new()));
    }

    #[test]
    fn mix_control_inputs_changes_the_grouping() {
        let (_, prompts) = synthetic_queue(1, false);
        let p = "ps_0000";
        let jobs = vec![
            job("jb_1", p, Some(1), &[(Control::Edge, 0.5)]),
            job("jb_2", p, Some(2), &[(Control::Depth, 0.5)]),
            job(
                "jb_3",
                p,
                Some(3),
                &[(Control::Edge, 0.5), (Control::Depth, 0.3)],
            ),
        ];
        let (mut queue, _) = synthetic_queue(0, false);
        queue.jobs = jobs;
        let cost = CostModel::default();
        let strict = preview_plan(&queue, &prompts, &cost).unwrap();
        queue.settings.mix_controls = true;
        let mixed = preview_plan(&queue, &prompts, &cost).unwrap();
        assert_eq!(strict.mode, PlanMode::Strict);
        assert_eq!(mixed.mode, PlanMode::Mixed);
        assert_eq!(strict.batches.len(), 3);
        assert!(mixed.batches.len() < strict.batches.len());
        assert_ne!(strict.plan_id, mixed.plan_id);
        assert!(
            mixed.metrics.estimated_batched_seconds <= strict.metrics.estimated_batched_seconds
        );
    }

    #[test]
    fn plan_id_is_stable_across_a_json_round_trip() {
        // The browser plans from JSON it fetched; the daemon from its own values.
        let (queue, prompts) = synthetic_queue(40, true);
        let cost = CostModel::default();
        let direct = preview_plan(&queue, &prompts, &cost).unwrap();
        let queue2: QueueView =
            serde_json::from_str(&serde_json::to_string(&queue).unwrap()).unwrap();
        let cost2: CostModel =
            serde_json::from_str(&serde_json::to_string(&cost).unwrap()).unwrap();
        let prompts2: Vec<Prompt> = serde_json::from_str(
            &serde_json::to_string(&prompts.values().collect::<Vec<_>>()).unwrap(),
        )
        .unwrap();
        let again = preview_plan(&queue2, &index_prompts(&prompts2), &cost2).unwrap();
        assert_eq!(direct.plan_id, again.plan_id);
        assert_eq!(direct, again);
    }

    #[test]
    fn thousand_job_queue_plans_in_both_modes() {
        for mix in [false, true] {
            let (queue, prompts) = synthetic_queue(1000, mix);
            let plan = preview_plan(&queue, &prompts, &CostModel::default()).unwrap();
            assert_eq!(plan.metrics.job_count + plan.excluded.len(), 1000);
            assert!(plan.metrics.speedup >= 1.0);
        }
    }
}
