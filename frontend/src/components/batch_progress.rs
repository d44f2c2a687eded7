//! Batches at work: progress, elapsed vs estimated time and the live log tail of each pending
//! or running batch, then the most recent finished ones with estimate vs measured seconds.

use super::badges::{BatchStatusBadge, ControlList};
use crate::model::{format_seconds, percent, plural, short_id};
use crate::routes;
use crate::store::use_store;
use cosmosq_shared::api::{Batch, BatchStatus};
use leptos::prelude::*;
use std::time::Duration;

const RECENT: usize = 5;

fn started_ms(b: &Batch) -> Option<f64> {
    let ms = js_sys::Date::parse(b.started_at.as_deref()?);
    ms.is_finite().then_some(ms)
}

#[component]
pub fn BatchProgress() -> impl IntoView {
    let store = use_store();
    let now = RwSignal::new(js_sys::Date::now());
    if let Ok(handle) = set_interval_with_handle(
        move || now.set(js_sys::Date::now()),
        Duration::from_millis(500),
    ) {
        on_cleanup(move || handle.clear());
    }
    let active = Memo::new(move |_| {
        store.batches.with(|list| {
            let mut a: Vec<Batch> = list
                .iter()
                .filter(|b| !b.status.is_terminal())
                .cloned()
                .collect();
            a.reverse(); // oldest first: the order they run in
            a
        })
    });
    let recent = Memo::new(move |_| {
        store.batches.with(|list| {
            list.iter()
                .filter(|b| b.status.is_terminal())
                .take(RECENT)
                .cloned()
                .collect::<Vec<_>>()
        })
    });

    view! {
        <Show when=move || !active.get().is_empty()>
            <section class="card running" id="running-batches">
                <div class="card-head">
                    <h2>"Running batches"</h2>
                </div>
                <For
                    each=move || active.get()
                    key=|b| (b.id.clone(), b.status as u8)
                    children=move |b: Batch| {
                        let id = b.id.clone();
                        let live = Memo::new(move |_| store.live.with(|l| l.get(&id).cloned()));
                        let id = b.id.clone();
                        // Slurm's state and reason, as the batch events update them.
                        let slurm = Memo::new(move |_| {
                            store.batches.with(|l| {
                                l.iter().find(|x| x.id == id).and_then(|x| x.slurm.clone())
                            })
                        });
                        let slurm_pending = move || {
                            slurm.get().is_some_and(|s| s.state.as_deref() == Some("PENDING"))
                        };
                        let fallback = b.progress;
                        let progress = move || live.get().map(|l| l.progress).unwrap_or(fallback);
                        let started = started_ms(&b);
                        let estimated = b.estimated_seconds;
                        let elapsed = move || started.map(|s| ((now.get() - s) / 1000.0).max(0.0));
                        view! {
                            <div class="batch-live" data-batch-id=b.id.clone()>
                                <div class="planned-head">
                                    <strong title=b.id.clone()>{short_id(&b.id).to_string()}</strong>
                                    <BatchStatusBadge status=b.status/>
                                    <span class="muted">{format!("{} · {}", plural(b.job_ids.len(), "job"), b.mode)}</span>
                                    <span class="loads">"loads " <ControlList controls=b.controls.clone()/></span>
                                    <span class="muted">{format!("batch_size {}", b.batch_size)}</span>
                                    <a class="log-link" href=routes::log(&b.id, None) title="The whole log, followed live">"Log"</a>
                                    {move || slurm.get().map(|s| {
                                        let state = s.state.clone().unwrap_or_else(|| "submitted".into());
                                        let text = match s.reason.as_deref().filter(|r| *r != "None") {
                                            Some(r) => format!("Slurm job {} · {state} ({r})", s.job_id),
                                            None => format!("Slurm job {} · {state}", s.job_id),
                                        };
                                        view! { <span class="badge slurm" data-slurm-state=state>{text}</span> }
                                    })}
                                </div>
                                <div class="progress" role="progressbar" aria-valuenow=move || percent(progress())>
                                    <div class="progress-fill" style=move || format!("width: {}%", percent(progress()))></div>
                                    <span class="progress-label">{move || format!("{}%", percent(progress()))}</span>
                                </div>
                                <p class="muted timing">
                                    {move || match (b.status, elapsed()) {
                                        (BatchStatus::Pending, _) => "Waiting for an executor slot.".to_string(),
                                        _ if slurm_pending() => "Submitted; waiting for the cluster's resources.".to_string(),
                                        (_, Some(e)) => format!(
                                            "Elapsed {} of ≈ {} estimated",
                                            format_seconds(e),
                                            format_seconds(estimated),
                                        ),
                                        _ => format!("≈ {} estimated", format_seconds(estimated)),
                                    }}
                                </p>
                                <pre class="log" aria-label="log tail">
                                    {move || {
                                        live.get()
                                            .map(|l| l.log_tail.join("\n"))
                                            .filter(|t| !t.is_empty())
                                            .unwrap_or_else(|| "(no log lines yet)".into())
                                    }}
                                </pre>
                            </div>
                        }
                    }
                />
            </section>
        </Show>
        <Show when=move || !recent.get().is_empty()>
            <section class="card" id="recent-batches">
                <div class="card-head">
                    <h2>"Recent batches"</h2>
                </div>
                <table class="table compact">
                    <thead>
                        <tr>
                            <th>"Batch"</th>
                            <th>"Status"</th>
                            <th>"Jobs"</th>
                            <th>"Controls"</th>
                            <th class="num">"Estimated"</th>
                            <th class="num">"Measured"</th>
                            <th></th>
                        </tr>
                    </thead>
                    <tbody>
                        <For
                            each=move || recent.get()
                            key=|b| (b.id.clone(), b.status as u8)
                            children=move |b: Batch| {
                                view! {
                                    <tr>
                                        <td title=b.id.clone()>{short_id(&b.id).to_string()}</td>
                                        <td><BatchStatusBadge status=b.status/></td>
                                        <td>{b.job_ids.len()}</td>
                                        <td><ControlList controls=b.controls.clone()/></td>
                                        <td class="num">{format_seconds(b.estimated_seconds)}</td>
                                        <td class="num">
                                            {b.measured_seconds.map(format_seconds).unwrap_or_else(|| "–".into())}
                                        </td>
                                        <td><a class="log-link" href=routes::log(&b.id, None)>"Log"</a></td>
                                    </tr>
                                }
                            }
                        />
                    </tbody>
                </table>
            </section>
        </Show>
    }
}
