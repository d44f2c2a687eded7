use super::*;
use crate::control::Control::{Depth, Edge, Seg, Vis};
use crate::job::Strength;

fn job(id: &str, weights: &[(Control, f64)]) -> PlanJob {
    PlanJob::new(id, weights)
}

fn run(jobs: &[PlanJob], mode: PlanMode) -> Plan {
    plan(jobs, mode, Limits::default(), &CostModel::default()).unwrap()
}

fn ids(plan: &Plan) -> Vec<Vec<&str>> {
    plan.batches
        .iter()
        .map(|b| b.job_ids.iter().map(String::as_str).collect())
        .collect()
}

#[test]
fn empty_queue_plans_nothing() {
    for mode in [PlanMode::Strict, PlanMode::Mixed] {
        let p = run(&[], mode);
        assert!(p.batches.is_empty());
        assert!(p.excluded.is_empty());
        assert_eq!(p.metrics.job_count, 0);
        assert_eq!(p.metrics.batch_count, 0);
        assert_eq!(p.metrics.speedup, 1.0);
    }
}

#[test]
fn single_job_runs_alone_with_its_own_estimate() {
    let p = run(&[job("a", &[(Edge, 0.5)])], PlanMode::Mixed);
    assert_eq!(ids(&p), vec![vec!["a"]]);
    let b = &p.batches[0];
    assert_eq!(b.controls, vec![Edge]);
    assert_eq!(b.batch_size, 1);
    assert!(b.reason.starts_with("Runs alone"), "{}", b.reason);
    // 180 startup + 90 edge load + 35 steps * (8 + 1) + 2 preprocessing
    assert_eq!(b.estimated_seconds, 587.0);
    assert_eq!(p.metrics.speedup, 1.0);
    assert_eq!(p.metrics.control_overhead_seconds, 0.0);
}

#[test]
fn zero_weights_do_not_count_toward_the_signature() {
    let jobs = [
        job("a", &[(Edge, 0.5), (Depth, 0.0)]),
        job("b", &[(Edge, 0.5)]),
    ];
    let p = run(&jobs, PlanMode::Strict);
    assert_eq!(ids(&p), vec![vec!["a", "b"]]);
    assert_eq!(p.batches[0].controls, vec![Edge]);
}

#[test]
fn strict_separates_different_controls_and_keeps_queue_order() {
    let jobs = [
        job("a", &[(Edge, 0.5)]),
        job("b", &[(Depth, 0.5)]),
        job("c", &[(Edge, 0.7)]),
        job("d", &[(Edge, 0.3), (Depth, 0.3)]),
    ];
    let p = run(&jobs, PlanMode::Strict);
    assert_eq!(ids(&p), vec![vec!["a", "c"], vec!["b"], vec!["d"]]);
    assert_eq!(p.batches[2].controls, vec![Depth, Edge]);
}

#[test]
fn mixed_combines_different_controls_when_it_saves_time() {
    let jobs = [job("a", &[(Edge, 0.5)]), job("b", &[(Depth, 0.5)])];
    let strict = run(&jobs, PlanMode::Strict);
    let mixed = run(&jobs, PlanMode::Mixed);
    assert_eq!(strict.metrics.batch_count, 2);
    assert_eq!(ids(&mixed), vec![vec!["a", "b"]]);
    let b = &mixed.batches[0];
    assert_eq!(b.controls, vec![Depth, Edge]);
    assert_eq!(b.batch_size, 1, "different weights: one at a time");
    assert!(b.reason.contains("Mixed controls"), "{}", b.reason);
    assert!(b.reason.contains("weight 0"), "{}", b.reason);
    assert!(mixed.metrics.estimated_batched_seconds < strict.metrics.estimated_batched_seconds);
    assert!(mixed.metrics.control_overhead_seconds > 0.0);
    assert!(mixed.metrics.speedup > 1.0);
}

fn run_on(jobs: &[PlanJob], mode: PlanMode, profile: Profile) -> Plan {
    let limits = Limits {
        profile,
        ..Limits::default()
    };
    plan(jobs, mode, limits, &CostModel::default()).unwrap()
}

