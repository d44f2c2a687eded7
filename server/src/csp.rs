//! The Content-Security-Policy for everything but the Swagger UI: the web interface may load
//! scripts, styles, the wasm module and videos from this daemon only, run no inline script
//! but Trunk's loader (allowed by its SHA-256), and be framed by nobody.

use sha2::{Digest, Sha256};

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

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
        .map(|s| format!(" 'sha256-{}'", base64(&Sha256::digest(s.as_bytes()))))
        .collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; media-src 'self'; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

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
}
