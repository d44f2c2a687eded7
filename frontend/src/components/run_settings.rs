//! "Add to Queue": the run settings of one job (a weight slider per control, steps, guidance,
//! seed, sigma max, blur, canny, fps). One click adds one job for the selected prompt. The
//! settings are kept for the next job while the app is open.

use crate::api::{self, ApiError};
use crate::model::{plural, varied_values, Varied};
use crate::store::use_store;
use cosmosq_shared::api::{BulkJobsInput, JobInput, Preset, PresetInput, Prompt};
use cosmosq_shared::job::defaults;
use cosmosq_shared::{Control, JobConfigInput, JobKind, Strength};
use leptos::prelude::*;
use std::collections::BTreeMap;
use std::str::FromStr;

/// Whether `c` cannot run for `prompt`: hdmap and lidar are never generated from the input
/// video, so they need the prompt's own control video.
fn needs_video(c: Control, prompt: Option<&Prompt>) -> bool {
    !c.can_generate() && prompt.is_some_and(|p| !p.control_videos.contains_key(&c))
}

/// The form's values, provided once by the app so they survive page changes.
#[derive(Clone, Copy)]
pub struct RunSettings {
    weights: [RwSignal<f64>; 7],
    steps: RwSignal<String>,
    guidance: RwSignal<String>,
    seed: RwSignal<String>,
    sigma_max: RwSignal<String>,
    blur: RwSignal<Strength>,
    canny: RwSignal<Strength>,
    fps: RwSignal<String>,
    distilled: RwSignal<bool>,
}

impl RunSettings {
    pub fn new() -> Self {
        RunSettings {
            weights: std::array::from_fn(|_| RwSignal::new(0.0)),
            steps: RwSignal::new(defaults::NUM_STEPS.to_string()),
            // Blank: the daemon's executor default (Transfer1 and Transfer2.5 differ), shown as
            // the field's placeholder.
            guidance: RwSignal::new(String::new()),
            seed: RwSignal::new(String::new()),
            // Blank: the program's own default (Transfer1: sigma_max 70, 24 fps; Transfer2.5
            // has no default sigma_max and keeps the input video's fps).
            sigma_max: RwSignal::new(String::new()),
            blur: RwSignal::new(Strength::default()),
            canny: RwSignal::new(Strength::default()),
            fps: RwSignal::new(String::new()),
            distilled: RwSignal::new(false),
        }
    }

    fn weight(&self, c: Control) -> RwSignal<f64> {
        self.weights[Control::ALL.iter().position(|x| *x == c).unwrap_or(0)]
    }

    /// Controls set above 0 that `prompt` can run (hdmap and lidar need its control video;
    /// their sliders are disabled otherwise, and a weight left from another prompt is ignored).
    fn active(&self, prompt: Option<&Prompt>) -> Vec<(Control, f64)> {
        Control::ALL
            .into_iter()
            .filter(|c| !needs_video(*c, prompt))
            .map(|c| (c, self.weight(c).get()))
            .filter(|(_, w)| *w > 0.0)
            .collect()
    }

    /// Fill the form with a preset's settings (a setting it leaves out: the form's default).
    fn apply(&self, preset: &Preset) {
        let c = &preset.config;
        for control in Control::ALL {
            let w = c.weights.get(control.as_str()).copied().unwrap_or(0.0);
            self.weight(control).set(w);
        }
        let text = |v: Option<String>| v.unwrap_or_default();
        self.steps
            .set(c.num_steps.unwrap_or(defaults::NUM_STEPS).to_string());
        self.guidance.set(text(c.guidance.map(|g| g.to_string())));
        self.seed.set(text(c.seed.map(|g| g.to_string())));
        self.sigma_max.set(text(c.sigma_max.map(|g| g.to_string())));
        self.fps.set(text(c.fps.map(|g| g.to_string())));
        self.blur.set(c.blur_strength.unwrap_or_default());
        self.canny.set(c.canny_threshold.unwrap_or_default());
        self.distilled.set(c.distilled.unwrap_or(false));
    }