#[test]
fn transfer1_never_mixes_model_families() {
    // The AV model (hdmap, lidar) and the distilled edge model are other checkpoints than the
    // general model: a job never shares a process with a job for another model.
    let av = job("av", &[(Control::Hdmap, 0.5)]);
    let lidar = job("lidar", &[(Control::Lidar, 0.5)]);
    let edge = job("edge", &[(Edge, 0.5)]);
    let mut distilled = job("distilled", &[(Edge, 0.5)]);
    distilled.config.distilled = true;
    let jobs = [av, edge, lidar, distilled];
    for profile in [Profile::Transfer1, Profile::Simulated] {
        let p = run_on(&jobs, PlanMode::Mixed, profile);
        assert_eq!(
            ids(&p),
            vec![vec!["av", "lidar"], vec!["edge"], vec!["distilled"]]
        );
        assert!(
            p.batches[0].reason.contains("AV model"),
            "{}",
            p.batches[0].reason
        );
        assert!(
            p.batches[2].reason.contains("distilled"),
            "{}",
            p.batches[2].reason
        );
        // One step on the distilled model.
        assert!(p.batches[2].estimated_seconds < p.batches[1].estimated_seconds);
    }
}

#[test]
fn transfer25_keeps_one_control_jobs_on_their_own_checkpoint() {
    let jobs = [
        job("e1", &[(Edge, 0.5)]),
        job("d1", &[(Depth, 0.5)]),
        job("ed", &[(Edge, 0.5), (Depth, 0.5)]),
        job("e2", &[(Edge, 0.7)]),
        job("vs", &[(Vis, 0.5), (Seg, 0.5)]),
    ];
    let p = run_on(&jobs, PlanMode::Mixed, Profile::Transfer25);
    assert_eq!(
        ids(&p),
        vec![vec!["e1", "e2"], vec!["d1"], vec!["ed", "vs"]]
    );
    let multi = &p.batches[2];
    assert_eq!(
        multi.controls,
        vec![Depth, Edge, Seg, Vis],
        "all four branches load"
    );
    assert!(multi.reason.contains("multibranch"), "{}", multi.reason);
    assert!(
        multi.reason.contains("only its own branches"),
        "{}",
        multi.reason
    );
    // The multibranch process costs the same load whichever controls it serves, and each
    // job computes only its own branches: no overhead.
    assert_eq!(p.metrics.control_overhead_seconds, 0.0);
    let strict = run_on(&jobs, PlanMode::Strict, Profile::Transfer25);
    assert_eq!(strict.metrics.batch_count, 4);
    assert_eq!(strict.batches[2].controls, vec![Depth, Edge, Seg, Vis]);
}

#[test]
fn effective_weights_and_program_defaults_are_shown() {
    let jobs = [
        job("a", &[(Edge, 0.7), (Depth, 0.5)]),
        job("b", &[(Edge, 0.5), (Depth, 0.5)]),
    ];
    let p = run_on(&jobs, PlanMode::Strict, Profile::Transfer1);
    let b = &p.batches[0];
    assert_eq!(
        b.effective_weights.len(),
        1,
        "only `a` runs otherwise than asked"
    );
    assert_eq!(b.effective_weights["a"][&Edge], 0.58203125);
    assert_eq!(b.effective_weights["a"][&Depth], 0.416015625);
    assert!(
        b.reason.contains("1 job runs with other weights"),
        "{}",
        b.reason
    );
    assert!(
        b.reason.contains("program default: sigma_max 70, fps 24"),
        "{}",
        b.reason
    );
    let p = run_on(&jobs, PlanMode::Strict, Profile::Transfer25);
    assert!(p.batches[0].effective_weights.is_empty());
    assert!(
        p.batches[0].reason.contains("no sigma_max"),
        "{}",
        p.batches[0].reason
    );
    // Leaving sigma_max out and naming the program's default run alike: one batch.
    let mut named = job("c", &[(Edge, 0.5), (Depth, 0.5)]);
    named.config.sigma_max = Some(70.0);
    let p = run_on(
        &[jobs[1].clone(), named],
        PlanMode::Strict,
        Profile::Transfer1,
    );
    assert_eq!(p.metrics.batch_count, 1);
}

#[test]
fn strict_keeps_identical_jobs_together_before_filling() {
    // Queue order alternates weights: filling 4 + 4 in queue order loses both batched passes;
    // strict puts identical jobs together.
    let jobs: Vec<_> = (0..8)
        .map(|i| {
            job(
                &format!("j{i}"),
                &[(Edge, if i % 2 == 0 { 0.5 } else { 0.25 })],
            )
        })
        .collect();
    let limits = Limits {
        max_batch_size: 4,
        ..Limits::default()
    };
    let p = plan(&jobs, PlanMode::Strict, limits, &CostModel::default()).unwrap();
    assert_eq!(
        ids(&p),
        vec![vec!["j0", "j2", "j4", "j6"], vec!["j1", "j3", "j5", "j7"]]
    );
    assert!(p.batches.iter().all(|b| b.batch_size == 4));
}

