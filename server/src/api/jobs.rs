//! `/api/v1/jobs`.

use super::{blocking, Body, Documented};
use crate::api::error::ErrorResponse;
use crate::error::Result;
use crate::queue::Queue;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use cosmosq_shared::api::{
    BulkJobs, BulkJobsInput, Job, JobEdit, JobFilter, JobInput, JobStatus, MoveInput, MAX_BULK_JOBS,
};
use cosmosq_shared::ErrorCode;
use serde::Deserialize;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(Documented(create))
        .service(Documented(create_bulk))
        .service(Documented(cancel_bulk))
        .service(Documented(edit))
        .service(Documented(retry_bulk))
        .service(Documented(list))
        .service(Documented(show))
        .service(Documented(cancel))
        .service(Documented(move_to))
        .service(Documented(retry))
        .service(Documented(remove))
        .service(Documented(pin))
        .service(Documented(unpin));
}

/// Add one job at the bottom of the queue.
#[utoipa::path(
    tag = "jobs",
    operation_id = "create_job",
    request_body = JobInput,
    responses(
        (status = 201, description = "Queued", body = Job),
        (status = 400, description = "Malformed body or unknown field", body = ErrorResponse),
        (status = 409, description = "The queue is full", body = ErrorResponse),
        (status = 422, description = "Bad settings (unknown control, weight out of 0..=1, no active control, ...) or unknown prompt", body = ErrorResponse),
    )
)]
#[post("/jobs")]
async fn create(queue: web::Data<Queue>, body: Body<JobInput>) -> Result<HttpResponse> {
    let q = queue.into_inner();
    let job = blocking(move || q.add_job(body.into_inner())).await?;
    Ok(HttpResponse::Created().json(job))
}

/// Add many jobs at the bottom of the queue, in the order given: all or none, in one
/// transaction and one flush. An item that cannot be added refuses the whole request; the
/// error's `index` (from 0) and message name it, and nothing is stored. At most 10,000 jobs
/// a request, within the body limit (`max_body_bytes`).
#[utoipa::path(
    tag = "jobs",
    operation_id = "create_jobs_bulk",
    request_body = BulkJobsInput,
    responses(
        (status = 201, description = "All queued, in order", body = BulkJobs),
        (status = 400, description = "Malformed body or unknown field", body = ErrorResponse),
        (status = 409, description = "The queue cannot take them all (`queue_full`)", body = ErrorResponse),
        (status = 413, description = "The body is larger than `max_body_bytes`", body = ErrorResponse),
        (status = 422, description = "No jobs or too many (`bulk_size_out_of_range`), or an item with bad settings or an unknown prompt (`index` names it)", body = ErrorResponse),
    )
)]
#[post("/jobs/bulk")]
async fn create_bulk(queue: web::Data<Queue>, body: Body<BulkJobsInput>) -> Result<HttpResponse> {
    let jobs = body.into_inner().jobs;
    if jobs.is_empty() || jobs.len() > MAX_BULK_JOBS {
        return Err(crate::error::Error::new(
            ErrorCode::BulkSizeOutOfRange,
            format!(
                "a bulk add takes 1 to {MAX_BULK_JOBS} jobs, got {}",
                jobs.len()
            ),
        ));
    }
    let q = queue.into_inner();
    let jobs = blocking(move || q.add_jobs(jobs)).await?;
    Ok(HttpResponse::Created().json(BulkJobs { jobs }))
}

/// Cancel every unfinished job the filter takes, in one change (running ones stop their
/// batches, whose other jobs go back to their places); finished ones are left as they are.
#[utoipa::path(
    tag = "jobs",
    operation_id = "cancel_jobs_bulk",
    request_body = JobFilter,
    responses(
        (status = 200, description = "The jobs canceled", body = BulkJobs),
        (status = 404, description = "`job_not_found`: a listed id (`index` names it)", body = ErrorResponse),
        (status = 422, description = "`filter_required`: an empty filter", body = ErrorResponse),
    )
)]
#[post("/jobs/bulk-cancel")]
async fn cancel_bulk(queue: web::Data<Queue>, body: Body<JobFilter>) -> Result<HttpResponse> {
    let q = queue.into_inner();
    let jobs = blocking(move || q.cancel_jobs(&body.into_inner())).await?;
    Ok(HttpResponse::Ok().json(BulkJobs { jobs }))
}

/// Queue again, at the bottom in their order, every failed or canceled job the filter takes
/// that can run again (its prompt is there, the executor takes it), in one change.
#[utoipa::path(
    tag = "jobs",
    operation_id = "retry_jobs_bulk",
    request_body = JobFilter,
    responses(
        (status = 200, description = "The jobs queued again", body = BulkJobs),
        (status = 404, description = "`job_not_found`: a listed id (`index` names it)", body = ErrorResponse),
        (status = 422, description = "`filter_required`: an empty filter", body = ErrorResponse),
    )
)]
#[post("/jobs/bulk-retry")]
async fn retry_bulk(queue: web::Data<Queue>, body: Body<JobFilter>) -> Result<HttpResponse> {
    let q = queue.into_inner();
    let jobs = blocking(move || q.retry_jobs(&body.into_inner())).await?;
    Ok(HttpResponse::Ok().json(BulkJobs { jobs }))
}

