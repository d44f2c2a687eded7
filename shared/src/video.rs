//! Video facts that matter for batching: length in chunks and the aspect bucket.

use crate::error::{ErrorCode, ValidationError};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Frames Cosmos generates per chunk; consecutive chunks overlap by one frame.
pub const CHUNK_FRAMES: u32 = 121;
/// Frames assumed when a video's length is unknown (one chunk).
pub const DEFAULT_FRAMES: u32 = CHUNK_FRAMES;
/// Longest video accepted (about 30 minutes at 60 fps); longer is surely a mistake.
pub const MAX_FRAMES: u32 = 108_000;
/// Largest width or height accepted.
pub const MAX_SIDE: u32 = 16_384;

/// How many full sampling runs a video of `frames` frames needs:
/// `max(1, ceil((frames - 1) / 120))`.
pub fn chunks(frames: u32) -> u32 {
    let step = CHUNK_FRAMES - 1;
    (frames.saturating_sub(1)).div_ceil(step).max(1)
}

/// The resolutions Cosmos Transfer resizes inputs to; a video goes to the nearest aspect ratio.
/// Jobs in one batched forward pass must share a bucket.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AspectBucket {
    #[serde(rename = "960x960")]
    Square960,
    #[serde(rename = "960x704")]
    Landscape960x704,
    #[serde(rename = "704x960")]
    Portrait704x960,
    /// 16:9-ish landscape (720p); assumed when a video's size is unknown.
    #[default]
    #[serde(rename = "1280x704")]
    Landscape1280x704,
    #[serde(rename = "704x1280")]
    Portrait704x1280,
}

impl AspectBucket {
    pub const ALL: [AspectBucket; 5] = [
        AspectBucket::Square960,
        AspectBucket::Landscape960x704,
        AspectBucket::Portrait704x960,
        AspectBucket::Landscape1280x704,
        AspectBucket::Portrait704x1280,
    ];

    pub fn size(self) -> (u32, u32) {
        match self {
            AspectBucket::Square960 => (960, 960),
            AspectBucket::Landscape960x704 => (960, 704),
            AspectBucket::Portrait704x960 => (704, 960),
            AspectBucket::Landscape1280x704 => (1280, 704),
            AspectBucket::Portrait704x1280 => (704, 1280),
        }
    }

    /// The bucket whose aspect ratio is nearest to `width` x `height`, measured as a factor
    /// (so 2:1 and 1:2 are equally far from 1:1). Ties go to the earlier bucket in
    /// [`AspectBucket::ALL`]. Plain division keeps the answer identical on every platform.
    pub fn nearest(width: u32, height: u32) -> AspectBucket {
        if width == 0 || height == 0 {
            return AspectBucket::default();
        }
        let ratio = width as f64 / height as f64;
        let mut best = AspectBucket::ALL[0];
        let mut best_distance = f64::INFINITY;
        for bucket in AspectBucket::ALL {
            let (w, h) = bucket.size();
            let target = w as f64 / h as f64;
            let distance = (ratio / target).max(target / ratio);
            if distance < best_distance {
                best = bucket;
                best_distance = distance;
            }
        }
        best
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AspectBucket::Square960 => "960x960",
            AspectBucket::Landscape960x704 => "960x704",
            AspectBucket::Portrait704x960 => "704x960",
            AspectBucket::Landscape1280x704 => "1280x704",
            AspectBucket::Portrait704x1280 => "704x1280",
        }
    }
}

impl fmt::Display for AspectBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Check a frame count and frame size from a client or a probe.
pub fn validate_video(frames: u32, width: u32, height: u32) -> Result<(), ValidationError> {
    if frames == 0 || frames > MAX_FRAMES {
        return Err(ValidationError::new(
            ErrorCode::FramesOutOfRange,
            format!("frames must be from 1 to {MAX_FRAMES}, got {frames}"),
        ));
    }
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(ValidationError::new(
            ErrorCode::VideoSizeOutOfRange,
            format!("video size must be from 1x1 to {MAX_SIDE}x{MAX_SIDE}, got {width}x{height}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_follow_cosmos_121_frame_windows() {
        assert_eq!(chunks(1), 1);
        assert_eq!(chunks(57), 1);
        assert_eq!(chunks(121), 1);
        assert_eq!(chunks(122), 2);
        assert_eq!(chunks(241), 2);
        assert_eq!(chunks(242), 3);
        assert_eq!(chunks(0), 1);
    }

    #[test]
    fn nearest_bucket_by_aspect_ratio() {
        assert_eq!(
            AspectBucket::nearest(1920, 1080),
            AspectBucket::Landscape1280x704
        );
        assert_eq!(
            AspectBucket::nearest(1080, 1920),
            AspectBucket::Portrait704x1280
        );
        assert_eq!(AspectBucket::nearest(512, 512), AspectBucket::Square960);
        assert_eq!(
            AspectBucket::nearest(640, 480),
            AspectBucket::Landscape960x704
        );
        assert_eq!(
            AspectBucket::nearest(480, 640),
            AspectBucket::Portrait704x960
        );
        assert_eq!(
            AspectBucket::nearest(0, 10),
            AspectBucket::Landscape1280x704
        );
        assert_eq!(
            serde_json::to_string(&AspectBucket::Portrait704x960).unwrap(),
            "\"704x960\""
        );
    }

    #[test]
    fn video_bounds() {
        assert!(validate_video(121, 1280, 720).is_ok());
        assert_eq!(
            validate_video(0, 1280, 720).unwrap_err().code,
            ErrorCode::FramesOutOfRange
        );
        assert_eq!(
            validate_video(10, 0, 720).unwrap_err().code,
            ErrorCode::VideoSizeOutOfRange
        );
    }
}
