//! The SQL of every method (one statement each) and the helpers that shape its
//! arguments. Every value is bound, never formatted into SQL; sqlx prepares each
//! statement once per connection and caches it.
//!
//! Clock: every expiry comparison and every kv expiry uses the server's `now()` (the
//! start of the statement's transaction, which for these single-statement transactions
//! is the statement's start). An item is live while `expires_at > now()` (SPEC.md
//! `TIME-1`); `expires_at IS NULL` is a kv entry without expiry.

use std::time::Duration;

use authstore_spec::time::NO_EXPIRY_THRESHOLD;

/// Upserts a token ($1 id, $2 user, $3 access digest, $4 expires_at, $5 JSON record).
///
/// The CTE first deletes an *expired* other token holding the same access digest, so it
/// never blocks the write (`ACC-3`); the `WHERE` on its count makes the delete run before
/// the insert. A *live* holder makes the unique index raise 23505, mapped to `Conflict`
/// (`ACC-2`), and the statement, delete included, is rolled back. The row deleted by the
/// CTE is invisible to the unique check of the same statement.
pub(super) const STORE_TOKEN: &str = "\
WITH freed AS (
    DELETE FROM auth_tokens
    WHERE access_digest = $3 AND token_id <> $1 AND expires_at <= now()
    RETURNING 1
)
INSERT INTO auth_tokens (token_id, user_id, access_digest, expires_at, token_data)
SELECT $1, $2, $3, $4, $5::json
WHERE (SELECT count(*) FROM freed) >= 0
ON CONFLICT (token_id) DO UPDATE SET
    user_id = EXCLUDED.user_id,
    access_digest = EXCLUDED.access_digest,
    expires_at = EXCLUDED.expires_at,
    token_data = EXCLUDED.token_data";

/// Replaces a live token (arguments as [`STORE_TOKEN`]); no affected row means there is
/// no live token with that id: `NotFound` (`TOK-7`). Expired holders of the digest are
/// freed only when the token exists, so a `NotFound` changes nothing.
pub(super) const UPDATE_TOKEN: &str = "\
WITH freed AS (
    DELETE FROM auth_tokens
    WHERE access_digest = $3 AND token_id <> $1 AND expires_at <= now()
      AND EXISTS (SELECT 1 FROM auth_tokens WHERE token_id = $1 AND expires_at > now())
    RETURNING 1
)
UPDATE auth_tokens SET
    user_id = $2,
    access_digest = $3,
    expires_at = $4,
    token_data = $5::json
WHERE token_id = $1 AND expires_at > now() AND (SELECT count(*) FROM freed) >= 0";

/// Whether a live token other than $2 holds access digest $1: asked after a write tripped
/// the digest index, to tell a real holder (`Conflict`) from a racing writer of the same
/// id (write again).
pub(super) const OTHER_LIVE_DIGEST_HOLDER: &str = "\
SELECT token_id FROM auth_tokens WHERE access_digest = $1 AND token_id <> $2 AND expires_at > now()";

/// The live token's record by id ($1).
pub(super) const GET_TOKEN: &str = "\
SELECT token_data::text FROM auth_tokens WHERE token_id = $1 AND expires_at > now()";

/// The live token's record by access digest ($1), through the unique index.
pub(super) const GET_TOKEN_BY_ACCESS: &str = "\
SELECT token_data::text FROM auth_tokens WHERE access_digest = $1 AND expires_at > now()";

/// Deletes a token ($1); its index entries go with the row.
pub(super) const DELETE_TOKEN: &str = "DELETE FROM auth_tokens WHERE token_id = $1";

/// The user's ($1) live tokens, through `auth_tokens_user_idx` (`TOK-11`).
pub(super) const LIST_USER_TOKENS: &str = "\
SELECT token_data::text FROM auth_tokens WHERE user_id = $1 AND expires_at > now()";

/// Upserts a session ($1 id, $2 user, $3 expires_at, $4 JSON record).
pub(super) const STORE_SESSION: &str = "\
INSERT INTO sessions (session_id, user_id, expires_at, session_data)
VALUES ($1, $2, $3, $4::json)
ON CONFLICT (session_id) DO UPDATE SET
    user_id = EXCLUDED.user_id,
    expires_at = EXCLUDED.expires_at,
    session_data = EXCLUDED.session_data";

/// The live session's record by id ($1).
pub(super) const GET_SESSION: &str = "\
SELECT session_data::text FROM sessions WHERE session_id = $1 AND expires_at > now()";

/// Deletes a session ($1).
pub(super) const DELETE_SESSION: &str = "DELETE FROM sessions WHERE session_id = $1";

/// The user's ($1) live sessions, through `sessions_user_idx`.
pub(super) const LIST_USER_SESSIONS: &str = "\
SELECT session_data::text FROM sessions WHERE user_id = $1 AND expires_at > now()";

/// Live sessions, counted over `sessions_expiry_idx` (`CNT-3`).
pub(super) const COUNT_ACTIVE_SESSIONS: &str = "\
SELECT count(*) FROM sessions WHERE expires_at > now()";

