//! Slots: the executor's slots (a GPU, a host, or under Slurm one of the batches submitted at
//! once) with their state, the batch each runs, failures in a row and why a slot was
//! quarantined; drain, disable and enable. Slots have no event of their own: the page reloads
//! them when a batch event arrives and every few seconds.

use crate::api::{self, SlotAction};
use crate::model::{format_seconds, percent, plural, short_id};
use crate::routes;
use crate::store::use_store;
use cosmosq_shared::api::{SlotState, SlotView, SlurmJob};
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::time::Duration;

const REFRESH: Duration = Duration::from_secs(3);

/// What a person can do with a slot in this state.
fn actions(state: SlotState) -> &'static [SlotAction] {
    match state {
        SlotState::Idle | SlotState::Busy => &[SlotAction::Drain, SlotAction::Disable],
        SlotState::Draining => &[SlotAction::Disable, SlotAction::Enable],
        SlotState::Disabled | SlotState::Quarantined => &[SlotAction::Enable],
    }
}

fn action_label(action: SlotAction) -> (&'static str, &'static str, &'static str) {
    match action {
        SlotAction::Drain => (
            "Drain",
            "slot-drain",
            "Finish the current batch, then take no other",
        ),
        SlotAction::Disable => (
            "Disable",
            "slot-disable danger-outline",
            "Take no work; a batch it runs is stopped and its jobs go back to their places",
        ),
        SlotAction::Enable => (
            "Enable",
            "slot-enable primary",
            "Back in service (its failures in a row reset)",
        ),
    }
}

fn state_hint(state: SlotState) -> &'static str {
    match state {
        SlotState::Idle => "in service, running nothing",
        SlotState::Busy => "in service, running a batch",
        SlotState::Draining => "finishing its batch, then disabled",
        SlotState::Disabled => "out of service until enabled",
        SlotState::Quarantined => "taken out of service by the daemon after failures in a row",
    }
}

fn slurm_text(s: &SlurmJob) -> String {
    let state = s.state.clone().unwrap_or_else(|| "submitted".into());
    match s.reason.as_deref().filter(|r| *r != "None") {
        Some(r) => format!("Slurm job {} · {state} ({r})", s.job_id),
        None => format!("Slurm job {} · {state}", s.job_id),
    }
}

#[component]
pub fn SlotsPage() -> impl IntoView {
    let store = use_store();
    let slots = RwSignal::new(None::<Vec<SlotView>>);
    let load_error = RwSignal::new(None::<String>);
    let loading = StoredValue::new(false);
    let load = move || {
        if loading.try_get_value() != Some(false) {
            return;
        }
        loading.set_value(true);
        spawn_local(async move {
            match api::slots().await {
                Ok(list) => {
                    slots.set(Some(list));
                    load_error.set(None);
                }
                Err(e) => load_error.set(Some(e.plain())),
            }
            loading.set_value(false);
        });
    };
    // On open, on every batch change (a batch event: a slot took, finished or lost one) and
    // on a timer.
    Effect::new(move |_| {
        store.batches.track();
        load();
    });
    if let Ok(handle) = set_interval_with_handle(load, REFRESH) {
        on_cleanup(move || handle.clear());
    }
    let act = Action::new_local(|(name, action): &(String, SlotAction)| {
        let (name, action) = (name.clone(), *action);
        async move { api::slot_action(&name, action).await }
    });
    Effect::new(move |_| match act.value().get() {
        Some(Ok(view)) => {
            store.info(format!(
                "Slot {} is {} now.",
                view.name,
                view.state.as_str()
            ));
            slots.update(|list| {
                if let Some(slot) = list
                    .as_mut()
                    .and_then(|l| l.iter_mut().find(|s| s.name == view.name))
                {
                    *slot = view;
                }
            });
            // Disabling stops its batch: the queue changes too.
            store.reload_queue();
        }
        Some(Err(e)) => store.error(&e),
        None => {}
    });
    let counts = move || {
        slots.with(|s| {
            s.as_ref().map(|list| {
                let working = list.iter().filter(|s| s.state.in_service()).count();
                let busy = list
                    .iter()
                    .filter(|s| matches!(s.state, SlotState::Busy | SlotState::Draining))
                    .count();
                format!(
                    "{} slots · {working} in service · {busy} running a batch",
                    list.len()
                )
            })
        })
    };

    view! {
        <div class="page-head">
            <div>
                <h1>"Slots"</h1>
                <p class="sub">
                    {move || counts().unwrap_or_else(|| "Where batches run: a GPU, a host, or a Slurm submission.".into())}
                </p>
            </div>
        </div>
        {move || load_error.get().map(|e| view! {
            <div class="banner warning" id="slots-error">{e}</div>
        })}
        <section class="card table-card">
            <table class="table" id="slots">
                <thead>
                    <tr>
                        <th>"Slot"</th>
                        <th>"State"</th>
                        <th>"Batch"</th>
                        <th class="num">"Failures in a row"</th>
                        <th class="actions-col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    <For
                        each=move || slots.get().unwrap_or_default()
                        key=|s| format!("{s:?}")
                        children=move |s: SlotView| view! { <SlotRow info=s act=act/> }
                    />
                </tbody>
            </table>
            <Show when=move || slots.with(|s| s.as_ref().is_none_or(Vec::is_empty))>
                <p class="empty">
                    {move || if slots.with(Option::is_some) { "The daemon has no slots." } else { "Loading the slots…" }}
                </p>
            </Show>
        </section>
        <p class="muted small">
            "Drain: the slot finishes its batch, then takes no other. Disable: it takes no work, and a batch it runs "
            "is stopped (its jobs go back to their places, no attempt counted). A slot whose batches fail for a cause "
            "of its own several times in a row is quarantined; Enable puts a slot back in service."
        </p>
    }
}

