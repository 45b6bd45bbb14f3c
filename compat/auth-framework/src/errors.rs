//! Error mapping from auth-framework's `AuthError` to authstore's `StorageError`
//! (README.md, "Error mapping").
//!
//! Their storage errors carry only text (`StorageError::{ConnectionFailed,
//! OperationFailed, Serialization}` hold a `String`, `AuthError::Internal` too), and no
//! backend of theirs produces a typed not-found, conflict, capacity or integrity error.
//! So the kind is chosen first by their variant where it says enough, and otherwise by
//! the message, from one table ([`TEXT_RULES`]) whose every row is unit-tested. A message
//! no rule matches maps to `Backend`: never a kind the text does not support.

use auth_framework::errors::{AuthError, StorageError as TheirStorageError, TokenError};
use authstore_spec::{ErrorKind, StorageError};

/// One row of the message table: a kind, and the texts (matched case-insensitively as
/// substrings) that their backends or client libraries put in an error of that kind.
#[derive(Debug)]
pub struct TextRule {
    /// The kind an error whose message contains one of [`TextRule::needles`] gets.
    pub kind: ErrorKind,
    /// Lower-case substrings of their messages.
    pub needles: &'static [&'static str],
    /// Where the text comes from, for the README's table.
    pub origin: &'static str,
}

/// The message rules, tried in order before the variant rules: a unique-constraint clash
/// is reported inside `ConnectionFailed` by their SQLite backend and inside
/// `OperationFailed` by PostgreSQL, so the text must win over the variant.
pub const TEXT_RULES: &[TextRule] = &[
    TextRule {
        kind: ErrorKind::Conflict,
        needles: &[
            "duplicate key value violates unique constraint",
            "unique constraint failed",
        ],
        origin: "PostgreSQL (SQLSTATE 23505) and SQLite unique violations, wrapped by postgres.rs / sqlite.rs",
    },
    TextRule {
        kind: ErrorKind::CapacityExceeded,
        needles: &["memory limit exceeded"],
        origin: "UnifiedStorage's max_memory check (unified.rs)",
    },
    TextRule {
        kind: ErrorKind::Integrity,
        needles: &[
            "decryption failed",
            "is not a valid encrypted envelope",
            "uses legacy envelope format",
        ],
        origin: "EncryptedStorage::get_kv (encryption.rs), all as AuthError::Internal",
    },
    TextRule {
        kind: ErrorKind::Unavailable,
        needles: &[
            "pool timed out",
            "connection refused",
            "connection reset",
            "broken pipe",
            "timed out",
            "database is locked",
            "error communicating with database",
        ],
        origin: "sqlx / redis client errors when the server cannot be reached, wrapped in OperationFailed or ConnectionFailed",
    },
];

/// The kind of their error: the message table first, then the variant.
pub fn kind_of(err: &AuthError) -> ErrorKind {
    let message = err.to_string().to_lowercase();
    if let Some(rule) = TEXT_RULES
        .iter()
        .find(|rule| rule.needles.iter().any(|needle| message.contains(needle)))
    {
        return rule.kind;
    }
    match err {
        AuthError::InvalidInput(_) | AuthError::Validation { .. } => ErrorKind::InvalidInput,
        AuthError::Token(TokenError::NotFound) => ErrorKind::NotFound,
        AuthError::Storage(TheirStorageError::Serialization { .. }) | AuthError::Json(_) => {
            ErrorKind::Serialization
        }
        AuthError::Storage(TheirStorageError::BackendUnavailable) => ErrorKind::Unavailable,
        // Their SQLite backend reports every sqlx error as ConnectionFailed, a server's
        // own refusal included; sqlx says "error returned from database" for those.
        AuthError::Storage(TheirStorageError::ConnectionFailed { .. })
            if !message.contains("error returned from database") =>
        {
            ErrorKind::Unavailable
        }
        _ => ErrorKind::Backend,
    }
}

