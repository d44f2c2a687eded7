//! Job kinds and run settings, with the Cosmos Transfer defaults and their validation.

use crate::control::{Control, ControlSet};
use crate::error::{ErrorCode, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What a job runs. Only `inference` jobs can share a batch.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    #[default]
    Inference,
    Enhance,
    Upscale,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Inference => "inference",
            JobKind::Enhance => "enhance",
            JobKind::Upscale => "upscale",
        }
    }

    /// Whether jobs of this kind may share a batch with others (inference only).
    pub fn batchable(self) -> bool {
        self == JobKind::Inference
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Strength presets for `--blur_strength` and `--canny_threshold`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    VeryLow,
    Low,
    #[default]
    Medium,
    High,
    VeryHigh,
}

impl Strength {
    pub const ALL: [Strength; 5] = [
        Strength::VeryLow,
        Strength::Low,
        Strength::Medium,
        Strength::High,
        Strength::VeryHigh,
    ];

    /// The token Cosmos Transfer expects on its command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Strength::VeryLow => "very_low",
            Strength::Low => "low",
            Strength::Medium => "medium",
            Strength::High => "high",
            Strength::VeryHigh => "very_high",
        }
    }
}

impl fmt::Display for Strength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Cosmos Transfer1's defaults for every setting a job may leave out.
pub mod defaults {
    pub const NUM_STEPS: u32 = 35;
    pub const GUIDANCE: f64 = 5.0;
    pub const SEED: u64 = 1;
    /// Transfer1's `--sigma_max` and `--fps` when a job leaves them out.
    pub const SIGMA_MAX: f64 = 70.0;
    pub const FPS: u32 = 24;
    /// Cosmos-Transfer2.5's own defaults where they differ from Transfer1's.
    pub const TRANSFER25_GUIDANCE: f64 = 3.0;
    pub const TRANSFER25_SEED: u64 = 2025;
}

/// Accepted ranges. Seeds stay within what a JavaScript client can hold exactly (2^53 - 1).
pub mod limits {
    pub const NUM_STEPS: std::ops::RangeInclusive<u32> = 1..=1000;
    pub const GUIDANCE: std::ops::RangeInclusive<f64> = 0.0..=20.0;
    pub const SEED_MAX: u64 = (1 << 53) - 1;
    pub const SIGMA_MAX: std::ops::RangeInclusive<f64> = 0.0..=200.0;
    pub const FPS: std::ops::RangeInclusive<u32> = 1..=120;
}

/// Run settings as a client sends them: every setting optional (omitted ones take the Cosmos
/// defaults), unknown fields rejected, control names checked by [`JobConfig::from_input`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JobConfigInput {
    /// Weight per control, each in 0..=1; a control is active when its weight is above 0.
    #[serde(default)]
    pub weights: BTreeMap<String, f64>,
    /// Diffusion steps (default 35).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_steps: Option<u32>,
    /// Classifier-free guidance (default 5; 3 on cosmos-transfer2.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<f64>,
    /// Global seed (default 1; 2025 on cosmos-transfer2.5); chunk k of a video uses seed + k.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Noise level to start from; below 80 the input video guides generation. Omitted: the
    /// program's default (Transfer1: 70; Transfer2.5: none, generation starts from noise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma_max: Option<f64>,
    /// Blur strength of the `vis` control (default medium).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blur_strength: Option<Strength>,
    /// Canny threshold of the `edge` control (default medium).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canny_threshold: Option<Strength>,
    /// Frames per second written to the output. Omitted: the program's default (Transfer1:
    /// 24; Transfer2.5 has no such setting and keeps the input video's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<u32>,
    /// Run on Transfer1's distilled edge model (`--use_distilled`: edge only, one step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distilled: Option<bool>,
}

/// Validated run settings of one job. `sigma_max` and `fps` are `null` when the job leaves
/// them to the program (see [`crate::Profile::resolve`]); the others hold the program's
/// default when the job named none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobConfig {
    /// Weight per control (0..=1). Controls with weight 0 are inactive.
    pub weights: BTreeMap<Control, f64>,
    pub num_steps: u32,
    pub guidance: f64,
    pub seed: u64,
    /// `null`: the program's default.
    pub sigma_max: Option<f64>,
    pub blur_strength: Strength,
    pub canny_threshold: Strength,
    /// `null`: the program's default.
    pub fps: Option<u32>,
    /// Transfer1's distilled edge model.
    #[serde(default)]
    pub distilled: bool,
}

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig {
            weights: BTreeMap::new(),
            num_steps: defaults::NUM_STEPS,
            guidance: defaults::GUIDANCE,
            seed: defaults::SEED,
            sigma_max: None,
            blur_strength: Strength::default(),
            canny_threshold: Strength::default(),
            fps: None,
            distilled: false,
        }
    }
}

