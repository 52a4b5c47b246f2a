//! Identifiers and secrets: time-ordered ids, random API keys, their hashes.

use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `n` random bytes from the operating system.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    // The OS generator failing is not something a server can continue without.
    getrandom::fill(&mut buf).expect("the operating system's random number generator failed");
    buf
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new id `<prefix>_<12 hex digits of milliseconds><16 random hex digits>`: ids sort by
/// creation time, so lists page by id in both databases.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{:012x}{}", now_ms(), hex(&random_bytes(8)))
}

/// Whether `id` looks like an id this server made with `prefix` (no database lookup).
pub fn is_id(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|rest| rest.len() == 28 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A new secret API key, shown to its owner once.
pub fn new_api_key() -> String {
    format!("kino-sk-{}", hex(&random_bytes(24)))
}

/// What the database keeps of a key: its SHA-256 (keys are 192-bit random, so no salt or
/// slow hash is needed).
pub fn hash_key(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_validate() {
        let a = new_id("video");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id("video");
        assert!(a < b);
        assert!(is_id("video", &a));
        assert!(!is_id("video", "video_zz"));
        assert!(!is_id("char", &a));
        assert_ne!(new_api_key(), new_api_key());
        assert_eq!(hash_key("x").len(), 64);
    }
}
