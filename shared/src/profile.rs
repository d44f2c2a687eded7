//! Executor profiles: which program runs the batches, and what that program can do. Every
//! question the daemon, the planner and the browser ask about an executor is answered here.

use crate::control::{Control, ControlSet};
use crate::error::{ErrorCode, ValidationError};
use crate::job::{defaults, JobConfig, JobKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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

/// The model a program builds for a batch. Jobs of different families never share a process:
/// the output must not depend on the batch a job lands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// Transfer1's general model (vis, edge, depth, seg, keypoint branches; the upscaler).
    General,
    /// Transfer1's AV post-trained model (`--is_av_sample`): hdmap and lidar.
    Av,
    /// Transfer1's distilled edge model (`--use_distilled`).
    DistilledEdge,
    /// Transfer2.5 with one control key: that control's own checkpoint.
    Single(Control),
    /// Transfer2.5 with several control keys: the multibranch model, all four branches.
    Multi,
}

impl Family {
    /// The model in a few words, for plan reasons.
    pub fn describe(self) -> String {
        match self {
            Family::General => "Transfer1's general model".into(),
            Family::Av => "Transfer1's AV model (--is_av_sample)".into(),
            Family::DistilledEdge => "Transfer1's distilled edge model (--use_distilled)".into(),
            Family::Single(c) => format!("Transfer2.5's {c} checkpoint"),
            Family::Multi => "Transfer2.5's multibranch model (all four branches)".into(),
        }
    }
}

