//! Defences against web pages. Loopback is no security boundary for a browser: any page the
//! user opens can send requests to `127.0.0.1`, and with DNS rebinding (a name of the
//! attacker's that resolves to 127.0.0.1) it can even read the answers. Without a token the
//! daemon therefore
//! - answers only to a `Host` naming loopback (`localhost`, an IPv4 loopback address, `[::1]`,
//!   any port) or its bind address: a rebound page sends its own name (421
//!   `host_not_allowed`);
//! - refuses state-changing requests (POST, PUT, PATCH, DELETE) whose `Origin` is not the
//!   daemon's own (a form or `fetch` from another site or port) (403 `cross_origin_request`).
//!
//! Always, token or not:
//! - a state-changing request marked `Sec-Fetch-Site: cross-site` is refused (403
//!   `cross_origin_request`): the daemon serves no other site, and CORS stays closed;
//! - every state-changing API request must be sent as `Content-Type: application/json`,
//!   body-less ones included (415 `unsupported_media_type`; a method the path does not take
//!   still gets its 405): a cross-site HTML form can send
//!   only form or text bodies, and `fetch` cannot send JSON across sites without a CORS
//!   preflight, which the daemon never grants.
//!
//! With a token a page cannot authenticate (it cannot read the token, and the browser sends
//! no `Authorization` across sites), so the `Host` and `Origin` checks are left to it: a
//! reverse proxy may rename the host.

use crate::error::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use cosmosq_shared::ErrorCode;
use std::net::{IpAddr, SocketAddr};

/// What the browser defences need to know of the configuration.
#[derive(Debug, Clone)]
pub struct BrowserPolicy {
    /// A token is configured (see the module docs).
    pub token: bool,
    /// The address the daemon listens on (its IP is an acceptable `Host` too).
    pub bind: SocketAddr,
}

fn changes_state(method: &Method) -> bool {
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method)
}

/// The host part of a `Host` value (`name`, `1.2.3.4`, `[::1]`), lowercased, port removed.
fn host_name(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((ip, _)) => format!("[{ip}]"),
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name.to_string(),
        _ => host,
    }
}

impl BrowserPolicy {
    /// Whether a `Host` value names this daemon on loopback (see the module docs).
    pub fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host);
        if name == "localhost" {
            return true;
        }
        let ip = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(&name)
            .parse::<IpAddr>();
        ip.is_ok_and(|ip| ip.is_loopback() || ip == self.bind.ip())
    }

    /// Why this request is refused, if it is.
    pub fn check(&self, req: &ServiceRequest) -> Result<(), Error> {
        let text = |name: header::HeaderName| {
            req.headers()
                .get(name)
                .map(|v| v.to_str().unwrap_or("\u{fffd}").to_string())
        };
        let host = text(header::HOST);
        if !self.token {
            if let Some(host) = host.as_deref().filter(|h| !self.host_allowed(h)) {
                return Err(Error::new(ErrorCode::HostNotAllowed,
                    format!(
                        "this daemon answers only to loopback host names (localhost, 127.0.0.1, [::1]) \
                         or its bind address, not `{host}`: a web page reached through DNS rebinding \
                         sends its own name; set auth_token to serve other names"
                    ),
                ));
            }
        }
        if !changes_state(req.method()) {
            return Ok(());
        }
        let cross_site = text(header::HeaderName::from_static("sec-fetch-site"))
            .is_some_and(|s| s.eq_ignore_ascii_case("cross-site"));
        let foreign_origin = !self.token
            && text(header::ORIGIN).is_some_and(|origin| {
                let own = host.as_deref().map(|h| h.trim().to_ascii_lowercase());
                let theirs = origin
                    .trim()
                    .to_ascii_lowercase()
                    .strip_prefix("http://")
                    .map(str::to_string);
                theirs.is_none() || theirs != own
            });
        if cross_site || foreign_origin {
            return Err(Error::new(
                ErrorCode::CrossOriginRequest,
                "requests that change state are taken only from the daemon's own web interface \
                 and from programs, not from other web pages",
            ));
        }
        // Only where a route takes the method: other requests get their 404 or 405.
        let routed = super::allowed_methods(&super::router_path(req.path()))
            .iter()
            .any(|m| m == req.method().as_str());
        if routed && !is_json(text(header::CONTENT_TYPE).as_deref()) {
            return Err(Error::new(
                ErrorCode::UnsupportedMediaType,
                "requests that change state must be sent as `Content-Type: application/json`, \
                 also without a body",
            ));
        }
        Ok(())
    }
}

