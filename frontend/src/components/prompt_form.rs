//! The "New prompt" form: text, negative prompt, input video path and optional control videos.
//! The daemon probes the video; its answer (or its error, in plain words) shows here.

use crate::api::{self, ApiError};
use crate::store::use_store;
use cosmosq_shared::api::{Prompt, PromptInput};
use cosmosq_shared::Control;
use leptos::prelude::*;
use std::collections::BTreeMap;

#[component]
pub fn PromptForm(
    /// Called with the prompt the daemon created.
    on_created: impl Fn(Prompt) + Copy + Send + Sync + 'static,
    /// Called when the user closes the form.
    on_cancel: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let store = use_store();
    let name = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let negative = RwSignal::new(String::new());
    let video = RwSignal::new(String::new());
    let controls: Vec<(Control, RwSignal<String>)> = Control::ALL
        .into_iter()
        .map(|c| (c, RwSignal::new(String::new())))
        .collect();
    let error = RwSignal::new(None::<String>);

    let create = Action::new_local(|input: &PromptInput| {
        let input = input.clone();
        async move { api::create_prompt(&input).await }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(prompt)) => {
            error.set(None);
            store.prompts.update(|p| p.insert(0, prompt.clone()));
            for s in [name, text, negative, video] {
                s.set(String::new());
            }
            on_created(prompt);
        }
        Some(Err(e)) => error.set(Some(ApiError::plain(&e))),
        None => {}
    });

    let control_signals = controls.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let opt = |s: RwSignal<String>| {
            let v = s.get_untracked().trim().to_string();
            (!v.is_empty()).then_some(v)
        };
        let control_videos: BTreeMap<String, String> = control_signals
            .iter()
            .filter_map(|(c, s)| opt(*s).map(|v| (c.as_str().to_string(), v)))
            .collect();
        create.dispatch(PromptInput {
            name: opt(name),
            text: text.get_untracked(),
            negative_prompt: opt(negative),
            input_video: video.get_untracked().trim().to_string(),
            control_videos,
        });
    };

    view! {
        <form class="card prompt-form" id="prompt-form" on:submit=submit>
            <div class="card-head">
                <h2>"New prompt"</h2>
                <button type="button" class="link-button" on:click=move |_| on_cancel()>"Close"</button>
            </div>
            <div class="grid-2">
                <label>
                    "Name " <span class="hint">"(optional: the first words of the text)"</span>
                    <input id="prompt-name" type="text" bind:value=name/>
                </label>
                <label>
                    "Input video " <span class="hint">"(path on the daemon's machine)"</span>
                    <input
                        id="prompt-video"
                        type="text"
                        placeholder="/data/videos/clip.mp4"
                        required
                        bind:value=video
                    />
                </label>
            </div>
            <label>
                "Prompt"
                <textarea
                    id="prompt-text"
                    rows="3"
                    required
                    placeholder="A robot arm stacks red cubes on a wooden table, soft daylight"
                    bind:value=text
                ></textarea>
            </label>
            <label>
                "Negative prompt " <span class="hint">"(optional: the program's default otherwise)"</span>
                <textarea id="prompt-negative" rows="2" bind:value=negative></textarea>
            </label>
            <details class="control-videos">
                <summary>"Control videos (optional)"</summary>
                <p class="hint">
                    "Controls without a video are generated from the input video; hdmap and lidar "
                    "always need one."
                </p>
                <div class="grid-2">
                    {controls
                        .into_iter()
                        .map(|(c, s)| {
                            view! {
                                <label>
                                    {c.as_str()}
                                    <input
                                        type="text"
                                        id=format!("control-video-{c}")
                                        placeholder=format!("/data/videos/clip_{c}.mp4")
                                        bind:value=s
                                    />
                                </label>
                            }
                        })
                        .collect_view()}
                </div>
            </details>
            {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
            <div class="actions">
                <button type="submit" class="primary" id="create-prompt" disabled=move || create.pending().get()>
                    {move || if create.pending().get() { "Creating…" } else { "Create prompt" }}
                </button>
            </div>
        </form>
    }
}
