//! In-process tests of the queue on a temporary store: group commit, fail-stop, the view
//! cache, and the batch lifecycle (claim, finish, cancel while running, out-of-memory split,
//! stale plans, recovery), driven directly as the workers and the API drive them.

use super::*;
use crate::executor::{BatchResult, JobOutcome};
use crate::store::StoreError;
use cosmosq_shared::api::{
    BatchStatus, ErrorBody, Event, JobInput, JobOutputs, JobStatus, Prompt, VideoInfo,
};
use cosmosq_shared::{AspectBucket, ErrorCode, JobConfigInput, PlanMode};
use std::collections::HashMap;

fn open(dir: &std::path::Path, events: Events) -> Queue {
    let config = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    Queue::open(Arc::new(config), events, Arc::new(Metrics::default())).unwrap()
}

/// Concurrent changes share flushes (group commit), yet each one computes on the one
/// before it, is durable when it returns, and publishes its events exactly once.
#[test]
fn concurrent_changes_are_serial_durable_and_published_once() {
    let dir = tempfile::tempdir().unwrap();
    let events = Events::default();
    let mut rx = events.subscribe();
    let queue = Arc::new(open(dir.path(), events));
    while rx.try_recv().is_ok() {} // start-up's own change
    let start = queue.lock().meta().next_batch_seq;
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let queue = queue.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    queue
                        .mutate(|state, change| {
                            let mut meta = state.meta().clone();
                            meta.next_batch_seq += 1;
                            change.meta = Some(meta);
                            Ok(())
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(queue.lock().meta().next_batch_seq, start + 400);
    assert!(queue.lock().outbox.is_empty(), "every event was published");
    let flushed = queue.lock_flushing().flushed;
    assert!(flushed >= queue.written.load(Ordering::SeqCst));
    let mut published = 0;
    while let Ok(event) = rx.try_recv() {
        if matches!(event, Event::Queue { .. }) {
            published += 1;
        }
    }
    assert_eq!(published, 400);
    drop(queue);
    let reopened = open(dir.path(), Events::default());
    assert_eq!(reopened.lock().meta().next_batch_seq, start + 400);
}

#[test]
fn a_failed_flush_stops_everything_and_acknowledges_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let events = Events::default();
    let failures = Arc::new(Mutex::new(Vec::new()));
    let seen = failures.clone();
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let queue = Queue::open_with(
        Arc::new(config),
        events.clone(),
        Arc::new(Metrics::default()),
        Arc::new(move |e: &StoreError| seen.lock().unwrap().push(e.to_string())),
    )
    .unwrap();
    queue.pause("test").unwrap();
    let mut rx = events.subscribe();
    queue.store.fail_flushes.store(true, Ordering::SeqCst);
    let e = queue.resume().unwrap_err();
    assert_eq!(
        (e.code.http_status(), e.code.as_str()),
        (503, "storage_failed")
    );
    assert!(queue.store_broken());
    assert_eq!(
        failures.lock().unwrap().len(),
        1,
        "the daemon's reaction ran"
    );
    assert!(failures.lock().unwrap()[0].contains("No space left"));
    assert!(
        rx.try_recv().is_err(),
        "the unflushed change published nothing"
    );
    // Every later change is refused at once, even when the disk came back.
    queue.store.fail_flushes.store(false, Ordering::SeqCst);
    let e = queue.pause("again").unwrap_err();
    assert_eq!(e.code, "storage_failed");
    let e = queue.settle().unwrap_err();
    assert_eq!(
        e.code, "storage_failed",
        "reads wait for a flush that never comes"
    );
    assert_eq!(failures.lock().unwrap().len(), 1);
}

#[test]
fn the_view_cache_follows_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let queue = open(dir.path(), Events::default());
    let first = queue.view_bytes();
    assert_eq!(first.etag, queue.view_etag());
    assert_eq!(
        queue.view_bytes().body,
        first.body,
        "unchanged: served from the cache"
    );
    queue.pause("test").unwrap();
    let second = queue.view_bytes();
    assert_ne!(second.etag, first.etag);
    let view: QueueView = serde_json::from_slice(&second.body).unwrap();
    assert_eq!(view, queue.view());
    assert!(view.paused);
}

/// A queue on `dir` with `slots` executor slots (simulated profile), not yet paused.
fn queue_with(dir: &std::path::Path, slots: usize, max_attempts: u32) -> Queue {
    let mut config = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    config.executor.slots = crate::config::Slots::Count(slots);
    config.queue.max_attempts = max_attempts;
    Queue::open(
        Arc::new(config),
        Events::default(),
        Arc::new(Metrics::default()),
    )
    .unwrap()
}

