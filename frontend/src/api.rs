//! A typed client of the daemon's REST API (v1) over the shared data shapes. Every failure
//! becomes an [`ApiError`] decoded from the `{code, message}` body; the access token (kept in
//! localStorage) is sent as `Authorization: Bearer`.

use crate::model;
use cosmosq_shared::api::{
    Batch, BulkJobs, BulkJobsInput, CostModelView, ExecuteInput, ExecuteReply, Job, JobFilter,
    JobInput, MoveInput, Preset, PresetInput, Prompt, PromptInput, QueueSettingsPatch, QueueView,
    SlotView,
};
use cosmosq_shared::plan::{Plan, PlanMode};
use cosmosq_shared::ErrorCode;
use gloo_net::http::{Request, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::fmt;

const TOKEN_KEY: &str = "cosmosq.token";

/// A failed request: the HTTP status (0 when no answer came), the daemon's code (`None` when
/// the failure was on the way: no answer, or not the daemon's error shape) and message, and
/// with `stale_plan` the fresh plan.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: Option<ErrorCode>,
    pub message: String,
    pub fresh_plan: Option<Plan>,
}

impl ApiError {
    fn network(e: impl fmt::Display) -> Self {
        ApiError {
            status: 0,
            code: None,
            message: e.to_string(),
            fresh_plan: None,
        }
    }

    /// The failure in plain words, with what to do where that helps.
    pub fn plain(&self) -> String {
        model::plain_error(self.status, self.code, &self.message)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.plain())
    }
}

impl std::error::Error for ApiError {}

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Deserialize)]
struct ErrorReply {
    code: ErrorCode,
    message: String,
    #[serde(default)]
    preview: Option<Plan>,
}