/// Upserts a kv entry ($1 key, $2 value, $3 TTL as an interval or NULL for no expiry).
/// The expiry is computed by the server: `now() + ttl`, NULL when the TTL is NULL; a zero
/// TTL gives `expires_at = now()`, invisible from this statement on (`TTL-3`).
pub(super) const STORE_KV: &str = "\
INSERT INTO kv_store (key, value, expires_at)
VALUES ($1, $2, now() + $3::interval)
ON CONFLICT (key) DO UPDATE SET
    value = EXCLUDED.value,
    expires_at = EXCLUDED.expires_at";

/// The live value under key $1.
pub(super) const GET_KV: &str = "\
SELECT value FROM kv_store WHERE key = $1 AND (expires_at IS NULL OR expires_at > now())";

/// Deletes the entry under key $1.
pub(super) const DELETE_KV: &str = "DELETE FROM kv_store WHERE key = $1";

/// Live keys in `[$1, $2)`, in byte order: a range scan of the primary key (collation
/// "C"), with `$2` from [`prefix_upper_bound`] (`LST-7`).
pub(super) const LIST_KV_KEYS_RANGE: &str = "\
SELECT key FROM kv_store
WHERE key >= $1 AND key < $2 AND (expires_at IS NULL OR expires_at > now())
ORDER BY key";

/// Live keys from $1 on, in byte order: for prefixes with no upper bound (the empty
/// prefix, or one made only of U+10FFFF).
pub(super) const LIST_KV_KEYS_FROM: &str = "\
SELECT key FROM kv_store
WHERE key >= $1 AND (expires_at IS NULL OR expires_at > now())
ORDER BY key";

/// Deletes every expired row of the three tables, each through its expiry index.
pub(super) const CLEANUP_EXPIRED: &str = "\
WITH expired_tokens AS (
    DELETE FROM auth_tokens WHERE expires_at <= now()
), expired_sessions AS (
    DELETE FROM sessions WHERE expires_at <= now()
)
DELETE FROM kv_store WHERE expires_at <= now()";

/// The smallest string greater than every string that starts with `prefix`, in byte
/// order of UTF-8, or `None` if there is none (empty prefix, or only U+10FFFF).
///
/// Strings starting with `prefix` are exactly those in `[prefix, bound)`: the bound is
/// `prefix` with its last character replaced by the next Unicode scalar value (trailing
/// U+10FFFF dropped first). UTF-8 byte order is code point order and UTF-8 is
/// prefix-free per character, so any string in that range shares the prefix. Working on
/// characters rather than bytes keeps the bound valid UTF-8, which PostgreSQL text needs.
pub(super) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The kv TTL to bind: `None` (no expiry) for no TTL or one of
/// [`NO_EXPIRY_THRESHOLD`] or more (`TTL-4`), otherwise the TTL rounded up to whole
/// microseconds, the resolution of PostgreSQL intervals, so an entry never expires early.
pub(super) fn kv_ttl(ttl: Option<Duration>) -> Option<Duration> {
    let ttl = ttl.filter(|ttl| *ttl < NO_EXPIRY_THRESHOLD)?;
    let micros = ttl.as_nanos().div_ceil(1000);
    // Below the threshold (about 3.2e15 µs), so this always fits.
    Some(Duration::from_micros(
        u64::try_from(micros).unwrap_or(u64::MAX),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bound_covers_exactly_the_prefixed_strings() {
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("a"), Some("b".to_string()));
        assert_eq!(prefix_upper_bound("user:"), Some("user;".to_string()));
        // The next char after U+007F is U+0080: bytes 0x7F -> 0xC2 0x80, still greater.
        assert_eq!(prefix_upper_bound("a\u{7f}"), Some("a\u{80}".to_string()));
        // Surrogates are skipped.
        assert_eq!(
            prefix_upper_bound("x\u{d7ff}"),
            Some("x\u{e000}".to_string())
        );
        assert_eq!(prefix_upper_bound("a\u{10ffff}"), Some("b".to_string()));
        assert_eq!(prefix_upper_bound("\u{10ffff}\u{10ffff}"), None);
        // Byte order, checked against every listing of a small alphabet.
        let alphabet = [
            "a",
            "b",
            "é",
            "e\u{301}",
            "\u{7f}",
            "\u{80}",
            "\u{10ffff}",
            "%",
        ];
        let mut words: Vec<String> = Vec::new();
        for x in alphabet {
            for y in alphabet {
                words.push(format!("{x}{y}"));
            }
            words.push(x.to_string());
        }
        for prefix in alphabet {
            let bound = prefix_upper_bound(prefix);
            for word in &words {
                let in_range = word.as_bytes() >= prefix.as_bytes()
                    && bound
                        .as_ref()
                        .is_none_or(|b| word.as_bytes() < b.as_bytes());
                assert_eq!(in_range, word.starts_with(prefix), "{prefix:?} {word:?}");
            }
        }
    }

    #[test]
    fn kv_ttls() {
        assert_eq!(kv_ttl(None), None);
        assert_eq!(kv_ttl(Some(Duration::MAX)), None);
        assert_eq!(kv_ttl(Some(NO_EXPIRY_THRESHOLD)), None);
        assert_eq!(kv_ttl(Some(Duration::ZERO)), Some(Duration::ZERO));
        assert_eq!(
            kv_ttl(Some(Duration::from_nanos(1_001))),
            Some(Duration::from_micros(2))
        );
        assert_eq!(
            kv_ttl(Some(Duration::from_secs(5))),
            Some(Duration::from_secs(5))
        );
    }
}
