//! The queue (Active Jobs): jobs in the order they run, with move and cancel; the Pause and
//! Mix Control Inputs toggles; running batches with their progress and log; and, while
//! paused, the Smart Batching panel.

use crate::api::{self, ApiResult};
use crate::components::badges::{ControlBadges, JobStatusBadge};
use crate::components::batch_progress::BatchProgress;
use crate::components::smart_batching::SmartBatching;
use crate::model::{self, short_id};
use crate::routes;
use crate::store::{use_store, Store};
use cosmosq_shared::api::{Job, JobFilter, JobStatus, QueueSettingsPatch, QueueView};
use leptos::prelude::*;
use leptos_router::components::A;

/// What the selection bar asks for.
#[derive(Clone)]
enum BulkOp {
    Cancel(Vec<String>),
    Top(Vec<String>),
    CancelQueued,
}

/// What a row's buttons ask for.
#[derive(Clone)]
enum JobOp {
    MoveTo(u32),
    Cancel,
}

/// An action whose reply is the queue view (pause, resume, settings).
fn queue_action<
    I: Clone + 'static,
    F: std::future::Future<Output = ApiResult<QueueView>> + 'static,
>(
    store: Store,
    f: impl Fn(I) -> F + 'static,
) -> Action<I, ApiResult<QueueView>> {
    let action = Action::new_local(move |input: &I| f(input.clone()));
    Effect::new(move |_| match action.value().get() {
        Some(Ok(view)) => store.set_queue(view),
        Some(Err(e)) => store.error(&e),
        None => {}
    });
    action
}

