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
/// Deepest nesting of token metadata and session data, counting the metadata or data
/// map itself as level 1 (SPEC.md `VAL-7`). Below serde_json's recursion limit (128) and
/// MySQL's JSON depth limit (100) with room for the record and an encryption envelope
/// around it, so nothing accepted is ever unreadable.
pub const MAX_JSON_DEPTH: usize = 64;
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

/// Checks that `map` (token metadata or session data) nests arrays and objects at most
/// [`MAX_JSON_DEPTH`] levels deep, the map being level 1 (SPEC.md `VAL-7`). Walks the
/// value without recursion, so no input can overflow the stack here.
pub fn json_depth(what: &str, map: &crate::token::JsonMap) -> Result<()> {
    use serde_json::Value;
    let nested = |v: &&Value| matches!(v, Value::Array(_) | Value::Object(_));
    // The common record has flat metadata: no allocation then.
    if !map.values().any(|v| nested(&v)) {
        return Ok(());
    }
    // (value, its depth): the map's values are at level 2 when they nest.
    let mut pending: Vec<(&Value, usize)> = map.values().filter(nested).map(|v| (v, 2)).collect();
    while let Some((value, depth)) = pending.pop() {
        if depth > MAX_JSON_DEPTH {
            return Err(StorageError::InvalidInput(format!(
                "{what} nests arrays and objects more than {MAX_JSON_DEPTH} levels deep"
            )));
        }
        match value {
            Value::Array(items) => {
                pending.extend(items.iter().filter(nested).map(|v| (v, depth + 1)))
            }
            Value::Object(fields) => {
                pending.extend(fields.values().filter(nested).map(|v| (v, depth + 1)))
            }
            _ => {}
        }
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
    timestamp("expires_at", token.expires_at)?;
    json_depth("token metadata", &token.metadata)
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
    timestamp("last_activity", session.last_activity)?;
    json_depth("session data", &session.data)
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

    /// `{"k": [[...[1]...]]}` with the map at level 1 and `levels` levels in all.
    fn nested(levels: usize) -> crate::token::JsonMap {
        let mut value = serde_json::json!(1);
        for _ in 1..levels {
            value = serde_json::Value::Array(vec![value]);
        }
        let mut map = crate::token::JsonMap::new();
        map.insert("k".into(), value);
        map
    }

    #[test]
    fn json_depth_counts_the_map_as_level_one() {
        assert!(json_depth("m", &crate::token::JsonMap::new()).is_ok());
        assert!(json_depth("m", &nested(1)).is_ok());
        assert!(json_depth("m", &nested(MAX_JSON_DEPTH)).is_ok());
        let err = json_depth("m", &nested(MAX_JSON_DEPTH + 1)).unwrap_err();
        assert!(matches!(err, StorageError::InvalidInput(_)), "{err}");
        // Objects count like arrays; a deep branch next to shallow ones is found.
        let mut value = serde_json::json!("leaf");
        for i in 1..=MAX_JSON_DEPTH {
            value = serde_json::json!({ format!("l{i}"): value, "flat": 1 });
        }
        let mut map = crate::token::JsonMap::new();
        map.insert("shallow".into(), serde_json::json!([1, 2]));
        map.insert("deep".into(), value);
        assert!(json_depth("m", &map).is_err());
    }
}
