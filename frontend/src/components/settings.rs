//! Settings: the daemon's access token, kept in this browser's localStorage.

use crate::api;
use crate::events;
use crate::store::use_store;
use leptos::prelude::*;

#[component]
pub fn SettingsPanel(on_close: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let store = use_store();
    let token = RwSignal::new(api::token().unwrap_or_default());
    let close = on_close.clone();
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        api::set_token(&token.get_untracked());
        store.info(if api::token().is_some() {
            "Access token saved in this browser."
        } else {
            "Access token removed."
        });
        events::connect(store);
        store.reload_all();
        close();
    };
    view! {
        <form class="settings card" on:submit=save>
            <label for="token-input">"Access token"</label>
            <p class="hint">
                "Needed when the daemon has "<code>"auth_token"</code>" set. Kept in this browser only "
                "and sent as "<code>"Authorization: Bearer"</code>"."
            </p>
            <div class="row">
                <input
                    id="token-input"
                    type="password"
                    autocomplete="off"
                    placeholder="none"
                    bind:value=token
                />
                <button type="submit" class="primary">"Save"</button>
                <button type="button" on:click=move |_| on_close()>"Close"</button>
            </div>
        </form>
    }
}