#[test]
fn mixed_keeps_batches_apart_when_overhead_outweighs_loading() {
    // Long videos: extra branches on every chunk cost more than one model load.
    let mut jobs = vec![job("a", &[(Edge, 0.5)]), job("b", &[(Seg, 0.5)])];
    for j in &mut jobs {
        j.frames = 121 * 40;
    }
    let cost = CostModel {
        control_step_seconds: Control::ALL.into_iter().map(|c| (c, 5.0)).collect(),
        ..CostModel::default()
    };
    let p = plan(&jobs, PlanMode::Mixed, Limits::default(), &cost).unwrap();
    assert_eq!(ids(&p), vec![vec!["a"], vec!["b"]]);
}

#[test]
fn safe_batch_sizes_by_control_count_capped_by_user_max() {
    assert_eq!(safe_batch_size(1, 64), 8);
    assert_eq!(safe_batch_size(2, 64), 4);
    assert_eq!(safe_batch_size(3, 64), 2);
    assert_eq!(safe_batch_size(7, 64), 2);
    assert_eq!(safe_batch_size(1, 3), 3);
    assert_eq!(safe_batch_size(3, 1), 1);
}

#[test]
fn batches_respect_safe_size_and_user_max() {
    let jobs: Vec<_> = (0..10)
        .map(|i| job(&format!("j{i}"), &[(Edge, 0.5)]))
        .collect();
    let p = run(&jobs, PlanMode::Strict);
    let sizes: Vec<_> = p.batches.iter().map(|b| b.job_ids.len()).collect();
    assert_eq!(sizes, vec![8, 2]);
    assert!(
        p.batches[0].reason.contains("safe size of 8"),
        "{}",
        p.batches[0].reason
    );

    let limits = Limits::new(3);
    for mode in [PlanMode::Strict, PlanMode::Mixed] {
        let p = plan(&jobs, mode, limits, &CostModel::default()).unwrap();
        assert!(p.batches.iter().all(|b| b.job_ids.len() <= 3));
        assert_eq!(p.metrics.batch_count, 4);
    }
    let p = plan(&jobs, PlanMode::Strict, limits, &CostModel::default()).unwrap();
    assert!(p.batches[0].reason.contains("your max batch size of 3"));

    let three: Vec<_> = (0..5)
        .map(|i| job(&format!("t{i}"), &[(Edge, 0.5), (Depth, 0.5), (Vis, 0.5)]))
        .collect();
    let p = run(&three, PlanMode::Mixed);
    assert!(p.batches.iter().all(|b| b.job_ids.len() <= 2));
}

#[test]
fn enhance_and_upscale_are_excluded_with_a_reason() {
    let mut e = job("e", &[]);
    e.kind = JobKind::Enhance;
    let mut u = job("u", &[]);
    u.kind = JobKind::Upscale;
    let jobs = [e, job("a", &[(Edge, 1.0)]), u];
    let p = run(&jobs, PlanMode::Mixed);
    assert_eq!(ids(&p), vec![vec!["a"]]);
    let excluded: Vec<_> = p.excluded.iter().map(|x| x.job_id.as_str()).collect();
    assert_eq!(excluded, vec!["e", "u"]);
    assert!(p.excluded[0]
        .reason
        .contains("enhance jobs always run alone"));
    assert_eq!(p.metrics.job_count, 1);
}

#[test]
fn process_global_settings_are_never_mixed() {
    let base = || job("x", &[(Edge, 0.5)]);
    let variants: [fn(&mut PlanJob); 8] = [
        |j| j.config.seed = 2,
        |j| j.config.num_steps = 10,
        |j| j.config.guidance = 7.0,
        |j| j.config.sigma_max = Some(80.0),
        |j| j.config.blur_strength = Strength::High,
        |j| j.config.canny_threshold = Strength::Low,
        |j| j.config.fps = Some(30),
        |j| j.negative_prompt = Some("no cats".into()),
    ];
    for change in variants {
        let mut other = base();
        other.id = "y".into();
        change(&mut other);
        let jobs = [base(), other];
        for mode in [PlanMode::Strict, PlanMode::Mixed] {
            assert_eq!(run(&jobs, mode).metrics.batch_count, 2);
        }
    }
}

