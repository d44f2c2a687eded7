//! The HTTP layer: it only parses, calls the queue, and converts. Routes are registered with
//! `service(...)` so utoipa collects every one into the OpenAPI spec.

mod batches;
pub mod browser;
pub mod error;
mod events;
mod health;
mod jobs;
mod outputs;
mod prompts;
mod queue;

use crate::error::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use cosmosq_shared::ErrorCode;
use error::ErrorResponse;
use std::sync::OnceLock;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::OpenApiFactory;

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

/// Every `/api/v1` route. A path the API has, asked with a method it does not take, answers
/// 405 with `Allow`; any other unknown path 404 `route_not_found` (both `{code, message}`).
pub fn configure_v1(cfg: &mut ServiceConfig) {
    prompts::configure(cfg);
    jobs::configure(cfg);
    outputs::configure(cfg);
    queue::configure(cfg);
    batches::configure(cfg);
    events::configure(cfg);
    cfg.default_service(web::to(unrouted));
}

/// An `/api/v1` handler registered through this wrapper gets the answers every API operation
/// can give documented in the OpenAPI spec, so that the spec lists every status it may send:
/// 401 (a token is configured and missing or wrong), 421 (a foreign `Host` without a token),
/// 400 for malformed path, query or body, 413 for bodies, and for state-changing methods 403
/// (another site's page) and 415 (not sent as JSON, body-less requests too; see `browser`).
/// Responses the handler documents itself take precedence.
pub struct Documented<S>(pub S);

impl<S: actix_web::dev::HttpServiceFactory> actix_web::dev::HttpServiceFactory for Documented<S> {
    fn register(self, config: &mut actix_web::dev::AppService) {
        self.0.register(config)
    }
}

impl<S: OpenApiFactory> OpenApiFactory for Documented<S> {
    fn paths(&self) -> utoipa::openapi::path::Paths {
        let mut paths = self.0.paths();
        for item in paths.paths.values_mut() {
            let has_path_params = item.parameters.as_ref().is_some_and(|p| !p.is_empty());
            for (method, op) in operations(item) {
                document_common_errors(op, method, has_path_params);
            }
        }
        paths
    }

    fn schemas(&self, schemas: &mut Vec<(String, RefOr<utoipa::openapi::schema::Schema>)>) {
        self.0.schemas(schemas)
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("GET", &mut item.get),
        ("PUT", &mut item.put),
        ("POST", &mut item.post),
        ("DELETE", &mut item.delete),
        ("OPTIONS", &mut item.options),
        ("HEAD", &mut item.head),
        ("PATCH", &mut item.patch),
        ("TRACE", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_mut().map(|op| (m, op)))
}

fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        utoipa::openapi::ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorResponse"))),
            )
            .build(),
    )
}

fn document_common_errors(op: &mut Operation, method: &str, has_path_params: bool) {
    let responses = &mut op.responses.responses;
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(description));
    };
    add(
        "401",
        "`unauthorized`: the daemon has an `auth_token` and the request did not present it",
    );
    add(
        "421",
        "`host_not_allowed`: without an `auth_token` the daemon answers only to loopback host names and its bind address",
    );
    let has_params = has_path_params || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    if op.request_body.is_some() {
        add(
            "400",
            "`malformed_json` or `invalid_body`: the body is not JSON of the documented shape (syntax, types, unknown fields)",
        );
        add(
            "413",
            "`body_too_large`: the body is larger than `max_body_bytes`",
        );
    } else if has_params {
        add(
            "400",
            "`invalid_path` or `invalid_query`: a path or query parameter does not parse",
        );
    }
    if ["POST", "PUT", "PATCH", "DELETE"].contains(&method) {
        add(
            "403",
            "`cross_origin_request`: a state change from another site's page (`Origin` or `Sec-Fetch-Site`)",
        );
        add(
            "415",
            "`unsupported_media_type`: the request was not sent as `Content-Type: application/json` (required on every state change, body-less ones too)",
        );
    }
}

/// Each documented path (as an actix pattern) with the methods it takes, for 405 answers.
fn routes() -> &'static [(actix_web::dev::ResourceDef, Vec<String>)] {
    static ROUTES: OnceLock<Vec<(actix_web::dev::ResourceDef, Vec<String>)>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        crate::startup::openapi()
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

/// The methods the API takes on this path (empty: no such path).
pub fn allowed_methods(path: &str) -> Vec<String> {
    routes()
        .iter()
        .filter(|(def, _)| def.is_match(path))
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
        }))
}

/// Run a queue operation that may block (disk flush, ffprobe) off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> crate::error::Result<T> + Send + 'static,
) -> crate::error::Result<T> {
    web::block(f)
        .await
        .map_err(|e| Error::internal(format!("worker pool failure: {e}")))?
}

