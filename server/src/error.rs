//! The one error type of the daemon's API: an HTTP status, a stable snake_case code and a
//! message, rendered as `{code, message}` (plus the fresh `preview` for a stale plan).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use cosmosq_shared::plan::Plan;
use cosmosq_shared::ValidationError;
use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// With `stale_plan`: the plan the current queue gives.
    pub preview: Option<Box<Plan>>,
}

/// The body of every error response.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    /// Stable snake_case code.
    pub code: String,
    pub message: String,
    /// With `stale_plan` (409): the plan the queue gives now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<Plan>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            preview: None,
        }
    }

    /// 400: the request itself is malformed (syntax, types, unknown fields).
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 422: well-formed but the values are not acceptable.
    pub fn invalid(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            &format!("{what}_not_found"),
            format!("no {what} with id `{id}`"),
        )
    }

    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn stale_plan(fresh: Plan) -> Self {
        ApiError {
            preview: Some(Box::new(fresh)),
            ..Self::conflict(
                "stale_plan",
                "the queue changed since this plan was previewed; review the fresh preview and execute its plan_id",
            )
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
    }

    pub fn unavailable(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::invalid(e.code.as_str(), e.message)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "storage failure");
        ApiError::internal(e.to_string())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(ErrorResponse {
            code: self.code.clone(),
            message: self.message.clone(),
            preview: self.preview.as_deref().cloned(),
        })
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
