//! The Content-Security-Policy for everything but the Swagger UI: the web interface may load
//! scripts, styles, the wasm module and videos from this daemon only, run no inline script
//! but Trunk's loader (allowed by its SHA-256), and be framed by nobody.

use actix_web::http::header::HeaderValue;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

/// The bodies of the inline `<script>` elements of an HTML page (those without `src`).
fn inline_scripts(html: &str) -> Vec<&str> {
    let mut scripts = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find("<script") {
        let after = &rest[open..];
        let Some(tag_end) = after.find('>') else {
            break;
        };
        let tag = &after[..tag_end];
        let body_start = &after[tag_end + 1..];
        let Some(close) = body_start.find("</script>") else {
            break;
        };
        if !tag.contains(" src=") {
            scripts.push(&body_start[..close]);
        }
        rest = &body_start[close..];
    }
    scripts
}

/// The policy for a web interface whose `index.html` is `index` (None: no web interface).
pub fn policy(index: Option<&str>) -> String {
    let hashes: String = index
        .map(inline_scripts)
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let digest = Sha256::digest(s.as_bytes());
            format!(
                " 'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        })
        .collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; media-src 'self'; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// The policy of the web interface's `index.html`, recomputed when the file changes (a
/// rebuild of `dist/` renames the scripts Trunk's loader imports, so its hash changes).
pub struct SpaPolicy {
    index: PathBuf,
    cached: Mutex<Option<(Option<SystemTime>, HeaderValue)>>,
    /// For every answer that is not an HTML page: no inline script at all.
    pub plain: HeaderValue,
}

impl SpaPolicy {
    pub fn new(index: PathBuf) -> SpaPolicy {
        SpaPolicy {
            index,
            cached: Mutex::new(None),
            plain: HeaderValue::from_str(&policy(None)).expect("the policy is ASCII"),
        }
    }

    /// The policy for an HTML page served now.
    pub fn html(&self) -> HeaderValue {
        let modified = std::fs::metadata(&self.index)
            .and_then(|m| m.modified())
            .ok();
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, value)) = cached.as_ref() {
            if *at == modified {
                return value.clone();
            }
        }
        let index = std::fs::read_to_string(&self.index).ok();
        let value =
            HeaderValue::from_str(&policy(index.as_deref())).unwrap_or_else(|_| self.plain.clone());
        *cached = Some((modified, value.clone()));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inline_scripts_are_hashed() {
        let html = "<head><script src=\"/a.js\"></script>\n<script type=\"module\">\nrun();\n</script></head>";
        assert_eq!(inline_scripts(html), vec!["\nrun();\n"]);
        let p = policy(Some(html));
        // echo -n $'\nrun();\n' | openssl dgst -sha256 -binary | base64
        assert!(
            p.contains("'sha256-8Nic6TNoKbU2fN/Yduzc28MgjFgcikm6fSU0x0dR3EU='"),
            "{p}"
        );
        assert!(p.contains("frame-ancestors 'none'"));
        assert!(!policy(None).contains("sha256"));
    }

    #[test]
    fn a_rebuilt_index_gets_a_fresh_policy() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("index.html");
        std::fs::write(&index, "<script>one();</script>").unwrap();
        let spa = SpaPolicy::new(index.clone());
        let first = spa.html();
        assert_eq!(spa.html(), first, "cached while the file is unchanged");
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&index, "<script>two();</script>").unwrap();
        assert_ne!(spa.html(), first);
        assert!(!spa.plain.to_str().unwrap().contains("sha256"));
    }
}