#[component]
fn SlotRow(
    info: SlotView,
    act: Action<(String, SlotAction), api::ApiResult<SlotView>>,
) -> impl IntoView {
    let store = use_store();
    let slot = info;
    let failing = slot.consecutive_failures > 0;
    let batch_id = slot.batch_id.clone();
    let batch = Memo::new(move |_| {
        let id = batch_id.as_ref()?;
        store
            .batches
            .with(|l| l.iter().find(|b| &b.id == id).cloned())
    });
    let live_id = slot.batch_id.clone();
    let progress = move || {
        let id = live_id.as_ref()?;
        store
            .live
            .with(|l| l.get(id).map(|l| l.progress))
            .or_else(|| batch.with(|b| b.as_ref().map(|b| b.progress)))
    };
    let under_slurm = slot.launcher == "slurm";
    let slot_slurm = slot.slurm.clone();
    let slurm = move || {
        slot_slurm
            .clone()
            .or_else(|| batch.with(|b| b.as_ref().and_then(|b| b.slurm.clone())))
    };
    let state = slot.state;
    let quarantined = state == SlotState::Quarantined;
    let name = slot.name.clone();
    view! {
        <tr class="slot-row" data-slot=slot.name.clone() data-state=state.as_str() class:quarantined=quarantined>
            <td>
                <div class="name">{slot.name.clone()}</div>
                <span class="muted small">{slot.launcher.clone()}</span>
            </td>
            <td>
                <span class=format!("badge slot-state st-{}", state.as_str()) title=state_hint(state)>
                    {state.as_str()}
                </span>
                {quarantined.then(|| view! {
                    <p class="slot-reason">
                        {slot.last_error.clone().unwrap_or_else(|| "quarantined after failures in a row".into())}
                    </p>
                })}
                {slot.changed_at.clone().map(|t| view! {
                    <span class="muted small block">
                        {format!("since {}", t.replace('T', " ").trim_end_matches('Z'))}
                    </span>
                })}
            </td>
            <td>
                {match slot.batch_id.clone() {
                    Some(id) => view! {
                        <a class="slot-batch" href=routes::log(&id, None) title=format!("The log of batch {id}")>
                            {short_id(&id).to_string()}
                        </a>
                        {move || batch.get().map(|b| view! {
                            <span class="muted small block">
                                {format!(
                                    "{} · {} · {}% · ≈ {} estimated",
                                    plural(b.job_ids.len(), "job"),
                                    b.status.as_str(),
                                    percent(progress().unwrap_or(b.progress)),
                                    format_seconds(b.estimated_seconds),
                                )}
                            </span>
                        })}
                        {under_slurm.then_some(move || slurm().map(|s| {
                            let state = s.state.clone().unwrap_or_default();
                            view! { <span class="badge slurm slot-slurm" data-slurm-state=state>{slurm_text(&s)}</span> }
                        }))}
                    }
                        .into_any(),
                    None => view! { <span class="muted">"–"</span> }.into_any(),
                }}
            </td>
            <td class="num">
                <span class:bad=failing>{slot.consecutive_failures}</span>
                {slot.last_error.clone().filter(|_| !quarantined).map(|e| {
                    let title = e.clone();
                    view! { <span class="muted small block" title=title>"last: " {e}</span> }
                })}
            </td>
            <td class="row-actions">
                {actions(state)
                    .iter()
                    .map(|&a| {
                        let (label, class, title) = action_label(a);
                        let name = name.clone();
                        view! {
                            <button
                                class=class
                                title=title
                                disabled=move || act.pending().get()
                                on:click=move |_| { act.dispatch((name.clone(), a)); }
                            >
                                {label}
                            </button>
                        }
                    })
                    .collect_view()}
            </td>
        </tr>
    }
}
