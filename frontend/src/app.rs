//! The app shell: routes (all in one place), the header with the executor label and the live
//! link, the reconnect banner and the notices.

use crate::bench;
use crate::components::notices::{LinkBanner, Notices};
use crate::components::run_settings::RunSettings;
use crate::components::settings::SettingsPanel;
use crate::events;
use crate::pages::{
    compare::ComparePage, insights::InsightsPage, log::LogPage, prompts::PromptsPage,
    queue::QueuePage, runs::RunsPage, slots::SlotsPage,
};
use crate::routes;
use crate::store::{use_store, Link, Store};
use cosmosq_shared::Profile;
use leptos::prelude::*;
use leptos_router::components::{Redirect, Route, Router, Routes, A};
use leptos_router::path;

#[component]
pub fn App() -> impl IntoView {
    let store = Store::new();
    provide_context(store);
    provide_context(RunSettings::new());
    store.reload_all();
    events::connect(store);
    bench::run_if_asked();

    view! {
        <Router>
            <Header/>
            <LinkBanner/>
            <Notices/>
            <main class="page">
                <Routes fallback=|| view! { <p class="empty">"No such page."</p> }>
                    <Route path=path!("/") view=|| view! { <Redirect path=routes::PROMPTS/> }/>
                    <Route path=path!("/prompts") view=PromptsPage/>
                    <Route path=path!("/queue") view=QueuePage/>
                    <Route path=path!("/runs") view=RunsPage/>
                    <Route path=path!("/slots") view=SlotsPage/>
                    <Route path=path!("/insights") view=InsightsPage/>
                    <Route path=path!("/log/:batch_id") view=LogPage/>
                    <Route path=path!("/compare") view=ComparePage/>
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn Header() -> impl IntoView {
    let store = use_store();
    let settings_open = RwSignal::new(false);
    let executor = move || store.queue.with(|q| q.as_ref().map(|q| q.executor));
    let counts = move || store.queue.with(|q| q.as_ref().map(|q| q.counts));
    let link_label = move || match store.link.get() {
        Link::Connecting => ("link connecting", "Connecting…"),
        Link::Live => ("link live", "Live"),
        Link::Reconnecting { .. } => ("link down", "Reconnecting…"),
    };

    view! {
        <header class="topbar">
            <div class="topbar-inner">
                <a class="brand" href=routes::PROMPTS>
                    <span class="brand-mark">"◆"</span>
                    "cosmosq"
                </a>
                <nav class="tabs">
                    <A href=routes::PROMPTS>"Prompts"</A>
                    <A href=routes::QUEUE>
                        "Queue"
                        {move || {
                            counts()
                                .filter(|c| c.queued + c.running > 0)
                                .map(|c| view! { <span class="count">{c.queued + c.running}</span> })
                        }}
                    </A>
                    <A href=routes::RUNS>"Runs"</A>
                    <A href=routes::SLOTS>"Slots"</A>
                    <A href=routes::INSIGHTS>"Insights"</A>
                </nav>
                <div class="topbar-right">
                    {move || match executor() {
                        Some(Profile::Simulated) => {
                            view! {
                                <span
                                    class="executor simulated"
                                    id="executor-label"
                                    title="Jobs run on the simulated executor: no GPU is used and outputs are placeholders"
                                >
                                    "Simulated executor — no GPU"
                                </span>
                            }
                                .into_any()
                        }
                        Some(e) => {
                            view! { <span class="executor" id="executor-label">"Executor: " {e.as_str()}</span> }
                                .into_any()
                        }
                        None => ().into_any(),
                    }}
                    <span class=move || link_label().0 title="Live updates from the daemon">
                        <span class="dot"></span>
                        {move || link_label().1}
                    </span>
                    <button
                        class="icon-button"
                        id="settings-toggle"
                        title="Settings"
                        aria-expanded=move || settings_open.get().to_string()
                        on:click=move |_| settings_open.update(|o| *o = !*o)
                    >
                        "⚙ Settings"
                    </button>
                </div>
            </div>
            <Show when=move || settings_open.get()>
                <SettingsPanel on_close=move || settings_open.set(false)/>
            </Show>
        </header>
    }
}
