//! The input rules of SPEC.md section "Input" (`VAL-*`) as functions, so every backend
//! rejects the same inputs with the same [`StorageError::InvalidInput`] messages.

use chrono::{DateTime, TimeZone, Utc};

use crate::error::{Result, StorageError};
use crate::session::SessionData;
use crate::token::AuthToken;

/// Longest token id, session id or user id, in bytes (SPEC.md `VAL-1`).
pub const MAX_ID_BYTES: usize = 255;
/// Longest kv key or listing prefix, in bytes (SPEC.md `VAL-2`).
pub const MAX_KEY_BYTES: usize = 512;
/// Longest access or refresh token, in bytes (SPEC.md `VAL-4`).
pub const MAX_SECRET_BYTES: usize = 8192;
/// Every backend stores kv values of at least this many bytes (SPEC.md `KV-2`).
pub const MIN_VALUE_BYTES: usize = 1 << 20;

/// Earliest timestamp a record may carry (SPEC.md `VAL-5`).
pub fn min_timestamp() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}

/// Latest timestamp a record may carry (SPEC.md `VAL-5`): the end of year 9999, the
/// limit of SQL `DATETIME` types.
pub fn max_timestamp() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn check_text(what: &str, value: &str, max_bytes: usize, allow_empty: bool) -> Result<()> {
    if value.is_empty() && !allow_empty {
        return Err(StorageError::InvalidInput(format!(
            "{what} must not be empty"
        )));
    }
    if value.len() > max_bytes {
        return Err(StorageError::InvalidInput(format!(
            "{what} is {} bytes long; the limit is {max_bytes} bytes",
            value.len()
        )));
    }
    if let Some(at) = value.bytes().position(|b| b == 0) {
        return Err(StorageError::InvalidInput(format!(
            "{what} contains a NUL byte at offset {at}"
        )));
    }
    Ok(())
}

/// Checks a token id, session id or user id (SPEC.md `VAL-1`); `what` names it in the error.
pub fn id(what: &str, value: &str) -> Result<()> {
    check_text(what, value, MAX_ID_BYTES, false)
}

/// Checks a kv key (SPEC.md `VAL-2`).
pub fn key(value: &str) -> Result<()> {
    check_text("kv key", value, MAX_KEY_BYTES, false)
}

/// Checks a listing prefix (SPEC.md `LST-8`): as a key, but it may be empty.
pub fn prefix(value: &str) -> Result<()> {
    check_text("kv key prefix", value, MAX_KEY_BYTES, true)
}

/// Checks an access or refresh token (SPEC.md `VAL-4`).
pub fn secret(what: &str, value: &str) -> Result<()> {
    check_text(what, value, MAX_SECRET_BYTES, false)
}

/// Checks that a record's timestamp lies in the accepted range (SPEC.md `VAL-5`).
pub fn timestamp(what: &str, value: DateTime<Utc>) -> Result<()> {
    if value < min_timestamp() || value > max_timestamp() {
        return Err(StorageError::InvalidInput(format!(
            "{what} {value} is outside the accepted range {} ..= {}",
            min_timestamp(),
            max_timestamp()
        )));
    }
    Ok(())
}

/// Checks every rule a token must meet before it is stored.
pub fn token(token: &AuthToken) -> Result<()> {
    id("token id", &token.token_id)?;
    id("user id", &token.user_id)?;
    secret("access token", &token.access_token)?;
    if let Some(refresh) = &token.refresh_token {
        secret("refresh token", refresh)?;
    }
    timestamp("issued_at", token.issued_at)?;
    timestamp("expires_at", token.expires_at)
}

/// Checks every rule a session must meet before it is stored under `session_id`
/// (SPEC.md `SES-1`, `VAL-1`, `VAL-5`).
pub fn session(session_id: &str, session: &SessionData) -> Result<()> {
    id("session id", session_id)?;
    if session_id != session.session_id {
        return Err(StorageError::InvalidInput(format!(
            "session id argument {session_id:?} differs from data.session_id {:?}",
            session.session_id
        )));
    }
    id("user id", &session.user_id)?;
    timestamp("created_at", session.created_at)?;
    timestamp("expires_at", session.expires_at)?;
    timestamp("last_activity", session.last_activity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_in_bytes() {
        assert!(id("id", &"a".repeat(255)).is_ok());
        assert!(id("id", &"a".repeat(256)).is_err());
        // 'é' is two bytes: 128 of them are 256 bytes.
        assert!(id("id", &"é".repeat(128)).is_err());
        assert!(key(&"k".repeat(512)).is_ok());
        assert!(key(&"k".repeat(513)).is_err());
        assert!(prefix("").is_ok());
        assert!(key("").is_err());
        assert!(key("a\0b").is_err());
    }
}
