//! Executor profiles: which program runs the batches, and what that program can do. Every
//! question the daemon, the planner and the browser ask about an executor is answered here.

use crate::control::{Control, ControlSet};
use crate::error::{ErrorCode, ValidationError};
use crate::job::{defaults, JobConfig, JobKind};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The program that runs batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Profile {
    /// No GPU: the cost model's time, scaled; placeholder outputs.
    #[default]
    Simulated,
    /// NVIDIA Cosmos-Transfer1 (`transfer.py`, spec JSON and batch JSONL).
    Transfer1,
    /// NVIDIA Cosmos-Transfer2.5 (`examples/inference.py`, self-contained JSONL lines).
    Transfer25,
}

/// Which guidance values a profile takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuidanceRule {
    /// The largest value.
    pub max: f64,
    /// Whether it must be a whole number.
    pub whole: bool,
}

impl Profile {
    pub const ALL: [Profile; 3] = [Profile::Simulated, Profile::Transfer1, Profile::Transfer25];

    /// The name in configuration and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Simulated => "simulated",
            Profile::Transfer1 => "cosmos-transfer1",
            Profile::Transfer25 => "cosmos-transfer2.5",
        }
    }

    pub fn parse(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// Whether it runs a real Cosmos program (not the simulation).
    pub fn is_cosmos(self) -> bool {
        self != Profile::Simulated
    }

    /// Whether jobs with identical weights, frames and aspect bucket can share one batched
    /// forward pass (Transfer2.5 always runs a batch's jobs one after another).
    pub fn batched_pass(self) -> bool {
        self != Profile::Transfer25
    }

    /// Whether it runs jobs of `kind`: Transfer1 runs `upscale` with its 4K upscaler;
    /// prompt enhancement (`enhance`) needs Cosmos' prompt upsampler, which no Cosmos
    /// profile drives, so only the simulation takes it; Transfer2.5 runs inference only.
    pub fn runs_kind(self, kind: JobKind) -> bool {
        matches!(
            (self, kind),
            (Profile::Simulated, _)
                | (_, JobKind::Inference)
                | (Profile::Transfer1, JobKind::Upscale)
        )
    }

    /// The controls its model has branches for.
    pub fn controls(self) -> ControlSet {
        match self {
            Profile::Transfer25 => [Control::Depth, Control::Edge, Control::Seg, Control::Vis]
                .into_iter()
                .collect(),
            _ => Control::ALL.into_iter().collect(),
        }
    }

    /// Which guidance values it takes (Transfer2.5: whole numbers up to 7).
    pub fn guidance(self) -> GuidanceRule {
        match self {
            Profile::Transfer25 => GuidanceRule {
                max: 7.0,
                whole: true,
            },
            _ => GuidanceRule {
                max: *crate::job::limits::GUIDANCE.end(),
                whole: false,
            },
        }
    }

    /// The settings a job that names none runs with: the program's own defaults
    /// (Transfer2.5's guidance and seed differ from Transfer1's).
    pub fn defaults(self) -> JobConfig {
        let base = JobConfig::default();
        match self {
            Profile::Transfer25 => JobConfig {
                guidance: defaults::TRANSFER25_GUIDANCE,
                seed: defaults::TRANSFER25_SEED,
                ..base
            },
            _ => base,
        }
    }

    /// Frames the program generates per chunk (the cost model counts chunks of this many,
    /// with one frame of overlap).
    pub fn chunk_frames(self) -> u32 {
        crate::video::CHUNK_FRAMES
    }

    /// Whether it can run a job of `kind` with `config`; the error says why not.
    pub fn check(self, kind: JobKind, config: &JobConfig) -> Result<(), ValidationError> {
        if !self.runs_kind(kind) {
            return Err(ValidationError::new(
                ErrorCode::KindUnsupportedByExecutor,
                format!("the {self} executor does not run {kind} jobs"),
            ));
        }
        let controls = self.controls();
        if let Some(c) = config.signature().iter().find(|c| !controls.contains(*c)) {
            let names: Vec<&str> = controls.iter().map(|c| c.as_str()).collect();
            let (last, rest) = names.split_last().expect("every profile has controls");
            return Err(ValidationError::new(
                ErrorCode::ControlUnsupportedByExecutor,
                format!(
                    "{self} has no {c} control (it has {} and {last})",
                    rest.join(", ")
                ),
            ));
        }
        let rule = self.guidance();
        if config.guidance > rule.max || (rule.whole && config.guidance.fract() != 0.0) {
            return Err(ValidationError::new(
                ErrorCode::GuidanceUnsupportedByExecutor,
                format!(
                    "{self} takes a whole-number guidance from 0 to {}, got {}",
                    rule.max, config.guidance
                ),
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Profile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Profile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(d)?;
        Profile::parse(&name).ok_or_else(|| {
            let names: Vec<&str> = Profile::ALL.iter().map(|p| p.as_str()).collect();
            serde::de::Error::custom(format!(
                "executor profile `{name}` is not available (available: {})",
                names.join(", ")
            ))
        })
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Profile {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Profile::ALL.iter().map(|p| p.as_str())))
            .description(Some(
                "The executor profile: `simulated` (no GPU), `cosmos-transfer1` or `cosmos-transfer2.5`",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Profile {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused_by_name() {
        for p in Profile::ALL {
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<Profile>(&json).unwrap(), p);
        }
        let e = serde_json::from_str::<Profile>("\"gpu\"").unwrap_err();
        assert!(e.to_string().contains("`gpu` is not available"), "{e}");
    }

    #[test]
    fn what_each_profile_runs() {
        let config = |w: &[(Control, f64)], guidance: f64| JobConfig {
            weights: w.iter().copied().collect(),
            guidance,
            ..JobConfig::default()
        };
        let edge = config(&[(Control::Edge, 0.5)], 3.0);
        for p in Profile::ALL {
            assert!(p.check(JobKind::Inference, &edge).is_ok(), "{p}");
        }
        let code = |p: Profile, k: JobKind, c: &JobConfig| p.check(k, c).unwrap_err().code;
        assert_eq!(
            code(Profile::Transfer25, JobKind::Upscale, &edge),
            ErrorCode::KindUnsupportedByExecutor
        );
        assert_eq!(
            code(Profile::Transfer1, JobKind::Enhance, &edge),
            ErrorCode::KindUnsupportedByExecutor
        );
        assert!(Profile::Transfer1.check(JobKind::Upscale, &edge).is_ok());
        assert!(Profile::Simulated.check(JobKind::Enhance, &edge).is_ok());
        let hdmap = config(&[(Control::Hdmap, 0.5)], 3.0);
        assert_eq!(
            code(Profile::Transfer25, JobKind::Inference, &hdmap),
            ErrorCode::ControlUnsupportedByExecutor
        );
        assert!(Profile::Transfer1.check(JobKind::Inference, &hdmap).is_ok());
        for g in [5.5, 8.0] {
            assert_eq!(
                code(
                    Profile::Transfer25,
                    JobKind::Inference,
                    &config(&[(Control::Edge, 0.5)], g)
                ),
                ErrorCode::GuidanceUnsupportedByExecutor
            );
        }
        assert!(!Profile::Transfer25.batched_pass() && Profile::Transfer1.batched_pass());
        let d = Profile::Transfer25.defaults();
        assert_eq!((d.guidance, d.seed), (3.0, 2025));
        assert_eq!(Profile::Simulated.defaults(), Profile::Transfer1.defaults());
    }
}
