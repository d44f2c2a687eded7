//! `/api/v1/queue`.

use super::blocking;
use crate::error::{ApiResult, ErrorResponse};
use crate::queue::Queue;
use actix_web::{get, patch, post, web, HttpResponse};
use cosmosq_shared::api::{QueueSettingsPatch, QueueView};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(show)
        .service(pause)
        .service(resume)
        .service(settings);
}

/// The queue: paused flag and reason, settings, counts, running then queued jobs.
#[utoipa::path(tag = "queue", responses((status = 200, body = QueueView)))]
#[get("/queue")]
async fn show(queue: web::Data<Queue>) -> HttpResponse {
    HttpResponse::Ok().json(queue.view())
}

/// Pause: the running batch finishes, then nothing new starts (batches of an executed plan
/// still run). Persisted.
#[utoipa::path(tag = "queue", responses((status = 200, body = QueueView)))]
#[post("/queue/pause")]
async fn pause(queue: web::Data<Queue>) -> ApiResult<HttpResponse> {
    let q = queue.into_inner();
    Ok(HttpResponse::Ok().json(blocking(move || q.pause("paused by a user")).await?))
}

/// Resume running jobs in queue order.
#[utoipa::path(tag = "queue", responses((status = 200, body = QueueView)))]
#[post("/queue/resume")]
async fn resume(queue: web::Data<Queue>) -> ApiResult<HttpResponse> {
    let q = queue.into_inner();
    Ok(HttpResponse::Ok().json(blocking(move || q.resume()).await?))
}

/// Change queue settings (mix controls, max batch size, automatic batching); only the
/// fields given change. Persisted.
#[utoipa::path(
    tag = "queue",
    request_body = QueueSettingsPatch,
    responses(
        (status = 200, body = QueueView),
        (status = 400, body = ErrorResponse),
        (status = 422, description = "max_batch_size out of 1..=64", body = ErrorResponse),
    )
)]
#[patch("/queue/settings")]
async fn settings(
    queue: web::Data<Queue>,
    body: web::Json<QueueSettingsPatch>,
) -> ApiResult<HttpResponse> {
    let q = queue.into_inner();
    Ok(HttpResponse::Ok().json(blocking(move || q.update_settings(body.into_inner())).await?))
}
