//! Reading video facts with `ffprobe`, and checking video paths before anything is stored
//! (and again before a batch runs: see [`recheck`]).

use crate::error::Error;
use cosmosq_shared::api::VideoInfo;
use cosmosq_shared::video;
use cosmosq_shared::AspectBucket;
use cosmosq_shared::ErrorCode;
use serde::Deserialize;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Demuxers ffprobe may use: containers of one video file. Playlists (`hls`, `concat`, ...)
/// and image sequences open other files or URLs and are refused.
const FORMATS: &str = "mov,matroska,webm,avi,mpegts,mpeg,flv,ogg,nut,h264,hevc,m4v,mjpeg";

/// `path` with `.` and `..` resolved by name alone (no file system access).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn not_allowed(what: &str, raw: &str) -> Error {
    Error::new(
        ErrorCode::VideoPathNotAllowed,
        format!("{what} `{raw}` is outside the allowed directories"),
    )
}

/// Check that `raw` names a readable regular file under one of `allowed_roots` (when any are
/// set), and return its canonical path (symlinks resolved, so they cannot escape a root).
/// A path outside the roots is refused by its name before the file system is asked, so the
/// answer does not tell whether something exists there.
pub fn check_path(raw: &str, what: &str, allowed_roots: &[PathBuf]) -> Result<PathBuf, Error> {
    if raw.is_empty() || raw.contains('\0') {
        return Err(Error::new(
            ErrorCode::VideoPathInvalid,
            format!("{what} must be a file path"),
        ));
    }
    let path = Path::new(raw);
    if !path.is_absolute() {
        return Err(Error::new(
            ErrorCode::VideoPathNotAbsolute,
            format!("{what} must be an absolute path on the daemon's machine, got `{raw}`"),
        ));
    }
    // Each root as configured and as resolved (a root may itself be a symlink).
    let roots: Vec<(PathBuf, Option<PathBuf>)> = allowed_roots
        .iter()
        .map(|r| (lexical(r), std::fs::canonicalize(r).ok()))
        .collect();
    let under = |p: &Path| {
        roots.iter().any(|(named, real)| {
            p.starts_with(named) || real.as_ref().is_some_and(|r| p.starts_with(r))
        })
    };
    if !roots.is_empty() && !under(&lexical(path)) {
        return Err(not_allowed(what, raw));
    }
    let canonical = std::fs::canonicalize(path).map_err(|_| {
        Error::new(
            ErrorCode::VideoNotFound,
            format!("{what} `{raw}` does not exist"),
        )
    })?;
    if !roots.is_empty()
        && !roots
            .iter()
            .any(|(_, real)| real.as_ref().is_some_and(|r| canonical.starts_with(r)))
    {
        return Err(not_allowed(what, raw));
    }
    if !canonical.is_file() {
        return Err(Error::new(
            ErrorCode::VideoNotAFile,
            format!("{what} `{raw}` is not a regular file"),
        ));
    }
    Ok(canonical)
}

/// Before a batch runs: a stored (canonical) video path must still be a regular file under
/// the roots and still be itself, not a symlink swapped in since the prompt was created.
pub fn recheck(stored: &str, what: &str, allowed_roots: &[PathBuf]) -> Result<(), Error> {
    let canonical = check_path(stored, what, allowed_roots)?;
    if canonical != Path::new(stored) {
        return Err(Error::new(
            ErrorCode::VideoPathChanged,
            format!(
                "{what} `{stored}` now leads to `{}`: it was replaced after the prompt was created",
                canonical.display()
            ),
        ));
    }
    Ok(())
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

fn run_ffprobe(
    ffprobe: &str,
    path: &Path,
    count: bool,
    timeout: Duration,
) -> Result<Stream, Error> {
    let mut cmd = Command::new(ffprobe);
    cmd.args(["-v", "error"])
        // Only plain files, and only containers of one video (see FORMATS).
        .args(["-protocol_whitelist", "file", "-format_whitelist", FORMATS])
        .args(["-select_streams", "v:0"]);
    if count {
        cmd.arg("-count_packets");
    }
    cmd.args([
        "-show_entries",
        "stream=width,height,avg_frame_rate,r_frame_rate,nb_frames,nb_read_packets",
        "-of",
        "json",
    ])
    .arg(format!("file:{}", path.display()))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    // Its own process group, so a timeout stops whatever it started too.
    .process_group(0);
    crate::executor::forget_daemon_secrets(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| {
        Error::new(
            ErrorCode::ProbeUnavailable,
            format!("cannot run `{ffprobe}` to read the video ({e}); install ffmpeg"),
        )
    })?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                // At most 1 MiB: ffprobe's answer is a few hundred bytes.
                let _ = p.by_ref().take(1 << 20).read_to_end(&mut buf);
                let _ = std::io::copy(&mut p, &mut std::io::sink());
            }
            buf
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                crate::executor::leftovers::signal_group(child.id() as i32, libc::SIGKILL);
                let _ = child.wait();
                break None;
            }
        }
    };
    let (stdout, stderr) = (
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default(),
    );
    let Some(status) = status else {
        return Err(Error::new(
            ErrorCode::VideoProbeTimeout,
            format!(
                "reading `{}` took over {} s (probe_timeout_seconds)",
                path.display(),
                timeout.as_secs_f64()
            ),
        ));
    };
    if !status.success() {
        if String::from_utf8_lossy(&stderr).contains("whitelist") {
            return Err(Error::new(ErrorCode::VideoFormatNotAllowed,
                format!(
                    "`{}` is not a single video file (playlists, lists and image sequences are refused)",
                    path.display()
                ),
            ));
        }
        return Err(Error::new(
            ErrorCode::VideoUnreadable,
            format!("`{}` is not a readable video", path.display()),
        ));
    }
    let parsed: Output = serde_json::from_slice(&stdout).map_err(|_| {
        Error::new(
            ErrorCode::VideoUnreadable,
            format!("`{}` is not a readable video", path.display()),
        )
    })?;
    parsed.streams.into_iter().next().ok_or_else(|| {
        Error::new(
            ErrorCode::VideoUnreadable,
            format!("`{}` is not a readable video", path.display()),
        )
    })
}

