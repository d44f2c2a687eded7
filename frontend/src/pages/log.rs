//! The log viewer of one batch (`/log/:batch_id`, `?job=` for one job's lines): follows a
//! running batch live (asking for the bytes after those received, every second, until the
//! daemon says the log is complete), searches it, and downloads it.

use crate::api;
use crate::components::badges::BatchStatusBadge;
use crate::model::{self, format_bytes, highlight, line_matches, short_id, LogText};
use crate::routes;
use crate::store::use_store;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use leptos_router::NavigateOptions;
use std::time::Duration;

const POLL: Duration = Duration::from_secs(1);
/// Most lines on screen (the last ones); the download has them all.
const MAX_LINES: usize = 5_000;

/// The log as received, and where following it stands.
#[derive(Clone, Default, PartialEq)]
struct Received {
    text: LogText,
    size: u64,
    complete: bool,
    loaded: bool,
}

#[component]
pub fn LogPage() -> impl IntoView {
    let store = use_store();
    let params = use_params_map();
    let query = use_query_map();
    let navigate = use_navigate();
    let batch_id = Memo::new(move |_| params.with(|p| p.get("batch_id").unwrap_or_default()));
    let job = Memo::new(move |_| query.with(|q| q.get("job").filter(|j| !j.is_empty())));
    let batch = Memo::new(move |_| {
        let id = batch_id.get();
        store
            .batches
            .with(|l| l.iter().find(|b| b.id == id).cloned())
    });
    let log = RwSignal::new(Received::default());
    let follow = RwSignal::new(true);
    let error = RwSignal::new(None::<String>);
    let search = RwSignal::new(String::new());
    let only_matches = RwSignal::new(false);
    // Bumped whenever the batch or job shown changes: late answers for the old one are dropped.
    let generation = StoredValue::new(0u64);
    let in_flight = StoredValue::new(false);

    let fetch = move || {
        if in_flight.try_get_value() != Some(false) {
            return;
        }
        in_flight.set_value(true);
        let shown = generation.get_value();
        let id = batch_id.get_untracked();
        let job = job.get_untracked();
        spawn_local(async move {
            // A long log comes in several answers: read until nothing is left for now.
            loop {
                let offset = log.with_untracked(|l| l.text.received);
                let answer = api::batch_log(&id, offset, job.as_deref()).await;
                if generation.try_get_value() != Some(shown) {
                    return;
                }
                match answer {
                    Ok(piece) => {
                        error.set(None);
                        let mut more = false;
                        log.update(|l| {
                            if job.is_some() {
                                l.text = LogText::whole(&piece.bytes);
                            } else {
                                l.text.push(&piece.bytes);
                                more = !piece.bytes.is_empty() && l.text.received < piece.size;
                            }
                            l.size = piece.size;
                            l.complete = piece.complete;
                            l.loaded = true;
                        });
                        if piece.complete && !more {
                            follow.set(false);
                        }
                        if more {
                            continue;
                        }
                    }
                    Err(e) => error.set(Some(e.plain())),
                }
                break;
            }
            in_flight.set_value(false);
        });
    };
    // A new batch or job: start over.
    Effect::new(move |_| {
        batch_id.track();
        job.track();
        generation.update_value(|g| *g += 1);
        in_flight.set_value(false);
        log.set(Received::default());
        follow.set(true);
        fetch();
    });
    if let Ok(handle) = set_interval_with_handle(
        move || {
            let done = log.try_with_untracked(|l| l.complete).unwrap_or(true);
            if !done && follow.try_get_untracked() == Some(true) {
                fetch();
            }
        },
        POLL,
    ) {
        on_cleanup(move || handle.clear());
    }

    let lines = Memo::new(move |_| log.with(|l| l.text.all_lines()));
    let matches = Memo::new(move |_| {
        let q = search.get();
        lines.with(|ls| ls.iter().filter(|l| line_matches(l, &q)).count())
    });
    let visible = Memo::new(move |_| {
        let q = search.get();
        let only = only_matches.get() && !q.trim().is_empty();
        lines.with(|ls| {
            let shown: Vec<(usize, String)> = ls
                .iter()
                .enumerate()
                .filter(|(_, l)| !only || line_matches(l, &q))
                .map(|(i, l)| (i, l.clone()))
                .collect();
            let skip = shown.len().saturating_sub(MAX_LINES);
            shown.into_iter().skip(skip).collect::<Vec<_>>()
        })
    });
    let hidden = move || {
        let q = search.get();
        let only = only_matches.get() && !q.trim().is_empty();
        let total = if only {
            matches.get()
        } else {
            lines.with(Vec::len)
        };
        total.saturating_sub(MAX_LINES)
    };

    // Follow: keep the newest line in view.
    let view_ref = NodeRef::<leptos::html::Pre>::new();
    Effect::new(move |_| {
        visible.track();
        if follow.get() {
            request_animation_frame(move || {
                if let Some(el) = view_ref.get_untracked() {
                    el.set_scroll_top(el.scroll_height());
                }
            });
        }
    });

    let download = move |ev: leptos::ev::MouseEvent| {
        // A plain link cannot send the access token: fetch it, then save the blob.
        if api::token().is_some() {
            ev.prevent_default();
            let id = batch_id.get_untracked();
            spawn_local(async move {
                if let Err(e) = api::download_log(&id).await {
                    store.error(&e);
                }
            });
        }
    };
    let choose_job = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        let id = batch_id.get_untracked();
        let to = routes::log(&id, (!value.is_empty()).then_some(value.as_str()));
        navigate(
            &to,
            NavigateOptions {
                replace: true,
                ..Default::default()
            },
        );
    };
    let status_line = move || {
        log.with(|l| {
            if !l.loaded {
                return "Loading…".to_string();
            }
            let what = match job.get() {
                Some(j) => format!("the lines of job {}", short_id(&j)),
                None => format_bytes(l.size),
            };
            let state = if l.complete {
                "complete"
            } else if follow.get() {
                "following live"
            } else {
                "still being written"
            };
            format!(
                "{} · {} · {state}",
                model::plural(lines.with(Vec::len), "line"),
                what
            )
        })
    };

    view! {
        <div class="page-head">
            <div>
                <h1>
                    "Log of batch "
                    <code title=move || batch_id.get()>{move || short_id(&batch_id.get()).to_string()}</code>
                    " "
                    {move || batch.get().map(|b| view! { <BatchStatusBadge status=b.status/> })}
                </h1>
                <p class="sub" id="log-status">{status_line}</p>
            </div>
            <div class="filters">
                <a href=routes::RUNS>"← Runs"</a>
                <a href=routes::QUEUE>"Queue"</a>
            </div>
        </div>
        <section class="card" id="log-viewer" data-batch=move || batch_id.get()>
            <div class="log-toolbar">
                <select id="log-job" aria-label="Job" prop:value=move || job.get().unwrap_or_default() on:change=choose_job>
                    <option value="">"All jobs"</option>
                    {move || {
                        let current = job.get();
                        batch
                            .get()
                            .map(|b| b.job_ids)
                            .or_else(|| current.clone().map(|j| vec![j]))
                            .unwrap_or_default()
                            .into_iter()
                            .enumerate()
                            .map(|(i, j)| {
                                let selected = current.as_deref() == Some(j.as_str());
                                view! {
                                    <option value=j.clone() selected=selected>
                                        {format!("Job {} · {}", i + 1, short_id(&j))}
                                    </option>
                                }
                            })
                            .collect_view()
                    }}
                </select>
                <label class="check" title="Ask for new lines every second and keep the newest in view">
                    <input
                        type="checkbox"
                        id="log-follow"
                        prop:checked=move || follow.get()
                        disabled=move || log.with(|l| l.complete)
                        on:change=move |ev| follow.set(event_target_checked(&ev))
                    />
                    "Follow live"
                </label>
                <input type="search" id="log-search" placeholder="Search the log…" bind:value=search/>
                <span class="muted small" id="log-matches">
                    {move || {
                        if search.with(|q| q.trim().is_empty()) {
                            String::new()
                        } else {
                            match matches.get() {
                                0 => "no matches".to_string(),
                                1 => "1 match".to_string(),
                                n => format!("{n} matches"),
                            }
                        }
                    }}
                </span>
                <label class="check" title="Show only the lines that match the search">
                    <input type="checkbox" id="log-only-matches" bind:checked=only_matches/>
                    "Only matching lines"
                </label>
                <a
                    id="log-download"
                    class="button-link"
                    href=move || api::log_download_url(&batch_id.get())
                    download=move || format!("{}.log", batch_id.get())
                    rel="external"
                    on:click=download
                >
                    "Download"
                </a>
            </div>
            {move || error.get().map(|e| view! { <div class="form-error" id="log-error">{e}</div> })}
            {move || (hidden() > 0).then(|| view! {
                <p class="muted small">
                    {format!("{} earlier lines not shown: download the log to read them all.", hidden())}
                </p>
            })}
            <pre class="log log-view" id="log-lines" node_ref=view_ref aria-label="batch log">
                <For
                    each=move || visible.get()
                    key=|(i, l)| (*i, l.len())
                    children=move |(_, line): (usize, String)| {
                        let text = line.clone();
                        view! {
                            <span class="log-line" class:match=move || line_matches(&text, &search.get())>
                                {move || {
                                    highlight(&line, &search.get())
                                        .into_iter()
                                        .map(|(piece, hit)| {
                                            if hit {
                                                view! { <mark>{piece}</mark> }.into_any()
                                            } else {
                                                piece.into_any()
                                            }
                                        })
                                        .collect_view()
                                }}
                            </span>
                        }
                    }
                />
            </pre>
            <Show when=move || log.with(|l| l.loaded) && lines.with(Vec::is_empty)>
                <p class="empty">
                    {move || if log.with(|l| l.complete) { "The log is empty." } else { "No log lines yet; they show as the batch writes them." }}
                </p>
            </Show>
        </section>
    }
}