#[test]
fn batched_pass_only_for_identical_weights_frames_and_bucket() {
    let same = [job("a", &[(Edge, 0.5)]), job("b", &[(Edge, 0.5)])];
    let p = run(&same, PlanMode::Strict);
    assert_eq!(p.batches[0].batch_size, 2);
    assert!(p.batches[0].reason.contains("one batched forward pass"));

    let weights = [job("a", &[(Edge, 0.5)]), job("b", &[(Edge, 0.6)])];
    let p = run(&weights, PlanMode::Strict);
    assert_eq!(p.batches[0].batch_size, 1);
    assert!(p.batches[0].reason.contains("weights differ"));

    let mut frames = same.clone();
    frames[1].frames = 57;
    let p = run(&frames, PlanMode::Strict);
    assert_eq!(p.batches[0].batch_size, 1);
    assert!(p.batches[0].reason.contains("frame counts differ"));

    let mut bucket = same.clone();
    bucket[1].bucket = AspectBucket::Square960;
    let p = run(&bucket, PlanMode::Strict);
    assert_eq!(p.batches[0].batch_size, 1);
    assert!(p.batches[0].reason.contains("aspect buckets differ"));
}

#[test]
fn without_batched_passes_identical_jobs_run_one_after_another() {
    // Transfer2.5 always runs a batch's jobs in sequence: no batched pass, no efficiency.
    let same: Vec<_> = (0..3)
        .map(|i| job(&format!("j{i}"), &[(Edge, 0.5)]))
        .collect();
    let limits = Limits {
        profile: Profile::Transfer25,
        ..Limits::default()
    };
    let cost = CostModel::default();
    let p = plan(&same, PlanMode::Strict, limits, &cost).unwrap();
    let b = &p.batches[0];
    assert_eq!(b.job_ids.len(), 3);
    assert_eq!(b.batch_size, 1);
    assert!(b.reason.contains("one after another"), "{}", b.reason);
    let loads: Vec<_> = same.iter().map(|j| j.load(Profile::Transfer25)).collect();
    let signature = same[0].signature();
    assert_eq!(
        b.estimated_seconds,
        cost.estimate(&loads, signature, 1).total_seconds
    );
    let batched = run(&same, PlanMode::Strict);
    assert_eq!(batched.batches[0].batch_size, 3);
    assert!(batched.batches[0].estimated_seconds < b.estimated_seconds);
    assert_ne!(batched.plan_id, p.plan_id);
}

#[test]
fn mixed_clusters_identical_jobs_into_batched_passes() {
    // Interleaved weights: filling 4 + 4 in queue order would lose the batched pass; both
    // modes regroup into two uniform batches with the same number of loads.
    let jobs: Vec<_> = (0..8)
        .map(|i| {
            job(
                &format!("j{i}"),
                &[(Edge, 0.5), (Depth, if i % 2 == 0 { 0.5 } else { 0.25 })],
            )
        })
        .collect();
    let strict = run(&jobs, PlanMode::Strict);
    let mixed = run(&jobs, PlanMode::Mixed);
    assert_eq!(mixed.metrics.batch_count, 2);
    assert!(mixed.batches.iter().all(|b| b.batch_size == 4));
    assert_eq!(ids(&mixed)[0], vec!["j0", "j2", "j4", "j6"]);
    assert_eq!(ids(&strict), ids(&mixed));
}

#[test]
fn batches_are_ordered_by_their_earliest_job() {
    let jobs = [
        job("a", &[(Depth, 0.5)]),
        job("b", &[(Edge, 0.5)]),
        job("c", &[(Depth, 0.5)]),
        job("d", &[(Seg, 0.5)]),
    ];
    let p = run(&jobs, PlanMode::Strict);
    assert_eq!(ids(&p), vec![vec!["a", "c"], vec!["b"], vec!["d"]]);
}

