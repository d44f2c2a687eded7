//! The reconnect banner and the dismissable notices (errors in plain words).

use crate::model;
use crate::store::{use_store, Link};
use leptos::prelude::*;

/// Shown while the event stream is down: what is on screen may be out of date.
#[component]
pub fn LinkBanner() -> impl IntoView {
    let store = use_store();
    move || match store.link.get() {
        Link::Reconnecting {
            attempt,
            retry_in_ms,
        } => Some(view! {
            <div class="banner warning" role="status" id="reconnecting-banner">
                <strong>"Reconnecting…"</strong>
                " The live connection to the daemon was lost, so this page may be out of date. "
                {format!(
                    "Retrying in {} (attempt {attempt}); everything is reloaded once it is back.",
                    model::format_seconds(f64::from(retry_in_ms) / 1000.0),
                )}
            </div>
        }),
        _ => None,
    }
}

#[component]
pub fn Notices() -> impl IntoView {
    let store = use_store();
    view! {
        <div class="notices" aria-live="polite">
            <For
                each=move || store.notices.get()
                key=|n| n.id
                children=move |n| {
                    let id = n.id;
                    view! {
                        <div class=if n.error { "notice error" } else { "notice info" } role="alert">
                            <span class="notice-text">{n.text}</span>
                            <button
                                class="link-button"
                                title="Dismiss"
                                on:click=move |_| store.dismiss(id)
                            >
                                "✕"
                            </button>
                        </div>
                    }
                }
            />
        </div>
    }
}
