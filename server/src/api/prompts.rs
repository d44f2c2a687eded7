//! `/api/v1/prompts`.

use super::{blocking, Body, Documented};
use crate::api::error::ErrorResponse;
use crate::error::Result;
use crate::queue::Queue;
use actix_web::{delete, get, post, web, HttpResponse};
use cosmosq_shared::api::{Prompt, PromptInput};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(Documented(create))
        .service(Documented(list))
        .service(Documented(show))
        .service(Documented(remove));
}

/// Create a prompt. The daemon probes the input video (frames, fps, size, aspect bucket).
#[utoipa::path(
    tag = "prompts",
    operation_id = "create_prompt",
    request_body = PromptInput,
    responses(
        (status = 201, description = "Created", body = Prompt),
        (status = 422, description = "Bad values, or a video that is missing, not allowed or unreadable", body = ErrorResponse),
    )
)]
#[post("/prompts")]
async fn create(queue: web::Data<Queue>, body: Body<PromptInput>) -> Result<HttpResponse> {
    let q = queue.into_inner();
    let prompt = blocking(move || q.add_prompt(body.into_inner())).await?;
    Ok(HttpResponse::Created().json(prompt))
}

/// List prompts, newest first.
#[utoipa::path(
    tag = "prompts",
    operation_id = "list_prompts",
    responses((status = 200, body = Vec<Prompt>))
)]
#[get("/prompts")]
async fn list(queue: web::Data<Queue>) -> HttpResponse {
    HttpResponse::Ok().json(queue.prompts())
}

/// One prompt.
#[utoipa::path(
    tag = "prompts",
    operation_id = "get_prompt",
    params(("id" = String, Path, description = "Prompt id (`ps_...`)")),
    responses((status = 200, body = Prompt), (status = 404, body = ErrorResponse))
)]
#[get("/prompts/{id}")]
async fn show(queue: web::Data<Queue>, id: web::Path<String>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(queue.prompt(&id)?))
}

/// Delete a prompt that no queued or running job uses.
#[utoipa::path(
    tag = "prompts",
    operation_id = "delete_prompt",
    params(("id" = String, Path, description = "Prompt id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = ErrorResponse),
        (status = 409, description = "Queued or running jobs use it", body = ErrorResponse),
    )
)]
#[delete("/prompts/{id}")]
async fn remove(queue: web::Data<Queue>, id: web::Path<String>) -> Result<HttpResponse> {
    let q = queue.into_inner();
    blocking(move || q.delete_prompt(&id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
