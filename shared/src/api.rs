//! The REST API's data shapes (v1), shared by the daemon, the CLI client and the SPA.
//! Field names are a contract with external clients: never rename one.

use crate::control::Control;
use crate::cost::CostModel;
use crate::error::ErrorCode;
use crate::job::{JobConfig, JobConfigInput, JobKind};
use crate::plan::{LearnedCaps, Limits, PlanJob, PlanMode};
use crate::profile::Profile;
use crate::video::AspectBucket;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Facts read from a video file by the daemon (never trusted from the client).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VideoInfo {
    pub frames: u32,
    pub fps: f64,
    pub width: u32,
    pub height: u32,
    pub aspect_bucket: AspectBucket,
}

/// A prompt: text plus the input video (and optional control videos) jobs are run on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Prompt {
    /// `ps_` + hex.
    pub id: String,
    pub name: String,
    pub text: String,
    /// Global for a Cosmos process; `null` = the program's default negative prompt.
    pub negative_prompt: Option<String>,
    /// Absolute path of the input video on the daemon's machine.
    pub input_video: String,
    /// Probed from `input_video`.
    pub video: VideoInfo,
    /// Per-control input videos (absolute paths); controls not listed are generated on the fly.
    pub control_videos: BTreeMap<Control, String>,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// Body of `POST /api/v1/prompts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PromptInput {
    /// Short label; defaults to the first words of `text`.
    #[serde(default)]
    pub name: Option<String>,
    pub text: String,
    #[serde(default)]
    pub negative_prompt: Option<String>,
    /// Path of the input video on the daemon's machine.
    pub input_video: String,
    /// Optional control videos keyed by control name.
    #[serde(default)]
    pub control_videos: BTreeMap<String, String>,
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Canceled => "canceled",
        }
    }

    /// Succeeded, failed or canceled: nothing more will happen unless it is retried.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Canceled
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for JobStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                format!("unknown status `{s}` (expected queued, running, succeeded, failed or canceled)")
            })
    }
}

/// Why something failed: a stable snake_case code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            code,
            message: message.into(),
        }
    }
}

/// Files a finished job produced (absolute paths on the daemon's machine).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobOutputs {
    pub video: Option<String>,
    /// Control videos the program generated for this job.
    #[serde(default)]
    pub control_videos: BTreeMap<Control, String>,
    /// The batch's log.
    pub log: Option<String>,
    /// The parameters the job was run with, as the executor recorded them.
    pub params: Option<String>,
}

impl PlanJob {
    /// The planner's view of a queued job: settings from the job; video facts, negative
    /// prompt and supplied control videos from its prompt (defaults when it is unknown). The
    /// daemon and the browser both build plans this way, so their `plan_id`s agree.
    pub fn from_job(job: &Job, prompt: Option<&Prompt>) -> PlanJob {
        let mut p = PlanJob::new(job.id.clone(), &[]);
        p.kind = job.kind;
        p.config = job.config.clone();
        if let Some(prompt) = prompt {
            p.negative_prompt = prompt.negative_prompt.clone();
            p.frames = prompt.video.frames;
            p.bucket = prompt.video.aspect_bucket;
            p.control_inputs = prompt.control_videos.keys().copied().collect();
        }
        p
    }
}

/// One inference (or enhance / upscale) of one prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Job {
    /// `jb_` + hex.
    pub id: String,
    pub prompt_id: String,
    pub kind: JobKind,
    pub config: JobConfig,
    /// The weight each active control runs with, as the executor's program computes it from
    /// `config.weights` (Transfer1 divides weights summing above 1 by their sum and runs them
    /// in bfloat16: edge 0.7 + depth 0.5 run as 0.58203125 + 0.416015625). Fixed when the job
    /// is added or retried, and again at start-up while it is queued (the executor may change).
    #[serde(default)]
    pub effective_weights: BTreeMap<Control, f64>,
    pub status: JobStatus,
    /// 1-based place in the queue while queued; `null` otherwise.
    pub position: Option<u32>,
    /// How many times the job has been started (a crash while running counts).
    pub attempts: u32,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// The batch that runs or ran it (also set while it waits in an executed plan).
    pub batch_id: Option<String>,
    pub outputs: JobOutputs,
    pub error: Option<ErrorBody>,
    /// Jobs that must succeed before this one runs (`input_from` among them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// Those of `after` that have not succeeded yet: while any is left, the job waits (no
    /// plan takes it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting_for: Vec<String>,
    /// An `upscale` job's input video is this job's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_from: Option<String>,
    /// Kept by the retention (`POST /api/v1/jobs/{id}/pin`).
    #[serde(default)]
    pub pinned: bool,
    /// The retention removed its output files (`[retention]`); the job and its settings stay.
    #[serde(default)]
    pub pruned: bool,
}

