//! The Smart Batching panel (shown while the queue is paused): the plan of the queued jobs,
//! computed live in the browser with the shared engine and the daemon's cost model, and
//! "Execute Smart Batch", which runs exactly that plan once the daemon confirms its plan id.

use super::badges::ControlList;
use crate::api::{self, ApiError};
use crate::model::{self, format_seconds, format_speedup, short_id};
use crate::preview;
use crate::store::use_store;
use cosmosq_shared::api::{ExecuteReply, Job};
use cosmosq_shared::plan::{Plan, PlannedBatch};
use cosmosq_shared::ErrorCode;
use leptos::prelude::*;
use std::collections::HashMap;

/// How "Execute Smart Batch" ended, short of an error.
#[derive(Clone)]
enum Outcome {
    Started(ExecuteReply),
    /// The daemon's plan for the same mode is not the one shown (or went stale meanwhile).
    Differs {
        message: String,
        daemon: Plan,
    },
}

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or_default()
}

#[component]
pub fn SmartBatching() -> impl IntoView {
    let store = use_store();
    let compute_ms = RwSignal::new(0.0);
    // Recomputed whenever the queue, its settings, the prompts or the cost model change.
    let plan = Memo::new(move |_| {
        let cost = store
            .cost
            .with(|c| c.as_ref().map(|c| c.cost_model.clone()))?;
        let started = now_ms();
        let plan = store.queue.with(|q| {
            let q = q.as_ref()?;
            Some(
                store
                    .prompt_index
                    .with(|index| preview::preview_plan(q, index, &cost)),
            )
        });
        compute_ms.set(now_ms() - started);
        plan
    });
    let jobs_by_id = Memo::new(move |_| {
        store.queue.with(|q| {
            q.as_ref()
                .map(|q| {
                    q.jobs
                        .iter()
                        .map(|j| (j.id.clone(), j.clone()))
                        .collect::<HashMap<_, _>>()
                })
                .unwrap_or_default()
        })
    });
    let outcome = RwSignal::new(None::<Outcome>);

    let execute = Action::new_local(|shown: &Plan| {
        let shown = shown.clone();
        async move {
            let daemon = api::preview(shown.mode).await?;
            if daemon.plan_id != shown.plan_id {
                return Ok(Outcome::Differs {
                    message: "The daemon plans this queue differently from the preview shown \
                              (the queue or the prompts changed meanwhile). Nothing was started: \
                              review the daemon's plan below."
                        .into(),
                    daemon,
                });
            }
            run(&daemon.plan_id).await
        }
    });
    let execute_daemon = Action::new_local(|plan_id: &String| {
        let plan_id = plan_id.clone();
        async move { run(&plan_id).await }
    });
    let handle = move |result: Option<Result<Outcome, ApiError>>| match result {
        Some(Ok(o)) => {
            if let Outcome::Started(reply) = &o {
                store.info(format!(
                    "Started {} of plan {}.",
                    model::plural(reply.batches.len(), "batch"),
                    short_id(&reply.plan_id)
                ));
                store.batches.update(|list| {
                    for b in reply.batches.iter().rev() {
                        if !list.iter().any(|x| x.id == b.id) {
                            list.insert(0, b.clone());
                        }
                    }
                });
                store.reload_queue();
            }
            outcome.set(Some(o));
        }
        Some(Err(e)) => {
            outcome.set(None);
            store.error(&e);
        }
        None => {}
    };
    Effect::new(move |_| handle(execute.value().get()));
    Effect::new(move |_| handle(execute_daemon.value().get()));
    let busy = move || execute.pending().get() || execute_daemon.pending().get();

    view! {
        <section class="card smart-batching" id="smart-batching">
            <div class="card-head">
                <h2>"⚡ Smart Batching"</h2>
                <span class="hint">
                    {move || {
                        let ms = compute_ms.get();
                        let took = if ms < 0.1 { "under 0.1 ms".to_string() } else { format!("{ms:.1} ms") };
                        let fit = store.cost.with(|c| match c {
                            Some(c) if c.samples > 0 => format!(
                                " (fitted to {}, mean error {:.0} %)",
                                model::plural(c.samples, "batch"),
                                c.mean_error * 100.0,
                            ),
                            _ => String::new(),
                        });
                        format!("planned in your browser in {took} with the daemon's cost model{fit}")
                    }}
                </span>
            </div>
            {move || match plan.get() {
                None => view! { <p class="empty">"Loading the queue and the cost model…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error">"The queue cannot be planned: " {e}</p> }.into_any(),
                Some(Ok(p)) => view! { <PlanView plan=p.clone() jobs=jobs_by_id.get()/> }.into_any(),
            }}
            {move || outcome.get().map(|o| match o {
                Outcome::Started(reply) => view! {
                    <p class="plan-message ok" id="plan-message">
                        {format!(
                            "Plan {} started: {} sent to the executor; progress shows above.",
                            short_id(&reply.plan_id),
                            model::plural(reply.batches.len(), "batch"),
                        )}
                    </p>
                }.into_any(),
                Outcome::Differs { message, daemon } => {
                    let id = daemon.plan_id.clone();
                    view! {
                        <div class="plan-message warn" id="plan-message" role="alert">
                            <p>{message}</p>
                            <h3>"The daemon's plan"</h3>
                            <PlanView plan=daemon jobs=jobs_by_id.get_untracked()/>
                            <button
                                class="primary"
                                id="execute-daemon-plan"
                                disabled=busy
                                on:click=move |_| { execute_daemon.dispatch(id.clone()); }
                            >
                                "Execute the daemon's plan"
                            </button>
                        </div>
                    }.into_any()
                }
            })}
            <div class="actions">
                <button
                    class="primary big"
                    id="execute-smart-batch"
                    disabled=move || busy() || !matches!(plan.get(), Some(Ok(ref p)) if !p.batches.is_empty())
                    on:click=move |_| {
                        if let Some(Ok(p)) = plan.get_untracked() {
                            outcome.set(None);
                            execute.dispatch(p);
                        }
                    }
                >
                    {move || if busy() { "Starting…" } else { "Execute Smart Batch" }}
                </button>
            </div>
        </section>
    }
}