/// A prompt stored as `add_prompt` would store it, without probing a video.
fn prompt(queue: &Queue, text: &str) -> String {
    let prompt = Prompt {
        id: crate::ids::new_id("ps"),
        name: text.into(),
        text: text.into(),
        negative_prompt: None,
        input_video: "/videos/clip.mp4".into(),
        video: VideoInfo {
            frames: 121,
            fps: 24.0,
            width: 1280,
            height: 704,
            aspect_bucket: AspectBucket::default(),
        },
        control_videos: Default::default(),
        created_at: crate::ids::now(),
    };
    let id = prompt.id.clone();
    queue
        .mutate(|_, change| {
            change.prompts.push((id.clone(), Some(prompt)));
            Ok(())
        })
        .unwrap();
    id
}

fn add(queue: &Queue, prompt: &str, weights: &[(&str, f64)]) -> String {
    queue
        .add_job(JobInput {
            prompt_id: prompt.into(),
            kind: None,
            config: JobConfigInput {
                weights: weights.iter().map(|(c, w)| (c.to_string(), *w)).collect(),
                ..JobConfigInput::default()
            },
            after: Vec::new(),
            input_from: None,
        })
        .unwrap()
        .id
}

fn status(queue: &Queue, id: &str) -> (JobStatus, Option<u32>, u32) {
    let j = queue.job(id).unwrap();
    (j.status, j.position, j.attempts)
}

fn outputs(video: &str) -> JobOutputs {
    JobOutputs {
        video: Some(video.into()),
        ..JobOutputs::default()
    }
}

fn result(outcomes: &[(&str, JobOutcome)]) -> BatchResult {
    BatchResult {
        outcomes: outcomes
            .iter()
            .map(|(id, o)| (id.to_string(), o.clone()))
            .collect::<HashMap<_, _>>(),
        log_path: Some("/data/batches/bt_x/run.log".into()),
        ..BatchResult::default()
    }
}

#[test]
fn a_claim_takes_the_first_free_jobs_batch_and_starts_its_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_with(dir.path(), 1, 3);
    queue.pause("setting up").unwrap();
    let p = prompt(&queue, "a robot");
    let edge = [
        add(&queue, &p, &[("edge", 0.5)]),
        add(&queue, &p, &[("edge", 0.5)]),
    ];
    let depth = add(&queue, &p, &[("depth", 0.5)]);
    assert!(
        queue.claim_next("slot0").unwrap().is_none(),
        "paused: no automatic batch"
    );
    queue.resume().unwrap();
    let claimed = queue.claim_next("slot0").unwrap().expect("a batch");
    assert_eq!(
        claimed.batch.job_ids, edge,
        "strict: the first job's signature, in order"
    );
    assert_eq!(claimed.batch.status, BatchStatus::Running);
    assert_eq!(claimed.batch.slot.as_deref(), Some("slot0"));
    assert_eq!(claimed.jobs.len(), 2);
    for id in &edge {
        assert_eq!(status(&queue, id), (JobStatus::Running, None, 1));
    }
    assert_eq!(status(&queue, &depth), (JobStatus::Queued, Some(1), 0));
    assert!(
        queue.claim_next("slot0").unwrap().is_none(),
        "the one slot is busy"
    );
    assert_eq!(queue.running_batches(), 1);
}

#[test]
fn finishing_records_each_outcome_and_unfinished_jobs_go_back_to_their_places() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_with(dir.path(), 1, 3);
    let p = prompt(&queue, "a robot");
    queue.pause("setting up").unwrap();
    let ids: Vec<String> = (0..4).map(|_| add(&queue, &p, &[("edge", 0.5)])).collect();
    let later = add(&queue, &p, &[("depth", 0.5)]);
    queue.resume().unwrap();
    let claimed = queue.claim_next("slot0").unwrap().unwrap();
    assert_eq!(claimed.batch.job_ids, ids);
    let failure = ErrorBody::new(ErrorCode::NoOutput, "no output");
    queue.finish_batch(
        &claimed.batch.id,
        result(&[
            (&ids[0], JobOutcome::Succeeded(outputs("/out/0.mp4"))),
            (&ids[1], JobOutcome::Failed(failure.clone())),
            (&ids[2], JobOutcome::Requeue),
        ]),
        12.5,
    );
    let done = queue.job(&ids[0]).unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.outputs.video.as_deref(), Some("/out/0.mp4"));
    assert_eq!(
        done.outputs.log.as_deref(),
        Some("/data/batches/bt_x/run.log")
    );
    let failed = queue.job(&ids[1]).unwrap();
    assert_eq!(
        (failed.status, failed.error),
        (JobStatus::Failed, Some(failure))
    );
    assert_eq!(
        failed.outputs.log.as_deref(),
        Some("/data/batches/bt_x/run.log")
    );
    assert!(failed.finished_at.is_some());
    // Requeued and unreported jobs are back where they were, ahead of the later job.
    assert_eq!(status(&queue, &ids[2]), (JobStatus::Queued, Some(1), 1));
    assert_eq!(status(&queue, &ids[3]), (JobStatus::Queued, Some(2), 1));
    assert_eq!(status(&queue, &later), (JobStatus::Queued, Some(3), 0));
    assert_eq!(queue.job(&ids[2]).unwrap().batch_id, None);
    let batch = queue.batch(&claimed.batch.id).unwrap();
    assert_eq!(batch.status, BatchStatus::Failed);
    assert_eq!(batch.measured_seconds, Some(12.5));
    assert_eq!(queue.running_batches(), 0);
}

