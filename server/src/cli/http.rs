//! A small blocking client for the daemon's REST API: requests, the token, and every failure
//! turned into a [`CliError`] with the right exit code.

use super::output::truncate;
use super::sse::EventStream;
use super::{CliError, Remote};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::BufReader;
use std::time::Duration;

/// Prefix of every REST path.
pub const API: &str = "/api/v1";

/// How long to wait for the TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound on one ordinary request (probing a video can take a while).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// The event stream sends keep-alives; a read that sees nothing for this long reconnects.
const EVENTS_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest body read from the daemon (long job lists are big).
const BODY_LIMIT: u64 = 256 << 20;

/// A typed blocking client for one daemon.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

/// A raw answer of the daemon: HTTP status and body text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Client {
    pub fn new(remote: &Remote) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .user_agent(concat!("cosmosq/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client {
            agent,
            base: base_url(&remote.server),
            token: remote.token.clone().filter(|t| !t.is_empty()),
        }
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        self.get_query(path, &[])
    }

    pub fn get_query<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, CliError> {
        let reply = self.send(Method::Get, path, query, None)?;
        self.decode(reply)
    }

    pub fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, CliError> {
        let reply = self.post_raw(path, body)?;
        self.decode(reply)
    }

    /// POST with an empty body (actions such as cancel or pause).
    pub fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        let reply = self.send(Method::Post, path, &[], None)?;
        self.decode(reply)
    }

    /// POST and hand back the raw reply whatever its status, for callers that handle some
    /// error answers themselves (a stale plan). Only transport failures are errors.
    pub fn post_raw(&self, path: &str, body: &impl Serialize) -> Result<Reply, CliError> {
        let body = serde_json::to_value(body).expect("request bodies always serialise");
        self.send(Method::Post, path, &[], Some(&body))
    }

    pub fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, CliError> {
        let body = serde_json::to_value(body).expect("request bodies always serialise");
        let reply = self.send(Method::Patch, path, &[], Some(&body))?;
        self.decode(reply)
    }

    /// DELETE; any 2xx answer (normally 204) is success.
    pub fn delete(&self, path: &str) -> Result<(), CliError> {
        let reply = self.send(Method::Delete, path, &[], None)?;
        check_status(&self.base, &reply, self.token.is_some())
    }

    /// Open `GET /api/v1/events`. Returns once the daemon has answered with the stream's
    /// headers, so events that happen after this call are not missed.
    pub fn events(&self) -> Result<EventStream, CliError> {
        let url = self.url(&format!("{API}/events"));
        let request = self
            .authorize(self.agent.get(&url))
            .header("Accept", "text/event-stream")
            .config()
            .timeout_per_read(Some(EVENTS_READ_TIMEOUT))
            .build();
        let response = self.ok_response(request.call())?;
        let reader = response.into_body().into_reader();
        Ok(EventStream::new(BufReader::new(reader)))
    }

    /// A response with a 2xx status, else the error its body names.
    fn ok_response(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ureq::http::Response<ureq::Body>, CliError> {
        let response = result.map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let body = read_body(response).unwrap_or_default();
        let reply = Reply { status, body };
        Err(status_error(&self.base, &reply, self.token.is_some()))
    }

    /// GET a text answer with its headers: the body, and the value of each of `headers`.
    pub fn get_text(
        &self,
        path: &str,
        query: &[(&str, String)],
        headers: &[&str],
    ) -> Result<(String, Vec<Option<String>>), CliError> {
        let mut url = self.url(path);
        if !query.is_empty() {
            let pairs: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{k}={}", segment(v)))
                .collect();
            url = format!("{url}?{}", pairs.join("&"));
        }
        let response = self.ok_response(self.authorize(self.agent.get(&url)).call())?;
        let values = headers
            .iter()
            .map(|h| {
                response
                    .headers()
                    .get(*h)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            })
            .collect();
        let body = read_body(response)
            .map_err(|e| CliError::unavailable(format!("the daemon's answer broke off: {e}")))?;
        Ok((body, values))
    }

    /// Download `path` into the file `to` (through `<to>.part`, renamed once complete, so an
    /// interrupted download never looks finished). Returns the bytes written.
    pub fn download(&self, path: &str, to: &std::path::Path) -> Result<u64, CliError> {
        let url = self.url(path);
        let request = self.authorize(self.agent.get(&url));
        let response = self.ok_response(request.call())?;
        let part = to.with_extension("part");
        let io = |e: std::io::Error| {
            CliError::unavailable(format!("cannot write {}: {e}", part.display()))
        };
        let mut file = std::fs::File::create(&part).map_err(io)?;
        let mut reader = response.into_body().into_reader();
        let n = std::io::copy(&mut reader, &mut file).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&part, to).map_err(io)?;
        Ok(n)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn authorize<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    fn prepare<B>(
        &self,
        request: ureq::RequestBuilder<B>,
        query: &[(&str, String)],
    ) -> ureq::RequestBuilder<B> {
        let mut request = self.authorize(request);
        for (k, v) in query {
            request = request.query(*k, v);
        }
        request
            .config()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, CliError> {
        let url = self.url(path);
        let result = match method {
            Method::Get => self.prepare(self.agent.get(&url), query).call(),
            // Every state change is sent as JSON, body or not (the daemon refuses others:
            // see `api::browser`).
            Method::Delete => self
                .prepare(self.agent.delete(&url), query)
                .header("Content-Type", "application/json")
                .call(),
            Method::Post | Method::Patch => {
                let request = match method {
                    Method::Post => self.agent.post(&url),
                    _ => self.agent.patch(&url),
                };
                let request = self
                    .prepare(request, query)
                    .content_type("application/json");
                match body {
                    // Sent with a Content-Length (send_json streams it chunked).
                    Some(body) => request
                        .send(serde_json::to_vec(body).expect("JSON values always serialise")),
                    None => request.send_empty(),
                }
            }
        };
        let response = result.map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let body = read_body(response).map_err(|e| self.transport_error(e))?;
        Ok(Reply { status, body })
    }

    /// Decode a raw reply as [`Client::get`] and friends do.
    pub fn decode<T: DeserializeOwned>(&self, reply: Reply) -> Result<T, CliError> {
        decode_reply(&self.base, reply, self.token.is_some())
    }

    fn transport_error(&self, e: ureq::Error) -> CliError {
        transport_error(&self.base, e)
    }
}

/// A reply's body as text, at most [`BODY_LIMIT`] bytes (invalid UTF-8 replaced).
fn read_body(response: ureq::http::Response<ureq::Body>) -> Result<String, ureq::Error> {
    response
        .into_body()
        .with_config()
        .limit(BODY_LIMIT)
        .lossy_utf8(true)
        .read_to_string()
}

/// Normalise `--server`: add `http://` when no scheme is given, drop trailing slashes.
pub fn base_url(server: &str) -> String {
    let server = server.trim();
    let with_scheme = if server.contains("://") {
        server.to_string()
    } else {
        format!("http://{server}")
    };
    with_scheme.trim_end_matches('/').to_string()
}

fn transport_error(base: &str, e: ureq::Error) -> CliError {
    match e {
        ureq::Error::BadUri(detail) => CliError::bad_input(format!(
            "invalid daemon URL `{base}` (set --server or COSMOSQ_SERVER to e.g. http://127.0.0.1:8787): {detail}"
        )),
        e if base.starts_with("https://") => CliError::bad_input(format!(
            "cannot reach the daemon at {base}: {e} (this client speaks plain http only; use an http:// URL)"
        )),
        e => CliError::unavailable(format!(
            "cannot reach the daemon at {base}: {e} (is `cosmosq serve` running? set --server or COSMOSQ_SERVER)"
        )),
    }
}

/// Turn a non-2xx reply into the error to show: 4xx = bad input (exit 2) as `code: message`;
/// anything else = the daemon is unavailable or failing (exit 3).
pub fn status_error(base: &str, reply: &Reply, has_token: bool) -> CliError {
    // The code as sent: a newer daemon's code shows as it is, not as "unrecognized".
    #[derive(serde::Deserialize)]
    struct Sent {
        code: String,
        message: String,
    }
    let detail = match serde_json::from_str::<Sent>(&reply.body) {
        Ok(e) => format!("{}: {}", e.code, e.message),
        Err(_) => {
            let text = reply.body.trim();
            if text.is_empty() {
                format!("HTTP {}", reply.status)
            } else {
                format!("HTTP {}: {}", reply.status, truncate(text, 300))
            }
        }
    };
    match reply.status {
        401 | 403 if !has_token => CliError::bad_input(format!(
            "{detail} (the daemon needs a token: pass --token or set COSMOSQ_TOKEN)"
        )),
        400..=499 => CliError::bad_input(detail),
        500..=599 => CliError::unavailable(format!("the daemon at {base} failed: {detail}")),
        _ => CliError::unavailable(format!(
            "unexpected answer from the daemon at {base}: {detail}"
        )),
    }
}

fn check_status(base: &str, reply: &Reply, has_token: bool) -> Result<(), CliError> {
    if (200..300).contains(&reply.status) {
        Ok(())
    } else {
        Err(status_error(base, reply, has_token))
    }
}

/// Decode a 2xx reply's JSON body, or turn the reply into its error.
pub fn decode_reply<T: DeserializeOwned>(
    base: &str,
    reply: Reply,
    has_token: bool,
) -> Result<T, CliError> {
    check_status(base, &reply, has_token)?;
    serde_json::from_str(&reply.body).map_err(|e| {
        CliError::unavailable(format!(
            "unexpected answer from the daemon at {base} (is it a cosmosq daemon of the same version?): {e}"
        ))
    })
}

/// Percent-encode one path segment (an id typed by the user), so it cannot change the path.
pub fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out += &format!("%{b:02X}");
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Server-Sent Events

#[cfg(test)]
mod tests {
    use super::*;
    use cosmosq_shared::api::ErrorBody;
    use cosmosq_shared::api::Event;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn remote(server: &str) -> Remote {
        Remote {
            server: server.to_string(),
            token: None,
        }
    }

    /// Held while a test takes a free port (see the refused-connection test).
    static PORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Serve each canned raw HTTP response to one connection, then stop. Returns the base URL
    /// and a handle that yields the requests received.
    fn fake_daemon(responses: Vec<String>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = {
            let _ports = PORTS.lock().unwrap_or_else(|p| p.into_inner());
            TcpListener::bind("127.0.0.1:0").unwrap()
        };
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut requests = Vec::new();
            for response in responses {
                let (mut stream, _) = listener.accept().unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Read the head, then the body by Content-Length.
                loop {
                    let n = stream.read(&mut buf).unwrap();
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if request.len() >= end + 4 + len {
                            break;
                        }
                    }
                    if n == 0 {
                        break;
                    }
                }
                requests.push(String::from_utf8_lossy(&request).to_string());
                stream.write_all(response.as_bytes()).unwrap();
                stream.flush().unwrap();
            }
            requests
        });
        (base, handle)
    }

    fn http(status: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    #[test]
    fn base_url_gets_a_scheme_and_loses_trailing_slashes() {
        assert_eq!(base_url("http://h:1/"), "http://h:1");
        assert_eq!(base_url("127.0.0.1:8787"), "http://127.0.0.1:8787");
        assert_eq!(base_url(" http://h:1// "), "http://h:1");
    }

    #[test]
    fn ids_cannot_escape_their_path_segment() {
        assert_eq!(segment("jb_0a1f"), "jb_0a1f");
        assert_eq!(segment("../x y?"), "..%2Fx%20y%3F");
    }

    #[test]
    fn four_xx_errors_are_bad_input_with_code_and_message() {
        let reply = Reply {
            status: 404,
            body: r#"{"code":"job_not_found","message":"no job jb_1"}"#.into(),
        };
        let e = status_error("http://h", &reply, false);
        assert_eq!(e.exit_code, super::super::EXIT_BAD_INPUT);
        assert_eq!(e.message, "job_not_found: no job jb_1");

        let e = status_error(
            "http://h",
            &Reply {
                status: 401,
                body: r#"{"code":"unauthorized","message":"token required"}"#.into(),
            },
            false,
        );
        assert_eq!(e.exit_code, super::super::EXIT_BAD_INPUT);
        assert!(e.message.starts_with("unauthorized: token required"));
        assert!(e.message.contains("COSMOSQ_TOKEN"));
    }

    #[test]
    fn five_xx_and_odd_bodies_are_unavailable() {
        let e = status_error(
            "http://h",
            &Reply {
                status: 502,
                body: "Bad Gateway".into(),
            },
            false,
        );
        assert_eq!(e.exit_code, super::super::EXIT_UNAVAILABLE);
        assert!(e.message.contains("HTTP 502: Bad Gateway"), "{}", e.message);

        let e = decode_reply::<ErrorBody>(
            "http://h",
            Reply {
                status: 200,
                body: "<html>".into(),
            },
            false,
        )
        .unwrap_err();
        assert_eq!(e.exit_code, super::super::EXIT_UNAVAILABLE);
    }

    #[test]
    fn refused_connections_say_which_daemon_could_not_be_reached() {
        // Bind then drop to get a port nobody listens on; no fake daemon may take it meanwhile.
        let _ports = PORTS.lock().unwrap_or_else(|p| p.into_inner());
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = Client::new(&remote(&format!("http://127.0.0.1:{port}")));
        let e = client
            .get::<serde_json::Value>("/api/v1/queue")
            .unwrap_err();
        assert_eq!(e.exit_code, super::super::EXIT_UNAVAILABLE);
        assert!(
            e.message.starts_with(&format!(
                "cannot reach the daemon at http://127.0.0.1:{port}: "
            )),
            "{}",
            e.message
        );
    }

    #[test]
    fn requests_carry_the_token_and_error_bodies_are_decoded() {
        let (base, server) = fake_daemon(vec![
            http("200 OK", r#"{"code":"queue_full","message":"b"}"#),
            http(
                "409 Conflict",
                r#"{"code":"stale_plan","message":"queue changed"}"#,
            ),
        ]);
        let client = Client::new(&Remote {
            server: base,
            token: Some("s3cret".into()),
        });
        let ok: ErrorBody = client
            .get_query("/api/v1/jobs", &[("status", "queued".into())])
            .unwrap();
        assert_eq!(ok.code, cosmosq_shared::ErrorCode::QueueFull);
        let e = client
            .post::<serde_json::Value>("/api/v1/batches", &serde_json::json!({"plan_id": "pl_1"}))
            .unwrap_err();
        assert_eq!(e.exit_code, super::super::EXIT_BAD_INPUT);
        assert_eq!(e.message, "stale_plan: queue changed");
        let requests = server.join().unwrap();
        assert!(requests[0].starts_with("GET /api/v1/jobs?status=queued HTTP/1.1"));
        assert!(requests[0]
            .to_ascii_lowercase()
            .contains("authorization: bearer s3cret"));
        assert!(requests[1].starts_with("POST /api/v1/batches HTTP/1.1"));
        assert!(requests[1].ends_with(r#"{"plan_id":"pl_1"}"#));
    }

    #[test]
    fn events_stream_from_a_live_connection() {
        let body = "event: resync\ndata: {\"type\":\"resync\"}\n\n";
        let (base, server) = fake_daemon(vec![format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n: hi\n\n{body}"
        )]);
        let client = Client::new(&remote(&base));
        let mut events = client.events().unwrap();
        assert_eq!(events.next_event().unwrap(), Some(Event::Resync));
        assert_eq!(events.next_event().unwrap(), None);
        let requests = server.join().unwrap();
        assert!(requests[0].starts_with("GET /api/v1/events HTTP/1.1"));
    }
}
