//! Validation errors with stable, machine-readable codes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Stable snake_case codes for every way domain input can be wrong. Clients match on these;
/// never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ValidationCode {
    UnknownControl,
    WeightOutOfRange,
    NoActiveControl,
    NumStepsOutOfRange,
    GuidanceOutOfRange,
    SeedOutOfRange,
    SigmaMaxOutOfRange,
    FpsOutOfRange,
    FramesOutOfRange,
    VideoSizeOutOfRange,
    MaxBatchSizeOutOfRange,
    EmptyJobId,
    DuplicateJobId,
    TextTooLong,
    InvalidCostModel,
    InvalidInput,
}

impl ValidationCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationCode::UnknownControl => "unknown_control",
            ValidationCode::WeightOutOfRange => "weight_out_of_range",
            ValidationCode::NoActiveControl => "no_active_control",
            ValidationCode::NumStepsOutOfRange => "num_steps_out_of_range",
            ValidationCode::GuidanceOutOfRange => "guidance_out_of_range",
            ValidationCode::SeedOutOfRange => "seed_out_of_range",
            ValidationCode::SigmaMaxOutOfRange => "sigma_max_out_of_range",
            ValidationCode::FpsOutOfRange => "fps_out_of_range",
            ValidationCode::FramesOutOfRange => "frames_out_of_range",
            ValidationCode::VideoSizeOutOfRange => "video_size_out_of_range",
            ValidationCode::MaxBatchSizeOutOfRange => "max_batch_size_out_of_range",
            ValidationCode::EmptyJobId => "empty_job_id",
            ValidationCode::DuplicateJobId => "duplicate_job_id",
            ValidationCode::TextTooLong => "text_too_long",
            ValidationCode::InvalidCostModel => "invalid_cost_model",
            ValidationCode::InvalidInput => "invalid_input",
        }
    }
}

impl fmt::Display for ValidationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected input: a stable code plus a message that names the offending field and value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ValidationError {
    pub code: ValidationCode,
    pub message: String,
}

impl ValidationError {
    pub fn new(code: ValidationCode, message: impl Into<String>) -> Self {
        ValidationError {
            code,
            message: message.into(),
        }
    }

    /// The same error, with a prefix saying where it happened (e.g. which job of a file).
    pub fn context(self, prefix: impl fmt::Display) -> Self {
        ValidationError {
            code: self.code,
            message: format!("{prefix}: {}", self.message),
        }
    }
}
