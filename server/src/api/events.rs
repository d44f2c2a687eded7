//! `/api/v1/events`: Server-Sent Events.

use crate::queue::Queue;
use actix_web::web::Bytes;
use actix_web::{get, web, HttpResponse};
use cosmosq_shared::api::Event;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use utoipa_actix_web::service_config::ServiceConfig;

/// A comment line is sent when nothing happened for this long, so proxies keep the stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(stream);
}

fn frame(event: &Event) -> Bytes {
    let data = serde_json::to_string(event).expect("events always serialise");
    Bytes::from(format!("event: {}\ndata: {data}\n\n", event.name()))
}

/// Live changes as Server-Sent Events: `event:` is the type (job, batch, progress, queue,
/// resync), `data:` the JSON of the event. The first event is the queue's current state. A
/// client that reads too slowly gets `resync` and should reload. With a token configured,
/// browsers may pass it as `?access_token=`.
#[utoipa::path(
    tag = "events",
    responses((status = 200, description = "text/event-stream of Event", content_type = "text/event-stream", body = Event))
)]
#[get("/events")]
async fn stream(queue: web::Data<Queue>) -> HttpResponse {
    let rx = queue.events().subscribe();
    let first = queue.view();
    let hello = Event::Queue {
        paused: first.paused,
        paused_reason: first.paused_reason,
        settings: first.settings,
        counts: first.counts,
    };
    let body = futures_util::stream::unfold((rx, Some(hello)), |(mut rx, first)| async move {
        if let Some(e) = first {
            return Some((Ok::<_, actix_web::Error>(frame(&e)), (rx, None)));
        }
        let bytes = match tokio::time::timeout(KEEP_ALIVE, rx.recv()).await {
            Err(_) => Bytes::from_static(b": keep-alive\n\n"),
            Ok(Ok(event)) => frame(&event),
            // Dropped events: tell the client to reload instead of showing stale state.
            Ok(Err(RecvError::Lagged(_))) => frame(&Event::Resync),
            Ok(Err(RecvError::Closed)) => return None,
        };
        Some((Ok(bytes), (rx, None)))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}
