//! `/api/v1/batches`.

use super::{blocking, Body, Documented};
use crate::api::error::ErrorResponse;
use crate::error::Result;
use crate::queue::Queue;
use actix_web::{get, post, web, HttpResponse};
use cosmosq_shared::api::{Batch, CostModelView, ExecuteInput, ExecuteReply};
use cosmosq_shared::plan::{Plan, PlanMode};
use serde::Deserialize;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(Documented(preview))
        .service(Documented(execute))
        .service(Documented(list))
        .service(Documented(show))
        .service(Documented(cost_model));
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct PreviewQuery {
    /// strict or mixed (default: the queue's Mix Control Inputs setting).
    mode: Option<PlanMode>,
    /// 1..=64 (default: the queue's setting).
    #[param(minimum = 1, maximum = 64)]
    max_batch_size: Option<u32>,
}

/// Preview the smart batches of the queued jobs: what runs with what, and why.
#[utoipa::path(
    tag = "batches",
    operation_id = "preview_batches",
    params(PreviewQuery),
    responses(
        (status = 200, body = Plan),
        (status = 400, description = "`invalid_query`: unknown mode or parameter, or a size that is not a number", body = ErrorResponse),
        (status = 422, description = "max_batch_size out of range", body = ErrorResponse),
    )
)]
#[get("/batches/preview")]
async fn preview(queue: web::Data<Queue>, query: web::Query<PreviewQuery>) -> Result<HttpResponse> {
    let q = queue.into_inner();
    let plan = blocking(move || q.preview(query.mode, query.max_batch_size)).await?;
    Ok(HttpResponse::Ok().json(plan))
}

/// Execute exactly a previewed plan. Its batches run in order as executor slots free up,
/// even while the queue is paused.
#[utoipa::path(
    tag = "batches",
    operation_id = "execute_plan",
    request_body = ExecuteInput,
    responses(
        (status = 202, description = "Accepted: the batches wait for executor slots", body = ExecuteReply),
        (status = 409, description = "`stale_plan` (the queue changed; `preview` holds the fresh plan) or `nothing_to_run`", body = ErrorResponse),
    )
)]
#[post("/batches")]
async fn execute(queue: web::Data<Queue>, body: Body<ExecuteInput>) -> Result<HttpResponse> {
    let q = queue.into_inner();
    let reply = blocking(move || q.execute(&body.plan_id)).await?;
    Ok(HttpResponse::Accepted().json(reply))
}

/// Batches, newest first.
#[utoipa::path(
    tag = "batches",
    operation_id = "list_batches",
    responses((status = 200, body = Vec<Batch>))
)]
#[get("/batches")]
async fn list(queue: web::Data<Queue>) -> HttpResponse {
    HttpResponse::Ok().json(queue.batches())
}

/// One batch: status, progress, estimated vs measured seconds.
#[utoipa::path(
    tag = "batches",
    operation_id = "get_batch",
    params(("id" = String, Path, description = "Batch id (`bt_...`)")),
    responses((status = 200, body = Batch), (status = 404, body = ErrorResponse))
)]
#[get("/batches/{id}")]
async fn show(queue: web::Data<Queue>, id: web::Path<String>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(queue.batch(&id)?))
}

/// The cost model the daemon plans with (the SPA computes identical previews with it), and
/// how well it fits the measured batches.
#[utoipa::path(
    tag = "batches",
    operation_id = "get_cost_model",
    responses((status = 200, body = CostModelView))
)]
#[get("/cost-model")]
async fn cost_model(queue: web::Data<Queue>) -> HttpResponse {
    HttpResponse::Ok().json(queue.cost_model_view())
}
