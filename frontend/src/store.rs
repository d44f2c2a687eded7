//! The app's state, shared through context: loaded from the REST API, patched from the event
//! stream, and reloaded whenever the stream (re)connects or asks to resync, so a page never
//! shows stale state silently.

use crate::api::{self, ApiError};
use crate::preview::{self, PromptIndex};
use cosmosq_shared::api::{Batch, CostModelView, Event, Job, JobStatus, Prompt, QueueView};
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::collections::HashMap;
use std::time::Duration;

/// How long a confirmation stays on screen.
const INFO_SECONDS: Duration = Duration::from_secs(6);

/// The event stream's state, shown in the header and the banner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Link {
    Connecting,
    Live,
    /// Lost; the next try is in `retry_in_ms`.
    Reconnecting {
        attempt: u32,
        retry_in_ms: u32,
    },
}

/// A running batch's newest progress and log lines (from `progress` events).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveBatch {
    pub progress: f64,
    pub log_tail: Vec<String>,
}

/// A message for the user at the top of the page.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub id: u64,
    pub error: bool,
    pub text: String,
}

#[derive(Clone, Copy)]
pub struct Store {
    pub queue: RwSignal<Option<QueueView>>,
    pub prompts: RwSignal<Vec<Prompt>>,
    pub prompt_index: Memo<PromptIndex>,
    /// Every job the daemon knows (the Runs page and a prompt's runs).
    pub jobs: RwSignal<Vec<Job>>,
    /// Batches, newest first.
    pub batches: RwSignal<Vec<Batch>>,
    pub live: RwSignal<HashMap<String, LiveBatch>>,
    pub cost: RwSignal<Option<CostModelView>>,
    pub link: RwSignal<Link>,
    /// Prompts and jobs have been loaded once (until then, empty lists mean "loading").
    pub loaded: RwSignal<bool>,
    pub notices: RwSignal<Vec<Notice>>,
    queue_reload: StoredValue<Reload>,
    prompts_loading: StoredValue<bool>,
    next_notice: StoredValue<u64>,
}

/// Where a queue reload stands (reloads asked for while one runs fold into one more).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reload {
    Idle,
    InFlight,
    /// In flight, and another one wanted when it ends.
    Again,
}

pub fn use_store() -> Store {
    expect_context::<Store>()
}

fn upsert_job(list: &mut Vec<Job>, job: Job) {
    match list.iter_mut().find(|j| j.id == job.id) {
        Some(slot) => *slot = job,
        None => list.insert(0, job),
    }
}

impl Store {
    pub fn new() -> Store {
        let prompts = RwSignal::new(Vec::<Prompt>::new());
        Store {
            queue: RwSignal::new(None),
            prompts,
            prompt_index: Memo::new(move |_| prompts.with(|p| preview::index_prompts(p))),
            jobs: RwSignal::new(Vec::new()),
            batches: RwSignal::new(Vec::new()),
            live: RwSignal::new(HashMap::new()),
            cost: RwSignal::new(None),
            link: RwSignal::new(Link::Connecting),
            loaded: RwSignal::new(false),
            notices: RwSignal::new(Vec::new()),
            queue_reload: StoredValue::new(Reload::Idle),
            prompts_loading: StoredValue::new(false),
            next_notice: StoredValue::new(0),
        }
    }

    fn notify(self, error: bool, text: String) {
        let id = self.next_notice.get_value();
        self.next_notice.set_value(id + 1);
        self.notices.update(|n| {
            // The same failure repeated (a reload loop) shows once.
            n.retain(|x| x.text != text);
            n.push(Notice { id, error, text });
            if n.len() > 4 {
                n.remove(0);
            }
        });
        // Confirmations fade; errors stay until dismissed.
        if !error {
            set_timeout(move || self.dismiss(id), INFO_SECONDS);
        }
    }

    /// Show a failed request in plain words.
    pub fn error(self, e: &ApiError) {
        self.notify(true, e.plain());
    }

    pub fn info(self, text: impl Into<String>) {
        self.notify(false, text.into());
    }

    pub fn dismiss(self, id: u64) {
        self.notices.update(|n| n.retain(|x| x.id != id));
    }