    /// The job settings, or what is wrong with a field.
    fn config(&self, prompt: &Prompt) -> Result<JobConfigInput, String> {
        self.config_for(Some(prompt))
    }

    /// [`RunSettings::config`] for `prompt`, or as a preset (every control set above 0).
    fn config_for(&self, prompt: Option<&Prompt>) -> Result<JobConfigInput, String> {
        fn number<T: FromStr>(s: RwSignal<String>, what: &str) -> Result<T, String> {
            s.get_untracked()
                .trim()
                .parse()
                .map_err(|_| format!("{what} must be a number."))
        }
        /// Blank leaves the setting to the daemon's executor default.
        fn optional<T: FromStr>(s: RwSignal<String>, what: &str) -> Result<Option<T>, String> {
            if s.get_untracked().trim().is_empty() {
                Ok(None)
            } else {
                number(s, what).map(Some)
            }
        }
        Ok(JobConfigInput {
            weights: untrack(|| self.active(prompt))
                .into_iter()
                .map(|(c, w)| (c.as_str().to_string(), w))
                .collect::<BTreeMap<_, _>>(),
            num_steps: Some(number(self.steps, "Steps")?),
            guidance: optional(self.guidance, "Guidance")?,
            seed: optional(self.seed, "Seed")?,
            sigma_max: optional(self.sigma_max, "Sigma max")?,
            blur_strength: Some(self.blur.get_untracked()),
            canny_threshold: Some(self.canny.get_untracked()),
            fps: optional(self.fps, "FPS")?,
            distilled: self.distilled.get_untracked().then_some(true),
        })
    }
}

#[component]
fn NumberField(
    label: &'static str,
    id: &'static str,
    value: RwSignal<String>,
    #[prop(into)] step: String,
    hint: &'static str,
    /// Shown while the field is blank (the default the daemon applies).
    #[prop(optional, into)]
    placeholder: Option<Signal<String>>,
) -> impl IntoView {
    view! {
        <label title=hint>
            {label}
            <input type="number" id=id step=step bind:value=value placeholder=move || placeholder.map(|p| p.get())/>
        </label>
    }
}

