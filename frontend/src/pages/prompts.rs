//! Prompts: create one, pick one row (single selection, no checkboxes), see its details and
//! runs, delete it, view its runs, and add jobs for it to the queue.

use crate::api;
use crate::components::badges::JobStatusBadge;
use crate::components::prompt_form::PromptForm;
use crate::components::run_settings::AddToQueue;
use crate::model::short_id;
use crate::routes;
use crate::store::use_store;
use cosmosq_shared::api::{JobStatus, Prompt};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

#[component]
pub fn PromptsPage() -> impl IntoView {
    let store = use_store();
    let selected = RwSignal::new(None::<String>);
    let form_open = RwSignal::new(false);
    let selected_prompt = Memo::new(move |_| {
        let id = selected.get()?;
        store
            .prompts
            .with(|p| p.iter().find(|p| p.id == id).cloned())
    });
    // Keep a selection while there are prompts; drop one that was deleted.
    Effect::new(move |_| {
        let ids: Vec<String> = store
            .prompts
            .with(|p| p.iter().map(|p| p.id.clone()).collect());
        let current = selected.get_untracked();
        if current.as_ref().is_some_and(|c| !ids.contains(c)) || current.is_none() {
            selected.set(ids.first().cloned());
        }
    });
    let run_counts = Memo::new(move |_| {
        store.jobs.with(|jobs| {
            let mut counts = std::collections::HashMap::<String, usize>::new();
            for j in jobs {
                *counts.entry(j.prompt_id.clone()).or_default() += 1;
            }
            counts
        })
    });
    let move_selection = move |delta: i64| {
        let ids: Vec<String> = store
            .prompts
            .with(|p| p.iter().map(|p| p.id.clone()).collect());
        let at = selected
            .get_untracked()
            .and_then(|s| ids.iter().position(|i| *i == s))
            .unwrap_or(0) as i64;
        let next = (at + delta).clamp(0, ids.len() as i64 - 1);
        if let Some(id) = ids.get(next as usize) {
            selected.set(Some(id.clone()));
        }
    };

    view! {
        <div class="page-head">
            <div>
                <h1>"Prompts"</h1>
                <p class="sub">"Pick a prompt, set the run settings, and add one job at a time to the queue."</p>
            </div>
            <button class="primary" id="new-prompt" on:click=move |_| form_open.update(|o| *o = !*o)>
                {move || if form_open.get() { "Hide form" } else { "+ New prompt" }}
            </button>
        </div>
        <Show when=move || form_open.get()>
            <PromptForm
                on_created=move |p: Prompt| {
                    selected.set(Some(p.id.clone()));
                    form_open.set(false);
                    store.info(format!("Created prompt “{}”.", p.name));
                }
                on_cancel=move || form_open.set(false)
            />
        </Show>
        <div class="split">
            <div class="main-col">
                <section class="card table-card">
                    <table class="table selectable" id="prompts-table" aria-label="Prompts (select one row)">
                        <thead>
                            <tr>
                                <th>"Name"</th>
                                <th>"Prompt"</th>
                                <th>"Video"</th>
                                <th class="num">"Runs"</th>
                            </tr>
                        </thead>
                        <tbody on:keydown=move |ev| match ev.key().as_str() {
                            "ArrowDown" => { ev.prevent_default(); move_selection(1) }
                            "ArrowUp" => { ev.prevent_default(); move_selection(-1) }
                            _ => {}
                        }>
                            <For
                                each=move || store.prompts.get()
                                key=|p| p.id.clone()
                                children=move |p: Prompt| {
                                    let id = p.id.clone();
                                    let id_click = id.clone();
                                    let id_runs = id.clone();
                                    let is_selected = Memo::new(move |_| selected.get().as_deref() == Some(id.as_str()));
                                    view! {
                                        <tr
                                            class="prompt-row"
                                            data-id=p.id.clone()
                                            class:selected=is_selected
                                            aria-selected=move || is_selected.get().to_string()
                                            tabindex="0"
                                            on:click=move |_| selected.set(Some(id_click.clone()))
                                        >
                                            <td class="name">{p.name.clone()}</td>
                                            <td class="text" title=p.text.clone()>{p.text.clone()}</td>
                                            <td class="muted nowrap">
                                                {format!("{} frames · {}×{}", p.video.frames, p.video.width, p.video.height)}
                                            </td>
                                            <td class="num">
                                                {move || run_counts.with(|c| c.get(&id_runs).copied().unwrap_or(0))}
                                            </td>
                                        </tr>
                                    }
                                }
                            />
                        </tbody>
                    </table>
                    <Show when=move || store.prompts.with(Vec::is_empty)>
                        <p class="empty">
                            {move || if store.loaded.get() {
                                "No prompts yet. Create one with “New prompt”."
                            } else {
                                "Loading prompts…"
                            }}
                        </p>
                    </Show>
                </section>
                {move || match selected_prompt.get() {
                    Some(p) => view! { <PromptDetails prompt=p/> }.into_any(),
                    None => view! {
                        <section class="card"><p class="empty">"Select a prompt to see its details and add jobs."</p></section>
                    }.into_any(),
                }}
            </div>
            <aside class="side">
                <AddToQueue prompt=selected_prompt/>
            </aside>
        </div>
    }
}

