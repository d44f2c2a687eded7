//! Identifiers and timestamps.

use std::time::SystemTime;

/// A fresh id: `prefix` + `_` + 16 random hex digits (e.g. `jb_4f1c...`).
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}_{hex}")
}

/// Now, as RFC 3339 UTC with milliseconds.
pub fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Whether `id` looks like one of ours with this prefix (cheap shape check before a lookup).
pub fn well_formed(id: &str, prefix: &str) -> bool {
    id.len() == prefix.len() + 17
        && id.starts_with(prefix)
        && id.as_bytes()[prefix.len()] == b'_'
        && id[prefix.len() + 1..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_random_hex() {
        let a = new_id("jb");
        let b = new_id("jb");
        assert_ne!(a, b);
        assert!(well_formed(&a, "jb"));
        assert!(!well_formed(&a, "ps"));
        assert!(!well_formed("jb_xyz", "jb"));
        assert!(now().ends_with('Z'));
    }
}
