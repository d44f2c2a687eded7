//! The HTTP layer: it only parses, calls the queue, and converts. Routes are registered with
//! `service(...)` so utoipa collects every one into the OpenAPI spec (`doc`); requests pass
//! the token (`auth`) and the browser defences (`browser`); bodies and parameters are parsed
//! strictly (`body`); routes nothing takes answer 404/405 (`routing`); errors are answered
//! with the status of their code (`error`).

mod auth;
mod batches;
mod body;
pub mod browser;
mod doc;
pub mod error;
mod events;
mod health;
mod jobs;
mod logs;
mod outputs;
mod presets;
mod prompts;
mod queue;
mod routing;
mod slots;
mod storage;

use crate::error::Error;
use actix_web::web;
use utoipa_actix_web::service_config::ServiceConfig;

pub use auth::{require_token, AuthToken};
pub use body::{json_error, path_error, query_error, Body};
pub use doc::{openapi, ApiDoc, Documented};
pub use health::configure as configure_root;
pub use routing::{allowed_methods, not_found, router_path, unrouted};

/// Every `/api/v1` route. A path the API has, asked with a method it does not take, answers
/// 405 with `Allow`; any other unknown path 404 `route_not_found` (both `{code, message}`).
pub fn configure_v1(cfg: &mut ServiceConfig) {
    prompts::configure(cfg);
    jobs::configure(cfg);
    outputs::configure(cfg);
    presets::configure(cfg);
    queue::configure(cfg);
    batches::configure(cfg);
    logs::configure(cfg);
    slots::configure(cfg);
    events::configure(cfg);
    storage::configure(cfg);
    cfg.default_service(web::to(unrouted));
}

/// Run a queue operation that may block (disk flush, ffprobe) off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> crate::error::Result<T> + Send + 'static,
) -> crate::error::Result<T> {
    web::block(f)
        .await
        .map_err(|e| Error::internal(format!("worker pool failure: {e}")))?
}
