//! The data every backend is filled with, generated deterministically from an index so
//! the benchmarks can name any existing item without storing a list of them.
//!
//! A dataset of `N` records holds `N / 3` tokens, `N / 3` sessions and the rest kv
//! entries. Every user owns [`ITEMS_PER_USER`] tokens and as many sessions, and every kv
//! group (the prefix the listing benchmark asks for) holds [`KEYS_PER_GROUP`] keys, so
//! listings return the same number of items at every dataset size.

use std::time::Duration;

use authstore_spec::{AuthToken, SessionData};

/// Tokens per user and sessions per user.
pub const ITEMS_PER_USER: usize = 10;

/// Kv keys under one listing prefix.
pub const KEYS_PER_GROUP: usize = 10;

/// Size of every kv value, in bytes.
pub const VALUE_BYTES: usize = 256;

/// Lifetime of every stored item: far beyond any run, so nothing expires mid-benchmark.
pub const TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// A dataset of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataset {
    /// Records in total.
    pub records: u64,
}

impl Dataset {
    /// A dataset of `records` records (at least 3 × [`ITEMS_PER_USER`]).
    pub fn new(records: u64) -> Self {
        assert!(records >= 3 * ITEMS_PER_USER as u64, "dataset too small");
        Self { records }
    }

    /// Number of tokens (also of sessions).
    pub fn tokens(&self) -> usize {
        (self.records / 3) as usize
    }

    /// Number of sessions.
    pub fn sessions(&self) -> usize {
        self.tokens()
    }

    /// Number of kv entries.
    pub fn kv_entries(&self) -> usize {
        (self.records - 2 * (self.records / 3)) as usize
    }

    /// Users that own a full [`ITEMS_PER_USER`] tokens and sessions.
    pub fn full_users(&self) -> usize {
        self.tokens() / ITEMS_PER_USER
    }

    /// Kv groups that hold a full [`KEYS_PER_GROUP`] keys.
    pub fn full_groups(&self) -> usize {
        self.kv_entries() / KEYS_PER_GROUP
    }
}

/// Id of token `i`.
pub fn token_id(i: usize) -> String {
    format!("tok-{i:08}")
}

/// Access token of token `i`.
pub fn access_token(i: usize) -> String {
    format!("at-{i:08}-4f1c2b9e7d3a6058")
}

/// Owner of token or session `i`.
pub fn user_id(i: usize) -> String {
    user(i / ITEMS_PER_USER)
}

/// User number `u`.
pub fn user(u: usize) -> String {
    format!("user-{u:07}")
}

/// Token `i`: a realistic bearer token with refresh token, scopes and metadata.
pub fn token(i: usize) -> AuthToken {
    AuthToken::new(token_id(i), user_id(i), access_token(i), TTL)
        .with_refresh_token(format!("rt-{i:08}-9a8b7c6d5e4f3021"))
        .with_token_type("Bearer")
        .with_scopes(["openid", "profile", "read", "write"])
        .with_metadata("client_id", serde_json::json!("bench-client"))
}

/// Id of session `i`.
pub fn session_id(i: usize) -> String {
    format!("ses-{i:08}")
}

/// Session `i`, with address, user agent and a little data.
pub fn session(i: usize) -> SessionData {
    SessionData::new(session_id(i), user_id(i), TTL)
        .with_ip_address("203.0.113.7")
        .with_user_agent("Mozilla/5.0 (X11; Linux x86_64) authstore-bench/1.0")
        .with_data("csrf", serde_json::json!("c5a1d0e2f3b4"))
}

/// Key of kv entry `i`: `kv:<group>:<digit>`, so a group's prefix matches exactly its
/// [`KEYS_PER_GROUP`] keys.
pub fn kv_key(i: usize) -> String {
    format!("kv:{:07}:{}", i / KEYS_PER_GROUP, i % KEYS_PER_GROUP)
}

/// The listing prefix of kv group `g`.
pub fn kv_group_prefix(g: usize) -> String {
    format!("kv:{g:07}:")
}

/// The value of kv entry `i` (the same bytes for every entry but the first eight).
pub fn kv_value(i: usize) -> Vec<u8> {
    let mut value = vec![0x5a; VALUE_BYTES];
    value[..8].copy_from_slice(&(i as u64).to_le_bytes());
    value
}

/// Spreads call number `n` over `0..len` (a multiplicative hash), so consecutive calls
/// touch unrelated items instead of walking memory in order.
pub fn scatter(n: u64, len: usize) -> usize {
    (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16) as usize % len.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_listings_are_fixed_size() {
        let ds = Dataset::new(1_000);
        assert_eq!(ds.tokens() + ds.sessions() + ds.kv_entries(), 1_000);
        assert_eq!(ds.full_users(), 33);
        let group: Vec<String> = (0..ds.kv_entries())
            .map(kv_key)
            .filter(|k| k.starts_with(&kv_group_prefix(5)))
            .collect();
        assert_eq!(group.len(), KEYS_PER_GROUP);
        let owned = (0..ds.tokens()).filter(|&i| user_id(i) == user(3)).count();
        assert_eq!(owned, ITEMS_PER_USER);
    }

    #[test]
    fn scatter_stays_in_range_and_spreads() {
        let hits: std::collections::HashSet<usize> = (0..1000).map(|n| scatter(n, 333)).collect();
        assert!(hits.iter().all(|&i| i < 333));
        assert!(hits.len() > 250, "{}", hits.len());
    }
}