thread_local! {
    static TOKEN: RefCell<Option<String>> = RefCell::new(load_token());
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn load_token() -> Option<String> {
    storage()?
        .get_item(TOKEN_KEY)
        .ok()?
        .filter(|t| !t.is_empty())
}

/// The access token entered in Settings, if any.
pub fn token() -> Option<String> {
    TOKEN.with(|t| t.borrow().clone())
}

/// Keep (or, when empty, forget) the access token in localStorage.
pub fn set_token(value: &str) {
    let value = value.trim();
    if let Some(s) = storage() {
        let _ = if value.is_empty() {
            s.remove_item(TOKEN_KEY)
        } else {
            s.set_item(TOKEN_KEY, value)
        };
    }
    TOKEN.with(|t| *t.borrow_mut() = (!value.is_empty()).then(|| value.to_string()));
}

fn authorized(builder: RequestBuilder) -> RequestBuilder {
    match token() {
        Some(t) => builder.header("Authorization", &format!("Bearer {t}")),
        None => builder,
    }
}

async fn send(request: Result<Request, gloo_net::Error>) -> ApiResult<Response> {
    let response = request
        .map_err(ApiError::network)?
        .send()
        .await
        .map_err(ApiError::network)?;
    if response.ok() {
        return Ok(response);
    }
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    Err(match serde_json::from_str::<ErrorReply>(&text) {
        Ok(e) => ApiError {
            status,
            code: Some(e.code),
            message: e.message,
            fresh_plan: e.preview,
        },
        Err(_) => ApiError {
            status,
            code: None,
            message: format!("the daemon answered {status} {}", response.status_text()),
            fresh_plan: None,
        },
    })
}

async fn json<T: DeserializeOwned>(request: Result<Request, gloo_net::Error>) -> ApiResult<T> {
    send(request).await?.json().await.map_err(|e| ApiError {
        status: 200,
        code: None,
        message: format!("the daemon's reply could not be read: {e}"),
        fresh_plan: None,
    })
}

fn get(path: &str) -> Result<Request, gloo_net::Error> {
    authorized(Request::get(path)).build()
}

fn post<B: Serialize>(path: &str, body: &B) -> Result<Request, gloo_net::Error> {
    authorized(Request::post(path)).json(body)
}

/// A body-less state change: still sent as JSON, which the daemon requires of every state
/// change (a cross-site form cannot send it).
fn post_empty(path: &str) -> Result<Request, gloo_net::Error> {
    authorized(Request::post(path))
        .header("Content-Type", "application/json")
        .build()
}

pub async fn queue() -> ApiResult<QueueView> {
    json(get("/api/v1/queue")).await
}

pub async fn prompts() -> ApiResult<Vec<Prompt>> {
    json(get("/api/v1/prompts")).await
}

pub async fn create_prompt(input: &PromptInput) -> ApiResult<Prompt> {
    json(post("/api/v1/prompts", input)).await
}

pub async fn delete_prompt(id: &str) -> ApiResult<()> {
    let request = authorized(Request::delete(&format!("/api/v1/prompts/{id}")))
        .header("Content-Type", "application/json")
        .build();
    send(request).await.map(|_| ())
}

pub async fn disk_use() -> ApiResult<cosmosq_shared::api::StorageView> {
    json(get("/api/v1/storage")).await
}

pub async fn presets() -> ApiResult<Vec<Preset>> {
    json(get("/api/v1/presets")).await
}

pub async fn save_preset(input: &PresetInput) -> ApiResult<Preset> {
    json(post("/api/v1/presets", input)).await
}

pub async fn delete_preset(name: &str) -> ApiResult<()> {
    let name = String::from(js_sys::encode_uri_component(name));
    let request = authorized(Request::delete(&format!("/api/v1/presets/{name}")))
        .header("Content-Type", "application/json")
        .build();
    send(request).await.map(|_| ())
}

/// Every job: queued ones by position, then the rest newest first.
pub async fn jobs() -> ApiResult<Vec<Job>> {
    json(get("/api/v1/jobs")).await
}

pub async fn add_job(input: &JobInput) -> ApiResult<Job> {
    json(post("/api/v1/jobs", input)).await
}

/// Add jobs in order, all or none (`POST /api/v1/jobs/bulk`).
pub async fn add_jobs(input: &BulkJobsInput) -> ApiResult<BulkJobs> {
    json(post("/api/v1/jobs/bulk", input)).await
}

/// Cancel every unfinished job meeting `filter`, in one change.
pub async fn bulk_cancel(filter: &JobFilter) -> ApiResult<BulkJobs> {
    json(post("/api/v1/jobs/bulk-cancel", filter)).await
}

/// Queue again every failed or canceled job meeting `filter`, in one change.
pub async fn bulk_retry(filter: &JobFilter) -> ApiResult<BulkJobs> {
    json(post("/api/v1/jobs/bulk-retry", filter)).await
}

/// Delete a finished job and its outputs.
pub async fn delete_job(id: &str) -> ApiResult<()> {
    let request = authorized(Request::delete(&format!("/api/v1/jobs/{id}")))
        .header("Content-Type", "application/json")
        .build();
    send(request).await.map(|_| ())
}

pub async fn cancel_job(id: &str) -> ApiResult<Job> {
    json(post_empty(&format!("/api/v1/jobs/{id}/cancel"))).await
}

pub async fn move_job(id: &str, position: u32) -> ApiResult<Job> {
    json(post(
        &format!("/api/v1/jobs/{id}/move"),
        &MoveInput { position },
    ))
    .await
}

pub async fn retry_job(id: &str) -> ApiResult<Job> {
    json(post_empty(&format!("/api/v1/jobs/{id}/retry"))).await
}

pub async fn pause() -> ApiResult<QueueView> {
    json(post_empty("/api/v1/queue/pause")).await
}

pub async fn resume() -> ApiResult<QueueView> {
    json(post_empty("/api/v1/queue/resume")).await
}

pub async fn update_settings(patch: &QueueSettingsPatch) -> ApiResult<QueueView> {
    json(authorized(Request::patch("/api/v1/queue/settings")).json(patch)).await
}

/// The daemon's own preview in `mode` (with the queue's max batch size).
pub async fn preview(mode: PlanMode) -> ApiResult<Plan> {
    json(get(&format!("/api/v1/batches/preview?mode={mode}"))).await
}

pub async fn execute(plan_id: &str) -> ApiResult<ExecuteReply> {
    json(post(
        "/api/v1/batches",
        &ExecuteInput {
            plan_id: plan_id.to_string(),
        },
    ))
    .await
}

/// Batches, newest first.
pub async fn batches() -> ApiResult<Vec<Batch>> {
    json(get("/api/v1/batches")).await
}

pub async fn cost_model() -> ApiResult<CostModelView> {
    json(get("/api/v1/cost-model")).await
}

/// Executor slots, in configuration order.
pub async fn slots() -> ApiResult<Vec<SlotView>> {
    json(get("/api/v1/slots")).await
}

/// What a slot's buttons ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotAction {
    Drain,
    Disable,
    Enable,
}

