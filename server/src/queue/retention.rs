//! Deleting finished jobs, pinning, and the retention of outputs (`[retention]`): the files a
//! job's outputs name are removed only after the change that forgets them is durable (a crash
//! in between leaves files, never a job that names missing ones without saying so).

use super::Queue;
use crate::error::Error;
use cosmosq_shared::api::{Job, JobOutputs, StorageView};
use cosmosq_shared::ErrorCode;
use std::path::{Path, PathBuf};

/// The files of a job's outputs (its batch's log is shared and stays).
fn output_files(outputs: &JobOutputs) -> Vec<PathBuf> {
    outputs
        .video
        .iter()
        .chain(outputs.control_videos.values())
        .chain(outputs.params.iter())
        .map(PathBuf::from)
        .collect()
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Remove the files, and the job's own output folder (`video_<n>`) with what else is in it.
fn remove_files(files: &[PathBuf]) {
    for f in files {
        let _ = std::fs::remove_file(f);
    }
    let folders: std::collections::BTreeSet<&Path> = files
        .iter()
        .filter_map(|f| f.parent())
        .filter(|d| {
            d.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("video_"))
        })
        .collect();
    for d in folders {
        let _ = std::fs::remove_dir_all(d);
    }
}

fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// (free, total) bytes of the filesystem holding `path`.
fn disk(path: &Path) -> (u64, u64) {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return (0, 0);
    };
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: statvfs(3) writes into `s`, which lives for the call; `c` is NUL-terminated.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return (0, 0);
    }
    let unit = s.f_frsize as u64;
    (s.f_bavail as u64 * unit, s.f_blocks as u64 * unit)
}

impl Queue {
    /// Delete a finished job and its output files (409 while it is queued or running).
    pub fn delete_job(&self, id: &str) -> Result<(), Error> {
        let files = self.mutate(|state, change| {
            let r = state.job(id)?;
            if !r.job.status.is_terminal() {
                return Err(Error::new(
                    ErrorCode::JobNotFinished,
                    format!(
                        "job {id} is {}: only a finished job can be deleted (cancel it first)",
                        r.job.status
                    ),
                ));
            }
            change.removed_jobs.push(id.to_string());
            Ok(output_files(&r.job.outputs))
        })?;
        remove_files(&files);
        Ok(())
    }

    /// Keep (or no longer keep) a job's outputs from the retention.
    pub fn pin_job(&self, id: &str, pinned: bool) -> Result<Job, Error> {
        self.mutate(|state, change| {
            let mut r = state.job(id)?.clone();
            r.job.pinned = pinned;
            change.jobs.push(r);
            Ok(())
        })?;
        self.job(id)
    }

    /// Apply `[retention]`: remove the outputs of finished, unpinned jobs older than
    /// `keep_days`, then the oldest while all outputs take more than `max_output_bytes`.
    /// Returns how many jobs were pruned.
    pub fn prune(&self) -> Result<usize, Error> {
        let r = self.config.retention.clone();
        if r.keep_days.is_none() && r.max_output_bytes.is_none() {
            return Ok(0);
        }
        // Candidates and sizes outside the lock's writes: (finished_at, id, files, bytes).
        let (mut candidates, mut total) = {
            let state = self.lock();
            let mut total = 0u64;
            let mut c = Vec::new();
            for rec in state.jobs.values() {
                let files = output_files(&rec.job.outputs);
                let bytes: u64 = files.iter().map(|f| size(f)).sum();
                total += bytes;
                let job = &rec.job;
                if job.status.is_terminal() && !job.pinned && !job.pruned && !files.is_empty() {
                    c.push((
                        job.finished_at.clone().unwrap_or_default(),
                        job.id.clone(),
                        files,
                        bytes,
                    ));
                }
            }
            (c, total)
        };
        candidates.sort();
        let cutoff = r.keep_days.map(|d| {
            let at =
                std::time::SystemTime::now() - std::time::Duration::from_secs_f64(d * 86_400.0);
            humantime::format_rfc3339_millis(at).to_string()
        });
        let mut chosen = Vec::new();
        for (finished, id, files, bytes) in candidates {
            let old = cutoff.as_ref().is_some_and(|c| finished < *c);
            let over = r.max_output_bytes.is_some_and(|max| total > max);
            if old || over {
                total = total.saturating_sub(bytes);
                chosen.push((id, files));
            }
        }
        if chosen.is_empty() {
            return Ok(0);
        }
        let pruned = self.mutate(|state, change| {
            let mut files = Vec::new();
            for (id, f) in &chosen {
                let Some(rec) = state.jobs.get(id) else {
                    continue;
                };
                if rec.job.pinned || rec.job.pruned || !rec.job.status.is_terminal() {
                    continue;
                }
                let mut rec = rec.clone();
                rec.job.pruned = true;
                let log = rec.job.outputs.log.take();
                rec.job.outputs = JobOutputs {
                    log,
                    ..JobOutputs::default()
                };
                change.jobs.push(rec);
                files.extend(f.iter().cloned());
            }
            Ok(files)
        })?;
        let n = chosen.len();
        remove_files(&pruned);
        tracing::info!(jobs = n, "retention removed finished jobs' outputs");
        Ok(n)
    }

    /// Bytes used by outputs, logs and the store, and the disk's free space.
    pub fn storage(&self) -> StorageView {
        let (outputs, pruned) = {
            let state = self.lock();
            let files: Vec<PathBuf> = state
                .jobs
                .values()
                .flat_map(|r| output_files(&r.job.outputs))
                .collect();
            let pruned = state.jobs.values().filter(|r| r.job.pruned).count() as u64;
            (files, pruned)
        };
        let outputs_bytes = outputs.iter().map(|f| size(f)).sum();
        let logs_bytes = std::fs::read_dir(&self.batches_dir)
            .map(|d| d.flatten().map(|e| size(&e.path().join("run.log"))).sum())
            .unwrap_or(0);
        let store_bytes = dir_bytes(&self.config.data_dir.join("db"));
        let (free_bytes, total_bytes) = disk(&self.config.data_dir);
        let low_disk =
            total_bytes > 0 && (free_bytes < total_bytes / 10 || free_bytes < 5_000_000_000);
        StorageView {
            outputs_bytes,
            logs_bytes,
            store_bytes,
            free_bytes,
            total_bytes,
            low_disk,
            keep_days: self.config.retention.keep_days,
            max_output_bytes: self.config.retention.max_output_bytes,
            pruned_jobs: pruned,
        }
    }
}

/// Run the retention every `check_seconds` until the queue stops.
pub async fn retention_loop(queue: std::sync::Arc<Queue>) {
    let every = std::time::Duration::from_secs_f64(queue.config.retention.check_seconds);
    let r = &queue.config.retention;
    if r.keep_days.is_none() && r.max_output_bytes.is_none() {
        return;
    }
    while !queue.is_stopping() {
        let q = queue.clone();
        match tokio::task::spawn_blocking(move || q.prune()).await {
            Ok(Err(e)) => tracing::warn!(error = %e, "retention failed"),
            Err(e) => tracing::warn!("retention task failed: {e}"),
            Ok(Ok(_)) => {}
        }
        tokio::time::sleep(every).await;
    }
}
