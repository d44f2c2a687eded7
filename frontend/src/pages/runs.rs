//! Runs: finished jobs (succeeded, failed, canceled) with their output video, settings, batch,
//! estimated vs measured seconds (and where the cost model says the time went) and errors;
//! filters by status, text and prompt; retry; select several to retry, delete or compare.

use crate::api;
use crate::components::badges::{ControlBadges, JobStatusBadge};
use crate::components::video::OutputVideo;
use crate::insights::{self, index_jobs};
use crate::model::{self, format_bytes, format_seconds, short_id, RunFilter};
use crate::routes;
use crate::store::use_store;
use cosmosq_shared::api::{Batch, Job, JobStatus};
use cosmosq_shared::Profile;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

const PAGE: usize = 30;

#[component]
pub fn RunsPage() -> impl IntoView {
    let store = use_store();
    let query = use_query_map();
    let status = RwSignal::new(None::<JobStatus>);
    let text = RwSignal::new(String::new());
    let prompt_id = RwSignal::new(query.with_untracked(|q| q.get("prompt")));
    let shown = RwSignal::new(PAGE);
    let runs = Memo::new(move |_| {
        let filter = RunFilter {
            status: status.get(),
            text: text.get(),
            prompt_id: prompt_id.get(),
        };
        store.prompt_index.with(|prompts| {
            store
                .jobs
                .with(|jobs| model::filter_runs(jobs, prompts, &filter))
        })
    });
    let retry = Action::new_local(|id: &String| {
        let id = id.clone();
        async move { api::retry_job(&id).await }
    });
    Effect::new(move |_| match retry.value().get() {
        Some(Ok(job)) => {
            store.info(format!("Job {} is queued again.", short_id(&job.id)));
            store.patch_job(job);
            store.reload_queue();
        }
        Some(Err(e)) => store.error(&e),
        None => {}
    });
    // Several runs at once: retry or delete the selected.
    let selected = RwSignal::new(std::collections::BTreeSet::<String>::new());
    let bulk = Action::new_local(|(retry, ids): &(bool, Vec<String>)| {
        let (retry, ids) = (*retry, ids.clone());
        async move {
            if retry {
                api::bulk_retry(&cosmosq_shared::api::JobFilter {
                    ids: Some(ids),
                    ..Default::default()
                })
                .await
                .map(|r| r.jobs.len())
            } else {
                for id in &ids {
                    api::delete_job(id).await?;
                }
                Ok(ids.len())
            }
        }
    });
    Effect::new(move |_| match bulk.value().get() {
        Some(Ok(n)) => {
            selected.set(Default::default());
            store.info(format!("{} changed.", model::plural(n, "run")));
            store.reload_queue();
            store.reload_jobs();
        }
        Some(Err(e)) => store.error(&e),
        None => {}
    });
    // Compare: the selected runs that have an output video (succeeded), in the list's order.
    let comparable = Memo::new(move |_| {
        let chosen = selected.get();
        runs.with(|r| {
            r.iter()
                .filter(|j| chosen.contains(&j.id) && j.status == JobStatus::Succeeded)
                .map(|j| j.id.clone())
                .collect::<Vec<_>>()
        })
    });
    let navigate = use_navigate();
    let compare = move |_| {
        let ids = comparable.get_untracked();
        if ids.len() >= 2 {
            navigate(&routes::compare(&ids), Default::default());
        }
    };
    let prompt_label = move || {
        let id = prompt_id.get()?;
        Some(
            store
                .prompt_index
                .with(|p| p.get(&id).map(|p| p.name.clone()))
                .unwrap_or(id),
        )
    };

    // Disk use, read when the page opens.
    let storage = RwSignal::new(None::<cosmosq_shared::api::StorageView>);
    leptos::task::spawn_local(async move {
        if let Ok(s) = crate::api::disk_use().await {
            storage.set(Some(s));
        }
    });

    view! {
        <div class="page-head">
            <div>
                <h1>"Runs"</h1>
                <p class="sub">"Finished jobs with their outputs, newest first."</p>
                {move || storage.get().map(|s| {
                    let line = format!(
                        "Outputs {} · logs {} · store {} · {} free of {}",
                        format_bytes(s.outputs_bytes),
                        format_bytes(s.logs_bytes),
                        format_bytes(s.store_bytes),
                        format_bytes(s.free_bytes),
                        format_bytes(s.total_bytes),
                    );
                    let retention = match (s.keep_days, s.max_output_bytes) {
                        (None, None) => String::new(),
                        (days, max) => format!(
                            " · retention: {}{}",
                            days.map(|d| format!("{d} days")).unwrap_or_default(),
                            max.map(|m| format!(" {} max", format_bytes(m))).unwrap_or_default(),
                        ),
                    };
                    view! {
                        <p class="sub storage" id="storage" class:warn=s.low_disk>
                            {line}{retention}
                            {s.low_disk.then_some(" — the disk is running low: delete or pin runs, or set [retention]")}
                        </p>
                    }
                })}
            </div>
            <div class="filters">
                {move || prompt_label().map(|name| view! {
                    <span class="chip" id="prompt-filter">
                        "Prompt: " {name}
                        <button class="link-button" title="Show every prompt" on:click=move |_| prompt_id.set(None)>"✕"</button>
                    </span>
                })}
                <select
                    id="status-filter"
                    aria-label="Status"
                    on:change=move |ev| status.set(event_target_value(&ev).parse().ok())
                >
                    <option value="">"All finished"</option>
                    <option value="succeeded">"Succeeded"</option>
                    <option value="failed">"Failed"</option>
                    <option value="canceled">"Canceled"</option>
                </select>
                <input
                    type="search"
                    id="text-filter"
                    placeholder="Search prompt, id, error…"
                    bind:value=text
                />
            </div>
        </div>
        <div class="bulk-bar" id="runs-bulk-bar">
            <span class="muted" id="runs-selected-count">
                {move || match selected.with(|s| s.len()) {
                    0 => "Select runs to retry or delete several at once.".to_string(),
                    n => format!("{} selected", model::plural(n, "run")),
                }}
            </span>
            <button id="retry-selected" disabled=move || selected.with(|s| s.is_empty()) || bulk.pending().get()
                on:click=move |_| { bulk.dispatch((true, selected.get_untracked().into_iter().collect())); }>
                "Retry selected"
            </button>
            <button class="danger" id="delete-selected" disabled=move || selected.with(|s| s.is_empty()) || bulk.pending().get()
                on:click=move |_| { bulk.dispatch((false, selected.get_untracked().into_iter().collect())); }>
                "Delete selected"
            </button>
            <button class="primary" id="compare-selected"
                title="Their output videos side by side, in sync, with the settings that differ"
                disabled=move || comparable.with(|c| c.len() < 2)
                on:click=compare>
                {move || match comparable.with(Vec::len) {
                    n if n >= 2 => format!("Compare {n}"),
                    _ => "Compare".to_string(),
                }}
            </button>
        </div>
        <div class="runs" id="runs-list">
            <For
                each=move || runs.get().into_iter().take(shown.get())
                key=|j| (j.id.clone(), j.status as u8, j.finished_at.clone())
                children=move |j: Job| {
                    view! { <RunCard job=j selected=selected on_retry=move |id| { retry.dispatch(id); }/> }
                }
            />
            <Show when=move || runs.with(Vec::is_empty)>
                <p class="empty card">
                    {move || if store.loaded.get() { "No finished runs match." } else { "Loading runs…" }}
                </p>
            </Show>
            <Show when=move || runs.with(|r| r.len() > shown.get())>
                <button class="more" on:click=move |_| shown.update(|s| *s += PAGE)>
                    {move || format!("Show more ({} left)", runs.with(|r| r.len()) - shown.get())}
                </button>
            </Show>
        </div>
    }
}

