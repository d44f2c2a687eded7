//! `/healthz` (always open) and `/metrics` (behind the token when one is configured).

use crate::api::error::ErrorResponse;
use crate::queue::Queue;
use actix_web::{get, web, HttpResponse};
use cosmosq_shared::ErrorCode;
use serde::Serialize;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(healthz).service(metrics);
    // Other methods on these paths: 405 with `Allow`, in the API's error shape.
    cfg.map(|c| c.service(web::resource(["/healthz", "/metrics"]).to(super::unrouted)));
}

#[derive(Serialize, utoipa::ToSchema)]
struct Health {
    status: &'static str,
    executor: cosmosq_shared::Profile,
    version: &'static str,
}

/// Health: the daemon answers and its store takes writes. 503 `storage_failed` once the store
/// failed a write or a flush (the daemon is then stopping, to be restarted by systemd).
#[utoipa::path(
    tag = "operations",
    operation_id = "healthz",
    responses(
        (status = 200, body = Health),
        (status = 503, description = "`storage_failed`: the store failed a write; the daemon is stopping", body = ErrorResponse)
    ),
    security(())
)]
#[get("/healthz")]
async fn healthz(queue: web::Data<Queue>) -> HttpResponse {
    if queue.store_broken() {
        return HttpResponse::ServiceUnavailable().json(ErrorResponse {
            code: ErrorCode::StorageFailed,
            message: "the daemon's store failed a write; the daemon is stopping".into(),
            preview: None,
            index: None,
        });
    }
    HttpResponse::Ok().json(Health {
        status: "ok",
        executor: queue.executor_profile(),
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Prometheus metrics, names prefixed `cosmosq_`.
#[utoipa::path(
    tag = "operations",
    operation_id = "metrics",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 401, description = "`unauthorized`: the daemon has an `auth_token` and the request did not present it", body = ErrorResponse)
    )
)]
#[get("/metrics")]
async fn metrics(queue: web::Data<Queue>) -> HttpResponse {
    let mut text = queue.metrics().render(
        queue.counts(),
        queue.config().executor.slots.len(),
        queue.events().subscribers(),
    );
    let (pending, running) = queue.launched_counts();
    crate::metrics::render_launcher(
        &mut text,
        queue.config().executor.launcher.as_str(),
        pending,
        running,
    );
    crate::metrics::render_slots(&mut text, &queue.slots());
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}