#[component]
pub fn QueuePage() -> impl IntoView {
    let store = use_store();
    let paused = move || store.queue.with(|q| q.as_ref().is_some_and(|q| q.paused));
    let mix = move || {
        store
            .queue
            .with(|q| q.as_ref().is_some_and(|q| q.settings.mix_controls))
    };
    let toggle_pause = queue_action(store, |pause: bool| async move {
        if pause {
            api::pause().await
        } else {
            api::resume().await
        }
    });
    let toggle_mix = queue_action(store, |mix: bool| async move {
        api::update_settings(&QueueSettingsPatch {
            mix_controls: Some(mix),
            ..Default::default()
        })
        .await
    });
    let job_op = Action::new_local(|(id, op): &(String, JobOp)| {
        let (id, op) = (id.clone(), op.clone());
        async move {
            match op {
                JobOp::MoveTo(p) => api::move_job(&id, p).await,
                JobOp::Cancel => api::cancel_job(&id).await,
            }
        }
    });
    Effect::new(move |_| match job_op.value().get() {
        Some(Ok(job)) => {
            store.patch_job(job);
            store.reload_queue();
        }
        Some(Err(e)) => store.error(&e),
        None => {}
    });
    // Several jobs at once: the selection, and what the bar does with it.
    let selected = RwSignal::new(std::collections::BTreeSet::<String>::new());
    let confirm_all = RwSignal::new(false);
    let bulk = Action::new_local(|op: &BulkOp| {
        let op = op.clone();
        async move {
            match op {
                BulkOp::Cancel(ids) => api::bulk_cancel(&JobFilter {
                    ids: Some(ids),
                    ..Default::default()
                })
                .await
                .map(|r| r.jobs.len()),
                BulkOp::CancelQueued => api::bulk_cancel(&JobFilter {
                    status: Some(JobStatus::Queued),
                    ..Default::default()
                })
                .await
                .map(|r| r.jobs.len()),
                // Last first, each to the top: they keep their order, ahead of the rest.
                BulkOp::Top(ids) => {
                    for id in ids.iter().rev() {
                        api::move_job(id, 1).await?;
                    }
                    Ok(ids.len())
                }
            }
        }
    });
    Effect::new(move |_| match bulk.value().get() {
        Some(Ok(n)) => {
            selected.set(Default::default());
            confirm_all.set(false);
            store.info(format!("{} changed.", model::plural(n, "job")));
            store.reload_queue();
        }
        Some(Err(e)) => store.error(&e),
        None => {}
    });
    let jobs = Memo::new(move |_| {
        store.queue.with(|q| {
            q.as_ref()
                .map(|q| {
                    q.jobs
                        .iter()
                        .filter(|j| matches!(j.status, JobStatus::Queued | JobStatus::Running))
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    let queued_count = move || {
        store
            .queue
            .with(|q| q.as_ref().map_or(0, |q| q.counts.queued))
    };
    let prompt_name = move |id: &str| {
        store
            .prompt_index
            .with(|p| p.get(id).map(|p| p.name.clone()))
            .unwrap_or_else(|| id.to_string())
    };

    view! {
        <div class="page-head">
            <div>
                <h1>"Queue"</h1>
                <p class="sub">
                    {move || store.queue.with(|q| q.as_ref().map(|q| format!(
                        "{} queued · {} running · {} succeeded · {} failed · {} canceled",
                        q.counts.queued, q.counts.running, q.counts.succeeded, q.counts.failed, q.counts.canceled,
                    )))}
                </p>
            </div>
            <div class="toggles">
                <label class="switch" id="pause-switch" title="Pause: the running batch finishes, then nothing new starts">
                    <input
                        type="checkbox"
                        id="pause-toggle"
                        prop:checked=paused
                        disabled=move || toggle_pause.pending().get()
                        on:change=move |ev| { toggle_pause.dispatch(event_target_checked(&ev)); }
                    />
                    <span class="slider"></span>
                    <span>"Pause"</span>
                </label>
                <label class="switch" id="mix-switch" title="Allow batching jobs with different controls">
                    <input
                        type="checkbox"
                        id="mix-toggle"
                        prop:checked=mix
                        disabled=move || toggle_mix.pending().get()
                        on:change=move |ev| { toggle_mix.dispatch(event_target_checked(&ev)); }
                    />
                    <span class="slider"></span>
                    <span>
                        "Mix Control Inputs"
                        <span class="hint block">"allow batching jobs with different controls"</span>
                    </span>
                </label>
            </div>
        </div>
        {move || store.queue.with(|q| q.as_ref().filter(|q| q.paused).map(|q| view! {
            <div class="banner paused" id="paused-banner">
                <strong>"Paused"</strong>
                {q.paused_reason.clone().map(|r| format!(" ({r})"))}
                ". Running batches finish; nothing new starts until you resume or execute a smart batch."
            </div>
        }))}
        <BatchProgress/>
        <Show when=paused>
            <SmartBatching/>
        </Show>
        <section class="card table-card">
            <div class="bulk-bar" id="queue-bulk-bar">
                <span class="muted" id="selected-count">
                    {move || match selected.with(|s| s.len()) {
                        0 => "Select jobs to act on several at once.".to_string(),
                        n => format!("{} selected", model::plural(n, "job")),
                    }}
                </span>
                <button id="cancel-selected" disabled=move || selected.with(|s| s.is_empty()) || bulk.pending().get()
                    on:click=move |_| { bulk.dispatch(BulkOp::Cancel(selected.get_untracked().into_iter().collect())); }>
                    "Cancel selected"
                </button>
                <button id="top-selected" disabled=move || selected.with(|s| s.is_empty()) || bulk.pending().get()
                    on:click=move |_| {
                        // In queue order.
                        let chosen = selected.get_untracked();
                        let ids: Vec<String> = jobs.get_untracked().into_iter().filter(|j| chosen.contains(&j.id)).map(|j| j.id).collect();
                        bulk.dispatch(BulkOp::Top(ids));
                    }>
                    "Move to top"
                </button>
                {move || if confirm_all.get() {
                    view! {
                        <button class="danger" id="confirm-cancel-all" on:click=move |_| { bulk.dispatch(BulkOp::CancelQueued); }>
                            {move || format!("Cancel all {} queued?", queued_count())}
                        </button>
                        <button id="keep-queued" on:click=move |_| confirm_all.set(false)>"Keep them"</button>
                    }.into_any()
                } else {
                    view! {
                        <button class="danger" id="cancel-all-queued" disabled=move || queued_count() == 0
                            on:click=move |_| confirm_all.set(true)>
                            "Cancel all queued"
                        </button>
                    }.into_any()
                }}
            </div>
            <table class="table" id="queue-table">
                <thead>
                    <tr>
                        <th class="select"></th>
                        <th class="num">"#"</th>
                        <th>"Prompt"</th>
                        <th>"Controls"</th>
                        <th>"Settings"</th>
                        <th>"Status"</th>
                        <th class="actions-col">"Move / cancel"</th>
                    </tr>
                </thead>
                <tbody>
                    <For
                        each=move || jobs.get()
                        key=|j| (j.id.clone(), j.status as u8, j.position, j.batch_id.clone())
                        children=move |j: Job| {
                            let id = j.id.clone();
                            let move_id = j.id.clone();
                            let movable = j.status == JobStatus::Queued && j.batch_id.is_none();
                            let pos = j.position.unwrap_or(0);
                            let op = move |op: JobOp| {
                                let id = id.clone();
                                move |_| { job_op.dispatch((id.clone(), op.clone())); }
                            };
                            view! {
                                <tr class="job-row" data-id=j.id.clone() class:running=j.status == JobStatus::Running>
                                    <td class="select">
                                        {
                                            let sid = j.id.clone();
                                            let cid = j.id.clone();
                                            view! {
                                                <input type="checkbox" class="select-job" aria-label="select this job"
                                                    prop:checked=move || selected.with(|s| s.contains(&cid))
                                                    on:change=move |ev| {
                                                        let on = event_target_checked(&ev);
                                                        selected.update(|s| { if on { s.insert(sid.clone()); } else { s.remove(&sid); } });
                                                    }/>
                                            }
                                        }
                                    </td>
                                    <td class="num">{j.position.map(|p| p.to_string()).unwrap_or_else(|| "▶".into())}</td>
                                    <td>
                                        <div class="name">{prompt_name(&j.prompt_id)}</div>
                                        <code class="muted" title=j.id.clone()>{short_id(&j.id).to_string()}</code>
                                        {(j.kind != cosmosq_shared::JobKind::Inference).then(|| view! { <span class="badge">{j.kind.as_str()}</span> })}
                                    </td>
                                    <td class="controls">
                                        <ControlBadges config=j.config.clone()/>
                                        {model::runs_with(&j).map(|r| view! {
                                            <span class="runs-with" title="The weights the program runs: it divides weights summing above 1 by their sum and runs them in bfloat16">{format!("runs with {r}")}</span>
                                        })}
                                    </td>
                                    <td class="muted small">
                                        {format!("{} steps · seed {} · guidance {}", j.config.num_steps, j.config.seed, j.config.guidance)}
                                    </td>
                                    <td>
                                        <JobStatusBadge status=j.status/>
                                        {j.batch_id.clone().filter(|_| j.status == JobStatus::Queued).map(|b| view! {
                                            <span class="muted small block" title=b.clone()>"in plan · " {short_id(&b).to_string()}</span>
                                        })}
                                        {(!j.waiting_for.is_empty()).then(|| {
                                            let ids = j.waiting_for.join(", ");
                                            let short: Vec<&str> = j.waiting_for.iter().map(|w| short_id(w)).collect();
                                            view! {
                                                <span class="muted small block waits-for" title=format!("waits for {ids}")>
                                                    {format!("waits for {}", short.join(", "))}
                                                </span>
                                            }
                                        })}
                                    </td>
                                    <td class="row-actions">
                                        <button class="icon move-top" title="Move to the top" disabled=!movable || pos <= 1 on:click=op(JobOp::MoveTo(1))>"⤒"</button>
                                        <button class="icon move-up" title="Move up" disabled=!movable || pos <= 1 on:click=op(JobOp::MoveTo(pos.saturating_sub(1).max(1)))>"↑"</button>
                                        <button class="icon move-down" title="Move down" disabled=move || { !movable || u64::from(pos) >= queued_count() } on:click=op(JobOp::MoveTo(pos + 1))>"↓"</button>
                                        <button class="icon move-bottom" title="Move to the bottom" disabled=move || { !movable || u64::from(pos) >= queued_count() } on:click=op(JobOp::MoveTo(u32::MAX))>"⤓"</button>
                                        <input
                                            class="move-to"
                                            type="number"
                                            min="1"
                                            step="1"
                                            placeholder="#"
                                            title="Move to this position (Enter)"
                                            aria-label="Move to position"
                                            disabled=!movable
                                            on:change=move |ev| {
                                                if let Ok(to) = event_target_value(&ev).trim().parse::<u32>() {
                                                    if to >= 1 && to != pos {
                                                        job_op.dispatch((move_id.clone(), JobOp::MoveTo(to)));
                                                    }
                                                }
                                            }
                                        />
                                        <button class="icon danger cancel" title="Cancel this job" on:click=op(JobOp::Cancel)>"✕"</button>
                                    </td>
                                </tr>
                            }
                        }
                    />
                </tbody>
            </table>
            <Show when=move || jobs.with(Vec::is_empty)>
                <p class="empty">
                    {move || if store.queue.with(Option::is_some) {
                        view! { "The queue is empty. Add jobs from the " <A href=routes::PROMPTS>"Prompts"</A> " page." }.into_any()
                    } else {
                        "Loading the queue…".into_any()
                    }}
                </p>
            </Show>
        </section>
    }
}