/// JSON bodies: size, syntax, types and unknown fields become stable 4xx codes.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let e = match &err {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => Error::new(
            ErrorCode::BodyTooLarge,
            format!("request bodies are limited to {limit} bytes"),
        ),
        JsonPayloadError::ContentType => Error::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as application/json",
        ),
        JsonPayloadError::Deserialize(de) => match de.classify() {
            serde_json::error::Category::Data => Error::new(
                ErrorCode::InvalidBody,
                format!("the body does not fit the schema: {de}"),
            ),
            _ => Error::new(
                ErrorCode::MalformedJson,
                format!("the body is not valid JSON: {de}"),
            ),
        },
        other => Error::new(
            ErrorCode::MalformedJson,
            format!("cannot read the body: {other}"),
        ),
    };
    e.into()
}

/// A JSON request body of type `T`. Unlike `web::Json<T>` it takes only a JSON object (serde
/// would also fill a struct from an array: `[null, null]` as `{mix_controls, max_batch_size}`),
/// and a number with a zero fraction counts as an integer (`3.0` is a valid `position`), as in
/// JSON Schema. Errors are those of `json_error`: `malformed_json`, `invalid_body`, 413, 415.
pub struct Body<T>(pub T);

impl<T> Body<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Body<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let value = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move { Ok(Body(parse_body(value.await?.into_inner())?)) })
    }
}

/// The typed body from parsed JSON: objects only, integral floats as integers.
pub fn parse_body<T: serde::de::DeserializeOwned>(
    mut value: serde_json::Value,
) -> crate::error::Result<T> {
    if !value.is_object() {
        return Err(Error::new(
            ErrorCode::InvalidBody,
            "the body does not fit the schema: expected a JSON object",
        ));
    }
    integral_floats_as_integers(&mut value);
    serde_json::from_value(value).map_err(|e| {
        Error::new(
            ErrorCode::InvalidBody,
            format!("the body does not fit the schema: {e}"),
        )
    })
}

fn integral_floats_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0) {
                // Integral floats in u64 or i64 range convert exactly.
                if (0.0..1.8446744073709552e19).contains(&f) {
                    *n = (f as u64).into();
                } else if (-9.223372036854776e18..0.0).contains(&f) {
                    *n = (f as i64).into();
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    Error::new(
        ErrorCode::InvalidQuery,
        format!("bad query parameters: {err}"),
    )
    .into()
}

pub fn path_error(err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    Error::new(ErrorCode::InvalidPath, format!("bad path: {err}")).into()
}

/// Unknown routes answer in the API's error shape.
pub async fn not_found(req: HttpRequest) -> crate::error::Result<HttpResponse> {
    Err(Error::new(
        ErrorCode::RouteNotFound,
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
    use cosmosq_shared::api::{MoveInput, QueueSettingsPatch};

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
    use serde_json::json;

    #[test]
    fn bodies_must_be_objects() {
        // serde alone fills a struct from an array: `[null, null]` was a settings patch.
        assert!(serde_json::from_value::<QueueSettingsPatch>(json!([null, null])).is_ok());
        for body in [
            json!([null, null]),
            json!([1]),
            json!("x"),
            json!(3),
            json!(null),
        ] {
            let e = super::parse_body::<QueueSettingsPatch>(body.clone()).unwrap_err();
            assert_eq!(
                (e.code.http_status(), e.code.as_str()),
                (400, "invalid_body"),
                "{body}"
            );
        }
        let p: QueueSettingsPatch = super::parse_body(json!({"auto_batch": false})).unwrap();
        assert_eq!(p.auto_batch, Some(false));
    }

    #[test]
    fn integral_floats_are_integers() {
        let m: MoveInput = super::parse_body(json!({"position": 3.0})).unwrap();
        assert_eq!(m.position, 3);
        let p: QueueSettingsPatch = super::parse_body(json!({"max_batch_size": 64.0})).unwrap();
        assert_eq!(p.max_batch_size, Some(64));
        for bad in [
            json!(1.5),
            json!(-1.0),
            json!(4294967296.0),
            json!(1e300),
            json!("1"),
        ] {
            let e = super::parse_body::<MoveInput>(json!({ "position": bad })).unwrap_err();
            assert_eq!(e.code, "invalid_body", "{bad}");
        }
        // Floats stay floats where a float is expected.
        let mut v = json!({"guidance": 7.0, "list": [2.0, 0.5], "big": 1e300});
        super::integral_floats_as_integers(&mut v);
        assert_eq!(v, json!({"guidance": 7, "list": [2, 0.5], "big": 1e300}));
    }

    #[test]
    fn allowed_methods_come_from_the_spec() {
        assert_eq!(super::allowed_methods("/api/v1/jobs"), ["GET", "POST"]);
        assert_eq!(
            super::allowed_methods("/api/v1/prompts/ps_1"),
            ["GET", "DELETE"]
        );
        assert_eq!(super::allowed_methods("/api/v1/jobs/jb_1/move"), ["POST"]);
        assert_eq!(super::allowed_methods("/healthz"), ["GET"]);
        assert!(super::allowed_methods("/api/v1/nope").is_empty());
        assert!(super::allowed_methods("/api/v1/jobs/a/b/c").is_empty());
    }

    #[test]
    fn constant_time_compare() {
        assert!(super::same(b"abc", b"abc"));
        assert!(!super::same(b"abc", b"abd"));
        assert!(!super::same(b"abc", b"abcd"));
    }
}
