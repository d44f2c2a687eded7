//! Every error code cosmosq gives, in one table: the stable snake_case string, its kind, and
//! (for answers to requests) the HTTP status. Clients match on [`ErrorCode`]; the daemon's
//! HTTP layer takes the status from here; the OpenAPI document lists every code. Never rename
//! a code: scripts match on the strings.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of failure a code names; for answers to requests it fixes the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// 400: the request is malformed (syntax, types, unknown fields).
    BadRequest,
    /// 401: the daemon has a token and the request did not present it.
    Unauthorized,
    /// 403: the request came from another site's page.
    Forbidden,
    /// 404: what the path names does not exist.
    NotFound,
    /// 405: the path does not take this method.
    MethodNotAllowed,
    /// 409: the request is valid but conflicts with the state it meets.
    Conflict,
    /// 413: the body is too large.
    PayloadTooLarge,
    /// 415: the request was not sent as JSON.
    UnsupportedMediaType,
    /// 416: a `Range` outside what is there.
    RangeNotSatisfiable,
    /// 421: the request named a host this daemon does not answer to.
    MisdirectedRequest,
    /// 422: well-formed, but a value is not acceptable.
    Invalid,
    /// 429: too many at once.
    TooManyRequests,
    /// 500: the daemon failed.
    Internal,
    /// 503: something the daemon needs is not available.
    Unavailable,
    /// Not an answer to a request: why a job or a batch failed (`Job.error`, `Batch.error`).
    Outcome,
}

impl ErrorKind {
    /// The HTTP status of an answer with a code of this kind (500 for outcomes, which are
    /// never answers).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::Conflict => 409,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::RangeNotSatisfiable => 416,
            ErrorKind::MisdirectedRequest => 421,
            ErrorKind::Invalid => 422,
            ErrorKind::TooManyRequests => 429,
            ErrorKind::Internal | ErrorKind::Outcome => 500,
            ErrorKind::Unavailable => 503,
        }
    }
}

macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $code:literal, $kind:ident;)*) => {
        /// A stable, machine-readable error code (see the module docs). Unknown codes (from a
        /// newer daemon) read as [`ErrorCode::Unrecognized`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
            /// A code this build does not know.
            Unrecognized,
        }

        impl ErrorCode {
            /// Every code, in table order ([`ErrorCode::Unrecognized`] last).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)* ErrorCode::Unrecognized];

            /// The code as clients see it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Unrecognized => "unrecognized",
                }
            }

            pub fn kind(self) -> ErrorKind {
                match self {
                    $(ErrorCode::$variant => ErrorKind::$kind,)*
                    ErrorCode::Unrecognized => ErrorKind::Internal,
                }
            }

            /// What the code means, in a sentence (the table's doc comment).
            pub fn description(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => concat!($($doc),*).trim_ascii(),)*
                    ErrorCode::Unrecognized => "A code this build does not know.",
                }
            }
        }
    };
}

