//! `/api/v1/batches/{id}/log`: a batch's run log as text, from an offset or a byte `Range`
//! (to follow it while it grows), or only the lines of one of its jobs.

use super::{blocking, Documented};
use crate::api::error::ErrorResponse;
use crate::error::{Error, Result};
use crate::queue::Queue;
use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use cosmosq_shared::api::BatchStatus;
use cosmosq_shared::{ErrorCode, Profile};
use serde::Deserialize;
use std::io::{Read, Seek, SeekFrom};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(Documented(log));
}

/// The most bytes one answer carries; a client reads a longer log in several requests (the
/// `X-Log-Size` header says how much there is).
const MAX_ANSWER_BYTES: u64 = 8 << 20;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct LogQuery {
    /// Start at this byte (e.g. the bytes read so far, to follow a running batch).
    offset: Option<u64>,
    /// Only the lines of this job's part of the batch (where the program's output tells the
    /// jobs apart), plus the daemon's own `[cosmosq]` lines; the whole text, no offset.
    job: Option<String>,
    /// `true`: answer as an attachment (`<batch id>.log`).
    download: Option<bool>,
}

/// A byte range asked for with `Range: bytes=...`: `None` when there is none the daemon
/// takes (it then answers the whole text, as RFC 9110 allows); `Err` when it is outside.
fn range(req: &HttpRequest, size: u64) -> std::result::Result<Option<(u64, u64)>, ()> {
    let Some(value) = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let parsed = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(a), Some(b)) if a <= b => (a, b.min(size.saturating_sub(1))),
        (Some(_), Some(_)) => return Ok(None),
        (Some(a), None) if b.is_empty() => (a, size.saturating_sub(1)),
        (None, Some(n)) if a.is_empty() => {
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        _ => return Ok(None),
    };
    if parsed.0 >= size {
        return Err(());
    }
    Ok(Some(parsed))
}

fn read_range(path: &std::path::Path, start: u64, len: u64) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(len).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Whether `line` names job `index` of a batch whose jobs are `ids`: by its id (Transfer2.5
/// names each sample after it, the simulated executor prints it), or for Transfer1 by its
/// line of the batch's JSONL (`line 3`, `lines [2, 3]`).
fn names(line: &str, ids: &[String], index: usize, transfer1: bool) -> bool {
    if line.contains(ids[index].as_str()) {
        return true;
    }
    if !transfer1 {
        return false;
    }
    let n = index.to_string();
    let mut rest = line;
    while let Some(at) = rest.find("line ") {
        let after = &rest[at + 5..];
        let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
        if digits == n {
            return true;
        }
        rest = after;
    }
    if let Some(at) = line.find("lines [") {
        let list = &line[at + 7..];
        let list = list.split(']').next().unwrap_or("");
        return list.split(',').any(|x| x.trim() == n);
    }
    false
}

/// The lines of job `index`'s part of a batch log: the lines that name it, and those after
/// a line that names only it until a line names another job (or several). Lines before any
/// job is named (the model load) belong to no job; the daemon's own `[cosmosq]` lines belong
/// to every job.
pub fn job_lines(text: &str, ids: &[String], index: usize, profile: Profile) -> String {
    let transfer1 = profile == Profile::Transfer1;
    let mut current: Option<usize> = None;
    let mut out = String::new();
    for line in text.lines() {
        let named: Vec<usize> = (0..ids.len())
            .filter(|j| names(line, ids, *j, transfer1))
            .collect();
        match named.as_slice() {
            [] => {}
            [one] => current = Some(*one),
            _ => current = None,
        }
        let daemon = line.starts_with("[cosmosq]");
        if named.contains(&index) || daemon || (named.is_empty() && current == Some(index)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// A batch's run log (`text/plain`): the program's output and the daemon's `[cosmosq]`
/// notes. `X-Log-Size` is its size now and `X-Log-Complete` whether the batch finished
/// (nothing more will be written): follow a running batch by asking again with
/// `offset` = the bytes read so far. `Range: bytes=a-b` answers 206 with those bytes. A
/// batch that has not written its log yet answers an empty text while it may still run.
#[utoipa::path(
    tag = "batches",
    operation_id = "get_batch_log",
    params(("id" = String, Path, description = "Batch id (`bt_...`)"), LogQuery),
    responses(
        (status = 200, description = "The log (from `offset`; empty when `offset` is at or past the end), or one job's lines", content_type = "text/plain",
            headers(("X-Log-Size" = u64, description = "Bytes in the log now"), ("X-Log-Complete" = bool, description = "The batch finished: the log will not grow"))),
        (status = 206, description = "The requested byte range (`Content-Range`)", content_type = "text/plain"),
        (status = 400, description = "`invalid_query`: an unknown parameter or an `offset` over 2^63 - 1", body = ErrorResponse),
        (status = 404, description = "`batch_not_found`, `job_not_found` (not a job of this batch), or `log_not_found` (a finished batch without a log)", body = ErrorResponse),
        (status = 416, description = "`range_not_satisfiable`: a `Range` past the end (`Content-Range: bytes */size`)", body = ErrorResponse),
    )
)]
#[get("/batches/{id}/log")]
async fn log(
    queue: web::Data<Queue>,
    id: web::Path<String>,
    query: web::Query<LogQuery>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    if query.offset.is_some_and(|o| o > i64::MAX as u64) {
        return Err(Error::new(
            ErrorCode::InvalidQuery,
            "`offset` must be at most 9223372036854775807",
        ));
    }
    let batch = queue.batch(&id)?;
    let complete = matches!(
        batch.status,
        BatchStatus::Succeeded | BatchStatus::Failed | BatchStatus::Canceled
    );
    let job_index = match &query.job {
        Some(job) => Some(batch.job_ids.iter().position(|j| j == job).ok_or_else(|| {
            Error::new(
                ErrorCode::JobNotFound,
                format!("job `{job}` is not a job of batch `{}`", batch.id),
            )
        })?),
        None => None,
    };
    let path = batch
        .log_path
        .clone()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| queue.batch_log_path(&batch.id));
    let size = match std::fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(_) if complete => {
            return Err(Error::new(
                ErrorCode::LogNotFound,
                format!("batch `{}` left no log", batch.id),
            ))
        }
        Err(_) => 0,
    };
    let answer = |status: actix_web::http::StatusCode| {
        let mut b = HttpResponse::build(status);
        b.content_type("text/plain; charset=utf-8")
            .insert_header(("X-Log-Size", size.to_string()))
            .insert_header(("X-Log-Complete", complete.to_string()))
            .insert_header((header::ACCEPT_RANGES, "bytes"))
            .insert_header((header::CACHE_CONTROL, "no-store"));
        if query.download == Some(true) {
            b.insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.log\"", batch.id),
            ));
        }
        b
    };
    let unsatisfiable = |size: u64| {
        let mut r = HttpResponse::RangeNotSatisfiable();
        r.insert_header((header::CONTENT_RANGE, format!("bytes */{size}")))
            .insert_header(("X-Log-Size", size.to_string()))
            .json(ErrorResponse {
                code: ErrorCode::RangeNotSatisfiable,
                message: format!("the log of batch `{}` holds {size} bytes", batch.id),
                preview: None,
                index: None,
            })
    };
    if let Some(index) = job_index {
        let (ids, profile, p) = (batch.job_ids.clone(), batch.executor, path.clone());
        let text = blocking(move || {
            let bytes = read_range(&p, 0, MAX_ANSWER_BYTES * 8).unwrap_or_default();
            Ok(job_lines(
                &String::from_utf8_lossy(&bytes),
                &ids,
                index,
                profile,
            ))
        })
        .await?;
        return Ok(answer(actix_web::http::StatusCode::OK).body(text));
    }
    let (start, end, partial) = match range(&req, size) {
        Err(()) => return Ok(unsatisfiable(size)),
        Ok(Some((a, b))) => (a, b + 1, true),
        Ok(None) => {
            // An offset at or past the end answers an empty text: nothing more has been
            // written yet (the `X-Log-Size` header says how much there is).
            let offset = query.offset.unwrap_or(0).min(size);
            (offset, size, false)
        }
    };
    let len = (end - start).min(MAX_ANSWER_BYTES);
    let bytes = if len == 0 {
        Vec::new()
    } else {
        let p = path.clone();
        blocking(move || {
            read_range(&p, start, len)
                .map_err(|e| Error::internal(format!("cannot read the batch log: {e}")))
        })
        .await?
    };
    if partial {
        let last = start + bytes.len() as u64;
        let mut r = answer(actix_web::http::StatusCode::PARTIAL_CONTENT);
        r.insert_header((
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{size}", last.saturating_sub(1)),
        ));
        return Ok(r.body(bytes));
    }
    Ok(answer(actix_web::http::StatusCode::OK).body(bytes))
}

