//! Compare (`/compare?jobs=ID1,ID2,...`, a URL to share): finished jobs' output videos side
//! by side, played in sync by one control (play / pause and seek drive every video, and the
//! others follow the first one's time), with their settings in a table where what differs
//! stands out.

use crate::api;
use crate::components::badges::ControlBadges;
use crate::model::{self, short_id};
use crate::routes;
use crate::store::use_store;
use cosmosq_shared::api::{Job, JobStatus};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use wasm_bindgen::JsCast;
use web_sys::HtmlVideoElement;

/// How far (seconds) a video may drift from the first before it is put back in step.
const MAX_DRIFT: f64 = 0.15;

/// The compared videos on the page, in order (the first one leads).
fn videos() -> Vec<HtmlVideoElement> {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return Vec::new();
    };
    let Ok(list) = document.query_selector_all("#compare video.compare-video") else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|i| list.item(i)?.dyn_into::<HtmlVideoElement>().ok())
        .collect()
}

#[component]
pub fn ComparePage() -> impl IntoView {
    let store = use_store();
    let query = use_query_map();
    let ids =
        Memo::new(move |_| query.with(|q| model::id_list(&q.get("jobs").unwrap_or_default())));
    let jobs = Memo::new(move |_| {
        let ids = ids.get();
        store.jobs.with(|all| {
            ids.iter()
                .filter_map(|id| all.iter().find(|j| &j.id == id).cloned())
                .collect::<Vec<Job>>()
        })
    });
    let missing = move || {
        let found = jobs.with(|j| j.iter().map(|j| j.id.clone()).collect::<Vec<_>>());
        ids.with(|ids| {
            ids.iter()
                .filter(|id| !found.contains(id))
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    let rows = Memo::new(move |_| {
        store
            .prompt_index
            .with(|p| jobs.with(|j| model::compare_rows(j, p)))
    });
    let playing = RwSignal::new(false);
    let time = RwSignal::new(0.0f64);
    let duration = RwSignal::new(0.0f64);

    let play_pause = move |_| {
        let all = videos();
        let Some(lead) = all.first() else { return };
        if playing.get_untracked() {
            for v in &all {
                let _ = v.pause();
            }
            playing.set(false);
        } else {
            let at = lead.current_time();
            for v in &all {
                if (v.current_time() - at).abs() > MAX_DRIFT {
                    v.set_current_time(at);
                }
                let _ = v.play();
            }
            playing.set(true);
        }
    };
    let seek = move |ev: leptos::ev::Event| {
        if let Ok(t) = event_target_value(&ev).parse::<f64>() {
            for v in videos() {
                v.set_current_time(t);
            }
            time.set(t);
        }
    };
    // The first video leads: the others follow its time, and the seek bar shows it.
    let follow_lead = move || {
        let all = videos();
        let Some(lead) = all.first() else { return };
        let at = lead.current_time();
        time.set(at);
        let d = lead.duration();
        if d.is_finite() {
            duration.set(d);
        }
        for v in all.iter().skip(1) {
            if (v.current_time() - at).abs() > MAX_DRIFT {
                v.set_current_time(at);
            }
        }
    };

    view! {
        <div class="page-head">
            <div>
                <h1>"Compare"</h1>
                <p class="sub">
                    {move || format!("{} side by side, played in sync; the settings that differ are highlighted.", model::plural(jobs.with(Vec::len), "job"))}
                </p>
            </div>
            <div class="filters">
                <a href=routes::RUNS>"← Runs"</a>
            </div>
        </div>
        {move || {
            let gone = missing();
            (store.loaded.get() && !gone.is_empty()).then(|| view! {
                <div class="banner warning" id="compare-missing">
                    {format!("Not found (deleted?): {}", gone.join(", "))}
                </div>
            })
        }}
        <section class="card" id="compare">
            <div class="compare-controls">
                <button class="primary" id="compare-play" on:click=play_pause disabled=move || jobs.with(Vec::is_empty)>
                    {move || if playing.get() { "❚❚ Pause all" } else { "▶ Play all" }}
                </button>
                <input
                    type="range"
                    id="compare-seek"
                    aria-label="Position in every video"
                    min="0"
                    step="0.01"
                    prop:max=move || duration.get().max(0.01).to_string()
                    prop:value=move || time.get().to_string()
                    on:input=seek
                />
                <span class="muted small nowrap">
                    {move || format!("{:.2} s / {:.2} s", time.get(), duration.get())}
                </span>
            </div>
            <div class="compare-grid" style=move || format!("--columns: {}", jobs.with(Vec::len).clamp(1, 4))>
                <For
                    each=move || jobs.get()
                    key=|j| (j.id.clone(), j.status as u8)
                    children=move |j: Job| {
                        let name = store
                            .prompt_index
                            .with_untracked(|p| p.get(&j.prompt_id).map(|p| p.name.clone()))
                            .unwrap_or_else(|| j.prompt_id.clone());
                        let has_video = j.status == JobStatus::Succeeded && j.outputs.video.is_some() && !j.pruned;
                        view! {
                            <figure class="compare-item" data-id=j.id.clone()>
                                {if has_video {
                                    view! {
                                        <video
                                            class="output-video compare-video"
                                            data-job=j.id.clone()
                                            src=api::output_url(&j.id)
                                            preload="auto"
                                            muted=true
                                            loop=true
                                            playsinline=true
                                            on:timeupdate=move |_| follow_lead()
                                            on:loadedmetadata=move |_| follow_lead()
                                        ></video>
                                    }
                                        .into_any()
                                } else {
                                    view! { <div class="output-video placeholder">"No output video"</div> }.into_any()
                                }}
                                <figcaption>
                                    <strong>{name}</strong>
                                    " "
                                    <code class="muted" title=j.id.clone()>{short_id(&j.id).to_string()}</code>
                                    <div class="controls"><ControlBadges config=j.config.clone()/></div>
                                </figcaption>
                            </figure>
                        }
                    }
                />
            </div>
            <Show when=move || store.loaded.get() && jobs.with(Vec::is_empty)>
                <p class="empty">"No jobs to compare: pick two or more succeeded runs on the Runs page."</p>
            </Show>
            <div class="table-scroll">
                <table class="table compact" id="compare-settings">
                    <thead>
                        <tr>
                            <th>"Setting"</th>
                            {move || jobs.get().into_iter().map(|j| view! {
                                <th title=j.id.clone()>{short_id(&j.id).to_string()}</th>
                            }).collect_view()}
                        </tr>
                    </thead>
                    <tbody>
                        {move || rows.get().into_iter().map(|r| {
                            let differs = r.differs;
                            let setting = r.label.clone();
                            view! {
                                <tr class:differs=differs data-setting=setting>
                                    <th scope="row">{r.label}</th>
                                    {r.values.into_iter().map(|v| view! {
                                        <td class:differs=differs>{v}</td>
                                    }).collect_view()}
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}