error_codes! {
    // --- Malformed requests (400) ---
    /// The body is not valid JSON.
    MalformedJson = "malformed_json", BadRequest;
    /// The body is JSON of another shape (types, unknown fields, not an object).
    InvalidBody = "invalid_body", BadRequest;
    /// A query parameter does not parse.
    InvalidQuery = "invalid_query", BadRequest;
    /// A path parameter does not parse.
    InvalidPath = "invalid_path", BadRequest;
    // --- Who may ask (401, 403, 421, 429) ---
    /// The daemon has an `auth_token` and the request did not present it.
    Unauthorized = "unauthorized", Unauthorized;
    /// A state change from another site's page (`Origin`, `Sec-Fetch-Site`).
    CrossOriginRequest = "cross_origin_request", Forbidden;
    /// Without a token the daemon answers only to loopback host names and its bind address.
    HostNotAllowed = "host_not_allowed", MisdirectedRequest;
    /// `max_event_streams` clients are connected to the event stream already.
    TooManyEventStreams = "too_many_event_streams", TooManyRequests;
    // --- Unknown things (404, 405) ---
    /// No such route.
    RouteNotFound = "route_not_found", NotFound;
    /// The path does not take this method.
    MethodNotAllowed = "method_not_allowed", MethodNotAllowed;
    /// No prompt with that id.
    PromptNotFound = "prompt_not_found", NotFound;
    /// No preset of this name.
    PresetNotFound = "preset_not_found", NotFound;
    /// No job with that id.
    JobNotFound = "job_not_found", NotFound;
    /// No batch with that id.
    BatchNotFound = "batch_not_found", NotFound;
    /// The job has no output video (yet).
    OutputNotFound = "output_not_found", NotFound;
    /// No executor slot of that name.
    SlotNotFound = "slot_not_found", NotFound;
    /// The batch has no log (yet).
    LogNotFound = "log_not_found", NotFound;
    /// A `Range` the log cannot satisfy (416).
    RangeNotSatisfiable = "range_not_satisfiable", RangeNotSatisfiable;
    // --- Bodies (413, 415) ---
    /// The body is larger than `max_body_bytes`.
    BodyTooLarge = "body_too_large", PayloadTooLarge;
    /// The request was not sent as `Content-Type: application/json`.
    UnsupportedMediaType = "unsupported_media_type", UnsupportedMediaType;
    // --- Values (422) ---
    /// A control name that does not exist.
    UnknownControl = "unknown_control", Invalid;
    /// A weight outside 0..=1.
    WeightOutOfRange = "weight_out_of_range", Invalid;
    /// An inference job without a control of weight above 0.
    NoActiveControl = "no_active_control", Invalid;
    /// `num_steps` outside its range.
    NumStepsOutOfRange = "num_steps_out_of_range", Invalid;
    /// `guidance` outside its range.
    GuidanceOutOfRange = "guidance_out_of_range", Invalid;
    /// `seed` outside its range.
    SeedOutOfRange = "seed_out_of_range", Invalid;
    /// `sigma_max` outside its range.
    SigmaMaxOutOfRange = "sigma_max_out_of_range", Invalid;
    /// `fps` outside its range.
    FpsOutOfRange = "fps_out_of_range", Invalid;
    /// A frame count outside its range.
    FramesOutOfRange = "frames_out_of_range", Invalid;
    /// A video size outside its range.
    VideoSizeOutOfRange = "video_size_out_of_range", Invalid;
    /// `max_batch_size` outside 1..=64.
    MaxBatchSizeOutOfRange = "max_batch_size_out_of_range", Invalid;
    /// A job of a plan file without an id.
    EmptyJobId = "empty_job_id", Invalid;
    /// A job id twice in a plan file.
    DuplicateJobId = "duplicate_job_id", Invalid;
    /// A text longer than its limit.
    TextTooLong = "text_too_long", Invalid;
    /// A blank prompt text.
    TextRequired = "text_required", Invalid;
    /// `after` or `input_from` names no job.
    DependencyNotFound = "dependency_not_found", Invalid;
    /// `input_from` on a job that is not an `upscale` job, or whose executor cannot upscale.
    InputFromNeedsUpscale = "input_from_needs_upscale", Invalid;
    /// A preset name that is empty, too long or holds other than letters, digits, `-`, `_`,
    /// `.` and spaces.
    InvalidPresetName = "invalid_preset_name", Invalid;
    /// Control characters in a text.
    TextHasControlCharacters = "text_has_control_characters", Invalid;
    /// Cost-model parameters that are not finite and non-negative.
    InvalidCostModel = "invalid_cost_model", Invalid;
    /// A plan file or other input that is not acceptable.
    InvalidInput = "invalid_input", Invalid;
    /// A queue position of 0 (positions are 1-based).
    PositionOutOfRange = "position_out_of_range", Invalid;
    /// The `prompt_id` of a job names no prompt (the same code as a path's, but 422: the
    /// request's value is wrong, not its path).
    UnknownPromptId = "prompt_not_found", Invalid;
    /// A control the program cannot generate, and the prompt has no video for it.
    ControlVideoRequired = "control_video_required", Invalid;
    /// The executor does not run jobs of this kind.
    KindUnsupportedByExecutor = "kind_unsupported_by_executor", Invalid;
    /// The executor has no such control.
    ControlUnsupportedByExecutor = "control_unsupported_by_executor", Invalid;
    /// The executor takes no such guidance.
    GuidanceUnsupportedByExecutor = "guidance_unsupported_by_executor", Invalid;
    /// The program cannot seed a chunk of this job with this seed (Transfer1 seeds chunk k of
    /// a video with seed + k, and numpy takes seeds up to 2^32 - 1).
    SeedUnsupportedByExecutor = "seed_unsupported_by_executor", Invalid;
    /// The executor has no fps setting (Transfer2.5 keeps the input video's fps).
    FpsUnsupportedByExecutor = "fps_unsupported_by_executor", Invalid;
    /// The executor has no distilled model.
    DistilledUnsupportedByExecutor = "distilled_unsupported_by_executor", Invalid;
    /// The distilled model has the edge control only.
    DistilledNeedsEdgeOnly = "distilled_needs_edge_only", Invalid;
    /// The controls belong to two models (Transfer1's AV model has hdmap and lidar, its
    /// general model the others): one program cannot run them together.
    ControlsFromTwoModels = "controls_from_two_models", Invalid;
    /// A bulk action with an empty filter (it would take every job).
    FilterRequired = "filter_required", Invalid;
    /// A bulk add of no jobs, or of more than `MAX_BULK_JOBS`.
    BulkSizeOutOfRange = "bulk_size_out_of_range", Invalid;
    /// A video path that is empty or holds a NUL.
    VideoPathInvalid = "video_path_invalid", Invalid;
    /// A video path that is not absolute.
    VideoPathNotAbsolute = "video_path_not_absolute", Invalid;
    /// A video path outside `allowed_roots`.
    VideoPathNotAllowed = "video_path_not_allowed", Invalid;
    /// A stored video path that now leads elsewhere (replaced after the prompt was made).
    VideoPathChanged = "video_path_changed", Invalid;
    /// No file at the video path.
    VideoNotFound = "video_not_found", Invalid;
    /// The video path is not a regular file.
    VideoNotAFile = "video_not_a_file", Invalid;
    /// The file is not a readable video.
    VideoUnreadable = "video_unreadable", Invalid;
    /// The file is a playlist, a list or an image sequence, not one video.
    VideoFormatNotAllowed = "video_format_not_allowed", Invalid;
    /// Reading the video took longer than `probe_timeout_seconds`.
    VideoProbeTimeout = "video_probe_timeout", Invalid;
    // --- State (409) ---
    /// The queue changed since the plan was previewed (the fresh plan comes along).
    StalePlan = "stale_plan", Conflict;
    /// The plan has no batches.
    NothingToRun = "nothing_to_run", Conflict;
    /// Queued or running jobs use the prompt.
    PromptInUse = "prompt_in_use", Conflict;
    /// The queue holds `max_queued_jobs` jobs.
    QueueFull = "queue_full", Conflict;
    /// The daemon holds `MAX_PRESETS` presets already.
    TooManyPresets = "too_many_presets", Conflict;
    /// Only queued jobs can move.
    JobNotQueued = "job_not_queued", Conflict;
    /// The job is queued or running: only a finished job can be deleted.
    JobNotFinished = "job_not_finished", Conflict;
    /// The job waits in a batch of an executed plan.
    JobInPendingBatch = "job_in_pending_batch", Conflict;
    /// The job already finished.
    JobFinished = "job_finished", Conflict;
    /// Only failed or canceled jobs can be retried.
    JobNotRetryable = "job_not_retryable", Conflict;
    /// The job's prompt was deleted.
    PromptDeleted = "prompt_deleted", Conflict;
    // --- The daemon (500, 503) ---
    /// The daemon failed.
    InternalError = "internal_error", Internal;
    /// The store failed a write; the daemon is stopping.
    StorageFailed = "storage_failed", Unavailable;
    /// `ffprobe` could not be run.
    ProbeUnavailable = "probe_unavailable", Unavailable;
    // --- Why a job or a batch failed ---
    /// Canceled by a user.
    Canceled = "canceled", Outcome;
    /// The daemon stopped while the job ran, `max_attempts` times.
    AttemptsExhausted = "attempts_exhausted", Outcome;
    /// The daemon stopped before the batch finished.
    Interrupted = "interrupted", Outcome;
    /// CUDA ran out of memory.
    OutOfMemory = "out_of_memory", Outcome;
    /// The safety filter blocked the job.
    BlockedBySafetyFilter = "blocked_by_safety_filter", Outcome;
    /// The program finished without the job's output.
    NoOutput = "no_output", Outcome;
    /// Outputs were re-indexed and this one cannot be told apart.
    OutputUnverified = "output_unverified", Outcome;
    /// The program died before the job's output.
    ProcessDied = "process_died", Outcome;
    /// The batch ran past its time limit.
    Timeout = "timeout", Outcome;
    /// The program printed nothing for `stall_seconds` and was stopped.
    Stalled = "stalled", Outcome;
    /// The batch failed for a cause of its slot (it could not start the program, the
    /// wrapper failed, or the program died without a CUDA or job error) `quarantine_after`
    /// times in a row: the slot takes no work until enabled.
    SlotQuarantined = "slot_quarantined", Outcome;
    /// The program could not be started.
    ExecutorUnavailable = "executor_unavailable", Outcome;
    /// The batch's files could not be written.
    ExecutorIo = "executor_io", Outcome;
    /// The executor failed.
    ExecutorFailed = "executor_failed", Outcome;
    /// The simulated executor wrote no output.
    OutputWriteFailed = "output_write_failed", Outcome;
    /// A `[simulate:fail]` marker failed the job.
    SimulatedFailure = "simulated_failure", Outcome;
    /// Jobs of the batch had a video that no longer passes its checks.
    InputRefused = "input_refused", Outcome;
    /// A job it waited for (`after`) failed or was canceled.
    DependencyFailed = "dependency_failed", Outcome;
    /// The cluster lost the batch's job (Slurm's NODE_FAIL, PREEMPTED, BOOT_FAIL, a requeue,
    /// or a job Slurm no longer knows): its jobs went back to the queue.
    ClusterLost = "cluster_lost", Outcome;
    /// The batch's Slurm job was canceled outside the daemon.
    CanceledInCluster = "canceled_in_cluster", Outcome;
}

