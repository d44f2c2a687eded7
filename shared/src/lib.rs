//! cosmosq's shared core: domain types, validation, the smart-batching engine and the cost
//! model. No I/O; compiles natively (daemon, CLI) and to wasm32 (the browser's live preview).

pub mod api;
pub mod control;
pub mod cost;
pub mod error;
pub mod job;
pub mod plan;
pub mod preview;
pub mod profile;
pub mod refit;
pub mod time;
pub mod video;

pub use control::{Control, ControlSet};
pub use cost::CostModel;
pub use error::{ErrorCode, ValidationError};
pub use job::{JobConfig, JobConfigInput, JobKind, Strength};
pub use plan::{plan, safe_batch_size, Limits, Plan, PlanJob, PlanMode};
pub use profile::{Family, Profile};
pub use video::AspectBucket;
