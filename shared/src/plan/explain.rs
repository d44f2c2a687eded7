//! Turns formed batches into planned batches with estimates, metrics and plain-words reasons.

use super::search::{Members, Problem};
use super::{safe_batch_size, PlanMetrics, PlanMode, PlannedBatch};
use crate::control::ControlSet;
use crate::cost::JobLoad;
use crate::profile::{Family, Profile};
use std::collections::BTreeMap;

/// Seconds rounded to milliseconds, so JSON stays readable.
fn ms(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub(super) fn describe(
    problem: &Problem,
    batches: &[Members],
    mode: PlanMode,
) -> (Vec<PlannedBatch>, PlanMetrics) {
    let cost = problem.cost;
    let profile = problem.limits.profile;
    let mut metrics = PlanMetrics {
        job_count: problem.items.len(),
        batch_count: batches.len(),
        ..PlanMetrics::default()
    };
    let mut group_sizes: BTreeMap<u32, usize> = BTreeMap::new();
    for item in &problem.items {
        *group_sizes.entry(item.group).or_default() += 1;
    }

    let planned = batches
        .iter()
        .map(|members| {
            let loads: Vec<JobLoad> = members
                .iter()
                .map(|&m| problem.jobs[problem.items[m].job].load(profile))
                .collect();
            let loaded = problem.loaded(members);
            let batch_size = problem.batch_size(members);
            let estimate = cost.estimate(&loads, loaded, batch_size);
            let sequential: f64 = loads.iter().map(|l| cost.estimate_alone(l)).sum();
            metrics.estimated_sequential_seconds += sequential;
            metrics.estimated_batched_seconds += estimate.total_seconds;
            metrics.control_overhead_seconds += estimate.control_overhead_seconds;
            let group_size = group_sizes[&problem.items[members[0]].group];
            let effective_weights = members
                .iter()
                .map(|&m| &problem.jobs[problem.items[m].job])
                .filter_map(|j| {
                    let runs = profile.effective_weights(&j.config);
                    let asked = j.config.weights.iter().filter(|(_, w)| **w > 0.0);
                    (!asked.eq(runs.iter())).then(|| (j.id.clone(), runs))
                })
                .collect();
            PlannedBatch {
                job_ids: members
                    .iter()
                    .map(|&m| problem.jobs[problem.items[m].job].id.clone())
                    .collect(),
                controls: loaded.to_vec(),
                batch_size,
                estimated_seconds: ms(estimate.total_seconds),
                effective_weights,
                reason: reason(
                    problem,
                    members,
                    mode,
                    group_size,
                    Numbers {
                        loaded,
                        batch_size,
                        estimate: estimate.total_seconds,
                        sequential,
                        overhead: estimate.control_overhead_seconds,
                    },
                ),
            }
        })
        .collect();

    metrics.speedup = if metrics.estimated_batched_seconds > 0.0 {
        metrics.estimated_sequential_seconds / metrics.estimated_batched_seconds
    } else {
        1.0
    };
    metrics.speedup = (metrics.speedup * 1000.0).round() / 1000.0;
    metrics.estimated_sequential_seconds = ms(metrics.estimated_sequential_seconds);
    metrics.estimated_batched_seconds = ms(metrics.estimated_batched_seconds);
    metrics.control_overhead_seconds = ms(metrics.control_overhead_seconds);
    (planned, metrics)
}

struct Numbers {
    loaded: ControlSet,
    batch_size: u32,
    estimate: f64,
    sequential: f64,
    overhead: f64,
}

fn reason(
    problem: &Problem,
    members: &[usize],
    mode: PlanMode,
    group_size: usize,
    n: Numbers,
) -> String {
    let profile = problem.limits.profile;
    let count = members.len();
    let jobs: Vec<_> = members
        .iter()
        .map(|&m| &problem.jobs[problem.items[m].job])
        .collect();
    let mut signatures: BTreeMap<ControlSet, usize> = BTreeMap::new();
    for j in &jobs {
        *signatures.entry(j.signature()).or_default() += 1;
    }
    let family = profile.family(&jobs[0].config);
    let mut sentences = Vec::new();

    if count == 1 {
        sentences.push(if group_size == 1 {
            "Runs alone: no other queued job shares its model and process-wide settings \
             (steps, guidance, seed, sigma_max, blur, canny, fps, negative prompt)."
                .to_string()
        } else if mode == PlanMode::Strict {
            format!(
                "Runs alone: no other queued job with the same settings asks for exactly {}.",
                jobs[0].signature()
            )
        } else {
            "Runs alone: under the cost model, sharing a load with another batch would cost \
             more than it saves (or the compatible batches are full)."
                .to_string()
        });
    } else if signatures.len() == 1 {
        sentences.push(format!(
            "{} asking for {} share one model load.",
            plural(count, "job", "jobs"),
            jobs[0].signature()
        ));
    } else {
        let mix: Vec<String> = signatures
            .iter()
            .map(|(sig, k)| format!("{k}× {sig}"))
            .collect();
        sentences.push(if profile.runs_every_loaded_branch() {
            format!(
                "Mixed controls ({}) share one load of {}; each job gets weight 0 for the \
                 controls it did not ask for (its own input video stands in as their control \
                 video, so nothing is generated for them), at {:.0} s of extra control compute.",
                mix.join(", "),
                n.loaded,
                n.overhead
            )
        } else {
            format!(
                "Mixed controls ({}) share one load of {}; each job runs only its own branches.",
                mix.join(", "),
                n.loaded
            )
        });
    }
    if let Some(why) = family_reason(profile, family) {
        sentences.push(why);
    }

    if n.batch_size > 1 {
        sentences.push(format!(
            "Identical weights, frame count and aspect bucket: one batched forward pass \
             (--batch_size {}).",
            n.batch_size
        ));
    } else if count > 1 && !profile.batched_pass() {
        sentences.push(
            "This executor runs a batch's jobs one after another on the loaded model; each \
             keeps its own settings."
                .to_string(),
        );
    } else if count > 1 {
        let first = jobs[0];
        let what = if jobs.iter().any(|j| j.config.weights_differ(&first.config)) {
            "weights"
        } else if jobs.iter().any(|j| j.frames != first.frames) {
            "frame counts"
        } else {
            "aspect buckets"
        };
        sentences.push(format!(
            "Their {what} differ, so they run one after another on the loaded model \
             (--batch_size 1) and each keeps its own settings."
        ));
    }
    sentences.extend(settings_reasons(profile, &jobs));

    let safe = safe_batch_size(n.loaded.len(), u32::MAX) as usize;
    let cap = problem.capacity(n.loaded);
    let learned = problem
        .limits
        .learned_caps
        .get(n.loaded.len())
        .map(|c| c as usize);
    if count > 1 && count == cap {
        if learned == Some(cap) && cap < safe.min(problem.limits.max_batch_size as usize) {
            sentences.push(format!(
                "Full at {cap}, the size learned after running out of GPU memory with {}.",
                plural(n.loaded.len(), "control", "controls")
            ));
        } else if cap < safe {
            sentences.push(format!("Full at your max batch size of {cap}."));
        } else {
            sentences.push(format!(
                "Full at the safe size of {cap} for {}.",
                plural(n.loaded.len(), "control", "controls")
            ));
        }
    }
    if count > 1 {
        sentences.push(format!(
            "Estimated {:.0} s instead of {:.0} s run separately.",
            n.estimate, n.sequential
        ));
    }
    sentences.join(" ")
}

/// Why jobs of this model share a process only with each other, where that is a rule.
fn family_reason(profile: Profile, family: Family) -> Option<String> {
    Some(match family {
        Family::General => return None,
        Family::Av | Family::DistilledEdge => format!(
            "On {}: its jobs share a process only with jobs for the same model.",
            family.describe()
        ),
        Family::Single(c) => format!(
            "On {}: a one-control job shares a process only with jobs of the same single \
             control ({profile}'s multibranch model is not strictly equal to the {c} model).",
            family.describe()
        ),
        Family::Multi => format!(
            "On {}: it loads them whatever the weights, so it costs the same whichever \
             controls it serves.",
            family.describe()
        ),
    })
}

/// What the program does with settings the jobs left out, and with their weights.
fn settings_reasons(profile: Profile, jobs: &[&super::PlanJob]) -> Vec<String> {
    let mut sentences = Vec::new();
    let defaults = profile.resolve(&crate::job::JobConfig::default());
    let mut left: Vec<String> = Vec::new();
    if jobs.iter().any(|j| j.config.sigma_max.is_none()) {
        left.push(match defaults.sigma_max {
            Some(s) => format!("sigma_max {s}"),
            None => "no sigma_max (generation starts from noise)".into(),
        });
    }
    if jobs.iter().any(|j| j.config.fps.is_none()) {
        left.push(match defaults.fps {
            Some(f) => format!("fps {f}"),
            None => "the input video's fps".into(),
        });
    }
    if !left.is_empty() {
        sentences.push(format!(
            "Settings left out run with the program default: {}.",
            left.join(", ")
        ));
    }
    let changed = jobs
        .iter()
        .filter(|j| {
            let asked = j.config.weights.iter().filter(|(_, w)| **w > 0.0);
            !asked.eq(profile.effective_weights(&j.config).iter())
        })
        .count();
    if changed > 0 {
        sentences.push(format!(
            "{} with other weights than asked: the program divides a job's weights by their \
             sum when it is above 1 and runs them in bfloat16 (see effective_weights).",
            if changed == 1 {
                "1 job runs".to_string()
            } else {
                format!("{changed} jobs run")
            }
        ));
    }
    sentences
}
