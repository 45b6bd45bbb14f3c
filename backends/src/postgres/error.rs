//! The one mapping from sqlx/PostgreSQL errors to [`StorageError`] (SPEC.md `ERR-1`), and
//! which errors are worth retrying.

use authstore_spec::StorageError;

/// The name of the unique index on `auth_tokens.access_digest` (see the migration).
const ACCESS_DIGEST_INDEX: &str = "auth_tokens_access_digest_key";

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

/// Maps an error of operation `op` (e.g. `"store_token(\"t1\")"`) to the spec's variant:
/// - pool timeout, closed pool, I/O, TLS, a dead background worker, and server states of
///   classes 08 (connection), 53 (insufficient resources: too many connections), 57
///   (operator intervention: shutdown, statement timeout) -> `Unavailable`;
/// - unique violation (23505) -> `Conflict`;
/// - everything else -> `Backend`, with the sqlx error kept as the source.
pub(super) fn map_err(op: &str, err: sqlx::Error) -> StorageError {
    match &err {
        sqlx::Error::PoolTimedOut => StorageError::unavailable(
            format!("{op}: no PostgreSQL connection became free within the pool's acquire timeout"),
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
            let code = db.code().unwrap_or_default();
            if code == "23505" {
                let what = if db.constraint() == Some(ACCESS_DIGEST_INDEX) {
                    "the access token is held by another live token".to_string()
                } else {
                    format!(
                        "unique constraint {:?} violated",
                        db.constraint().unwrap_or("?")
                    )
                };
                StorageError::Conflict(format!("{op}: {what}"))
            } else if ["08", "53", "57"]
                .iter()
                .any(|class| code.starts_with(class))
            {
                StorageError::unavailable(
                    format!("{op}: PostgreSQL is unavailable (SQLSTATE {code})"),
                    err,
                )
            } else {
                StorageError::backend(format!("{op}: PostgreSQL error (SQLSTATE {code})"), err)
            }
        }
        _ => StorageError::backend(format!("{op}: PostgreSQL client error"), err),
    }
}