#[component]
fn RunCard(
    job: Job,
    selected: RwSignal<std::collections::BTreeSet<String>>,
    on_retry: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let store = use_store();
    let prompt = store
        .prompt_index
        .with_untracked(|p| p.get(&job.prompt_id).cloned());
    let name = prompt
        .as_ref()
        .map(|p| p.name.clone())
        .unwrap_or_else(|| job.prompt_id.clone());
    let video = job
        .outputs
        .video
        .clone()
        .filter(|_| job.status == JobStatus::Succeeded);
    let retryable = matches!(job.status, JobStatus::Failed | JobStatus::Canceled);
    let id = job.id.clone();
    view! {
        <article class="card run-card" data-id=job.id.clone() data-status=job.status.as_str()>
            <div class="run-media">
                {match video {
                    Some(_) => view! { <OutputVideo job_id=job.id.clone()/> }.into_any(),
                    None => view! {
                        <div class=format!("output-video placeholder s-{}", job.status)>
                            {match job.status {
                                JobStatus::Failed => "No output: the job failed",
                                JobStatus::Canceled => "No output: canceled",
                                _ => "No output video",
                            }}
                        </div>
                    }.into_any(),
                }}
            </div>
            <div class="run-body">
                <div class="run-head">
                    {
                        let (sid, cid) = (job.id.clone(), job.id.clone());
                        view! {
                            <input type="checkbox" class="select-run" aria-label="select this run"
                                prop:checked=move || selected.with(|s| s.contains(&cid))
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    selected.update(|s| { if on { s.insert(sid.clone()); } else { s.remove(&sid); } });
                                }/>
                        }
                    }
                    <h3>{name}</h3>
                    <JobStatusBadge status=job.status/>
                    <code class="muted" title=job.id.clone()>{short_id(&job.id).to_string()}</code>
                    <span class="muted small">{job.finished_at.clone().map(|t| t.replace('T', " ").trim_end_matches('Z').to_string())}</span>
                </div>
                <div class="controls">
                    <ControlBadges config=job.config.clone()/>
                    {model::runs_with(&job).map(|r| view! {
                        <span class="runs-with" title="The weights the program ran: it divides weights summing above 1 by their sum and runs them in bfloat16">{format!("ran with {r}")}</span>
                    })}
                </div>
                <p class="muted small">{model::settings_line(&job.config)}</p>
                <dl class="facts">
                    <BatchFacts batch_id=job.batch_id.clone()/>
                    <dt>"Attempts"</dt>
                    <dd>{job.attempts}</dd>
                    {job.batch_id.clone().map(|b| {
                        let file = job.outputs.log.clone();
                        view! {
                            <dt>"Log"</dt>
                            <dd>
                                <a class="log-link" href=routes::log(&b, Some(&job.id))>"This job's lines"</a>
                                " · "
                                <a class="log-link batch-log-link" href=routes::log(&b, None)>"the whole batch"</a>
                                {file.map(|l| view! { " " <code class="muted small">{l}</code> })}
                            </dd>
                        }
                    })}
                    {job.outputs.video.clone().map(|v| view! { <dt>"Output"</dt><dd><code>{v}</code></dd> })}
                </dl>
                {job.error.clone().map(|e| view! {
                    <div class="error-box">
                        <code class="error-code">{e.code.as_str()}</code>
                        <span>{e.message}</span>
                    </div>
                })}
                {retryable.then(|| view! {
                    <div class="actions">
                        <button class="retry" on:click=move |_| on_retry(id.clone())>"Retry"</button>
                    </div>
                })}
            </div>
        </article>
    }
}