/// Whether a `Content-Type` value is JSON (`application/json`, any parameters).
fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// The middleware: refuse what [`BrowserPolicy::check`] refuses, before anything else runs.
pub async fn guard(
    policy: std::sync::Arc<BrowserPolicy>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    if let Err(e) = policy.check(&req) {
        return Ok(req.error_response(e).map_into_boxed_body());
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn policy(token: bool) -> BrowserPolicy {
        BrowserPolicy {
            token,
            bind: "127.0.0.1:8787".parse().unwrap(),
        }
    }

    fn code(p: &BrowserPolicy, req: TestRequest) -> Option<String> {
        p.check(&req.to_srv_request())
            .err()
            .map(|e| e.code.as_str().to_string())
    }

    #[test]
    fn loopback_host_names_only_without_a_token() {
        let p = policy(false);
        for host in [
            "localhost",
            "LOCALHOST:8787",
            "127.0.0.1",
            "127.0.0.1:8787",
            "127.3.4.5:1",
            "[::1]",
            "[::1]:8787",
        ] {
            assert!(p.host_allowed(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8787",
            "localhost.evil.example",
            "10.0.0.1:8787",
            "[::2]:8787",
            "",
            "127.0.0.1.nip.io",
        ] {
            assert!(!p.host_allowed(host), "{host}");
        }
        let other = BrowserPolicy {
            token: false,
            bind: "[::1]:9000".parse().unwrap(),
        };
        assert!(other.host_allowed("[::1]:9000"));
        let get = |host: &str| {
            TestRequest::get()
                .uri("/api/v1/queue")
                .insert_header(("host", host))
        };
        assert_eq!(
            code(&p, get("evil.example:8787")).as_deref(),
            Some("host_not_allowed")
        );
        assert_eq!(code(&p, get("localhost:8787")), None);
        assert_eq!(
            code(&policy(true), get("evil.example:8787")),
            None,
            "a token guards instead"
        );
    }

    #[test]
    fn state_changes_need_json_and_the_daemons_own_origin() {
        let p = policy(false);
        let post = || {
            TestRequest::post()
                .uri("/api/v1/queue/pause")
                .insert_header(("host", "127.0.0.1:8787"))
        };
        assert_eq!(
            code(&p, post()).as_deref(),
            Some("unsupported_media_type"),
            "body-less posts too"
        );
        let json = || post().insert_header(("content-type", "application/json; charset=utf-8"));
        assert_eq!(code(&p, json()), None);
        assert_eq!(
            code(
                &p,
                json().insert_header(("origin", "http://127.0.0.1:8787"))
            ),
            None,
            "the web interface"
        );
        for origin in [
            "http://evil.example",
            "null",
            "http://localhost:3000",
            "https://127.0.0.1:8787",
        ] {
            assert_eq!(
                code(&p, json().insert_header(("origin", origin))).as_deref(),
                Some("cross_origin_request"),
                "{origin}"
            );
        }
        let form = post()
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .insert_header(("sec-fetch-site", "cross-site"));
        assert_eq!(code(&p, form).as_deref(), Some("cross_origin_request"));
        let with_token = policy(true);
        let cross = json().insert_header(("sec-fetch-site", "cross-site"));
        assert_eq!(
            code(&with_token, cross).as_deref(),
            Some("cross_origin_request")
        );
        assert_eq!(
            code(&with_token, post()).as_deref(),
            Some("unsupported_media_type")
        );
        // The router's spelling of the path counts; a method a path does not take gets its 405.
        let encoded = TestRequest::post()
            .uri("/%61pi/v1//queue/pause")
            .insert_header(("host", "127.0.0.1:8787"));
        assert_eq!(code(&p, encoded).as_deref(), Some("unsupported_media_type"));
        let unrouted = TestRequest::delete()
            .uri("/api/v1/jobs")
            .insert_header(("host", "127.0.0.1:8787"));
        assert_eq!(code(&p, unrouted), None);
        // Reads are not state changes.
        let read = TestRequest::get()
            .uri("/api/v1/jobs")
            .insert_header(("host", "localhost"))
            .insert_header(("origin", "http://evil.example"));
        assert_eq!(code(&p, read), None);
    }
}