    /// Reload everything (at start, on (re)connect and on `resync`).
    pub fn reload_all(self) {
        spawn_local(async move {
            match api::cost_model().await {
                Ok(c) => self.cost.set(Some(c)),
                Err(e) => return self.error(&e),
            }
            self.load_prompts().await;
            match api::batches().await {
                Ok(b) => self.batches.set(b),
                Err(e) => self.error(&e),
            }
            match api::jobs().await {
                Ok(j) => {
                    self.jobs.set(j);
                    self.loaded.set(true);
                }
                Err(e) => self.error(&e),
            }
            self.reload_queue();
        });
    }

    /// Reload every job (after deletions, which no event tells of).
    pub fn reload_jobs(self) {
        spawn_local(async move {
            match api::jobs().await {
                Ok(j) => self.jobs.set(j),
                Err(e) => self.error(&e),
            }
        });
    }

    pub fn reload_cost_model(self) {
        spawn_local(async move {
            match api::cost_model().await {
                Ok(c) => self.cost.set(Some(c)),
                Err(e) => self.error(&e),
            }
        });
    }

    async fn load_prompts(self) {
        self.prompts_loading.set_value(true);
        match api::prompts().await {
            Ok(p) => self.prompts.set(p),
            Err(e) => self.error(&e),
        }
        self.prompts_loading.set_value(false);
    }

    pub fn reload_prompts(self) {
        if !self.prompts_loading.get_value() {
            spawn_local(self.load_prompts());
        }
    }

    /// Reload the queue (its order and positions); bursts of calls coalesce into one or two
    /// requests.
    pub fn reload_queue(self) {
        if self.queue_reload.get_value() != Reload::Idle {
            self.queue_reload.set_value(Reload::Again);
            return;
        }
        self.queue_reload.set_value(Reload::InFlight);
        spawn_local(async move {
            loop {
                match api::queue().await {
                    Ok(q) => self.set_queue(q),
                    Err(e) => self.error(&e),
                }
                if self.queue_reload.get_value() == Reload::Again {
                    self.queue_reload.set_value(Reload::InFlight);
                    continue;
                }
                self.queue_reload.set_value(Reload::Idle);
                break;
            }
        });
    }

    /// Take a fresh queue view (from a reload or an action's reply).
    pub fn set_queue(&self, view: QueueView) {
        let stale_prompts = self
            .prompt_index
            .with_untracked(|index| preview::unknown_prompts(&view.jobs, index));
        self.queue.set(Some(view));
        if stale_prompts {
            self.reload_prompts();
        }
    }

    /// A job changed (an action's reply or an event).
    pub fn patch_job(&self, job: Job) {
        self.queue.update(|q| {
            if let Some(q) = q {
                if let Some(slot) = q.jobs.iter_mut().find(|j| j.id == job.id) {
                    let position = slot.position;
                    *slot = job.clone();
                    // Positions come from the queue reload that follows.
                    if job.status == JobStatus::Queued && slot.position.is_none() {
                        slot.position = position;
                    }
                }
            }
        });
        self.jobs.update(|list| upsert_job(list, job));
    }

    /// Apply one event from the stream.
    pub fn apply(self, event: Event) {
        match event {
            Event::Job { job } => self.patch_job(job),
            Event::Batch { batch } => {
                if batch.status.is_terminal() {
                    self.live.update(|l| {
                        l.remove(&batch.id);
                    });
                    // The daemon may refit its cost model from the measured batch; previews
                    // must plan with the model it plans with.
                    self.reload_cost_model();
                }
                self.batches
                    .update(|list| match list.iter_mut().find(|b| b.id == batch.id) {
                        Some(slot) => *slot = batch,
                        None => list.insert(0, batch),
                    });
            }
            Event::Progress {
                batch_id,
                progress,
                log_tail,
            } => self.live.update(|l| {
                l.insert(batch_id, LiveBatch { progress, log_tail });
            }),
            Event::Queue {
                paused,
                paused_reason,
                settings,
                counts,
            } => {
                self.queue.update(|q| {
                    if let Some(q) = q {
                        q.paused = paused;
                        q.paused_reason = paused_reason;
                        q.settings = settings;
                        q.counts = counts;
                    }
                });
                self.reload_queue();
            }
            Event::Resync => self.reload_all(),
        }
    }
}
