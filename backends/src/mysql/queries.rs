//! Every SQL statement [`MySqlStorage`](super::MySqlStorage) sends, in one place.
//!
//! All are prepared (sqlx caches them per connection) and take their values as bound
//! parameters; none is built from input. Ids and keys are bound as bytes, so they meet
//! the VARBINARY columns without any character-set conversion. "Now" is always the
//! server's `UTC_TIMESTAMP(6)`, evaluated once per statement.
//!
//! Written for MySQL 8 and MariaDB alike: no `RETURNING`, and upserts use
//! `ON DUPLICATE KEY UPDATE col = VALUES(col)`, which both accept (MySQL 8.0.20+ warns
//! that `VALUES()` is deprecated in favour of a row alias, which MariaDB lacks).

// ---- tokens ----

/// What [`UPSERT_TOKEN`] leaves in `LAST_INSERT_ID` (the OK packet's insert id) when it
/// left a live token of another id alone: the access token is taken (`Conflict`). The
/// table has no `AUTO_INCREMENT` column, so every other outcome reports 0.
pub(super) const HELD_BY_LIVE_TOKEN: u64 = 1;

/// `store_token` in one statement (`?`: id, user, digest, expiry, record).
///
/// Inserts the token, or on a duplicate key updates the row that holds it, which is
/// either the row with this id (PRIMARY is checked first) or, for a new id, the row
/// holding the access digest. Each assignment is guarded by `mine`, "the row is this
/// id's or has expired":
/// - this id's row (live or expired) is overwritten;
/// - an *expired* token of another id holding the access token is taken over, id
///   included: the same as deleting it and inserting this one (`ACC-3`);
/// - a *live* token of another id is left exactly as it was, and `LAST_INSERT_ID` is
///   set to [`HELD_BY_LIVE_TOKEN`] so the caller returns `Conflict` (`ACC-2`). Without
///   the guard, the upsert would write this token into that other row: silent
///   aliasing, the hazard that kept `store_token` at two statements.
///
/// `token_id` is assigned first, and every guard reads the same columns: MySQL and
/// MariaDB evaluate the assignments left to right, each seeing the ones before it,
/// while MariaDB's `SIMULTANEOUS_ASSIGNMENT` mode shows them all the old row; either
/// way every guard gives the same answer (a taken-over row has this id by the second
/// assignment). An existing id whose new digest is held by another row fails with a
/// duplicate on `uq_auth_tokens_access_digest`, as an `UPDATE` would; renaming an
/// expired holder to an id inserted concurrently fails with a duplicate on `PRIMARY`.
pub(super) const UPSERT_TOKEN: &str = "INSERT INTO auth_tokens \
     (token_id, user_id, access_digest, expires_at, record) VALUES (?, ?, ?, ?, ?) \
     ON DUPLICATE KEY UPDATE \
     token_id = IF(token_id = VALUES(token_id) OR expires_at <= UTC_TIMESTAMP(6), \
         VALUES(token_id), IF(LAST_INSERT_ID(1), token_id, token_id)), \
     user_id = IF(token_id = VALUES(token_id) OR expires_at <= UTC_TIMESTAMP(6), \
         VALUES(user_id), user_id), \
     access_digest = IF(token_id = VALUES(token_id) OR expires_at <= UTC_TIMESTAMP(6), \
         VALUES(access_digest), access_digest), \
     expires_at = IF(token_id = VALUES(token_id) OR expires_at <= UTC_TIMESTAMP(6), \
         VALUES(expires_at), expires_at), \
     record = IF(token_id = VALUES(token_id) OR expires_at <= UTC_TIMESTAMP(6), \
         VALUES(record), record)";

/// Replaces a live token (`update_token`); no matched row means `NotFound`.
pub(super) const UPDATE_LIVE_TOKEN: &str = "UPDATE auth_tokens \
     SET user_id = ?, access_digest = ?, expires_at = ?, record = ? \
     WHERE token_id = ? AND expires_at > UTC_TIMESTAMP(6)";

/// Frees an access token held only by an expired token of another id (`ACC-3`).
pub(super) const DELETE_EXPIRED_DIGEST_HOLDER: &str = "DELETE FROM auth_tokens \
     WHERE access_digest = ? AND token_id <> ? AND expires_at <= UTC_TIMESTAMP(6)";

pub(super) const GET_TOKEN: &str =
    "SELECT record FROM auth_tokens WHERE token_id = ? AND expires_at > UTC_TIMESTAMP(6)";

pub(super) const GET_TOKEN_BY_DIGEST: &str =
    "SELECT record FROM auth_tokens WHERE access_digest = ? AND expires_at > UTC_TIMESTAMP(6)";

pub(super) const DELETE_TOKEN: &str = "DELETE FROM auth_tokens WHERE token_id = ?";

/// Served by `ix_auth_tokens_user (user_id, expires_at)`: only the user's live rows.
pub(super) const LIST_USER_TOKENS: &str =
    "SELECT record FROM auth_tokens WHERE user_id = ? AND expires_at > UTC_TIMESTAMP(6)";

// ---- sessions ----

/// Sessions have one unique index (the id), so the upsert is one statement.
pub(super) const UPSERT_SESSION: &str = "INSERT INTO sessions \
     (session_id, user_id, expires_at, record) VALUES (?, ?, ?, ?) \
     ON DUPLICATE KEY UPDATE user_id = VALUES(user_id), expires_at = VALUES(expires_at), \
     record = VALUES(record)";