/// Their error as ours: the kind from [`kind_of`], their message as ours (prefixed with
/// the operation), and their error as the source where our variant has one.
pub fn to_ours(operation: &str, err: AuthError) -> StorageError {
    let message = format!("auth-framework {operation}: {err}");
    match kind_of(&err) {
        ErrorKind::InvalidInput => StorageError::InvalidInput(message),
        ErrorKind::NotFound => StorageError::NotFound(message),
        ErrorKind::Conflict => StorageError::Conflict(message),
        ErrorKind::CapacityExceeded => StorageError::CapacityExceeded(message),
        ErrorKind::Integrity => StorageError::Integrity(message),
        ErrorKind::Serialization => StorageError::serialization(message, err),
        ErrorKind::Unavailable => StorageError::unavailable(message, err),
        _ => StorageError::backend(message, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(message: &str) -> AuthError {
        AuthError::Storage(TheirStorageError::operation_failed(message))
    }

    fn conn(message: &str) -> AuthError {
        AuthError::Storage(TheirStorageError::connection_failed(message))
    }

    /// Texts their code really produces (the messages below are copied from their
    /// sources and from sqlx / redis), each with the kind it must map to.
    #[test]
    fn every_known_text_maps_to_its_kind() {
        let cases: Vec<(AuthError, ErrorKind)> = vec![
            (
                op(
                    "Failed to store token: error returned from database: duplicate key value violates unique constraint \"auth_tokens_access_token_key\"",
                ),
                ErrorKind::Conflict,
            ),
            (
                conn(
                    "error returned from database: (code: 2067) UNIQUE constraint failed: auth_tokens.access_token",
                ),
                ErrorKind::Conflict,
            ),
            (op("Memory limit exceeded"), ErrorKind::CapacityExceeded),
            (
                AuthError::internal("Decryption failed"),
                ErrorKind::Integrity,
            ),
            (
                AuthError::internal(
                    "Value for record 'k' is not a valid encrypted envelope, and storage_encryption.allow_plaintext_reads is false.",
                ),
                ErrorKind::Integrity,
            ),
            (
                AuthError::internal("Value for record 'k' uses legacy envelope format version 0"),
                ErrorKind::Integrity,
            ),
            (
                op("Failed to get token: pool timed out while waiting for an open connection"),
                ErrorKind::Unavailable,
            ),
            (
                op("Redis error: Connection refused (os error 111)"),
                ErrorKind::Unavailable,
            ),
            (op("broken pipe"), ErrorKind::Unavailable),
            (
                conn("error returned from database: (code: 5) database is locked"),
                ErrorKind::Unavailable,
            ),
            (
                conn("Failed to connect to Redis: invalid URL"),
                ErrorKind::Unavailable,
            ),
            (
                conn("error returned from database: (code: 1) no such table: kv_store"),
                ErrorKind::Backend,
            ),
            (
                AuthError::Storage(TheirStorageError::BackendUnavailable),
                ErrorKind::Unavailable,
            ),
            (
                AuthError::Storage(TheirStorageError::Serialization {
                    message: "expected value at line 1 column 1".into(),
                }),
                ErrorKind::Serialization,
            ),
            (
                AuthError::Json(serde_json::from_str::<u8>("x").unwrap_err()),
                ErrorKind::Serialization,
            ),
            (
                AuthError::InvalidInput("empty id".into()),
                ErrorKind::InvalidInput,
            ),
            (AuthError::Token(TokenError::NotFound), ErrorKind::NotFound),
            (
                op("Failed to store kv: value too long for type character varying(50)"),
                ErrorKind::Backend,
            ),
            (
                AuthError::internal("Encryption failed: aead::Error"),
                ErrorKind::Backend,
            ),
            (
                op("Cannot store an already-expired token"),
                ErrorKind::Backend,
            ),
        ];
        for (err, kind) in cases {
            let shown = err.to_string();
            assert_eq!(kind_of(&err), kind, "{shown}");
            assert_eq!(to_ours("op", err).kind(), kind, "{shown}");
        }
    }

    #[test]
    fn every_rule_has_a_lower_case_needle() {
        for rule in TEXT_RULES {
            assert!(!rule.needles.is_empty(), "{rule:?}");
            for needle in rule.needles {
                assert_eq!(*needle, needle.to_lowercase(), "{rule:?}");
            }
        }
    }

    #[test]
    fn ours_keeps_their_message_and_source() {
        let ours = to_ours("get_kv", op("Redis error: broken pipe"));
        let shown = ours.to_string();
        assert!(
            shown.contains(
                "auth-framework get_kv: Storage error: Operation failed: Redis error: broken pipe"
            ),
            "{shown}"
        );
        assert!(std::error::Error::source(&ours).is_some(), "{shown}");
    }
}
