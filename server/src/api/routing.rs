//! Routing answers of their own: 405 with `Allow` for a method a path does not take, 404
//! `route_not_found` for a path the API does not have, and the path as the router sees it.

use super::error::ErrorResponse;
use crate::error::Error;
use actix_web::{HttpRequest, HttpResponse};
use cosmosq_shared::ErrorCode;
use std::sync::OnceLock;

/// Each documented path (as an actix pattern) with the methods it takes, for 405 answers.
fn routes() -> &'static [(actix_web::dev::ResourceDef, Vec<String>)] {
    static ROUTES: OnceLock<Vec<(actix_web::dev::ResourceDef, Vec<String>)>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        super::doc::openapi()
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("PUT", item.put.is_some()),
                    ("POST", item.post.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("OPTIONS", item.options.is_some()),
                    ("HEAD", item.head.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("TRACE", item.trace.is_some()),
                ]
                .into_iter()
                .filter(|(_, has)| *has)
                .map(|(m, _)| m.to_string())
                .collect();
                (actix_web::dev::ResourceDef::new(path.as_str()), methods)
            })
            .collect()
    })
}

/// The methods the API takes on this path (empty: no such path). A path the API names as it
/// is (`/api/v1/jobs/bulk`) takes only its own methods, not those of a pattern it also
/// matches (`/api/v1/jobs/{id}`).
pub fn allowed_methods(path: &str) -> Vec<String> {
    let matching: Vec<_> = routes()
        .iter()
        .filter(|(def, _)| def.is_match(path))
        .collect();
    let literal: Vec<_> = matching
        .iter()
        .filter(|(def, _)| !def.pattern().is_some_and(|p| p.contains('{')))
        .collect();
    let chosen = if literal.is_empty() {
        matching
    } else {
        literal.into_iter().copied().collect()
    };
    chosen
        .into_iter()
        .flat_map(|(_, methods)| methods.iter().cloned())
        .collect()
}

/// Requests no route took: 405 with `Allow` when the path exists, else 404.
pub async fn unrouted(req: HttpRequest) -> crate::error::Result<HttpResponse> {
    let allowed = allowed_methods(req.path());
    if allowed.is_empty() {
        return not_found(req).await;
    }
    let allow = allowed.join(", ");
    Ok(HttpResponse::MethodNotAllowed()
        .insert_header((actix_web::http::header::ALLOW, allow.clone()))
        .json(ErrorResponse {
            code: ErrorCode::MethodNotAllowed,
            message: format!("{} takes {allow}, not {}", req.path(), req.method()),
            preview: None,
            index: None,
        }))
}

/// Unknown routes answer in the API's error shape.
pub async fn not_found(req: HttpRequest) -> crate::error::Result<HttpResponse> {
    Err(Error::new(
        ErrorCode::RouteNotFound,
        format!("no route for {} {}", req.method(), req.path()),
    ))
}

/// A request path as the router matches it: percent-decoded, repeated slashes merged.
pub fn router_path(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                decoded.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    decoded.dedup_by(|a, b| *a == b'/' && *b == b'/');
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn allowed_methods_come_from_the_spec() {
        assert_eq!(super::allowed_methods("/api/v1/jobs"), ["GET", "POST"]);
        assert_eq!(
            super::allowed_methods("/api/v1/prompts/ps_1"),
            ["GET", "DELETE"]
        );
        assert_eq!(super::allowed_methods("/api/v1/jobs/jb_1/move"), ["POST"]);
        assert_eq!(super::allowed_methods("/api/v1/jobs/bulk"), ["POST"]);
        assert_eq!(super::allowed_methods("/healthz"), ["GET"]);
        assert!(super::allowed_methods("/api/v1/nope").is_empty());
        assert!(super::allowed_methods("/api/v1/jobs/a/b/c").is_empty());
    }
}
