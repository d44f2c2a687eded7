//! The live link: `GET /api/v1/events` (Server-Sent Events) patched into the store. On every
//! (re)connect the state is reloaded; when the stream breaks the header says so and the app
//! reconnects with a growing delay (0.5 s doubling to 10 s).

use crate::api;
use crate::model;
use crate::store::{Link, Store};
use cosmosq_shared::api::Event;
use leptos::prelude::*;
use std::cell::{Cell, RefCell};
use std::time::Duration;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{EventSource, MessageEvent};

const EVENT_NAMES: [&str; 5] = ["job", "batch", "progress", "queue", "resync"];

type Handler = Closure<dyn FnMut(web_sys::Event)>;

struct Connection {
    source: EventSource,
    /// Kept alive as long as the source can call them.
    _handlers: Vec<Handler>,
}

thread_local! {
    static CONNECTION: RefCell<Option<Connection>> = const { RefCell::new(None) };
    static ATTEMPT: Cell<u32> = const { Cell::new(0) };
    /// Bumped on every connect, so a late error of an old source schedules nothing.
    static GENERATION: Cell<u64> = const { Cell::new(0) };
}

/// (Re)open the event stream, dropping any previous one (also after the token changed).
pub fn connect(store: Store) {
    let generation = GENERATION.with(|g| {
        g.set(g.get() + 1);
        g.get()
    });
    CONNECTION.with(|c| {
        if let Some(old) = c.borrow_mut().take() {
            old.source.close();
        }
    });
    let source = match EventSource::new(&api::events_url()) {
        Ok(s) => s,
        Err(_) => return schedule_reconnect(store, generation),
    };
    let mut handlers: Vec<Handler> = Vec::new();

    let on_open: Handler = Closure::new(move |_| {
        ATTEMPT.with(|a| a.set(0));
        store.link.set(Link::Live);
        store.reload_all();
    });
    source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    handlers.push(on_open);

    for name in EVENT_NAMES {
        let handler: Handler = Closure::new(move |e: web_sys::Event| {
            let Some(data) = e
                .dyn_ref::<MessageEvent>()
                .and_then(|m| m.data().as_string())
            else {
                return;
            };
            match serde_json::from_str::<Event>(&data) {
                Ok(event) => store.apply(event),
                // An event this version does not know: reload rather than guess.
                Err(_) => store.reload_all(),
            }
        });
        let _ = source.add_event_listener_with_callback(name, handler.as_ref().unchecked_ref());
        handlers.push(handler);
    }

    // The browser retries some failures itself but gives up on others (a 401, a daemon that
    // answered an error): close and retry on our own schedule, and say so meanwhile.
    let source_for_error = source.clone();
    let on_error: Handler = Closure::new(move |_| {
        source_for_error.close();
        schedule_reconnect(store, generation);
    });
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    handlers.push(on_error);

    CONNECTION.with(|c| {
        *c.borrow_mut() = Some(Connection {
            source,
            _handlers: handlers,
        })
    });
}

fn schedule_reconnect(store: Store, generation: u64) {
    if GENERATION.with(Cell::get) != generation {
        return;
    }
    // One retry per broken source.
    GENERATION.with(|g| g.set(g.get() + 1));
    let attempt = ATTEMPT.with(|a| {
        let n = a.get();
        a.set(n + 1);
        n
    });
    let delay = model::backoff_ms(attempt);
    store.link.set(Link::Reconnecting {
        attempt: attempt + 1,
        retry_in_ms: delay,
    });
    set_timeout(move || connect(store), Duration::from_millis(delay.into()));
}
