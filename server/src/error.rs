//! The daemon's one error type: a code from the shared table ([`ErrorCode`]), a message for
//! people, and with `stale_plan` the fresh plan. It knows no HTTP: `api::error` answers it
//! with the status the table gives the code, as `{code, message}`.

use cosmosq_shared::plan::Plan;
use cosmosq_shared::{ErrorCode, ValidationError};
use std::fmt;

#[derive(Debug, Clone)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    /// With `stale_plan`: the plan the current queue gives.
    pub preview: Option<Box<Plan>>,
    /// In a request of several items (a bulk add): the position, from 0, of the one refused.
    pub index: Option<usize>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            preview: None,
            index: None,
        }
    }

    /// This error, for the item at `index` of a request of several.
    pub fn at(self, index: usize) -> Self {
        Error {
            index: Some(index),
            ..self
        }
    }

    /// `code` (a `*_not_found`) for the `what` named `id`.
    pub fn not_found(code: ErrorCode, what: &str, id: &str) -> Self {
        Self::new(code, format!("no {what} with id `{id}`"))
    }

    pub fn stale_plan(fresh: Plan) -> Self {
        Error {
            preview: Some(Box::new(fresh)),
            ..Self::new(
                ErrorCode::StalePlan,
                "the queue changed since this plan was previewed; review the fresh preview and execute its plan_id",
            )
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InternalError, message)
    }
}

impl From<ValidationError> for Error {
    fn from(e: ValidationError) -> Self {
        Error::new(e.code, e.message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}
