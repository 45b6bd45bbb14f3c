//! The key layout of a [`RedisStorage`](super::RedisStorage) and the conversions of its
//! arguments into key names and expiry instants.
//!
//! Every key of one storage starts with `{prefix}`: the braces make the prefix the key's
//! Redis Cluster hash tag, so all of a storage's keys live in one slot and every script
//! touches one node. With the default prefix `auth:`:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{auth:}token:<token_id>` | hash | `record` (the `AuthToken` as JSON), `user`, `access` (digest) |
//! | `{auth:}access:<sha256 hex of access token>` | string | the token id |
//! | `{auth:}user:<user_id>:tokens` | sorted set | token ids, scored by last visible ms |
//! | `{auth:}session:<session_id>` | hash | `record` (the `SessionData` as JSON), `user` |
//! | `{auth:}user:<user_id>:sessions` | sorted set | session ids, scored by last visible ms |
//! | `{auth:}kv:<key>` | string | the value, raw bytes |
//! | `{auth:}index:tokens` | sorted set | `<user_id>\0<token_id>`, scored by last visible ms |
//! | `{auth:}index:sessions` | sorted set | `<user_id>\0<session_id>`, scored by last visible ms |
//! | `{auth:}index:kv` | sorted set | every kv key, score 0 (ordered by bytes) |
//! | `{auth:}index:kv-expiry` | sorted set | kv keys that expire, scored by last visible ms (a key since rewritten without a TTL may stay until that ms) |
//!
//! Ids and keys go into key names verbatim and cannot alias (SPEC.md `NS-2`): every name
//! is the base, a kind from a fixed set (`token:`, `access:`, `user:`, `session:`, `kv:`,
//! `index:`) that no other kind begins with, and then either one variable part running
//! to the end of the name, or a user id followed by the fixed suffix `:tokens` or
//! `:sessions` (two such names are equal only if their user ids and suffixes are). Global
//! index members join a user id and an item id with NUL, which neither may contain
//! (`VAL-1`). The prefix may not contain braces, so one storage's base is never a prefix
//! of another's names.
//!
//! The same layout is written out in `lua/common.lua`; the two must agree.

use std::time::Duration;

use authstore_spec::time::NO_EXPIRY_THRESHOLD;
use authstore_spec::validate::MAX_ID_BYTES;
use authstore_spec::{Result, StorageError};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The key names of one storage: everything under `{prefix}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Namespace {
    prefix: String,
    base: String,
}

impl Namespace {
    /// The namespace of `prefix`, which must be non-empty (an empty hash tag would spread
    /// the keys over every slot), free of braces (they would end the hash tag early and let
    /// two prefixes share names) and NUL, and at most 255 bytes long.
    pub(super) fn new(prefix: &str) -> Result<Self> {
        if prefix.is_empty() {
            return Err(StorageError::InvalidInput(
                "Redis key prefix must not be empty: it is the hash tag of every key".into(),
            ));
        }
        if prefix.len() > MAX_ID_BYTES {
            return Err(StorageError::InvalidInput(format!(
                "Redis key prefix is {} bytes long; the limit is {MAX_ID_BYTES} bytes",
                prefix.len()
            )));
        }
        if let Some(bad) = prefix.chars().find(|c| matches!(c, '{' | '}' | '\0')) {
            return Err(StorageError::InvalidInput(format!(
                "Redis key prefix {prefix:?} contains {bad:?}; braces and NUL are not allowed \
                 (the prefix becomes the hash tag `{{prefix}}`)"
            )));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            base: format!("{{{prefix}}}"),
        })
    }

    /// The prefix as configured.
    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{prefix}`: the start of every key name, passed to every script as `ARGV[1]`.
    pub(super) fn base(&self) -> &str {
        &self.base
    }

    fn name(&self, parts: &[&str]) -> String {
        let mut name = self.base.clone();
        for part in parts {
            name.push_str(part);
        }
        name
    }

    pub(super) fn token(&self, token_id: &str) -> String {
        self.name(&["token:", token_id])
    }

    pub(super) fn access(&self, digest: &str) -> String {
        self.name(&["access:", digest])
    }

    pub(super) fn user_tokens(&self, user_id: &str) -> String {
        self.name(&["user:", user_id, ":tokens"])
    }

    pub(super) fn session(&self, session_id: &str) -> String {
        self.name(&["session:", session_id])
    }

    pub(super) fn user_sessions(&self, user_id: &str) -> String {
        self.name(&["user:", user_id, ":sessions"])
    }

    pub(super) fn kv(&self, key: &str) -> String {
        self.name(&["kv:", key])
    }

    pub(super) fn tokens_index(&self) -> String {
        self.name(&["index:tokens"])
    }

    pub(super) fn sessions_index(&self) -> String {
        self.name(&["index:sessions"])
    }

    pub(super) fn kv_index(&self) -> String {
        self.name(&["index:kv"])
    }

    /// A `SCAN MATCH` pattern for exactly this namespace's keys: the base with the glob
    /// metacharacters of the prefix escaped, then `*`.
    pub(super) fn scan_pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.base.len() + 8);
        for c in self.base.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        pattern
    }
}

