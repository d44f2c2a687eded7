//! A job's output video in an HTML5 player, streamed by the browser (Range requests, so
//! seeking works); with an access token the URL carries it, since a `<video src>` cannot send
//! headers.

use crate::api;
use leptos::prelude::*;

#[component]
pub fn OutputVideo(job_id: String) -> impl IntoView {
    view! {
        <video class="output-video" controls preload="metadata" src=api::output_url(&job_id)></video>
    }
}
