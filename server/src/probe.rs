//! Reading video facts with `ffprobe`, and checking video paths before anything is stored.

use crate::error::ApiError;
use cosmosq_shared::api::VideoInfo;
use cosmosq_shared::video;
use cosmosq_shared::AspectBucket;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Check that `raw` names a readable regular file under one of `allowed_roots` (when any are
/// set), and return its canonical path (symlinks resolved, so they cannot escape a root).
pub fn check_path(raw: &str, what: &str, allowed_roots: &[PathBuf]) -> Result<PathBuf, ApiError> {
    if raw.is_empty() || raw.contains('\0') {
        return Err(ApiError::invalid(
            "video_path_invalid",
            format!("{what} must be a file path"),
        ));
    }
    let path = Path::new(raw);
    if !path.is_absolute() {
        return Err(ApiError::invalid(
            "video_path_not_absolute",
            format!("{what} must be an absolute path on the daemon's machine, got `{raw}`"),
        ));
    }
    let canonical = std::fs::canonicalize(path).map_err(|_| {
        ApiError::invalid("video_not_found", format!("{what} `{raw}` does not exist"))
    })?;
    if !canonical.is_file() {
        return Err(ApiError::invalid(
            "video_not_a_file",
            format!("{what} `{raw}` is not a regular file"),
        ));
    }
    if !allowed_roots.is_empty() {
        let inside = allowed_roots
            .iter()
            .any(|root| std::fs::canonicalize(root).is_ok_and(|root| canonical.starts_with(root)));
        if !inside {
            return Err(ApiError::invalid(
                "video_path_not_allowed",
                format!("{what} `{raw}` is outside the allowed directories"),
            ));
        }
    }
    Ok(canonical)
}

#[derive(Deserialize)]
struct Output {
    #[serde(default)]
    streams: Vec<Stream>,
}

#[derive(Deserialize)]
struct Stream {
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    nb_frames: Option<String>,
    nb_read_packets: Option<String>,
}

/// "24000/1001" → 23.976...
fn rate(s: &str) -> Option<f64> {
    let (n, d) = s.split_once('/').unwrap_or((s, "1"));
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (d > 0.0 && n > 0.0).then(|| n / d)
}

fn run_ffprobe(ffprobe: &str, path: &Path, count: bool) -> Result<Stream, ApiError> {
    let mut cmd = Command::new(ffprobe);
    cmd.args(["-v", "error", "-select_streams", "v:0"]);
    if count {
        cmd.arg("-count_packets");
    }
    cmd.args([
        "-show_entries",
        "stream=width,height,avg_frame_rate,r_frame_rate,nb_frames,nb_read_packets",
        "-of",
        "json",
    ])
    .arg(path);
    let out = cmd.output().map_err(|e| {
        ApiError::unavailable(
            "probe_unavailable",
            format!("cannot run `{ffprobe}` to read the video ({e}); install ffmpeg"),
        )
    })?;
    let unreadable = || {
        ApiError::invalid(
            "video_unreadable",
            format!("`{}` is not a readable video", path.display()),
        )
    };
    if !out.status.success() {
        return Err(unreadable());
    }
    let parsed: Output = serde_json::from_slice(&out.stdout).map_err(|_| unreadable())?;
    parsed.streams.into_iter().next().ok_or_else(unreadable)
}

/// Read frame count, fps and size of the first video stream.
pub fn probe(ffprobe: &str, path: &Path) -> Result<VideoInfo, ApiError> {
    let unreadable = |why: &str| {
        ApiError::invalid(
            "video_unreadable",
            format!("`{}` is not a readable video: {why}", path.display()),
        )
    };
    let mut stream = run_ffprobe(ffprobe, path, false)?;
    let counted = |s: &Stream| {
        s.nb_frames
            .as_deref()
            .or(s.nb_read_packets.as_deref())
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| *n > 0)
    };
    if counted(&stream).is_none() {
        // Containers such as WebM carry no frame count: count the packets.
        stream = run_ffprobe(ffprobe, path, true)?;
    }
    let frames = counted(&stream).ok_or_else(|| unreadable("no frames"))?;
    let (width, height) = match (stream.width, stream.height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => (w, h),
        _ => return Err(unreadable("no frame size")),
    };
    let fps = stream
        .avg_frame_rate
        .as_deref()
        .and_then(rate)
        .or_else(|| stream.r_frame_rate.as_deref().and_then(rate))
        .ok_or_else(|| unreadable("no frame rate"))?;
    video::validate_video(frames, width, height)?;
    Ok(VideoInfo {
        frames,
        fps: (fps * 1000.0).round() / 1000.0,
        width,
        height,
        aspect_bucket: AspectBucket::nearest(width, height),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rates_parse() {
        assert_eq!(rate("24/1"), Some(24.0));
        assert!((rate("24000/1001").unwrap() - 23.976).abs() < 1e-3);
        assert_eq!(rate("0/0"), None);
        assert_eq!(rate("x"), None);
    }

    #[test]
    fn paths_are_checked_before_probing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.mp4");
        std::fs::write(&file, b"x").unwrap();
        let code =
            |raw: &str, roots: &[PathBuf]| check_path(raw, "input_video", roots).unwrap_err().code;
        assert_eq!(code("relative.mp4", &[]), "video_path_not_absolute");
        assert_eq!(code("/no/such/file.mp4", &[]), "video_not_found");
        assert_eq!(code(dir.path().to_str().unwrap(), &[]), "video_not_a_file");
        assert_eq!(code("", &[]), "video_path_invalid");
        let other = tempfile::tempdir().unwrap();
        assert_eq!(
            code(file.to_str().unwrap(), &[other.path().to_path_buf()]),
            "video_path_not_allowed"
        );
        // A symlink inside the root that points outside it is refused.
        let link = other.path().join("link.mp4");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(
            code(link.to_str().unwrap(), &[other.path().to_path_buf()]),
            "video_path_not_allowed"
        );
        let dotdot = format!(
            "{}/../{}/a.mp4",
            other.path().display(),
            dir.path().file_name().unwrap().to_str().unwrap()
        );
        assert_eq!(
            code(&dotdot, &[other.path().to_path_buf()]),
            "video_path_not_allowed"
        );
        assert!(check_path(
            file.to_str().unwrap(),
            "input_video",
            &[dir.path().to_path_buf()]
        )
        .is_ok());
    }

    #[test]
    fn a_file_that_is_not_a_video_is_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("notes.mp4");
        std::fs::write(&file, b"this is text, not a video").unwrap();
        match probe("ffprobe", &file) {
            Err(e) => assert!(
                e.code == "video_unreadable" || e.code == "probe_unavailable",
                "{e}"
            ),
            Ok(info) => panic!("text probed as video: {info:?}"),
        }
    }
}