#[component]
fn StrengthField(
    label: &'static str,
    id: &'static str,
    value: RwSignal<Strength>,
) -> impl IntoView {
    view! {
        <label>
            {label}
            <select
                id=id
                on:change=move |ev| {
                    if let Some(s) = Strength::ALL
                        .into_iter()
                        .find(|s| s.as_str() == event_target_value(&ev))
                    {
                        value.set(s);
                    }
                }
            >
                {Strength::ALL
                    .into_iter()
                    .map(|s| {
                        view! {
                            <option value=s.as_str() selected=move || value.get() == s>
                                {s.as_str().replace('_', " ")}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
        </label>
    }
}

#[component]
pub fn AddToQueue(#[prop(into)] prompt: Signal<Option<Prompt>>) -> impl IntoView {
    let store = use_store();
    let settings = expect_context::<RunSettings>();
    let error = RwSignal::new(None::<String>);
    // The executor's own defaults, for the fields left blank.
    let profile_defaults = Memo::new(move |_| {
        store.queue.with(|q| {
            q.as_ref()
                .map(|q| q.executor)
                .unwrap_or_default()
                .defaults()
        })
    });
    let default_guidance =
        Signal::derive(move || profile_defaults.with(|d| d.guidance.to_string()));
    let default_seed = Signal::derive(move || profile_defaults.with(|d| d.seed.to_string()));
    let executor = Signal::derive(move || {
        store
            .queue
            .with(|q| q.as_ref().map(|q| q.executor).unwrap_or_default())
    });
    // What the program does with a blank sigma_max or fps.
    let resolved = Memo::new(move |_| executor.get().resolve(&profile_defaults.get()));
    let default_sigma = Signal::derive(move || {
        resolved.with(|r| match r.sigma_max {
            Some(s) => format!("{s} (program default)"),
            None => "none (program default)".to_string(),
        })
    });
    let default_fps = Signal::derive(move || {
        resolved.with(|r| match r.fps {
            Some(f) => format!("{f} (program default)"),
            None => "input video's".to_string(),
        })
    });
    let has_distilled = move || executor.get() != cosmosq_shared::Profile::Transfer25;
    let add = Action::new_local(|input: &JobInput| {
        let input = input.clone();
        async move { api::add_job(&input).await }
    });
    // "Then upscale" (Transfer1): an upscale job of the new job's output, waiting for it.
    let then_upscale = RwSignal::new(false);
    Effect::new(move |_| match add.value().get() {
        Some(Ok(job)) => {
            error.set(None);
            if then_upscale.get_untracked() && job.kind == JobKind::Inference {
                add.dispatch(JobInput {
                    prompt_id: job.prompt_id.clone(),
                    kind: Some(JobKind::Upscale),
                    config: JobConfigInput::default(),
                    after: Vec::new(),
                    input_from: Some(job.id.clone()),
                });
            }
            store.info(format!(
                "Added job {} to the queue{}.",
                job.id,
                job.position
                    .map(|p| format!(" at position {p}"))
                    .unwrap_or_default()
            ));
            store.patch_job(job);
            store.reload_queue();
        }
        Some(Err(e)) => error.set(Some(ApiError::plain(&e))),
        None => {}
    });
    // "Vary a setting": one job per value, added in one all-or-nothing request.
    let vary = RwSignal::new(String::new());
    let vary_text = RwSignal::new(String::new());
    let varied = Memo::new(move |_| -> Result<Option<(Varied, Vec<f64>)>, String> {
        let Some(what) = vary.with(|v| Varied::parse(v)) else {
            return Ok(None);
        };
        let values = vary_text.with(|t| varied_values(t, what))?;
        Ok((!values.is_empty()).then_some((what, values)))
    });
    let job_count = move || match varied.get() {
        Ok(Some((_, values))) => values.len(),
        _ => 1,
    };
    let add_many = Action::new_local(|input: &BulkJobsInput| {
        let input = input.clone();
        async move { api::add_jobs(&input).await }
    });
    Effect::new(move |_| match add_many.value().get() {
        Some(Ok(added)) => {
            error.set(None);
            store.info(format!("Added {} jobs to the queue.", added.jobs.len()));
            for job in added.jobs {
                store.patch_job(job);
            }
            store.reload_queue();
        }
        Some(Err(e)) => error.set(Some(ApiError::plain(&e))),
        None => {}
    });
    let pending = move || add.pending().get() || add_many.pending().get();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(p) = prompt.get_untracked() else {
            return;
        };
        let config = match settings.config(&p) {
            Ok(config) => config,
            Err(e) => return error.set(Some(e)),
        };
        match varied.get_untracked() {
            Err(e) => error.set(Some(e)),
            Ok(None) => {
                add.dispatch(JobInput {
                    prompt_id: p.id,
                    kind: None,
                    config,
                    after: Vec::new(),
                    input_from: None,
                });
            }
            Ok(Some((what, values))) => {
                let jobs = values
                    .into_iter()
                    .map(|v| {
                        let mut c = config.clone();
                        what.apply(v, &mut c);
                        JobInput {
                            prompt_id: p.id.clone(),
                            kind: None,
                            config: c,
                            after: Vec::new(),
                            input_from: None,
                        }
                    })
                    .collect();
                add_many.dispatch(BulkJobsInput { jobs });
            }
        }
    };
    // Presets: choose one to fill the form; save the form under a name; delete the chosen.
    let presets = RwSignal::new(Vec::<Preset>::new());
    let chosen = RwSignal::new(String::new());
    let preset_name = RwSignal::new(String::new());
    let load_presets = Action::new_local(|_: &()| api::presets());
    load_presets.dispatch(());
    Effect::new(move |_| match load_presets.value().get() {
        Some(Ok(list)) => presets.set(list),
        Some(Err(e)) => error.set(Some(ApiError::plain(&e))),
        None => {}
    });
    let save_preset = Action::new_local(|input: &PresetInput| {
        let input = input.clone();
        async move { api::save_preset(&input).await }
    });
    Effect::new(move |_| match save_preset.value().get() {
        Some(Ok(p)) => {
            error.set(None);
            store.info(format!("Saved the preset “{}”.", p.name));
            chosen.set(p.name.clone());
            load_presets.dispatch(());
        }
        Some(Err(e)) => error.set(Some(ApiError::plain(&e))),
        None => {}
    });
    let delete_preset = Action::new_local(|name: &String| {
        let name = name.clone();
        async move { api::delete_preset(&name).await.map(|_| name) }
    });
    Effect::new(move |_| match delete_preset.value().get() {
        Some(Ok(name)) => {
            store.info(format!("Deleted the preset “{name}”."));
            chosen.set(String::new());
            load_presets.dispatch(());
        }
        Some(Err(e)) => error.set(Some(ApiError::plain(&e))),
        None => {}
    });
    let choose = move |ev: leptos::ev::Event| {
        let name = event_target_value(&ev);
        if let Some(p) = presets.with_untracked(|l| l.iter().find(|p| p.name == name).cloned()) {
            settings.apply(&p);
            preset_name.set(p.name.clone());
        }
        chosen.set(name);
    };
    let save = move |_| match settings.config_for(None) {
        Ok(config) => {
            save_preset.dispatch(PresetInput {
                name: preset_name.get_untracked().trim().to_string(),
                kind: None,
                config,
            });
        }
        Err(e) => error.set(Some(e)),
    };
    let needs_video = move |c: Control| prompt.with(|p| needs_video(c, p.as_ref()));
    // A varied weight counts as active: its values set it.
    let any_active = move || {
        prompt.with(|p| !settings.active(p.as_ref()).is_empty())
            || matches!(varied.get(), Ok(Some((Varied::Weight(_), v))) if v.iter().any(|w| *w > 0.0))
    };

    view! {
        <form class="card add-to-queue" id="add-to-queue-form" on:submit=submit>
            <div class="card-head">
                <h2>"Add to Queue"</h2>
                <span class="hint">"one click adds one job"</span>
            </div>
            <p class="for-prompt">
                {move || match prompt.get() {
                    Some(p) => format!("For “{}”", p.name),
                    None => "Select a prompt first.".to_string(),
                }}
            </p>
            <div class="presets" id="presets">
                <label>
                    "Preset "
                    <select id="preset-select" on:change=choose prop:value=move || chosen.get()>
                        <option value="">"—"</option>
                        {move || presets.get().into_iter().map(|p| {
                            let name = p.name.clone();
                            let this = name.clone();
                            view! {
                                <option value=name.clone() selected=move || chosen.with(|c| *c == this)>
                                    {name.clone()}
                                </option>
                            }
                        }).collect_view()}
                    </select>
                </label>
                <input type="text" id="preset-name" placeholder="preset name" aria-label="preset name" bind:value=preset_name/>
                <button type="button" id="save-preset" on:click=save disabled=move || preset_name.with(|n| n.trim().is_empty())>
                    "Save as preset"
                </button>
                <button type="button" id="delete-preset" disabled=move || chosen.with(String::is_empty)
                    on:click=move |_| { delete_preset.dispatch(chosen.get_untracked()); }>
                    "Delete preset"
                </button>
            </div>
            <fieldset class="weights">
                <legend>"Control weights " <span class="hint">"(0 = off)"</span></legend>
                {Control::ALL
                    .into_iter()
                    .map(|c| {
                        let w = settings.weight(c);
                        view! {
                            <div class="weight-row" class:off=move || w.get() == 0.0>
                                <span class=format!("badge control c-{c}")>{c.as_str()}</span>
                                <input
                                    type="range"
                                    min="0"
                                    max="1"
                                    step="0.05"
                                    id=format!("weight-{c}")
                                    aria-label=format!("{c} weight")
                                    disabled=move || needs_video(c)
                                    prop:value=move || w.get().to_string()
                                    on:input=move |ev| {
                                        w.set(event_target_value(&ev).parse().unwrap_or(0.0));
                                    }
                                />
                                <span class="weight-value">
                                    {move || {
                                        if needs_video(c) {
                                            "needs a video".to_string()
                                        } else {
                                            format!("{:.2}", w.get())
                                        }
                                    }}
                                </span>
                            </div>
                        }
                    })
                    .collect_view()}
            </fieldset>
            <div class="grid-4">
                <NumberField label="Steps" id="set-steps" value=settings.steps step="1" hint="Diffusion steps (default 35)"/>
                <NumberField label="Guidance" id="set-guidance" value=settings.guidance step="0.5" placeholder=default_guidance hint="Classifier-free guidance, 0 to 20; blank: the executor's default (5 on Transfer1, 3 on Transfer2.5)"/>
                <NumberField label="Seed" id="set-seed" value=settings.seed step="1" placeholder=default_seed hint="Global seed; blank: the executor's default (1 on Transfer1, 2025 on Transfer2.5)"/>
                <NumberField label="Sigma max" id="set-sigma" value=settings.sigma_max step="1" placeholder=default_sigma hint="Noise to start from; below 80 the input video guides generation; blank: the program's default (70 on Transfer1; none on Transfer2.5, which starts from noise)"/>
                <StrengthField label="Blur strength" id="set-blur" value=settings.blur/>
                <StrengthField label="Canny threshold" id="set-canny" value=settings.canny/>
                <NumberField label="FPS" id="set-fps" value=settings.fps step="1" placeholder=default_fps hint="Frames per second of the output; blank: the program's default (24 on Transfer1; Transfer2.5 keeps the input video's and has no such setting)"/>
                {move || has_distilled().then(|| view! {
                    <label class="check" title="Also add an upscale job (4K upscaler) of this job's output, which waits for it">
                        <input type="checkbox" id="then-upscale" bind:checked=then_upscale/>
                        "Then upscale"
                    </label>
                })}
                {move || has_distilled().then(|| view! {
                    <label class="check" title="Transfer1's distilled edge model (--use_distilled): edge only, one step">
                        <input type="checkbox" id="set-distilled" bind:checked=settings.distilled/>
                        "Distilled edge model"
                    </label>
                })}
            </div>
            <div class="vary" id="vary">
                <label>
                    "Vary a setting "
                    <select id="vary-setting" on:change=move |ev| vary.set(event_target_value(&ev))>
                        <option value="">"— (one job)"</option>
                        {Varied::choices().into_iter().map(|(value, label)| view! {
                            <option value=value>{label}</option>
                        }).collect_view()}
                    </select>
                </label>
                <input type="text" id="vary-values" aria-label="values to vary over"
                    placeholder="0.2, 0.4, 0.6  or  0.2..0.8 step 0.2"
                    disabled=move || vary.with(String::is_empty)
                    bind:value=vary_text/>
                <span class="hint" id="vary-count">
                    {move || match varied.get() {
                        Ok(Some((_, values))) => plural(values.len(), "job"),
                        Ok(None) => String::new(),
                        Err(e) => e,
                    }}
                </span>
            </div>
            {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
            <div class="actions">
                <span class="hint">
                    {move || (!any_active()).then_some("Set at least one control weight above 0.")}
                </span>
                <button
                    type="submit"
                    class="primary"
                    id="add-to-queue"
                    disabled=move || pending() || prompt.with(Option::is_none) || !any_active() || varied.with(Result::is_err)
                >
                    {move || match (pending(), job_count()) {
                        (true, _) => "Adding…".to_string(),
                        (false, 1) => "Add to Queue".to_string(),
                        (false, n) => format!("Add {n} jobs"),
                    }}
                </button>
            </div>
        </form>
    }
}