async fn run(plan_id: &str) -> Result<Outcome, ApiError> {
    match api::execute(plan_id).await {
        Ok(reply) => Ok(Outcome::Started(reply)),
        Err(e) if e.code == Some(ErrorCode::StalePlan) => match e.fresh_plan.clone() {
            Some(daemon) => Ok(Outcome::Differs {
                message: e.plain(),
                daemon,
            }),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// A plan: its totals and each batch with its jobs and the reason it was formed.
#[component]
fn PlanView(plan: Plan, jobs: HashMap<String, Job>) -> impl IntoView {
    let store = use_store();
    let m = plan.metrics;
    if plan.batches.is_empty() && plan.excluded.is_empty() {
        return view! {
            <p class="empty" id="plan-empty">"Nothing to batch: no queued jobs are waiting."</p>
        }
        .into_any();
    }
    let job_label = move |id: &str| -> (String, String) {
        match jobs.get(id) {
            Some(j) => {
                let name = store
                    .prompt_index
                    .with_untracked(|p| p.get(&j.prompt_id).map(|p| p.name.clone()))
                    .unwrap_or_else(|| j.prompt_id.clone());
                let controls = model::active_controls(&j.config)
                    .into_iter()
                    .map(|(c, w)| format!("{c} {w}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let pos = j.position.map(|p| format!("#{p} ")).unwrap_or_default();
                (format!("{pos}{name}"), controls)
            }
            None => (short_id(id).to_string(), String::new()),
        }
    };
    view! {
        <div class="plan" data-plan-id=plan.plan_id.clone() data-mode=plan.mode.as_str()>
            <div class="stats">
                <div class="stat">
                    <span class="stat-value" id="plan-grouping">
                        {format!(
                            "{} → {}",
                            model::plural(m.job_count, "job"),
                            model::plural(m.batch_count, "batch"),
                        )}
                    </span>
                    <span class="stat-label">{format!("{} mode", plan.mode)}</span>
                </div>
                <div class="stat accent">
                    <span class="stat-value" id="plan-speedup">{format_speedup(m.speedup)}</span>
                    <span class="stat-label">"estimated speedup"</span>
                </div>
                <div class="stat">
                    <span class="stat-value">{format_seconds(m.estimated_batched_seconds)}</span>
                    <span class="stat-label">
                        {format!("instead of {} one by one", format_seconds(m.estimated_sequential_seconds))}
                    </span>
                </div>
                <div class="stat">
                    <span class="stat-value">{format_seconds(m.control_overhead_seconds)}</span>
                    <span class="stat-label">"control overhead"</span>
                </div>
            </div>
            <ol class="planned-batches">
                {plan
                    .batches
                    .into_iter()
                    .enumerate()
                    .map(|(i, b): (usize, PlannedBatch)| {
                        let size = b.batch_size;
                        view! {
                            <li class="planned-batch">
                                <div class="planned-head">
                                    <strong>{format!("Batch {}", i + 1)}</strong>
                                    <span class="muted">{model::plural(b.job_ids.len(), "job")}</span>
                                    <span class="loads">"loads " <ControlList controls=b.controls/></span>
                                    <span class="muted" title="--batch_size passed to the program">
                                        {format!("batch_size {size}")}
                                    </span>
                                    <span class="estimate">{format!("≈ {}", format_seconds(b.estimated_seconds))}</span>
                                </div>
                                <p class="reason">{b.reason}</p>
                                <ul class="batch-jobs">
                                    {b.job_ids
                                        .iter()
                                        .map(|id| {
                                            let (name, controls) = job_label(id);
                                            let runs = b.effective_weights.get(id).map(|w| {
                                                format!("runs with {}", model::weights_line(w))
                                            });
                                            view! {
                                                <li title=id.clone()>
                                                    <span>{name}</span>
                                                    <span class="muted">{controls}</span>
                                                    {runs.map(|r| view! {
                                                        <span class="runs-with" title="The program divides weights summing above 1 by their sum and runs them in bfloat16">{r}</span>
                                                    })}
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                            </li>
                        }
                    })
                    .collect_view()}
            </ol>
            {(!plan.excluded.is_empty()).then(|| view! {
                <div class="excluded">
                    <h3>"Run alone"</h3>
                    <ul>
                        {plan.excluded.into_iter().map(|x| {
                            let (name, _) = job_label(&x.job_id);
                            view! { <li><strong>{name}</strong>": " {x.reason}</li> }
                        }).collect_view()}
                    </ul>
                </div>
            })}
        </div>
    }
    .into_any()
}