pub(super) const GET_SESSION: &str =
    "SELECT record FROM sessions WHERE session_id = ? AND expires_at > UTC_TIMESTAMP(6)";

pub(super) const DELETE_SESSION: &str = "DELETE FROM sessions WHERE session_id = ?";

pub(super) const LIST_USER_SESSIONS: &str =
    "SELECT record FROM sessions WHERE user_id = ? AND expires_at > UTC_TIMESTAMP(6)";

/// An index-only range scan of `ix_sessions_expires_at` over the live sessions.
pub(super) const COUNT_ACTIVE_SESSIONS: &str =
    "SELECT COUNT(*) FROM sessions WHERE expires_at > UTC_TIMESTAMP(6)";

// ---- kv ----

/// Upsert with the expiry computed by the server: `now + ?` microseconds, or NULL (no
/// expiry) when the bound TTL is NULL (`TIMESTAMPADD` of NULL is NULL).
pub(super) const UPSERT_KV: &str = "INSERT INTO kv_store (kv_key, kv_value, expires_at) \
     VALUES (?, ?, TIMESTAMPADD(MICROSECOND, ?, UTC_TIMESTAMP(6))) \
     ON DUPLICATE KEY UPDATE kv_value = VALUES(kv_value), expires_at = VALUES(expires_at)";

pub(super) const GET_KV: &str = "SELECT kv_value FROM kv_store \
     WHERE kv_key = ? AND (expires_at IS NULL OR expires_at > UTC_TIMESTAMP(6))";

/// Also how a TTL of zero is stored: the key is simply gone (`TTL-3`).
pub(super) const DELETE_KV: &str = "DELETE FROM kv_store WHERE kv_key = ?";

/// Keys in `[prefix, successor)`: a primary-key range scan in byte order (`LST-7`).
pub(super) const LIST_KV_KEYS_BETWEEN: &str = "SELECT kv_key FROM kv_store \
     WHERE kv_key >= ? AND kv_key < ? \
     AND (expires_at IS NULL OR expires_at > UTC_TIMESTAMP(6)) ORDER BY kv_key";

/// Keys from `prefix` on, for a prefix with no successor (the empty one).
pub(super) const LIST_KV_KEYS_FROM: &str = "SELECT kv_key FROM kv_store \
     WHERE kv_key >= ? \
     AND (expires_at IS NULL OR expires_at > UTC_TIMESTAMP(6)) ORDER BY kv_key";

// ---- maintenance ----

/// Three deletes in one round trip (text protocol, multi-statement), each an index
/// range scan of its table's expiry index. Rows and their index entries go together.
pub(super) const CLEANUP_EXPIRED: &str = "\
     DELETE FROM auth_tokens WHERE expires_at <= UTC_TIMESTAMP(6); \
     DELETE FROM sessions WHERE expires_at <= UTC_TIMESTAMP(6); \
     DELETE FROM kv_store WHERE expires_at <= UTC_TIMESTAMP(6)";

/// The server's packet limit, which bounds kv values.
pub(super) const MAX_ALLOWED_PACKET: &str = "SELECT CAST(@@max_allowed_packet AS SIGNED)";

/// Takes the migration lock of the current database, waiting up to `?` seconds: 1 if
/// taken. Lock names are server-wide and at most 64 characters, so the database name is
/// hashed into it. The timeout is positive: MariaDB refuses negative ones.
pub(super) const LOCK_MIGRATIONS: &str =
    "SELECT GET_LOCK(CONCAT('authstore-migrate:', LEFT(SHA2(DATABASE(), 256), 40)), ?)";

pub(super) const UNLOCK_MIGRATIONS: &str =
    "SELECT RELEASE_LOCK(CONCAT('authstore-migrate:', LEFT(SHA2(DATABASE(), 256), 40)))";

/// The table where sqlx records applied migrations: our own, so an application that
/// also uses sqlx migrations in the same database keeps its `_sqlx_migrations`.
pub(super) const MIGRATIONS_TABLE: &str = "_authstore_migrations";

/// The first key after every key starting with `prefix`, in byte order, or `None` if
/// there is none (the empty prefix; UTF-8 never contains 0xFF, but stay exact anyway).
pub(super) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut bound = prefix.to_vec();
    while let Some(last) = bound.pop() {
        if last < u8::MAX {
            bound.push(last + 1);
            return Some(bound);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{HELD_BY_LIVE_TOKEN, UPSERT_TOKEN, prefix_successor};

    #[test]
    fn the_upsert_marks_a_clash_with_the_value_the_backend_checks() {
        let marker = format!("LAST_INSERT_ID({HELD_BY_LIVE_TOKEN})");
        assert_eq!(UPSERT_TOKEN.matches(marker.as_str()).count(), 1);
        assert_eq!(UPSERT_TOKEN.matches("LAST_INSERT_ID").count(), 1);
    }

    #[test]
    fn successor_bounds_exactly_the_prefixed_keys() {
        assert_eq!(prefix_successor(b""), None);
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        // "é" is C3 A9: its successor is C3 AA, so "é..." keys are inside, "ê" is not.
        assert_eq!(prefix_successor("é".as_bytes()), Some(vec![0xC3, 0xAA]));
    }
}
