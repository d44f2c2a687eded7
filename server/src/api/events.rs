//! `/api/v1/events`: Server-Sent Events.

use crate::api::error::ErrorResponse;
use crate::error::Error;
use crate::queue::Queue;
use actix_web::web::Bytes;
use actix_web::{get, web, HttpResponse};
use cosmosq_shared::api::Event;
use cosmosq_shared::ErrorCode;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use utoipa::openapi::{RefOr, Schema};
use utoipa_actix_web::service_config::ServiceConfig;

/// A comment line is sent when nothing happened for this long, so proxies keep the stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One frame of the stream, described the way OpenAPI 3.1 describes an item of a
/// `text/event-stream`: `event` is the event's type, `data` its JSON, an [`Event`].
struct EventFrame;

/// The SSE event names, one per [`Event`] variant ([`Event::name`]).
const EVENT_NAMES: [&str; 5] = ["job", "batch", "progress", "queue", "resync"];

impl utoipa::PartialSchema for EventFrame {
    fn schema() -> RefOr<Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        // `contentSchema` (JSON Schema 2020-12) has no builder in utoipa: it goes in as a raw
        // keyword (this map is written as it is).
        let content_schema: utoipa::openapi::extensions::Extensions = [(
            "contentSchema",
            serde_json::json!({ "$ref": "#/components/schemas/Event" }),
        )]
        .into_iter()
        .collect();
        ObjectBuilder::new()
            .description(Some(
                "One Server-Sent Events frame: `event:` names the type, `data:` is the JSON of an `Event`.",
            ))
            .property(
                "event",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(EVENT_NAMES)),
            )
            .required("event")
            .property(
                "data",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .content_media_type("application/json")
                    .extensions(Some(content_schema)),
            )
            .required("data")
            .into()
    }
}

impl utoipa::ToSchema for EventFrame {
    fn name() -> std::borrow::Cow<'static, str> {
        "EventFrame".into()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            <Event as utoipa::ToSchema>::name().into(),
            <Event as utoipa::PartialSchema>::schema(),
        ));
        <Event as utoipa::ToSchema>::schemas(schemas);
    }
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(super::Documented(stream));
}

fn frame(event: &Event) -> Bytes {
    let data = serde_json::to_string(event).expect("events always serialise");
    Bytes::from(format!("event: {}\ndata: {data}\n\n", event.name()))
}

/// Live changes as Server-Sent Events: `event:` is the type (job, batch, progress, queue,
/// resync), `data:` the JSON of the event. The first event is the queue's current state. A
/// client that reads too slowly gets `resync` and should reload. With a token configured,
/// browsers may pass it as `?access_token=`. At most `max_event_streams` clients at once
/// (429 `too_many_event_streams` beyond).
#[utoipa::path(
    tag = "events",
    operation_id = "stream_events",
    responses(
        (status = 200, description = "text/event-stream: one frame per change", content_type = "text/event-stream", body = EventFrame),
        (status = 429, description = "`too_many_event_streams`: `max_event_streams` clients are connected already", body = ErrorResponse)
    )
)]
#[get("/events")]
async fn stream(queue: web::Data<Queue>) -> Result<HttpResponse, Error> {
    let max = queue.config().max_event_streams;
    let Some((slot, rx)) = queue.events().stream(max) else {
        return Err(Error::new(ErrorCode::TooManyEventStreams,
            format!("{max} event-stream clients are connected already (max_event_streams); close one or raise the limit"),
        ));
    };
    let first = queue.view();
    let hello = Event::Queue {
        paused: first.paused,
        paused_reason: first.paused_reason,
        settings: first.settings,
        counts: first.counts,
    };
    // The slot travels with the stream and is given back when actix drops it (the client
    // went away: noticed at the next write, a keep-alive at the latest).
    let state = (rx, Some(hello), slot);
    let body = futures_util::stream::unfold(state, |(mut rx, first, slot)| async move {
        if let Some(e) = first {
            return Some((Ok::<_, actix_web::Error>(frame(&e)), (rx, None, slot)));
        }
        let bytes = match tokio::time::timeout(KEEP_ALIVE, rx.recv()).await {
            Err(_) => Bytes::from_static(b": keep-alive\n\n"),
            Ok(Ok(event)) => frame(&event),
            // Dropped events: tell the client to reload instead of showing stale state.
            Ok(Err(RecvError::Lagged(_))) => frame(&Event::Resync),
            Ok(Err(RecvError::Closed)) => return None,
        };
        Some((Ok(bytes), (rx, None, slot)))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_schema_names_every_event() {
        let events = [
            Event::Resync,
            Event::Progress {
                batch_id: "bt_1".into(),
                progress: 0.5,
                log_tail: vec![],
            },
        ];
        for e in &events {
            assert!(EVENT_NAMES.contains(&e.name()), "{}", e.name());
        }
    }
}