impl ErrorCode {
    /// The code named `s` (the first in the table when two share a string), or `None`.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// The HTTP status of an answer with this code.
    pub fn http_status(self) -> u16 {
        self.kind().http_status()
    }
}

/// A code equals its string (handy in tests and logs; code matches on the variants).
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(ErrorCode::parse(&s).unwrap_or(ErrorCode::Unrecognized))
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        // Each string once; `unrecognized` is never sent.
        let mut seen = std::collections::HashSet::new();
        let codes: Vec<&str> = ErrorCode::ALL
            .iter()
            .filter(|c| **c != ErrorCode::Unrecognized)
            .map(|c| c.as_str())
            .filter(|c| seen.insert(*c))
            .collect();
        let table: String = ErrorCode::ALL
            .iter()
            .filter(|c| **c != ErrorCode::Unrecognized)
            .map(|c| {
                let status = match c.kind() {
                    ErrorKind::Outcome => "job/batch".to_string(),
                    k => k.http_status().to_string(),
                };
                format!("\n- `{}` ({status}): {}", c.as_str(), c.description())
            })
            .collect();
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(codes))
            .description(Some(format!(
                "A stable snake_case error code (clients should accept codes they do not know). \
                 The codes, with the HTTP status of answers that carry them:{table}"
            )))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ErrorCode {}

/// A rejected input: a stable code plus a message that names the offending field and value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ValidationError {
    pub code: ErrorCode,
    pub message: String,
}

impl ValidationError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_unique_but_for_one_and_round_trip() {
        let mut strings = std::collections::HashMap::new();
        for c in ErrorCode::ALL {
            let s = c.as_str();
            assert!(
                s.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{s}"
            );
            assert!(!c.description().is_empty(), "{s}");
            if let Some(other) = strings.insert(s, *c) {
                assert_eq!(
                    (other, *c),
                    (ErrorCode::PromptNotFound, ErrorCode::UnknownPromptId),
                    "only prompt_not_found has two statuses"
                );
            }
            let json = serde_json::to_string(c).unwrap();
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back.as_str(), s);
        }
        let unknown: ErrorCode = serde_json::from_str("\"from_a_newer_daemon\"").unwrap();
        assert_eq!(unknown, ErrorCode::Unrecognized);
        assert_eq!(ErrorCode::StalePlan.http_status(), 409);
        assert_eq!(ErrorCode::UnknownPromptId.http_status(), 422);
        assert_eq!(ErrorCode::PromptNotFound.http_status(), 404);
        assert_eq!(ErrorCode::HostNotAllowed.http_status(), 421);
    }
}
