//! Small labels: controls with their weights, job and batch statuses.

use crate::model;
use cosmosq_shared::api::{BatchStatus, JobStatus};
use cosmosq_shared::{Control, JobConfig};
use leptos::prelude::*;

/// One badge per active control, with its weight.
#[component]
pub fn ControlBadges(config: JobConfig) -> impl IntoView {
    model::active_controls(&config)
        .into_iter()
        .map(|(c, w)| {
            view! {
                <span class=format!("badge control c-{c}") title=format!("{c} weight {w}")>
                    {c.as_str()}
                    <span class="weight">{format!("{w}")}</span>
                </span>
            }
        })
        .collect_view()
}

/// Controls a batch loads.
#[component]
pub fn ControlList(controls: Vec<Control>) -> impl IntoView {
    controls
        .into_iter()
        .map(|c| view! { <span class=format!("badge control c-{c}")>{c.as_str()}</span> })
        .collect_view()
}

#[component]
pub fn JobStatusBadge(status: JobStatus) -> impl IntoView {
    view! { <span class=format!("badge status s-{status}")>{status.as_str()}</span> }
}

#[component]
pub fn BatchStatusBadge(status: BatchStatus) -> impl IntoView {
    let s = status.as_str();
    view! { <span class=format!("badge status s-{s}")>{s}</span> }
}