#[component]
fn PromptDetails(prompt: Prompt) -> impl IntoView {
    let store = use_store();
    let navigate = use_navigate();
    let confirm = RwSignal::new(false);
    let id = prompt.id.clone();
    let runs = Memo::new({
        let id = id.clone();
        move |_| {
            store.jobs.with(|jobs| {
                jobs.iter()
                    .filter(|j| j.prompt_id == id)
                    .cloned()
                    .collect::<Vec<_>>()
            })
        }
    });
    let delete = Action::new_local(|id: &String| {
        let id = id.clone();
        async move { api::delete_prompt(&id).await.map(|_| id) }
    });
    Effect::new(move |_| match delete.value().get() {
        Some(Ok(id)) => {
            store.prompts.update(|p| p.retain(|p| p.id != id));
            store.info("Prompt deleted.");
        }
        Some(Err(e)) => store.error(&e),
        None => {}
    });
    let v = &prompt.video;
    let facts = format!(
        "{} frames · {} fps · {}×{} · {:.1} s · aspect bucket {}",
        v.frames,
        v.fps,
        v.width,
        v.height,
        if v.fps > 0.0 {
            f64::from(v.frames) / v.fps
        } else {
            0.0
        },
        serde_json::to_value(v.aspect_bucket)
            .ok()
            .and_then(|b| b.as_str().map(str::to_string))
            .unwrap_or_default(),
    );
    let view_runs_id = id.clone();
    let delete_id = id.clone();
    view! {
        <section class="card details" id="prompt-details" data-id=id.clone()>
            <div class="card-head">
                <h2>{prompt.name.clone()}</h2>
                <code class="muted" title="prompt id">{id.clone()}</code>
            </div>
            <p class="prompt-text">{prompt.text.clone()}</p>
            {prompt.negative_prompt.clone().map(|n| view! {
                <p class="muted"><strong>"Negative: "</strong>{n}</p>
            })}
            <dl class="facts">
                <dt>"Input video"</dt>
                <dd><code>{prompt.input_video.clone()}</code></dd>
                <dt>"Video"</dt>
                <dd id="video-facts">{facts}</dd>
                <dt>"Control videos"</dt>
                <dd>
                    {if prompt.control_videos.is_empty() {
                        view! { <span class="muted">"none (generated from the input video)"</span> }.into_any()
                    } else {
                        prompt.control_videos.iter().map(|(c, path)| view! {
                            <div><span class=format!("badge control c-{c}")>{c.as_str()}</span>" "<code>{path.clone()}</code></div>
                        }).collect_view().into_any()
                    }}
                </dd>
                <dt>"Runs"</dt>
                <dd>
                    {move || {
                        let runs = runs.get();
                        if runs.is_empty() {
                            return view! { <span class="muted">"none yet"</span> }.into_any();
                        }
                        let count = |s: JobStatus| runs.iter().filter(|j| j.status == s).count();
                        view! {
                            <span class="muted">
                                {format!(
                                    "{} queued · {} running · {} succeeded · {} failed",
                                    count(JobStatus::Queued),
                                    count(JobStatus::Running),
                                    count(JobStatus::Succeeded),
                                    count(JobStatus::Failed),
                                )}
                            </span>
                            <ul class="mini-runs">
                                {runs.iter().take(5).map(|j| view! {
                                    <li><JobStatusBadge status=j.status/>" "<code>{short_id(&j.id).to_string()}</code></li>
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }}
                </dd>
            </dl>
            <div class="actions">
                <button
                    id="view-runs"
                    on:click=move |_| navigate(&format!("{}?prompt={}", routes::RUNS, view_runs_id), Default::default())
                >
                    "View Runs"
                </button>
                {move || if confirm.get() {
                    let id = delete_id.clone();
                    view! {
                        <span class="confirm">
                            "Delete this prompt?"
                            <button class="danger" id="confirm-delete" on:click=move |_| {
                                confirm.set(false);
                                delete.dispatch(id.clone());
                            }>"Delete"</button>
                            <button on:click=move |_| confirm.set(false)>"Keep"</button>
                        </span>
                    }.into_any()
                } else {
                    view! {
                        <button class="danger-outline" id="delete-prompt" disabled=move || delete.pending().get()
                            on:click=move |_| confirm.set(true)>"Delete"</button>
                    }.into_any()
                }}
            </div>
        </section>
    }
}