/// The batch a job ran in: its shape and reason, estimated vs measured seconds (from the
/// store, so they show as soon as the batches are loaded).
#[component]
fn BatchFacts(batch_id: Option<String>) -> impl IntoView {
    let store = use_store();
    let id = batch_id.clone();
    let batch = Memo::new(move |_| {
        let id = id.as_ref()?;
        store
            .batches
            .with(|list| list.iter().find(|b| &b.id == id).cloned())
    });
    let fallback = batch_id.as_deref().map(short_id).unwrap_or("–").to_string();
    view! {
        <dt>"Batch"</dt>
        <dd>
            {move || match batch.get() {
                Some(b) => view! {
                    {format!(
                        "{} · {} · {} · batch_size {}",
                        short_id(&b.id),
                        b.mode,
                        model::plural(b.job_ids.len(), "job"),
                        b.batch_size,
                    )}
                    <p class="muted small">{b.reason.clone()}</p>
                }
                    .into_any(),
                None => fallback.clone().into_any(),
            }}
        </dd>
        <dt>"Time"</dt>
        <dd class="timing">
            {move || match batch.get() {
                Some(b) => timing(&b),
                None => "–".into(),
            }}
            {move || batch.get().map(|b| view! { <TimeBreakdown batch=b/> })}
        </dd>
    }
}