/// Replace a queued job's settings (validated as for a new job; those left out take their
/// defaults). It keeps its place; previews follow.
#[utoipa::path(
    tag = "jobs",
    operation_id = "edit_job",
    params(("id" = String, Path, description = "Job id")),
    request_body = JobEdit,
    responses(
        (status = 200, description = "The job with its new settings", body = Job),
        (status = 404, description = "`job_not_found`", body = ErrorResponse),
        (status = 409, description = "`job_not_queued` (it runs or finished) or `job_in_pending_batch`", body = ErrorResponse),
        (status = 422, description = "Bad settings, as for a new job", body = ErrorResponse),
    )
)]
#[patch("/jobs/{id}")]
async fn edit(
    queue: web::Data<Queue>,
    id: web::Path<String>,
    body: Body<JobEdit>,
) -> Result<HttpResponse> {
    let q = queue.into_inner();
    let (id, config) = (id.into_inner(), body.into_inner().config);
    let job = blocking(move || q.edit_job(&id, config)).await?;
    Ok(HttpResponse::Ok().json(job))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Only jobs with this status.
    status: Option<JobStatus>,
}

/// List jobs: queued ones by position, then the rest newest first.
#[utoipa::path(
    tag = "jobs",
    operation_id = "list_jobs",
    params(ListQuery),
    responses(
        (status = 200, body = Vec<Job>),
        (status = 400, description = "`invalid_query`: unknown status or parameter", body = ErrorResponse),
    )
)]
#[get("/jobs")]
async fn list(queue: web::Data<Queue>, query: web::Query<ListQuery>) -> HttpResponse {
    HttpResponse::Ok().json(queue.jobs(query.status))
}

/// One job, with its position while queued.
#[utoipa::path(
    tag = "jobs",
    operation_id = "get_job",
    params(("id" = String, Path, description = "Job id (`jb_...`)")),
    responses((status = 200, body = Job), (status = 404, body = ErrorResponse))
)]
#[get("/jobs/{id}")]
async fn show(queue: web::Data<Queue>, id: web::Path<String>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(queue.job(&id)?))
}

/// Delete a finished job and its output files (its batch's log stays).
#[utoipa::path(
    tag = "jobs",
    operation_id = "delete_job",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = ErrorResponse),
        (status = 409, description = "`job_not_finished`: queued or running", body = ErrorResponse),
    )
)]
#[delete("/jobs/{id}")]
async fn remove(queue: web::Data<Queue>, id: web::Path<String>) -> Result<HttpResponse> {
    let q = queue.into_inner();
    blocking(move || q.delete_job(&id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Keep the job's outputs from the retention (`[retention]`).
#[utoipa::path(
    tag = "jobs",
    operation_id = "pin_job",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = Job), (status = 404, body = ErrorResponse))
)]
#[post("/jobs/{id}/pin")]
async fn pin(queue: web::Data<Queue>, id: web::Path<String>) -> Result<HttpResponse> {
    let q = queue.into_inner();
    let job = blocking(move || q.pin_job(&id, true)).await?;
    Ok(HttpResponse::Ok().json(job))
}

/// Let the retention remove the job's outputs again.
#[utoipa::path(
    tag = "jobs",
    operation_id = "unpin_job",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = Job), (status = 404, body = ErrorResponse))
)]
#[post("/jobs/{id}/unpin")]
async fn unpin(queue: web::Data<Queue>, id: web::Path<String>) -> Result<HttpResponse> {
    let q = queue.into_inner();
    let job = blocking(move || q.pin_job(&id, false)).await?;
    Ok(HttpResponse::Ok().json(job))
}

/// Cancel a queued or running job. A running job's batch stops; its other jobs go back to
/// their places in the queue.
#[utoipa::path(
    tag = "jobs",
    operation_id = "cancel_job",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, body = Job),
        (status = 404, body = ErrorResponse),
        (status = 409, description = "Already finished", body = ErrorResponse),
    )
)]
#[post("/jobs/{id}/cancel")]
async fn cancel(queue: web::Data<Queue>, id: web::Path<String>) -> Result<HttpResponse> {
    let q = queue.into_inner();
    let job = blocking(move || q.cancel_job(&id)).await?;
    Ok(HttpResponse::Ok().json(job))
}

/// Move a queued job to a 1-based position (1 = top; past the end = bottom).
#[utoipa::path(
    tag = "jobs",
    operation_id = "move_job",
    params(("id" = String, Path, description = "Job id")),
    request_body = MoveInput,
    responses(
        (status = 200, body = Job),
        (status = 404, body = ErrorResponse),
        (status = 409, description = "Not queued, or waiting in an executed plan", body = ErrorResponse),
        (status = 422, description = "Position 0", body = ErrorResponse),
    )
)]
#[post("/jobs/{id}/move")]
async fn move_to(
    queue: web::Data<Queue>,
    id: web::Path<String>,
    body: Body<MoveInput>,
) -> Result<HttpResponse> {
    let q = queue.into_inner();
    let job = blocking(move || q.move_job(&id, body.position)).await?;
    Ok(HttpResponse::Ok().json(job))
}

/// Queue a failed or canceled job again, at the bottom, with attempts reset.
#[utoipa::path(
    tag = "jobs",
    operation_id = "retry_job",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, body = Job),
        (status = 404, body = ErrorResponse),
        (status = 409, description = "Not failed or canceled, or its prompt was deleted", body = ErrorResponse),
        (status = 422, description = "The executor cannot run this job (`kind_unsupported_by_executor`, `control_unsupported_by_executor`, `guidance_unsupported_by_executor`): the profile changed since it was added", body = ErrorResponse),
    )
)]
#[post("/jobs/{id}/retry")]
async fn retry(queue: web::Data<Queue>, id: web::Path<String>) -> Result<HttpResponse> {
    let q = queue.into_inner();
    let job = blocking(move || q.retry_job(&id)).await?;
    Ok(HttpResponse::Ok().json(job))
}
