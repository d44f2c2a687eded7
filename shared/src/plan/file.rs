//! The job-list file read by `cosmosq plan`: `{"jobs": [{"id", "weights", ...}]}` in queue order.

use super::PlanJob;
use crate::control::{Control, ControlSet};
use crate::error::{ErrorCode, ValidationError};
use crate::job::{JobConfig, JobConfigInput, JobKind};
use crate::video::{self, AspectBucket};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    jobs: Vec<Map<String, Value>>,
}

fn invalid(message: impl Into<String>) -> ValidationError {
    ValidationError::new(ErrorCode::InvalidInput, message)
}

fn take<T: DeserializeOwned>(
    fields: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<T>, ValidationError> {
    match fields.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(|e| invalid(format!("`{key}`: {e}"))),
    }
}

fn parse_job(
    mut fields: Map<String, Value>,
    defaults: &JobConfig,
) -> Result<PlanJob, ValidationError> {
    let id: String = take(&mut fields, "id")?
        .ok_or_else(|| ValidationError::new(ErrorCode::EmptyJobId, "missing `id`"))?;
    let in_job = |e: ValidationError| e.context(format!("job `{id}`"));
    let kind: JobKind = take(&mut fields, "kind")
        .map_err(in_job)?
        .unwrap_or_default();
    let negative_prompt: Option<String> = take(&mut fields, "negative_prompt").map_err(in_job)?;
    let frames: u32 = take(&mut fields, "frames")
        .map_err(in_job)?
        .unwrap_or(video::DEFAULT_FRAMES);
    let width: Option<u32> = take(&mut fields, "width").map_err(in_job)?;
    let height: Option<u32> = take(&mut fields, "height").map_err(in_job)?;
    let inputs: Vec<String> = take(&mut fields, "control_inputs")
        .map_err(in_job)?
        .unwrap_or_default();
    let control_inputs = inputs
        .iter()
        .map(|name| {
            name.parse::<Control>()
                .map_err(|e| ValidationError::new(ErrorCode::UnknownControl, e.to_string()))
        })
        .collect::<Result<ControlSet, _>>()
        .map_err(in_job)?;
    // Everything else is run settings; unknown keys are rejected there.
    let settings: JobConfigInput = serde_json::from_value(Value::Object(fields))
        .map_err(|e| in_job(invalid(e.to_string())))?;
    let config = JobConfig::from_input_with(settings, kind, defaults).map_err(in_job)?;
    let bucket = match (width, height) {
        (Some(w), Some(h)) => {
            video::validate_video(frames, w, h).map_err(in_job)?;
            AspectBucket::nearest(w, h)
        }
        (None, None) => AspectBucket::default(),
        _ => {
            return Err(in_job(invalid(
                "give both `width` and `height`, or neither",
            )))
        }
    };
    Ok(PlanJob {
        id,
        kind,
        config,
        negative_prompt,
        frames,
        bucket,
        control_inputs,
    })
}

/// Parse a plan file. Omitted settings take Transfer1's defaults; `frames` defaults to 121 and
/// the aspect bucket to 1280x704. Every error names the job it is about.
pub fn parse_plan_file(text: &str) -> Result<Vec<PlanJob>, ValidationError> {
    parse_plan_file_with(text, &JobConfig::default())
}

/// [`parse_plan_file`] with omitted settings taken from `defaults` (see
/// [`crate::Profile::defaults`]).
pub fn parse_plan_file_with(
    text: &str,
    defaults: &JobConfig,
) -> Result<Vec<PlanJob>, ValidationError> {
    let file: File =
        serde_json::from_str(text).map_err(|e| invalid(format!("not a plan file: {e}")))?;
    file.jobs
        .into_iter()
        .map(|fields| parse_job(fields, defaults))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_job_and_applies_defaults() {
        let jobs = parse_plan_file(
            r#"{"jobs": [
                {"id": "a", "weights": {"edge": 0.5, "depth": 0}, "seed": 7, "frames": 242,
                 "width": 1080, "height": 1920, "control_inputs": ["edge"],
                 "negative_prompt": "blurry"},
                {"id": "b", "kind": "upscale"}
            ]}"#,
        )
        .unwrap();
        assert_eq!(jobs.len(), 2);
        let a = &jobs[0];
        assert_eq!(a.config.seed, 7);
        assert_eq!(a.config.num_steps, 35);
        assert_eq!(a.signature(), ControlSet::single(Control::Edge));
        assert_eq!(a.frames, 242);
        assert_eq!(a.bucket, AspectBucket::Portrait704x1280);
        assert!(a.control_inputs.contains(Control::Edge));
        assert_eq!(a.negative_prompt.as_deref(), Some("blurry"));
        assert_eq!(jobs[1].kind, JobKind::Upscale);
        assert_eq!(jobs[1].frames, 121);
    }

    #[test]
    fn errors_name_the_job_and_carry_a_code() {
        let e = parse_plan_file(r#"{"jobs": [{"id": "x", "weights": {"edge": 2}}]}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::WeightOutOfRange);
        assert!(e.message.contains("job `x`"));
        let e = parse_plan_file(r#"{"jobs": [{"id": "x", "weights": {"edge": 1}, "stepz": 3}]}"#)
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput);
        assert!(e.message.contains("stepz"));
        let e = parse_plan_file(r#"{"jobs": [{"weights": {"edge": 1}}]}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::EmptyJobId);
        let e = parse_plan_file(r#"{"jobs": [{"id": "y", "weights": {"edge": 1}, "width": 5}]}"#)
            .unwrap_err();
        assert!(e.message.contains("height"));
        assert!(parse_plan_file("[1,2]").is_err());
        assert!(parse_plan_file(r#"{"jobs": [], "extra": 1}"#).is_err());
        let e = parse_plan_file(
            r#"{"jobs": [{"id": "z", "weights": {"edge": 1}, "control_inputs": ["x"]}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownControl);
    }
}