fn check_weight(control: &str, w: f64) -> Result<(), ValidationError> {
    if w.is_finite() && (0.0..=1.0).contains(&w) {
        Ok(())
    } else {
        Err(ValidationError::new(
            ErrorCode::WeightOutOfRange,
            format!("weight of `{control}` must be a number from 0 to 1, got {w}"),
        ))
    }
}

impl JobConfig {
    /// Parse a client's settings: names become controls, omitted settings take Transfer1's
    /// defaults, and every value is checked (see [`JobConfig::validate`]).
    pub fn from_input(input: JobConfigInput, kind: JobKind) -> Result<Self, ValidationError> {
        Self::from_input_with(input, kind, &JobConfig::default())
    }

    /// [`JobConfig::from_input`] with the omitted settings taken from `d` (see
    /// [`crate::Profile::defaults`]); `d`'s weights are not used.
    pub fn from_input_with(
        input: JobConfigInput,
        kind: JobKind,
        d: &JobConfig,
    ) -> Result<Self, ValidationError> {
        let mut weights = BTreeMap::new();
        for (name, w) in input.weights {
            let control: Control = name.parse().map_err(|e: crate::control::UnknownControl| {
                ValidationError::new(ErrorCode::UnknownControl, e.to_string())
            })?;
            check_weight(&name, w)?;
            weights.insert(control, w);
        }
        let config = JobConfig {
            weights,
            num_steps: input.num_steps.unwrap_or(d.num_steps),
            guidance: input.guidance.unwrap_or(d.guidance),
            seed: input.seed.unwrap_or(d.seed),
            sigma_max: input.sigma_max.or(d.sigma_max),
            blur_strength: input.blur_strength.unwrap_or(d.blur_strength),
            canny_threshold: input.canny_threshold.unwrap_or(d.canny_threshold),
            fps: input.fps.or(d.fps),
            distilled: input.distilled.unwrap_or(d.distilled),
        };
        config.validate(kind)?;
        Ok(config)
    }

    /// Check every value against its range; an inference job needs at least one active control.
    pub fn validate(&self, kind: JobKind) -> Result<(), ValidationError> {
        for (control, w) in &self.weights {
            check_weight(control.as_str(), *w)?;
        }
        if kind == JobKind::Inference && self.signature().is_empty() {
            return Err(ValidationError::new(
                ErrorCode::NoActiveControl,
                "an inference job needs at least one control with a weight above 0",
            ));
        }
        if !limits::NUM_STEPS.contains(&self.num_steps) {
            return Err(ValidationError::new(
                ErrorCode::NumStepsOutOfRange,
                format!("num_steps must be from 1 to 1000, got {}", self.num_steps),
            ));
        }
        if !(self.guidance.is_finite() && limits::GUIDANCE.contains(&self.guidance)) {
            return Err(ValidationError::new(
                ErrorCode::GuidanceOutOfRange,
                format!("guidance must be from 0 to 20, got {}", self.guidance),
            ));
        }
        if self.seed > limits::SEED_MAX {
            return Err(ValidationError::new(
                ErrorCode::SeedOutOfRange,
                format!(
                    "seed must be from 0 to {} (2^53 - 1), got {}",
                    limits::SEED_MAX,
                    self.seed
                ),
            ));
        }
        if let Some(sigma) = self.sigma_max {
            if !(sigma.is_finite() && sigma > 0.0 && limits::SIGMA_MAX.contains(&sigma)) {
                return Err(ValidationError::new(
                    ErrorCode::SigmaMaxOutOfRange,
                    format!("sigma_max must be above 0 and at most 200, got {sigma}"),
                ));
            }
        }
        if let Some(fps) = self.fps.filter(|f| !limits::FPS.contains(f)) {
            return Err(ValidationError::new(
                ErrorCode::FpsOutOfRange,
                format!("fps must be from 1 to 120, got {fps}"),
            ));
        }
        Ok(())
    }

    /// The control signature: the active controls (weight > 0), sorted by name.
    pub fn signature(&self) -> ControlSet {
        self.weights
            .iter()
            .filter(|(_, w)| **w > 0.0)
            .map(|(c, _)| *c)
            .collect()
    }

    /// How many controls are active (weight > 0).
    pub fn count_active_controls(&self) -> usize {
        self.signature().len()
    }

    /// This job's weight for `control`; 0 for every control it did not ask for.
    pub fn weight(&self, control: Control) -> f64 {
        self.weights.get(&control).copied().unwrap_or(0.0)
    }