#[test]
fn a_cancel_while_running_stops_the_batch_and_its_other_jobs_go_back() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_with(dir.path(), 1, 3);
    let p = prompt(&queue, "a robot");
    queue.pause("setting up").unwrap();
    let ids: Vec<String> = (0..3).map(|_| add(&queue, &p, &[("edge", 0.5)])).collect();
    queue.resume().unwrap();
    let claimed = queue.claim_next("slot0").unwrap().unwrap();
    assert!(!claimed.cancel.is_cancelled());
    let canceled = queue.cancel_job(&ids[1]).unwrap();
    assert_eq!(canceled.status, JobStatus::Canceled);
    assert_eq!(canceled.error.unwrap().code, ErrorCode::Canceled);
    assert!(
        claimed.cancel.is_cancelled(),
        "the running batch is told to stop"
    );
    // The program stopped: nothing finished; every job goes back but the canceled one.
    let all: Vec<(&str, JobOutcome)> = ids
        .iter()
        .map(|i| (i.as_str(), JobOutcome::Requeue))
        .collect();
    queue.finish_batch(&claimed.batch.id, result(&all), 1.0);
    assert_eq!(status(&queue, &ids[0]), (JobStatus::Queued, Some(1), 1));
    assert_eq!(queue.job(&ids[1]).unwrap().status, JobStatus::Canceled);
    assert_eq!(status(&queue, &ids[2]), (JobStatus::Queued, Some(2), 1));
    assert_eq!(
        queue.batch(&claimed.batch.id).unwrap().status,
        BatchStatus::Canceled
    );
}

#[test]
fn out_of_memory_splits_the_batch_in_halves_that_run_next() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_with(dir.path(), 1, 3);
    let p = prompt(&queue, "a robot");
    queue.pause("setting up").unwrap();
    let ids: Vec<String> = (0..4).map(|_| add(&queue, &p, &[("edge", 0.5)])).collect();
    let later = add(&queue, &p, &[("depth", 0.5)]);
    queue.resume().unwrap();
    let claimed = queue.claim_next("slot0").unwrap().unwrap();
    assert_eq!(
        claimed.batch.batch_size, 4,
        "identical jobs: one batched pass"
    );
    let oom = |c: &crate::executor::Claimed| {
        let smaller: Vec<(&str, JobOutcome)> = c
            .batch
            .job_ids
            .iter()
            .map(|i| (i.as_str(), JobOutcome::RetrySmaller))
            .collect();
        result(&smaller)
    };
    queue.finish_batch(&claimed.batch.id, oom(&claimed), 3.0);
    // Half the size is the most a one-control batch may hold from now on.
    assert_eq!(queue.view().settings.learned_caps.get(1), Some(2));
    let first = queue
        .claim_next("slot0")
        .unwrap()
        .expect("part 1 runs next");
    assert_eq!(first.batch.job_ids, ids[..2]);
    assert_eq!(first.batch.batch_size, 2);
    assert!(
        first.batch.reason.contains("Part 1 of 2"),
        "{}",
        first.batch.reason
    );
    let two: Vec<(&str, JobOutcome)> = ids[..2]
        .iter()
        .map(|i| (i.as_str(), JobOutcome::Succeeded(outputs("/out.mp4"))))
        .collect();
    queue.finish_batch(&first.batch.id, result(&two), 2.0);
    let second = queue
        .claim_next("slot0")
        .unwrap()
        .expect("then part 2, before later jobs");
    assert_eq!(second.batch.job_ids, ids[2..]);
    assert_eq!(status(&queue, &later), (JobStatus::Queued, Some(1), 0));
    // Alone and still out of memory: it fails, keeping the batch's log.
    queue.finish_batch(&second.batch.id, oom(&second), 1.0);
    let parts = queue.claim_next("slot0").unwrap().unwrap();
    assert_eq!(parts.batch.job_ids, [ids[2].clone()]);
    queue.finish_batch(&parts.batch.id, oom(&parts), 1.0);
    let alone = queue.job(&ids[2]).unwrap();
    assert_eq!(alone.status, JobStatus::Failed);
    assert_eq!(alone.error.unwrap().code, ErrorCode::OutOfMemory);
    assert_eq!(
        alone.outputs.log.as_deref(),
        Some("/data/batches/bt_x/run.log")
    );
}