#[cfg(test)]
mod tests {
    use super::job_lines;
    use cosmosq_shared::Profile;

    #[test]
    fn a_jobs_lines_are_its_section_of_the_log() {
        let ids = vec!["jb_a".to_string(), "jb_b".to_string()];
        let log = "[simulated] loading model\n\
                   [simulated] job 1/2 jb_a started\n\
                   step 1\n\
                   [simulated] job 2/2 jb_b started\n\
                   step 2\n\
                   [cosmosq] program ended: code Some(0)\n";
        assert_eq!(
            job_lines(log, &ids, 0, Profile::Simulated),
            "[simulated] job 1/2 jb_a started\nstep 1\n[cosmosq] program ended: code Some(0)\n"
        );
        assert_eq!(
            job_lines(log, &ids, 1, Profile::Simulated),
            "[simulated] job 2/2 jb_b started\nstep 2\n[cosmosq] program ended: code Some(0)\n"
        );
    }

    #[test]
    fn transfer1_jobs_are_told_apart_by_their_line() {
        let ids = vec!["jb_a".to_string(), "jb_b".to_string(), "jb_c".to_string()];
        let log = "model ready\n\
                   group 1/2: lines [0, 1]\n\
                   group 1/2 step 1/2\n\
                   Saved video to o/0.mp4 (line 0)\n\
                   Saved video to o/1.mp4 (line 1)\n\
                   group 2/2: lines [2]\n\
                   group 2/2 step 1/2\n\
                   line 2: running preprocessor\n";
        let c = job_lines(log, &ids, 2, Profile::Transfer1);
        assert_eq!(
            c,
            "group 2/2: lines [2]\ngroup 2/2 step 1/2\nline 2: running preprocessor\n"
        );
        let a = job_lines(log, &ids, 0, Profile::Transfer1);
        assert_eq!(
            a,
            "group 1/2: lines [0, 1]\nSaved video to o/0.mp4 (line 0)\n"
        );
    }
}