    /// Whether any control's weight differs (a missing weight counts as 0).
    pub fn weights_differ(&self, other: &JobConfig) -> bool {
        Control::ALL
            .into_iter()
            .any(|c| self.weight(c) != other.weight(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(weights: &[(&str, f64)]) -> JobConfigInput {
        JobConfigInput {
            weights: weights.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn omitted_settings_take_the_profiles_own_defaults() {
        let on = |profile: &str| {
            let d = crate::Profile::parse(profile).unwrap().defaults();
            JobConfig::from_input_with(input(&[("edge", 0.5)]), JobKind::Inference, &d).unwrap()
        };
        let t25 = on("cosmos-transfer2.5");
        assert_eq!((t25.guidance, t25.seed, t25.num_steps), (3.0, 2025, 35));
        let t1 = on("cosmos-transfer1");
        assert_eq!((t1.guidance, t1.seed), (5.0, 1));
        assert_eq!(on("simulated"), t1);
        // What a job names wins.
        let named = JobConfigInput {
            guidance: Some(6.0),
            seed: Some(9),
            ..input(&[("edge", 0.5)])
        };
        let d = crate::Profile::Transfer25.defaults();
        let c = JobConfig::from_input_with(named, JobKind::Inference, &d).unwrap();
        assert_eq!((c.guidance, c.seed), (6.0, 9));
    }

    #[test]
    fn omitted_settings_take_cosmos_defaults() {
        let c = JobConfig::from_input(input(&[("edge", 0.5)]), JobKind::Inference).unwrap();
        assert_eq!(c.num_steps, 35);
        assert_eq!(c.guidance, 5.0);
        assert_eq!(c.seed, 1);
        // Left to the program (Transfer1 resolves them to 70 and 24: see Profile::resolve).
        assert_eq!(c.sigma_max, None);
        assert_eq!(c.blur_strength, Strength::Medium);
        assert_eq!(c.canny_threshold, Strength::Medium);
        assert_eq!(c.fps, None);
        assert!(!c.distilled);
    }

    #[test]
    fn zero_weights_are_dropped_from_the_signature_which_is_sorted() {
        let c = JobConfig::from_input(
            input(&[("vis", 0.3), ("edge", 0.5), ("depth", 0.0)]),
            JobKind::Inference,
        )
        .unwrap();
        assert_eq!(c.signature().to_vec(), vec![Control::Edge, Control::Vis]);
        assert_eq!(c.count_active_controls(), 2);
        assert_eq!(c.weight(Control::Depth), 0.0);
        assert_eq!(c.weight(Control::Seg), 0.0);
    }

    #[test]
    fn bad_values_get_stable_codes() {
        let code = |i: JobConfigInput, k: JobKind| JobConfig::from_input(i, k).unwrap_err().code;
        assert_eq!(
            code(input(&[("sketch", 0.5)]), JobKind::Inference),
            ErrorCode::UnknownControl
        );
        for w in [-0.1, 1.01, f64::NAN, f64::INFINITY] {
            assert_eq!(
                code(input(&[("edge", w)]), JobKind::Inference),
                ErrorCode::WeightOutOfRange
            );
        }
        assert_eq!(
            code(input(&[("edge", 0.0)]), JobKind::Inference),
            ErrorCode::NoActiveControl
        );
        assert_eq!(
            code(input(&[]), JobKind::Inference),
            ErrorCode::NoActiveControl
        );
        let with = |f: fn(&mut JobConfigInput)| {
            let mut i = input(&[("edge", 1.0)]);
            f(&mut i);
            code(i, JobKind::Inference)
        };
        assert_eq!(
            with(|i| i.num_steps = Some(0)),
            ErrorCode::NumStepsOutOfRange
        );
        assert_eq!(
            with(|i| i.num_steps = Some(1_000_000_000)),
            ErrorCode::NumStepsOutOfRange
        );
        assert_eq!(
            with(|i| i.guidance = Some(-1.0)),
            ErrorCode::GuidanceOutOfRange
        );
        assert_eq!(
            with(|i| i.guidance = Some(f64::NAN)),
            ErrorCode::GuidanceOutOfRange
        );
        assert_eq!(with(|i| i.seed = Some(1 << 60)), ErrorCode::SeedOutOfRange);
        assert_eq!(
            with(|i| i.sigma_max = Some(0.0)),
            ErrorCode::SigmaMaxOutOfRange
        );
        assert_eq!(with(|i| i.fps = Some(0)), ErrorCode::FpsOutOfRange);
        assert_eq!(with(|i| i.fps = Some(121)), ErrorCode::FpsOutOfRange);
    }

    #[test]
    fn enhance_and_upscale_need_no_control() {
        assert!(JobConfig::from_input(input(&[]), JobKind::Enhance).is_ok());
        assert!(JobConfig::from_input(input(&[]), JobKind::Upscale).is_ok());
        assert!(!JobKind::Enhance.batchable());
        assert!(!JobKind::Upscale.batchable());
        assert!(JobKind::Inference.batchable());
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<JobConfigInput>(r#"{"weights":{},"num_step":3}"#);
        assert!(err.unwrap_err().to_string().contains("unknown field"));
        let ok: JobConfigInput =
            serde_json::from_str(r#"{"weights":{"edge":1},"blur_strength":"very_high"}"#).unwrap();
        assert_eq!(ok.blur_strength, Some(Strength::VeryHigh));
    }
}