#[test]
fn metrics_add_up() {
    let jobs = [
        job("a", &[(Edge, 0.5)]),
        job("b", &[(Edge, 0.5)]),
        job("c", &[(Depth, 1.0)]),
    ];
    let p = run(&jobs, PlanMode::Strict);
    let cost = CostModel::default();
    let alone: f64 = jobs
        .iter()
        .map(|j| cost.estimate_alone(&j.load(Profile::Simulated)))
        .sum();
    assert_eq!(p.metrics.estimated_sequential_seconds, alone);
    let sum: f64 = p.batches.iter().map(|b| b.estimated_seconds).sum();
    assert!((p.metrics.estimated_batched_seconds - sum).abs() < 1e-6);
    let speedup = p.metrics.estimated_sequential_seconds / p.metrics.estimated_batched_seconds;
    assert!((p.metrics.speedup - speedup).abs() < 1e-3);
    assert_eq!(p.metrics.job_count, 3);
    assert_eq!(p.metrics.batch_count, 2);
}

#[test]
fn plan_id_is_deterministic_and_covers_every_input() {
    let jobs = vec![job("a", &[(Edge, 0.5)]), job("b", &[(Depth, 0.5)])];
    let base = run(&jobs, PlanMode::Mixed);
    assert_eq!(base, run(&jobs, PlanMode::Mixed));
    assert!(base.plan_id.starts_with("pl_") && base.plan_id.len() == 35);

    let mut different = vec![];
    let mut swapped = jobs.clone();
    swapped.swap(0, 1);
    different.push(run(&swapped, PlanMode::Mixed).plan_id);
    let mut weight = jobs.clone();
    weight[0].config.weights.insert(Edge, 0.6);
    different.push(run(&weight, PlanMode::Mixed).plan_id);
    let mut seed = jobs.clone();
    seed[1].config.seed = 9;
    different.push(run(&seed, PlanMode::Mixed).plan_id);
    let mut renamed = jobs.clone();
    renamed[1].id = "c".into();
    different.push(run(&renamed, PlanMode::Mixed).plan_id);
    different.push(run(&jobs, PlanMode::Strict).plan_id);
    different.push(
        plan(
            &jobs,
            PlanMode::Mixed,
            Limits::new(2),
            &CostModel::default(),
        )
        .unwrap()
        .plan_id,
    );
    let cheaper = CostModel {
        startup_seconds: 1.0,
        ..CostModel::default()
    };
    different.push(
        plan(&jobs, PlanMode::Mixed, Limits::default(), &cheaper)
            .unwrap()
            .plan_id,
    );
    for id in &different {
        assert_ne!(id, &base.plan_id);
    }
    let unique: HashSet<_> = different.iter().collect();
    assert_eq!(unique.len(), different.len());
}

#[test]
fn invalid_input_is_an_error_not_a_panic() {
    let dup = [job("a", &[(Edge, 0.5)]), job("a", &[(Edge, 0.5)])];
    let err = plan(
        &dup,
        PlanMode::Strict,
        Limits::default(),
        &CostModel::default(),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::DuplicateJobId);

    let none = [job("a", &[])];
    let err = plan(
        &none,
        PlanMode::Strict,
        Limits::default(),
        &CostModel::default(),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::NoActiveControl);
    assert!(err.message.contains("job `a`"));

    let ok = [job("a", &[(Edge, 0.5)])];
    let err = plan(&ok, PlanMode::Strict, Limits::new(0), &CostModel::default()).unwrap_err();
    assert_eq!(err.code, ErrorCode::MaxBatchSizeOutOfRange);
    let bad_cost = CostModel {
        batched_pass_efficiency: 2.0,
        ..CostModel::default()
    };
    let err = plan(&ok, PlanMode::Strict, Limits::default(), &bad_cost).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidCostModel);
}

#[test]
fn plan_serialises_in_the_preview_shape() {
    let p = run(&[job("a", &[(Edge, 0.5)])], PlanMode::Strict);
    let v = serde_json::to_value(&p).unwrap();
    for key in ["plan_id", "batches", "metrics", "excluded"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let b = &v["batches"][0];
    for key in [
        "job_ids",
        "controls",
        "batch_size",
        "estimated_seconds",
        "reason",
    ] {
        assert!(b.get(key).is_some(), "missing batch.{key}");
    }
    for key in [
        "job_count",
        "batch_count",
        "estimated_sequential_seconds",
        "estimated_batched_seconds",
        "speedup",
        "control_overhead_seconds",
    ] {
        assert!(v["metrics"].get(key).is_some(), "missing metrics.{key}");
    }
    assert_eq!(b["controls"], serde_json::json!(["edge"]));
}