/// Body of `POST /api/v1/jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JobInput {
    pub prompt_id: String,
    #[serde(default)]
    pub kind: Option<JobKind>,
    #[serde(default)]
    pub config: JobConfigInput,
    /// Ids of existing jobs that must succeed first; when one fails or is canceled, this job
    /// fails with `dependency_failed` (retrying it queues this one again).
    #[serde(default)]
    pub after: Vec<String>,
    /// For an `upscale` job: the job whose output video is its input (it waits for it).
    #[serde(default)]
    pub input_from: Option<String>,
}

/// An executor slot's state (`GET /api/v1/slots`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    /// In service, running nothing.
    Idle,
    /// In service, running `batch_id`.
    Busy,
    /// Finishing its current batch (`batch_id`), then disabled: it takes no other.
    Draining,
    /// Out of service until enabled (a batch it ran when disabled was stopped; its jobs
    /// went back to their places without an attempt counted).
    Disabled,
    /// Taken out of service by the daemon: `quarantine_after` batches in a row failed for a
    /// cause of the slot (`last_error` says which). It takes no work until enabled.
    Quarantined,
}

impl SlotState {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotState::Idle => "idle",
            SlotState::Busy => "busy",
            SlotState::Draining => "draining",
            SlotState::Disabled => "disabled",
            SlotState::Quarantined => "quarantined",
        }
    }

    /// Whether the slot takes new batches.
    pub fn in_service(self) -> bool {
        matches!(self, SlotState::Idle | SlotState::Busy)
    }
}

/// One executor slot (a GPU, a host, or under Slurm one of `max_jobs` submissions at once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlotView {
    pub name: String,
    /// `local` or `slurm` (`simulated` for the simulated executor).
    pub launcher: String,
    pub state: SlotState,
    /// The batch it runs, if any.
    pub batch_id: Option<String>,
    /// Batches in a row that failed for a cause of the slot (reset by a batch that ran).
    pub consecutive_failures: u32,
    /// The last such failure, or why it was quarantined.
    pub last_error: Option<String>,
    /// When the state last changed (RFC 3339), if it ever did.
    #[serde(default)]
    pub changed_at: Option<String>,
    /// Under the Slurm launcher: the running batch's Slurm job and state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<SlurmJob>,
}

/// Disk use of the daemon (`GET /api/v1/storage`), in bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StorageView {
    /// Output files of the jobs the daemon keeps (videos, control videos, params).
    pub outputs_bytes: u64,
    /// Batch logs (`run.log`).
    pub logs_bytes: u64,
    /// The database.
    pub store_bytes: u64,
    /// Free space on the data directory's filesystem (for an unprivileged user).
    pub free_bytes: u64,
    /// Size of that filesystem.
    pub total_bytes: u64,
    /// Free space is below 10% of the filesystem or below 5 GB.
    pub low_disk: bool,
    /// `[retention] keep_days` (finished jobs' outputs older than this are removed).
    pub keep_days: Option<f64>,
    /// `[retention] max_output_bytes` (the oldest unpinned outputs go first above it).
    pub max_output_bytes: Option<u64>,
    /// Jobs whose outputs the retention removed.
    pub pruned_jobs: u64,
}

/// Named run settings that the web form and `cosmosq jobs add --preset NAME` start from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Preset {
    /// 1 to 64 letters, digits, `-`, `_`, `.` or spaces.
    pub name: String,
    /// The job kind it makes (`null`: inference).
    #[serde(default)]
    pub kind: Option<JobKind>,
    /// The settings as given (omitted ones take the executor's defaults when a job uses it).
    pub config: JobConfigInput,
    pub created_at: String,
}

