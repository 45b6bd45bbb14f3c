//! The one mapping from sqlx/PostgreSQL errors to [`StorageError`] (SPEC.md `ERR-1`), and
//! which errors are worth retrying. Server errors map through [`map_server_error`],
//! which the tokio-postgres path (`native.rs`) shares.

use authstore_spec::StorageError;

/// The name of the unique index on `auth_tokens.access_digest` (see the migration).
pub(super) const ACCESS_DIGEST_INDEX: &str = "auth_tokens_access_digest_key";

/// SQLSTATE `serialization_failure` and `deadlock_detected`: the server rolled the
/// statement back and it may simply be run again.
const RETRYABLE_STATES: [&str; 2] = ["40001", "40P01"];

/// Whether `err` says the server rolled the statement back only because of a concurrent
/// one (serialization failure or deadlock), so running it again is safe and expected to
/// succeed. Single statements under READ COMMITTED rarely see these; two token writes
/// that swap access tokens can deadlock.
pub(super) fn is_retryable(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| RETRYABLE_STATES.contains(&code.as_ref()))
}

/// Whether `err` is a unique violation of the access-digest index: another row, or a
/// concurrent insert of the same id, holds the digest.
pub(super) fn is_access_digest_violation(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some_and(|db| {
        db.code().as_deref() == Some("23505") && db.constraint() == Some(ACCESS_DIGEST_INDEX)
    })
}

/// Maps an error of operation `op` (e.g. `"store_token(\"t1\")"`) to the spec's variant:
/// - pool timeout, closed pool, I/O, TLS, a dead background worker, and server states of
///   classes 08 (connection), 53 (insufficient resources: too many connections), 57
///   (operator intervention: shutdown, statement timeout) -> `Unavailable`;
/// - unique violation (23505) -> `Conflict`;
/// - everything else -> `Backend`, with the sqlx error kept as the source.
pub(super) fn map_err(op: &str, err: sqlx::Error) -> StorageError {
    match &err {
        sqlx::Error::PoolTimedOut => StorageError::unavailable(
            format!(
                "{op}: no PostgreSQL connection within the pool's acquire timeout (all in use, \
                 or the server cannot be reached: sqlx retries refused connections until then)"
            ),
            err,
        ),
        sqlx::Error::PoolClosed => {
            StorageError::unavailable(format!("{op}: the PostgreSQL pool is closed"), err)
        }
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => {
            StorageError::unavailable(
                format!("{op}: lost or could not open the connection to PostgreSQL"),
                err,
            )
        }
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default().into_owned();
            let constraint = db.constraint().map(str::to_owned);
            map_server_error(op, &code, constraint.as_deref(), err)
        }
        _ => StorageError::backend(format!("{op}: PostgreSQL client error"), err),
    }
}

/// Maps an error the server reported (SQLSTATE `code`, violated `constraint` if any) of
/// operation `op`: unique violation (23505) -> `Conflict`; classes 08 (connection), 53
/// (insufficient resources), 57 (operator intervention) -> `Unavailable`; anything else
/// -> `Backend`, with `source` kept.
pub(super) fn map_server_error(
    op: &str,
    code: &str,
    constraint: Option<&str>,
    source: impl Into<authstore_spec::BoxError>,
) -> StorageError {
    if code == "23505" {
        let what = if constraint == Some(ACCESS_DIGEST_INDEX) {
            "the access token is held by another live token".to_string()
        } else {
            format!("unique constraint {:?} violated", constraint.unwrap_or("?"))
        };
        StorageError::Conflict(format!("{op}: {what}"))
    } else if ["08", "53", "57"]
        .iter()
        .any(|class| code.starts_with(class))
    {
        StorageError::unavailable(
            format!("{op}: PostgreSQL is unavailable (SQLSTATE {code})"),
            source,
        )
    } else {
        StorageError::backend(format!("{op}: PostgreSQL error (SQLSTATE {code})"), source)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::error::Error as StdError;
    use std::fmt;

    use authstore_spec::ErrorKind;
    use sqlx::error::{DatabaseError, ErrorKind as SqlxKind};

    use super::*;

    /// A server error with a SQLSTATE and, optionally, a constraint name.
    #[derive(Debug)]
    struct ServerError {
        code: &'static str,
        constraint: Option<&'static str>,
    }

    impl fmt::Display for ServerError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "server error {}", self.code)
        }
    }

    impl StdError for ServerError {}

    impl DatabaseError for ServerError {
        fn message(&self) -> &str {
            "server error"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.code))
        }
        fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn StdError + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn StdError + Send + Sync + 'static> {
            self
        }
        fn constraint(&self) -> Option<&str> {
            self.constraint
        }
        fn kind(&self) -> SqlxKind {
            SqlxKind::Other
        }
    }

    fn server(code: &'static str, constraint: Option<&'static str>) -> sqlx::Error {
        sqlx::Error::Database(Box::new(ServerError { code, constraint }))
    }

    #[test]
    fn each_error_maps_to_its_variant() {
        let conflict = map_err(
            "store_token(\"t\")",
            server("23505", Some(ACCESS_DIGEST_INDEX)),
        );
        assert_eq!(conflict.kind(), ErrorKind::Conflict);
        assert!(
            conflict.to_string().contains("store_token(\"t\")")
                && conflict.to_string().contains("access token"),
            "{conflict}"
        );
        for code in ["08006", "53300", "57P01", "57014"] {
            assert_eq!(
                map_err("op", server(code, None)).kind(),
                ErrorKind::Unavailable,
                "{code}"
            );
        }
        for err in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        ] {
            assert_eq!(map_err("op", err).kind(), ErrorKind::Unavailable);
        }
        let other = map_err("op", server("42P01", None));
        assert_eq!(other.kind(), ErrorKind::Backend);
        assert!(
            other.source().is_some(),
            "the sqlx error is kept as the source"
        );
        assert_eq!(
            map_err("op", sqlx::Error::Protocol("bad".into())).kind(),
            ErrorKind::Backend
        );
    }

    #[test]
    fn only_deadlocks_and_serialization_failures_are_retried() {
        assert!(is_retryable(&server("40001", None)));
        assert!(is_retryable(&server("40P01", None)));
        assert!(!is_retryable(&server("23505", None)));
        assert!(!is_retryable(&sqlx::Error::PoolTimedOut));
    }
}
