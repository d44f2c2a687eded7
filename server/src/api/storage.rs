//! `/api/v1/storage`: disk use.

use super::Documented;
use crate::queue::Queue;
use actix_web::{get, web, HttpResponse};
use cosmosq_shared::api::StorageView;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(Documented(show));
}

/// Bytes used by outputs, logs and the store, the disk's free space (with `low_disk` below
/// 10% or 5 GB) and the retention settings.
#[utoipa::path(
    tag = "operations",
    operation_id = "get_storage",
    responses((status = 200, body = StorageView))
)]
#[get("/storage")]
async fn show(queue: web::Data<Queue>) -> crate::error::Result<HttpResponse> {
    let q = queue.into_inner();
    let view = super::blocking(move || Ok(q.storage())).await?;
    Ok(HttpResponse::Ok().json(view))
}