/// Where a batch's time went by the daemon's cost model (start-up, control loads, compute,
/// control-video generation; each job's part), beside the measured seconds.
#[component]
fn TimeBreakdown(batch: Batch) -> impl IntoView {
    let store = use_store();
    let measured = batch.measured_seconds;
    let scaled = batch.executor == Profile::Simulated;
    let split = move || {
        let cost = store
            .cost
            .with(|c| c.as_ref().map(|c| c.cost_model.clone()))?;
        store.jobs.with(|jobs| {
            store
                .prompt_index
                .with(|p| insights::breakdown(&batch, &index_jobs(jobs), p, &cost))
        })
    };
    move || {
        split().map(|d| {
            let e = d.estimate;
            let parts = [
                ("startup", "start-up", e.startup_seconds),
                ("load", "control loads", e.load_seconds),
                ("compute", "compute", e.compute_seconds),
                ("preprocess", "control videos", e.preprocess_seconds),
            ];
            // Both bars on one scale (a simulated run is scaled down: its own scale then).
            let full = if scaled {
                e.total_seconds
            } else {
                e.total_seconds.max(measured.unwrap_or(0.0))
            }
            .max(1e-9);
            let width = |s: f64| format!("width: {:.2}%", (s / full * 100.0).clamp(0.0, 100.0));
            let per_job = d.per_job.clone();
            view! {
                <div class="time-breakdown" title="By the daemon's current cost model">
                    <div class="tb-row">
                        <span class="tb-name">"model"</span>
                        <div class="tb-bar">
                            {parts.iter().filter(|p| p.2 > 0.0).map(|(key, label, s)| view! {
                                <span class=format!("tb-part tb-{key}") style=width(*s)
                                    title=format!("{label}: {}", format_seconds(*s))></span>
                            }).collect_view()}
                        </div>
                        <span class="tb-total">{format!("≈ {}", format_seconds(e.total_seconds))}</span>
                    </div>
                    {measured.map(|m| view! {
                        <div class="tb-row">
                            <span class="tb-name">"measured"</span>
                            <div class="tb-bar">
                                <span class="tb-part tb-measured" style=if scaled { "width: 100%".to_string() } else { width(m) }></span>
                            </div>
                            <span class="tb-total">{format_seconds(m)}{scaled.then_some(" (scaled)")}</span>
                        </div>
                    })}
                    <div class="tb-legend">
                        {parts.iter().map(|(key, label, s)| view! {
                            <span><i class=format!("tb-{key}")></i>{format!("{label} {}", format_seconds(*s))}</span>
                        }).collect_view()}
                    </div>
                    {(per_job.len() > 1).then(|| view! {
                        <p class="muted small tb-jobs">
                            "Per job (compute + control videos): "
                            {per_job.iter().map(|(id, s)| format!("{} {}", short_id(id), format_seconds(*s))).collect::<Vec<_>>().join(" · ")}
                        </p>
                    })}
                </div>
            }
        })
    }
}

fn timing(b: &Batch) -> String {
    format!(
        "estimated {} · measured {} (whole batch){}",
        format_seconds(b.estimated_seconds),
        b.measured_seconds
            .map(format_seconds)
            .unwrap_or_else(|| "–".into()),
        if b.executor == Profile::Simulated {
            " · simulated executor: time scaled down"
        } else {
            ""
        },
    )
}