/// bf16 (round to nearest even) of an f32, as torch stores a `bfloat16` tensor.
fn bf16(x: f32) -> f32 {
    let bits = x.to_bits();
    let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) & 0xffff_0000;
    f32::from_bits(rounded)
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

    /// Frames the program generates per chunk: Transfer1 121, Transfer2.5 93
    /// (`num_video_frames_per_chunk`).
    pub fn chunk_frames(self) -> u32 {
        match self {
            Profile::Transfer25 => 93,
            _ => crate::video::CHUNK_FRAMES,
        }
    }

    /// How many full sampling runs a video of `frames` frames takes, chunks overlapping by
    /// one frame (Transfer2.5: one chunk up to 93 frames, then one per 92 more).
    pub fn chunks(self, frames: u32) -> u32 {
        match self {
            Profile::Transfer25 => {
                let chunk = self.chunk_frames();
                if frames <= chunk {
                    1
                } else {
                    1 + (frames - chunk).div_ceil(chunk - 1)
                }
            }
            _ => crate::video::chunks(frames),
        }
    }

    /// The model a job needs (see [`Family`]).
    pub fn family(self, config: &JobConfig) -> Family {
        let signature = config.signature();
        match self {
            Profile::Transfer25 if signature.len() == 1 => {
                Family::Single(signature.iter().next().expect("one control"))
            }
            Profile::Transfer25 => Family::Multi,
            _ if config.distilled => Family::DistilledEdge,
            _ if !signature.is_empty() && signature.iter().all(|c| !c.can_generate()) => Family::Av,
            _ => Family::General,
        }
    }

    /// The controls a batch of `family` loads when its jobs ask for `union`: Transfer2.5's
    /// multibranch model loads all four branches whatever the weights.
    pub fn loads(self, family: Family, union: ControlSet) -> ControlSet {
        match family {
            Family::Multi => self.controls(),
            _ => union,
        }
    }

    /// Whether every control branch a batch loads runs for every job (Transfer1: a branch of
    /// weight 0 still computes, multiplied by 0), or only the job's own (Transfer2.5: a branch
    /// without a control input is skipped).
    pub fn runs_every_loaded_branch(self) -> bool {
        self != Profile::Transfer25
    }

    /// A job's settings as the program applies them: Transfer1 fills an omitted `sigma_max`
    /// (70) and `fps` (24) with its own defaults; Transfer2.5 has no default sigma_max (it
    /// starts from noise) and no fps (it keeps the input video's).
    pub fn resolve(self, config: &JobConfig) -> JobConfig {
        let mut c = config.clone();
        if self != Profile::Transfer25 {
            c.sigma_max = Some(c.sigma_max.unwrap_or(defaults::SIGMA_MAX));
            c.fps = Some(c.fps.unwrap_or(defaults::FPS));
        }
        c
    }

    /// The weight each of a job's controls runs with, as the program computes it: Transfer1
    /// takes a line's scalar weights as bf16 and divides them by max(1, their sum), in bf16
    /// (`load_spatial_temporal_weights` in `inference_utils.py`): 0.9 runs as 0.8984375, and
    /// edge 0.7 + depth 0.5 as 0.58203125 / 0.416015625. Transfer2.5 applies each weight as
    /// given (its multibranch model sums the branches times their weights). Controls of
    /// weight 0 are left out: they add nothing to the sum.
    pub fn effective_weights(self, config: &JobConfig) -> BTreeMap<Control, f64> {
        let active = config.weights.iter().filter(|(_, w)| **w > 0.0);
        if self == Profile::Transfer25 {
            return active.map(|(c, w)| (*c, *w)).collect();
        }
        let halves: Vec<(Control, f32)> = active.map(|(c, w)| (*c, bf16(*w as f32))).collect();
        let sum = bf16(halves.iter().map(|(_, w)| *w).sum::<f32>()).max(1.0);
        halves
            .into_iter()
            .map(|(c, w)| (c, f64::from(bf16(w / sum))))
            .collect()
    }

    /// Most jobs one batch may hold with `controls` loaded: the safe size by control count
    /// where jobs share a batched pass (its memory grows with them), else the user's maximum
    /// (Transfer2.5 runs a batch's jobs one at a time on one model).
    pub fn safe_batch_size(self, controls: usize, user_max: u32) -> u32 {
        if self.batched_pass() {
            crate::plan::safe_batch_size(controls, user_max)
        } else {
            user_max.max(1)
        }
    }

    /// Whether it can run a job of `kind` with `config` on a video of `frames` frames; the
    /// error says why not.
    pub fn check(
        self,
        kind: JobKind,
        config: &JobConfig,
        frames: u32,
    ) -> Result<(), ValidationError> {
        if !self.runs_kind(kind) {
            return Err(ValidationError::new(
                ErrorCode::KindUnsupportedByExecutor,
                format!("the {self} executor does not run {kind} jobs"),
            ));
        }
        let controls = self.controls();
        let signature = config.signature();
        if let Some(c) = signature.iter().find(|c| !controls.contains(*c)) {
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
        if self == Profile::Transfer25 {
            if let Some(fps) = config.fps {
                return Err(ValidationError::new(
                    ErrorCode::FpsUnsupportedByExecutor,
                    format!(
                        "{self} has no fps setting (the output keeps the input video's fps); leave fps out, got {fps}"
                    ),
                ));
            }
            if config.distilled {
                return Err(ValidationError::new(
                    ErrorCode::DistilledUnsupportedByExecutor,
                    format!("the {self} executor drives no distilled model"),
                ));
            }
            return Ok(());
        }
        // Transfer1 (and the simulation, which imitates it).
        if config.distilled && signature != ControlSet::single(Control::Edge) {
            return Err(ValidationError::new(
                ErrorCode::DistilledNeedsEdgeOnly,
                "the distilled model has the edge control only: give edge a weight and every other control 0",
            ));
        }
        let av = signature.iter().filter(|c| !c.can_generate()).count();
        if av > 0 && av < signature.len() {
            return Err(ValidationError::new(
                ErrorCode::ControlsFromTwoModels,
                format!(
                    "{signature} mixes the AV model's controls (hdmap, lidar) with the general model's; \
                     split them into two jobs"
                ),
            ));
        }
        let chunks = u64::from(self.chunks(frames));
        if config.seed + chunks - 1 > u64::from(u32::MAX) {
            return Err(ValidationError::new(
                ErrorCode::SeedUnsupportedByExecutor,
                format!(
                    "{self} seeds chunk k of a video with seed + k (numpy takes up to 2^32 - 1): \
                     this video has {chunks} chunks, so the seed must be at most {}, got {}",
                    u64::from(u32::MAX) + 1 - chunks,
                    config.seed
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
            assert!(p.check(JobKind::Inference, &edge, 121).is_ok(), "{p}");
        }
        let code = |p: Profile, k: JobKind, c: &JobConfig| p.check(k, c, 121).unwrap_err().code;
        assert_eq!(
            code(Profile::Transfer25, JobKind::Upscale, &edge),
            ErrorCode::KindUnsupportedByExecutor
        );
        assert_eq!(
            code(Profile::Transfer1, JobKind::Enhance, &edge),
            ErrorCode::KindUnsupportedByExecutor
        );
        assert!(Profile::Transfer1
            .check(JobKind::Upscale, &edge, 121)
            .is_ok());
        assert!(Profile::Simulated
            .check(JobKind::Enhance, &edge, 121)
            .is_ok());
        let hdmap = config(&[(Control::Hdmap, 0.5)], 3.0);
        assert_eq!(
            code(Profile::Transfer25, JobKind::Inference, &hdmap),
            ErrorCode::ControlUnsupportedByExecutor
        );
        assert!(Profile::Transfer1
            .check(JobKind::Inference, &hdmap, 121)
            .is_ok());
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
        // AV and general controls together: two models.
        let both = config(&[(Control::Hdmap, 0.5), (Control::Edge, 0.5)], 5.0);
        assert_eq!(
            code(Profile::Transfer1, JobKind::Inference, &both),
            ErrorCode::ControlsFromTwoModels
        );
        // fps is no Transfer2.5 setting; the distilled model is edge only, on Transfer1.
        let fps = JobConfig {
            fps: Some(30),
            ..edge.clone()
        };
        assert_eq!(
            code(Profile::Transfer25, JobKind::Inference, &fps),
            ErrorCode::FpsUnsupportedByExecutor
        );
        assert!(Profile::Transfer1
            .check(JobKind::Inference, &fps, 121)
            .is_ok());
        let distilled = JobConfig {
            distilled: true,
            ..edge.clone()
        };
        assert!(Profile::Transfer1
            .check(JobKind::Inference, &distilled, 121)
            .is_ok());
        assert_eq!(
            code(Profile::Transfer25, JobKind::Inference, &distilled),
            ErrorCode::DistilledUnsupportedByExecutor
        );
        let distilled_depth = JobConfig {
            distilled: true,
            ..config(&[(Control::Depth, 0.5)], 5.0)
        };
        assert_eq!(
            code(Profile::Transfer1, JobKind::Inference, &distilled_depth),
            ErrorCode::DistilledNeedsEdgeOnly
        );
    }

    #[test]
    fn transfer1_seeds_chunk_k_with_seed_plus_k_within_numpy_range() {
        let seeded = |seed: u64| JobConfig {
            weights: [(Control::Edge, 0.5)].into_iter().collect(),
            seed,
            ..JobConfig::default()
        };
        let max = u64::from(u32::MAX);
        let t1 = Profile::Transfer1;
        // 241 frames: 2 chunks, seeds s and s + 1.
        assert!(t1.check(JobKind::Inference, &seeded(max - 1), 241).is_ok());
        let e = t1.check(JobKind::Inference, &seeded(max), 241).unwrap_err();
        assert_eq!(e.code, ErrorCode::SeedUnsupportedByExecutor);
        assert!(e.message.contains("at most 4294967294"), "{}", e.message);
        assert!(t1.check(JobKind::Inference, &seeded(max), 121).is_ok());
        assert!(t1.check(JobKind::Inference, &seeded(1 << 32), 121).is_err());
        // Transfer2.5 draws its chunk seeds through Python's random: any seed.
        assert!(Profile::Transfer25
            .check(JobKind::Inference, &seeded(1 << 40), 241)
            .is_ok());
    }

    #[test]
    fn chunks_families_and_effective_weights_follow_the_programs() {
        let t1 = Profile::Transfer1;
        let t25 = Profile::Transfer25;
        assert_eq!((t1.chunks(121), t1.chunks(122), t1.chunks(241)), (1, 2, 2));
        assert_eq!(
            (
                t25.chunks(93),
                t25.chunks(94),
                t25.chunks(121),
                t25.chunks(185)
            ),
            (1, 2, 2, 2)
        );
        assert_eq!(t25.chunks(186), 3);
        let weights = |w: &[(Control, f64)]| JobConfig {
            weights: w.iter().copied().collect(),
            ..JobConfig::default()
        };
        let pair = weights(&[
            (Control::Edge, 0.7),
            (Control::Depth, 0.5),
            (Control::Seg, 0.0),
        ]);
        let e = t1.effective_weights(&pair);
        assert_eq!(e.len(), 2, "weight 0 is left out");
        assert_eq!(
            (e[&Control::Edge], e[&Control::Depth]),
            (0.58203125, 0.416015625)
        );
        assert_eq!(
            t1.effective_weights(&weights(&[(Control::Edge, 0.9)]))[&Control::Edge],
            0.8984375
        );
        assert_eq!(
            t1.effective_weights(&weights(&[(Control::Edge, 0.5)]))[&Control::Edge],
            0.5
        );
        assert_eq!(t25.effective_weights(&pair)[&Control::Edge], 0.7);
        assert_eq!(t1.family(&pair), Family::General);
        assert_eq!(
            t1.family(&weights(&[(Control::Hdmap, 0.5), (Control::Lidar, 0.5)])),
            Family::Av
        );
        let distilled = JobConfig {
            distilled: true,
            ..weights(&[(Control::Edge, 0.5)])
        };
        assert_eq!(t1.family(&distilled), Family::DistilledEdge);
        assert_eq!(
            t25.family(&weights(&[(Control::Vis, 0.5)])),
            Family::Single(Control::Vis)
        );
        assert_eq!(t25.family(&pair), Family::Multi);
        assert_eq!(
            t25.loads(Family::Multi, ControlSet::single(Control::Edge))
                .len(),
            4
        );
        let resolved = t1.resolve(&JobConfig::default());
        assert_eq!((resolved.sigma_max, resolved.fps), (Some(70.0), Some(24)));
        let resolved = t25.resolve(&JobConfig::default());
        assert_eq!((resolved.sigma_max, resolved.fps), (None, None));
        assert_eq!(
            t25.safe_batch_size(4, 8),
            8,
            "one job at a time: no memory per job"
        );
        assert_eq!(t1.safe_batch_size(3, 8), 2);
    }
}
