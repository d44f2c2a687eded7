//! `/api/v1/slots`: executor slots, their state and health; drain, disable, enable.

use super::{blocking, Documented};
use crate::api::error::ErrorResponse;
use crate::error::Result;
use crate::queue::{Queue, SlotAction};
use actix_web::{get, post, web, HttpResponse};
use cosmosq_shared::api::SlotView;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(Documented(list))
        .service(Documented(drain))
        .service(Documented(disable))
        .service(Documented(enable));
}

/// Executor slots in configuration order: state (`idle`, `busy`, `draining`, `disabled`,
/// `quarantined`), the batch each runs, and failures in a row that were the slot's.
#[utoipa::path(
    tag = "operations",
    operation_id = "list_slots",
    responses((status = 200, body = Vec<SlotView>))
)]
#[get("/slots")]
async fn list(queue: web::Data<Queue>) -> HttpResponse {
    HttpResponse::Ok().json(queue.slots())
}

async fn act(queue: web::Data<Queue>, name: String, action: SlotAction) -> Result<HttpResponse> {
    let q = queue.into_inner();
    let view = blocking(move || q.slot_action(&name, action)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Drain a slot: its current batch finishes, it takes no other (then it shows `disabled`).
/// A slot already out of service stays as it is.
#[utoipa::path(
    tag = "operations",
    operation_id = "drain_slot",
    params(("name" = String, Path, description = "Slot name (`slot0`, a configured name, `slurm0`, ...)")),
    responses((status = 200, body = SlotView), (status = 404, description = "`slot_not_found`", body = ErrorResponse))
)]
#[post("/slots/{name}/drain")]
async fn drain(queue: web::Data<Queue>, name: web::Path<String>) -> Result<HttpResponse> {
    act(queue, name.into_inner(), SlotAction::Drain).await
}

/// Disable a slot: it takes no work; a batch it runs is stopped and that batch's jobs go back
/// to their places without an attempt counted.
#[utoipa::path(
    tag = "operations",
    operation_id = "disable_slot",
    params(("name" = String, Path, description = "Slot name")),
    responses((status = 200, body = SlotView), (status = 404, description = "`slot_not_found`", body = ErrorResponse))
)]
#[post("/slots/{name}/disable")]
async fn disable(queue: web::Data<Queue>, name: web::Path<String>) -> Result<HttpResponse> {
    act(queue, name.into_inner(), SlotAction::Disable).await
}

/// Enable a slot (after a drain, a disable or a quarantine): it takes work again, its count
/// of failures in a row reset.
#[utoipa::path(
    tag = "operations",
    operation_id = "enable_slot",
    params(("name" = String, Path, description = "Slot name")),
    responses((status = 200, body = SlotView), (status = 404, description = "`slot_not_found`", body = ErrorResponse))
)]
#[post("/slots/{name}/enable")]
async fn enable(queue: web::Data<Queue>, name: web::Path<String>) -> Result<HttpResponse> {
    act(queue, name.into_inner(), SlotAction::Enable).await
}
