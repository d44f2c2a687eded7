//! `/api/v1/jobs/{id}/output`: a finished job's output video, streamed to the browser's player.

use crate::api::error::ErrorResponse;
use crate::error::{Error, Result};
use crate::queue::Queue;
use actix_files::NamedFile;
use actix_web::{get, web, HttpRequest, HttpResponse};
use cosmosq_shared::ErrorCode;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(super::Documented(output));
}

fn output_not_found(message: String) -> Error {
    Error::new(ErrorCode::OutputNotFound, message)
}

/// A job's output video (the file recorded in its `outputs.video`), with Range requests so a
/// player can seek. Only that recorded path is ever served.
#[utoipa::path(
    tag = "jobs",
    operation_id = "get_job_output",
    params(("id" = String, Path, description = "Job id (`jb_...`)")),
    responses(
        (status = 200, description = "The video file", content_type = "video/mp4"),
        (status = 206, description = "The requested byte range", content_type = "video/mp4"),
        (status = 404, description = "`job_not_found`, or `output_not_found`: the job has no output video (yet), or the file is gone", body = ErrorResponse),
    )
)]
#[get("/jobs/{id}/output")]
async fn output(
    queue: web::Data<Queue>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let job = queue.job(&id)?;
    let path = job
        .outputs
        .video
        .ok_or_else(|| output_not_found(format!("job `{id}` has no output video")))?;
    let file = NamedFile::open_async(&path).await.map_err(|_| {
        output_not_found(format!(
            "the output video of job `{id}` is no longer on the daemon's disk"
        ))
    })?;
    Ok(file.into_response(&req))
}
