//! The OpenAPI document: its description, the bearer scheme, and the answers every operation
//! can give (see [`Documented`]).

use super::error::ErrorResponse;
use actix_web::App;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::{scope, AppExt, OpenApiFactory};

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
        (name = "presets", description = "Named run settings"),
        (name = "queue", description = "The queue: pause, resume, settings"),
        (name = "batches", description = "Smart-batch previews and execution"),
        (name = "events", description = "Live changes (Server-Sent Events)"),
        (name = "operations", description = "Health and metrics"),
    )
)]
/// The OpenAPI document's description, tags and security (the paths come from the routes).
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

/// The OpenAPI document, as served at `/api-docs/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(scope("/api/v1").configure(super::configure_v1))
        .configure(super::configure_root)
        .split_for_parts();
    api
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
