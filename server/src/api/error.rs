//! How the daemon's [`Error`] is answered over HTTP: the status the shared table gives its
//! code, and the one JSON shape `{code, message}` (plus `preview` with `stale_plan`).

use crate::error::Error;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use cosmosq_shared::plan::Plan;
use cosmosq_shared::ErrorCode;
use serde::Serialize;

/// The body of every error response.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    /// Stable snake_case code (the table in the schema of `ErrorCode`).
    pub code: ErrorCode,
    pub message: String,
    /// With `stale_plan` (409): the plan the queue gives now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<Plan>,
    /// In a request of several items (`POST /api/v1/jobs/bulk`): the position, from 0, of
    /// the item refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
}

impl ErrorResponse {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorResponse {
            code,
            message: message.into(),
            preview: None,
            index: None,
        }
    }
}

/// The status of an answer carrying `code`.
pub fn status(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        status(self.code)
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(ErrorResponse {
            code: self.code,
            message: self.message.clone(),
            preview: self.preview.as_deref().cloned(),
            index: self.index,
        })
    }
}
