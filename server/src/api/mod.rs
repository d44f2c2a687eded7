//! The HTTP layer: it only parses, calls the queue, and converts. Routes are registered with
//! `service(...)` so utoipa collects every one into the OpenAPI spec.

mod batches;
mod events;
mod health;
mod jobs;
mod outputs;
mod prompts;
mod queue;

use crate::error::{ApiError, ApiResult, ErrorResponse};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::service_config::ServiceConfig;

pub use health::configure as configure_root;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "cosmosq",
        description = "A smart-batching queue for NVIDIA Cosmos Transfer jobs. Every error is `{code, message}` with a stable snake_case code.",
    ),
    components(schemas(ErrorResponse)),
    modifiers(&BearerAuth),
    tags(
        (name = "prompts", description = "Prompts and their input videos"),
        (name = "jobs", description = "Jobs: add, list, move, cancel, retry"),
        (name = "queue", description = "The queue: pause, resume, settings"),
        (name = "batches", description = "Smart-batch previews and execution"),
        (name = "events", description = "Live changes (Server-Sent Events)"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// Every `/api/v1` route.
pub fn configure_v1(cfg: &mut ServiceConfig) {
    prompts::configure(cfg);
    jobs::configure(cfg);
    outputs::configure(cfg);
    queue::configure(cfg);
    batches::configure(cfg);
    events::configure(cfg);
}

/// Run a queue operation that may block (disk flush, ffprobe) off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    web::block(f)
        .await
        .map_err(|e| ApiError::internal(format!("worker pool failure: {e}")))?
}

/// JSON bodies: size, syntax, types and unknown fields become stable 4xx codes.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let e = match &err {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::new(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request bodies are limited to {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ),
        JsonPayloadError::Deserialize(de) => match de.classify() {
            serde_json::error::Category::Data => ApiError::bad_request(
                "invalid_body",
                format!("the body does not fit the schema: {de}"),
            ),
            _ => ApiError::bad_request(
                "malformed_json",
                format!("the body is not valid JSON: {de}"),
            ),
        },
        other => ApiError::bad_request("malformed_json", format!("cannot read the body: {other}")),
    };
    e.into()
}

pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request("invalid_query", format!("bad query parameters: {err}")).into()
}

pub fn path_error(err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request("invalid_path", format!("bad path: {err}")).into()
}

/// Unknown routes answer in the API's error shape.
pub async fn not_found(req: HttpRequest) -> ApiResult<HttpResponse> {
    Err(ApiError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "route_not_found",
        format!("no route for {} {}", req.method(), req.path()),
    ))
}

/// The configured bearer token, shared with the auth middleware.
#[derive(Clone)]
pub struct AuthToken(pub Option<String>);

/// Constant-time comparison: the time taken does not reveal how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn presented_token(req: &ServiceRequest) -> Option<String> {
    if let Some(h) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        return h
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string);
    }
    // Browsers' EventSource and <video> cannot send headers: the event stream and output
    // videos also take `?access_token=`.
    let path = req.path();
    if path == "/api/v1/events" || (path.starts_with("/api/v1/jobs/") && path.ends_with("/output"))
    {
        return web::Query::<std::collections::HashMap<String, String>>::from_query(
            req.query_string(),
        )
        .ok()
        .and_then(|q| q.get("access_token").cloned());
    }
    None
}

/// With a token configured, every `/api` request must present it.
pub async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let expected = req
        .app_data::<web::Data<AuthToken>>()
        .and_then(|t| t.0.clone());
    if let Some(expected) = expected {
        if req.path().starts_with("/api/") {
            let ok = presented_token(&req).is_some_and(|t| same(t.as_bytes(), expected.as_bytes()));
            if !ok {
                let e = ApiError::new(
                    actix_web::http::StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "this daemon requires `Authorization: Bearer <token>`",
                );
                return Ok(req.error_response(e).map_into_boxed_body());
            }
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_compare() {
        assert!(super::same(b"abc", b"abc"));
        assert!(!super::same(b"abc", b"abd"));
        assert!(!super::same(b"abc", b"abcd"));
    }
}