#[test]
fn a_stale_plan_is_refused_with_the_fresh_one_and_an_executed_plan_runs_while_paused() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_with(dir.path(), 1, 3);
    let p = prompt(&queue, "a robot");
    queue.pause("review").unwrap();
    add(&queue, &p, &[("edge", 0.5)]);
    let old = queue.preview(Some(PlanMode::Strict), None).unwrap();
    add(&queue, &p, &[("depth", 0.5)]);
    let e = queue.execute(&old.plan_id).unwrap_err();
    assert_eq!(e.code, ErrorCode::StalePlan);
    let fresh = e.preview.expect("the fresh plan comes along");
    assert_ne!(fresh.plan_id, old.plan_id);
    assert_eq!(fresh.batches.len(), 2);
    let reply = queue.execute(&fresh.plan_id).unwrap();
    assert_eq!(reply.batches.len(), 2);
    assert!(reply
        .batches
        .iter()
        .all(|b| b.status == BatchStatus::Pending));
    // Paused, yet the executed plan's batches are claimed, in order.
    let first = queue
        .claim_next("slot0")
        .unwrap()
        .expect("an executed batch");
    assert_eq!(first.batch.id, reply.batches[0].id);
    assert!(queue.view().paused);
    let nothing = queue.preview(None, None).unwrap();
    assert!(nothing.batches.is_empty(), "its jobs are taken");
    assert_eq!(
        queue.execute(&nothing.plan_id).unwrap_err().code,
        ErrorCode::NothingToRun
    );
}

#[test]
fn recovery_after_a_crash_puts_running_jobs_back_and_fails_those_out_of_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let (tired, fresh, waiting, batch) = {
        let queue = queue_with(dir.path(), 1, 2);
        let p = prompt(&queue, "a robot");
        queue.pause("setting up").unwrap();
        let tired = add(&queue, &p, &[("edge", 0.5)]);
        queue.resume().unwrap();
        // First run of `tired` crashes (its batch requeued, as recovery would): attempt 1.
        let c = queue.claim_next("slot0").unwrap().unwrap();
        queue.finish_batch(&c.batch.id, result(&[(&tired, JobOutcome::Requeue)]), 1.0);
        queue.pause("again").unwrap();
        let fresh = add(&queue, &p, &[("edge", 0.5)]);
        let waiting = add(&queue, &p, &[("depth", 0.5)]);
        let plan = queue.preview(Some(PlanMode::Strict), None).unwrap();
        queue.execute(&plan.plan_id).unwrap();
        let running = queue.claim_next("slot0").unwrap().unwrap();
        assert_eq!(running.batch.job_ids, [tired.clone(), fresh.clone()]);
        // The daemon dies here: no shutdown, so no clean stop is recorded.
        (tired, fresh, waiting, running.batch.id)
    };
    let queue = queue_with(dir.path(), 1, 2);
    let view = queue.view();
    assert!(view.paused);
    assert!(view.paused_reason.unwrap().contains("uncleanly"));
    let tired = queue.job(&tired).unwrap();
    assert_eq!((tired.status, tired.attempts), (JobStatus::Failed, 2));
    assert_eq!(tired.error.unwrap().code, ErrorCode::AttemptsExhausted);
    assert_eq!(status(&queue, &fresh), (JobStatus::Queued, Some(1), 1));
    let waiting = queue.job(&waiting).unwrap();
    assert_eq!(
        (waiting.status, waiting.batch_id),
        (JobStatus::Queued, None),
        "its executed batch was dissolved"
    );
    let interrupted = queue.batch(&batch).unwrap();
    assert_eq!(interrupted.status, BatchStatus::Failed);
    assert_eq!(interrupted.error.unwrap().code, ErrorCode::Interrupted);
    assert_eq!(queue.running_batches(), 0);
    assert_eq!(queue.counts().running, 0);
}
