//! `/api/v1/presets`: named run settings.

use super::{blocking, Body, Documented};
use crate::api::error::ErrorResponse;
use crate::error::Result;
use crate::queue::Queue;
use actix_web::{delete, get, post, web, HttpResponse};
use cosmosq_shared::api::{Preset, PresetInput};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(Documented(list))
        .service(Documented(save))
        .service(Documented(remove));
}

/// Every preset, by name.
#[utoipa::path(
    tag = "presets",
    operation_id = "list_presets",
    responses((status = 200, body = Vec<Preset>))
)]
#[get("/presets")]
async fn list(queue: web::Data<Queue>) -> HttpResponse {
    HttpResponse::Ok().json(queue.presets())
}

/// Save a preset: created, or replaced when one of its name exists. Its settings are checked
/// as a job's would be on this executor.
#[utoipa::path(
    tag = "presets",
    operation_id = "save_preset",
    request_body = PresetInput,
    responses(
        (status = 201, description = "Saved", body = Preset),
        (status = 409, description = "`too_many_presets`", body = ErrorResponse),
        (status = 422, description = "A bad name or settings", body = ErrorResponse),
    )
)]
#[post("/presets")]
async fn save(queue: web::Data<Queue>, body: Body<PresetInput>) -> Result<HttpResponse> {
    let q = queue.into_inner();
    let preset = blocking(move || q.save_preset(body.into_inner())).await?;
    Ok(HttpResponse::Created().json(preset))
}

/// Delete a preset (jobs made from it keep their settings).
#[utoipa::path(
    tag = "presets",
    operation_id = "delete_preset",
    params(("name" = String, Path, description = "Preset name")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorResponse))
)]
#[delete("/presets/{name}")]
async fn remove(queue: web::Data<Queue>, name: web::Path<String>) -> Result<HttpResponse> {
    let q = queue.into_inner();
    blocking(move || q.delete_preset(&name)).await?;
    Ok(HttpResponse::NoContent().finish())
}
