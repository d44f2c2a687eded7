//! The bearer token: with `auth_token` configured, every `/api` request and `/metrics` must
//! present it.

use super::routing::router_path;
use crate::error::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use cosmosq_shared::ErrorCode;

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

/// Whether a request path needs the token: `/api/...` and `/metrics`, judged on the path as
/// the router sees it ([`router_path`]), so that `/%61pi/...` or `/%6Detrics` cannot reach a
/// handler without it.
fn guarded(raw: &str) -> bool {
    let path = router_path(raw);
    path == "/api"
        || path.starts_with("/api/")
        || path == "/metrics"
        || path.starts_with("/metrics/")
}

/// With a token configured, every `/api` request and `/metrics` (queue counts, slots) must
/// present it; `/healthz`, the web interface and the API's description stay open.
pub async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let expected = req
        .app_data::<web::Data<AuthToken>>()
        .and_then(|t| t.0.clone());
    if let Some(expected) = expected {
        if guarded(req.path()) {
            let ok = presented_token(&req).is_some_and(|t| same(t.as_bytes(), expected.as_bytes()));
            if !ok {
                let e = Error::new(
                    ErrorCode::Unauthorized,
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
    fn the_token_guards_every_spelling_of_the_api() {
        for path in [
            "/api/v1/queue",
            "/%61pi/v1/queue",
            "/api%2Fv1/queue",
            "//api/v1/queue",
            "/metrics",
            "/%6detrics",
            "/api",
        ] {
            assert!(super::guarded(path), "{path}");
        }
        for path in [
            "/",
            "/queue",
            "/healthz",
            "/docs/",
            "/api-docs/openapi.json",
            "/apix",
            "/index.html",
        ] {
            assert!(!super::guarded(path), "{path}");
        }
    }

    #[test]
    fn constant_time_compare() {
        assert!(super::same(b"abc", b"abc"));
        assert!(!super::same(b"abc", b"abd"));
        assert!(!super::same(b"abc", b"abcd"));
    }
}