/// Read frame count, fps and size of the first video stream (ffprobe is stopped after
/// `timeout`).
pub fn probe(ffprobe: &str, path: &Path, timeout: Duration) -> Result<VideoInfo, Error> {
    let unreadable = |why: &str| {
        Error::new(
            ErrorCode::VideoUnreadable,
            format!("`{}` is not a readable video: {why}", path.display()),
        )
    };
    let mut stream = run_ffprobe(ffprobe, path, false, timeout)?;
    let counted = |s: &Stream| {
        s.nb_frames
            .as_deref()
            .or(s.nb_read_packets.as_deref())
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| *n > 0)
    };
    if counted(&stream).is_none() {
        // Containers such as WebM carry no frame count: count the packets.
        stream = run_ffprobe(ffprobe, path, true, timeout)?;
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
    fn outside_the_roots_nothing_is_revealed_and_a_swap_is_noticed() {
        let root = tempfile::tempdir().unwrap();
        let roots = [root.path().to_path_buf()];
        let code = |raw: &str| check_path(raw, "input_video", &roots).unwrap_err().code;
        assert_eq!(code("/etc/hostname"), "video_path_not_allowed");
        assert_eq!(code("/etc/no-such-file"), "video_path_not_allowed");
        assert_eq!(code("/etc"), "video_path_not_allowed");
        let inside = root.path().join("clip.mp4");
        assert_eq!(code(inside.to_str().unwrap()), "video_not_found");
        std::fs::write(&inside, b"x").unwrap();
        let stored = check_path(inside.to_str().unwrap(), "input_video", &roots).unwrap();
        let stored = stored.to_str().unwrap();
        assert!(recheck(stored, "input_video", &roots).is_ok());
        // Swapped for a symlink: out of the roots, or to another file inside them.
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret.mp4");
        std::fs::write(&secret, b"x").unwrap();
        std::fs::remove_file(&inside).unwrap();
        std::os::unix::fs::symlink(&secret, &inside).unwrap();
        assert_eq!(
            recheck(stored, "input_video", &roots).unwrap_err().code,
            "video_path_not_allowed"
        );
        let other = root.path().join("other.mp4");
        std::fs::write(&other, b"x").unwrap();
        std::fs::remove_file(&inside).unwrap();
        std::os::unix::fs::symlink(&other, &inside).unwrap();
        assert_eq!(
            recheck(stored, "input_video", &roots).unwrap_err().code,
            "video_path_changed"
        );
        std::fs::remove_file(&inside).unwrap();
        assert_eq!(
            recheck(stored, "input_video", &roots).unwrap_err().code,
            "video_not_found"
        );
    }

    #[test]
    fn a_file_that_is_not_a_video_is_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("notes.mp4");
        std::fs::write(&file, b"this is text, not a video").unwrap();
        match probe("ffprobe", &file, Duration::from_secs(30)) {
            Err(e) => assert!(
                e.code == "video_unreadable" || e.code == "probe_unavailable",
                "{e}"
            ),
            Ok(info) => panic!("text probed as video: {info:?}"),
        }
    }
}
