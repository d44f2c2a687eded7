//! `/api/v1/queue`.

use super::{blocking, Body, Documented};
use crate::api::error::ErrorResponse;
use crate::error::{Error, Result};
use crate::queue::Queue;
use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use cosmosq_shared::api::{QueueSettingsPatch, QueueView};
use cosmosq_shared::ErrorCode;
use serde::Deserialize;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(Documented(show))
        .service(Documented(pause))
        .service(Documented(resume))
        .service(Documented(settings));
}

#[derive(Deserialize, utoipa::IntoParams)]
struct ShowQuery {
    /// Skip this many jobs of the list (running jobs first, then queued ones by position).
    #[param(minimum = 0, maximum = 2147483647)]
    offset: Option<u32>,
    /// Return at most this many jobs (default: all). Counts always cover the whole queue.
    #[param(minimum = 0, maximum = 2147483647)]
    limit: Option<u32>,
}

/// Whether an `If-None-Match` header value matches `etag` (weak comparison, `*` included).
fn none_match(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

/// The queue: paused flag and reason, settings, counts, running then queued jobs.
///
/// Without paging the reply carries an `ETag`; send it back in `If-None-Match` to get
/// `304 Not Modified` (no body) while nothing changed. `offset`/`limit` return one page of
/// the jobs (no `ETag`).
#[utoipa::path(
    tag = "queue",
    params(ShowQuery),
    responses(
        (status = 200, body = QueueView, headers(("ETag" = String, description = "Version of the full view (absent on pages)"))),
        (status = 304, description = "Not Modified: the `If-None-Match` tag is still current"),
        (status = 400, description = "`invalid_query`: offset or limit is not a whole number from 0 to 2147483647", body = ErrorResponse),
    )
)]
#[get("/queue")]
async fn show(
    queue: web::Data<Queue>,
    query: web::Query<ShowQuery>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let ShowQuery { offset, limit } = query.into_inner();
    // As documented (an int32 from 0): a bigger number is refused, not silently accepted.
    if offset.max(limit).is_some_and(|n| n > i32::MAX as u32) {
        return Err(Error::new(
            ErrorCode::InvalidQuery,
            "offset and limit must be whole numbers from 0 to 2147483647",
        ));
    }
    let (offset, limit) = (offset.map(|o| o as usize), limit.map(|l| l as usize));
    let q = queue.into_inner();
    if offset.is_some() || limit.is_some() {
        let view = blocking(move || Ok(q.view_page(offset.unwrap_or(0), limit))).await?;
        return Ok(HttpResponse::Ok().json(view));
    }
    let etag = q.view_etag();
    if none_match(&req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .finish());
    }
    // Serializing a stale cache can take milliseconds: off the async worker.
    let view = blocking(move || Ok(q.view_bytes())).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::ETAG, view.etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(view.body))
}

/// Pause: the running batch finishes, then nothing new starts (batches of an executed plan
/// still run). Persisted.
#[utoipa::path(
    tag = "queue",
    operation_id = "pause_queue",
    responses((status = 200, body = QueueView))
)]
#[post("/queue/pause")]
async fn pause(queue: web::Data<Queue>) -> Result<HttpResponse> {
    let q = queue.into_inner();
    Ok(HttpResponse::Ok().json(blocking(move || q.pause("paused by a user")).await?))
}

/// Resume running jobs in queue order.
#[utoipa::path(
    tag = "queue",
    operation_id = "resume_queue",
    responses((status = 200, body = QueueView))
)]
#[post("/queue/resume")]
async fn resume(queue: web::Data<Queue>) -> Result<HttpResponse> {
    let q = queue.into_inner();
    Ok(HttpResponse::Ok().json(blocking(move || q.resume()).await?))
}

/// Change queue settings (mix controls, max batch size, automatic batching); only the
/// fields given change. Persisted.
#[utoipa::path(
    tag = "queue",
    operation_id = "update_queue_settings",
    request_body = QueueSettingsPatch,
    responses(
        (status = 200, body = QueueView),
        (status = 422, description = "max_batch_size out of 1..=64", body = ErrorResponse),
    )
)]
#[patch("/queue/settings")]
async fn settings(queue: web::Data<Queue>, body: Body<QueueSettingsPatch>) -> Result<HttpResponse> {
    let q = queue.into_inner();
    Ok(HttpResponse::Ok().json(blocking(move || q.update_settings(body.into_inner())).await?))
}