/// The hex SHA-256 of an access token: what the access index is keyed by, so the token
/// itself appears in no key name (SPEC.md `ACC-5`). Unkeyed: equal tokens must find each
/// other across handles and restarts, and an access token is a high-entropy secret, so a
/// plain hash reveals nothing a guess could confirm cheaply.
pub(super) fn access_digest(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The last millisecond in which an item expiring at `expires_at` is visible, as given to
/// `PEXPIREAT`: Redis shows a key while its clock (in whole ms) is at or before that value,
/// so the item disappears at the start of the millisecond containing `expires_at`, at most
/// 1 ms early and never late (SPEC.md `TIME-4`, `TIME-5`).
pub(super) fn last_visible_ms(expires_at: DateTime<Utc>) -> i64 {
    expires_at.timestamp_micros().div_euclid(1000) - 1
}

/// The `ttl` argument of the `store_kv` script for an effective TTL (the call's, or else
/// the storage's default): `-1` for no expiry (none, or 100 years or more, `TTL-4`), `0`
/// to delete (`TTL-3`, and TTLs under 2 ms, which would already be over), else how many ms
/// after the server's current millisecond the entry is last visible. Counting from the
/// start of the current millisecond, `ttl_ms - 1` makes the entry disappear at most 2 ms
/// before the write plus `ttl` and never after it (`TTL-1`).
pub(super) fn kv_ttl_arg(ttl: Option<Duration>) -> i64 {
    match ttl {
        None => -1,
        Some(ttl) if ttl >= NO_EXPIRY_THRESHOLD => -1,
        Some(ttl) => {
            // Below the threshold (about 3.2e12 ms), so the conversion cannot fail.
            let millis = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
            if millis < 2 { 0 } else { millis - 1 }
        }
    }
}

/// The `ZRANGEBYLEX` bounds of the keys starting with `prefix`: from `[prefix` up to but
/// excluding `prefix` followed by byte 0xFF, which no UTF-8 text contains, so every key
/// with the prefix sorts inside and every other key outside. The bounds are bytes; glob
/// and range characters in the prefix have no meaning there (SPEC.md `LST-2`).
pub(super) fn lex_range(prefix: &str) -> (Vec<u8>, Vec<u8>) {
    if prefix.is_empty() {
        return (b"-".to_vec(), b"+".to_vec());
    }
    let mut min = Vec::with_capacity(prefix.len() + 1);
    min.push(b'[');
    min.extend_from_slice(prefix.as_bytes());
    let mut max = Vec::with_capacity(prefix.len() + 2);
    max.push(b'(');
    max.extend_from_slice(prefix.as_bytes());
    max.push(0xFF);
    (min, max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn prefixes_are_checked() {
        assert!(Namespace::new("auth:").is_ok());
        assert!(Namespace::new("").is_err());
        assert!(Namespace::new("a{b").is_err());
        assert!(Namespace::new("a}b").is_err());
        assert!(Namespace::new("a\0b").is_err());
        assert!(Namespace::new(&"p".repeat(256)).is_err());
    }

    #[test]
    fn layout() {
        let ns = Namespace::new("auth:").unwrap();
        assert_eq!(ns.token("t"), "{auth:}token:t");
        assert_eq!(ns.user_tokens("u"), "{auth:}user:u:tokens");
        assert_eq!(ns.user_sessions("u"), "{auth:}user:u:sessions");
        assert_eq!(ns.kv("token:x"), "{auth:}kv:token:x");
        assert_eq!(ns.kv_index(), "{auth:}index:kv");
        let odd = Namespace::new("a*b?[c]\\").unwrap();
        assert_eq!(odd.scan_pattern(), "{a\\*b\\?\\[c\\]\\\\}*");
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            access_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn expiry_is_never_late() {
        let at = |micros: i64| Utc.timestamp_micros(micros).unwrap();
        // Visible through ms 1_999 at the latest, so gone from 2_000_000 µs <= T.
        assert_eq!(last_visible_ms(at(2_000_000)), 1_999);
        assert_eq!(last_visible_ms(at(2_000_999)), 1_999);
        assert_eq!(last_visible_ms(at(0)), -1);
        assert_eq!(kv_ttl_arg(None), -1);
        assert_eq!(kv_ttl_arg(Some(Duration::MAX)), -1);
        assert_eq!(kv_ttl_arg(Some(NO_EXPIRY_THRESHOLD)), -1);
        assert_eq!(kv_ttl_arg(Some(Duration::ZERO)), 0);
        assert_eq!(kv_ttl_arg(Some(Duration::from_micros(1_999))), 0);
        assert_eq!(kv_ttl_arg(Some(Duration::from_millis(2))), 1);
        assert_eq!(kv_ttl_arg(Some(Duration::from_micros(60_900))), 59);
    }

    #[test]
    fn lex_bounds() {
        assert_eq!(lex_range(""), (b"-".to_vec(), b"+".to_vec()));
        assert_eq!(lex_range("a*"), (b"[a*".to_vec(), b"(a*\xff".to_vec()));
    }
}