/// Body of `POST /api/v1/presets`: a preset of this name is created, or replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PresetInput {
    pub name: String,
    #[serde(default)]
    pub kind: Option<JobKind>,
    #[serde(default)]
    pub config: JobConfigInput,
}

/// Most presets the daemon keeps.
pub const MAX_PRESETS: usize = 100;
/// Longest preset name, in characters.
pub const MAX_PRESET_NAME: usize = 64;

/// Whether `name` is an acceptable preset name.
pub fn preset_name_ok(name: &str) -> bool {
    let n = name.chars().count();
    (1..=MAX_PRESET_NAME).contains(&n)
        && name.trim() == name
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '))
}

/// Most jobs one `POST /api/v1/jobs/bulk` may add (the body limit, `max_body_bytes`, applies
/// too).
pub const MAX_BULK_JOBS: usize = 10_000;

/// Body of `POST /api/v1/jobs/bulk`: jobs to add in this order, all or none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BulkJobsInput {
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 10000))]
    pub jobs: Vec<JobInput>,
}

/// Reply of `POST /api/v1/jobs/bulk`: the jobs added, in the order given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BulkJobs {
    pub jobs: Vec<Job>,
}

/// Which jobs `POST /api/v1/jobs/bulk-cancel` and `/bulk-retry` act on: those meeting every
/// condition given (at least one must be).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JobFilter {
    /// These jobs (each must exist).
    #[serde(default)]
    pub ids: Option<Vec<String>>,
    /// Jobs with this status.
    #[serde(default)]
    pub status: Option<JobStatus>,
    /// Jobs of this prompt.
    #[serde(default)]
    pub prompt_id: Option<String>,
}

/// Body of `PATCH /api/v1/jobs/{id}`: the job's new settings (all of them: those left out
/// take their defaults, as for a new job).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JobEdit {
    pub config: JobConfigInput,
}

/// Body of `POST /api/v1/jobs/{id}/move`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MoveInput {
    /// New 1-based place in the queue; 1 = top, anything past the end = bottom.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub position: u32,
}

/// Where a batch is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum BatchStatus {
    /// Waiting for a free executor slot.
    Pending,
    Running,
    /// Every job succeeded.
    Succeeded,
    /// Finished with at least one job failed or sent back to the queue.
    Failed,
    Canceled,
}

impl BatchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Pending => "pending",
            BatchStatus::Running => "running",
            BatchStatus::Succeeded => "succeeded",
            BatchStatus::Failed => "failed",
            BatchStatus::Canceled => "canceled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            BatchStatus::Succeeded | BatchStatus::Failed | BatchStatus::Canceled
        )
    }
}

/// One executor invocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Batch {
    /// `bt_` + hex.
    pub id: String,
    pub mode: PlanMode,
    /// The executed plan, when the batch came from one (`null` for automatic batches).
    pub plan_id: Option<String>,
    /// Jobs in run order.
    pub job_ids: Vec<String>,
    /// Controls the batch loads.
    pub controls: Vec<Control>,
    /// `--batch_size` passed to the program.
    pub batch_size: u32,
    /// Why it was formed this way.
    pub reason: String,
    pub status: BatchStatus,
    /// Executor profile that runs it (e.g. `simulated`).
    pub executor: Profile,
    /// The executor slot (GPU or host) that runs or ran it.
    #[serde(default)]
    pub slot: Option<String>,
    pub estimated_seconds: f64,
    /// Wall-clock seconds the executor took, once finished.
    pub measured_seconds: Option<f64>,
    /// 0..=1.
    pub progress: f64,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub log_path: Option<String>,
    pub error: Option<ErrorBody>,
    /// The Slurm job that runs or ran it (`launcher = "slurm"` only): its id and, while the
    /// daemon watches it, Slurm's state (`PENDING`, `RUNNING`, ...) and reason (`Resources`,
    /// `Priority`, ...). Absent under the local launcher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<SlurmJob>,
}

/// A batch's Slurm job, as the Slurm launcher last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlurmJob {
    /// The id `sbatch --parsable` printed.
    pub job_id: String,
    /// Slurm's job state while the batch runs (`PENDING` while it waits for resources).
    pub state: Option<String>,
    /// Slurm's reason for that state (`Resources`, `Priority`, `None`, ...).
    pub reason: Option<String>,
}