impl SlotAction {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotAction::Drain => "drain",
            SlotAction::Disable => "disable",
            SlotAction::Enable => "enable",
        }
    }
}

/// Drain, disable or enable a slot; the reply is the slot as it is now.
pub async fn slot_action(name: &str, action: SlotAction) -> ApiResult<SlotView> {
    let name = String::from(js_sys::encode_uri_component(name));
    json(post_empty(&format!(
        "/api/v1/slots/{name}/{}",
        action.as_str()
    )))
    .await
}

/// A piece of a batch log: its bytes, the log's size now and whether it is complete (the
/// batch finished; nothing more will be written).
pub struct LogPiece {
    pub bytes: Vec<u8>,
    pub size: u64,
    pub complete: bool,
}

/// `GET /api/v1/batches/{id}/log`: from byte `offset`, or (with `job`) that job's lines whole.
pub async fn batch_log(batch_id: &str, offset: u64, job: Option<&str>) -> ApiResult<LogPiece> {
    let url = match job {
        Some(j) => format!(
            "/api/v1/batches/{batch_id}/log?job={}",
            js_sys::encode_uri_component(j)
        ),
        None => format!("/api/v1/batches/{batch_id}/log?offset={offset}"),
    };
    let response = send(get(&url)).await?;
    let header = |name: &str| response.headers().get(name);
    let size = header("X-Log-Size")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let complete = header("X-Log-Complete").is_some_and(|s| s.trim() == "true");
    let bytes = response.binary().await.map_err(ApiError::network)?;
    Ok(LogPiece {
        bytes,
        size,
        complete,
    })
}

/// Where a batch's log downloads from (an attachment, `<batch id>.log`).
pub fn log_download_url(batch_id: &str) -> String {
    format!("/api/v1/batches/{batch_id}/log?download=1")
}

/// Download a batch's log with the access token (a plain link cannot send it): fetch it,
/// then save it from a blob URL.
pub async fn download_log(batch_id: &str) -> ApiResult<()> {
    use wasm_bindgen::JsCast;
    let response = send(get(&log_download_url(batch_id))).await?;
    let bytes = response.binary().await.map_err(ApiError::network)?;
    let failed = |what: &str| ApiError::network(format!("cannot save the log: {what}"));
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes.as_slice()));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/plain");
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(|_| failed("no blob"))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| failed("no URL"))?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| failed("no document"))?;
    let link = document
        .create_element("a")
        .map_err(|_| failed("no link"))?;
    let _ = link.set_attribute("href", &url);
    let _ = link.set_attribute("download", &format!("{batch_id}.log"));
    if let (Some(body), Ok(link)) = (document.body(), link.dyn_into::<web_sys::HtmlElement>()) {
        let _ = body.append_child(&link);
        link.click();
        link.remove();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

/// Where the browser streams a job's output video from (Range requests work); the token
/// goes in the query because a `<video src>` cannot send headers.
pub fn output_url(job_id: &str) -> String {
    match token() {
        Some(t) => format!(
            "/api/v1/jobs/{job_id}/output?access_token={}",
            js_sys::encode_uri_component(&t)
        ),
        None => format!("/api/v1/jobs/{job_id}/output"),
    }
}

/// The event stream's URL; EventSource cannot send headers, so the token goes in the query.
pub fn events_url() -> String {
    match token() {
        Some(t) => format!(
            "/api/v1/events?access_token={}",
            js_sys::encode_uri_component(&t)
        ),
        None => "/api/v1/events".to_string(),
    }
}