/// Queue-wide settings, persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueSettings {
    /// "Mix Control Inputs": allow batching jobs with different controls.
    pub mix_controls: bool,
    /// Most jobs in one batch (1..=64); the safe size by control count applies too.
    pub max_batch_size: u32,
    /// When not paused, batch the next compatible jobs automatically (off = one job at a time).
    pub auto_batch: bool,
    /// Lower batch sizes the daemon learned from out-of-memory failures (read-only).
    #[serde(default)]
    pub learned_caps: LearnedCaps,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            mix_controls: false,
            max_batch_size: Limits::default().max_batch_size,
            auto_batch: true,
            learned_caps: LearnedCaps::default(),
        }
    }
}

impl QueueSettings {
    pub fn mode(&self) -> PlanMode {
        if self.mix_controls {
            PlanMode::Mixed
        } else {
            PlanMode::Strict
        }
    }

    /// The limits these settings set for batches run by `profile`'s program.
    pub fn limits(&self, profile: Profile) -> Limits {
        Limits {
            max_batch_size: self.max_batch_size,
            learned_caps: self.learned_caps,
            profile,
        }
    }
}

/// Body of `PATCH /api/v1/queue/settings`: only the fields given change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct QueueSettingsPatch {
    #[serde(default)]
    pub mix_controls: Option<bool>,
    /// 1..=64.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 64))]
    pub max_batch_size: Option<u32>,
    #[serde(default)]
    pub auto_batch: Option<bool>,
}

/// Jobs per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobCounts {
    pub queued: u64,
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub canceled: u64,
}

impl JobCounts {
    pub fn get_mut(&mut self, status: JobStatus) -> &mut u64 {
        match status {
            JobStatus::Queued => &mut self.queued,
            JobStatus::Running => &mut self.running,
            JobStatus::Succeeded => &mut self.succeeded,
            JobStatus::Failed => &mut self.failed,
            JobStatus::Canceled => &mut self.canceled,
        }
    }
}

/// `GET /api/v1/queue`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueView {
    pub paused: bool,
    /// Why the queue is paused (by a user, or after an unclean stop).
    pub paused_reason: Option<String>,
    pub settings: QueueSettings,
    pub counts: JobCounts,
    /// The executor profile (`simulated` runs no GPU).
    pub executor: Profile,
    /// Running jobs first (in batch order), then queued jobs by position.
    pub jobs: Vec<Job>,
}

/// Body of `POST /api/v1/batches`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExecuteInput {
    pub plan_id: String,
}

/// Reply of `POST /api/v1/batches` (202).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExecuteReply {
    pub plan_id: String,
    pub batches: Vec<Batch>,
}

/// What the daemon's cost model looks like now, per executor profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CostModelView {
    pub executor: Profile,
    /// The parameters new plans use (refitted from measured batches when `refit` is on).
    pub cost_model: CostModel,
    /// Whether the daemon refits the model after each successful batch.
    pub refit: bool,
    /// Successful batches the model was fitted to.
    pub samples: usize,
    /// Mean absolute relative error of the model's estimates over those batches (0.05 = 5 %).
    pub mean_error: f64,
}

/// A change pushed over `GET /api/v1/events` (Server-Sent Events; the SSE event name is `type`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A job was added or changed.
    Job { job: Job },
    /// A batch was created or changed.
    Batch { batch: Batch },
    /// Running batch progress and the newest log lines.
    Progress {
        batch_id: String,
        progress: f64,
        log_tail: Vec<String>,
    },
    /// Paused flag, settings or counts changed.
    Queue {
        paused: bool,
        paused_reason: Option<String>,
        settings: QueueSettings,
        counts: JobCounts,
    },
    /// Events were dropped for this client (it read too slowly): reload the state.
    Resync,
}

impl Event {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Job { .. } => "job",
            Event::Batch { .. } => "batch",
            Event::Progress { .. } => "progress",
            Event::Queue { .. } => "queue",
            Event::Resync => "resync",
        }
    }
}
