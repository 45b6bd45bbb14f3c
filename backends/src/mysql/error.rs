//! How `sqlx` errors become [`StorageError`]s ([`map_err`], the one mapping), which
//! server errors are worth retrying ([`retry_transient`]) and which unique index a
//! duplicate hit ([`duplicate_key`]).

use std::future::Future;
use std::time::Duration;

use authstore_spec::StorageError;
use sqlx::mysql::MySqlDatabaseError;

/// Server error numbers this backend tells apart (MySQL and MariaDB share them).
mod code {
    /// `ER_DUP_ENTRY`: a unique index already holds the value.
    pub(super) const DUP_ENTRY: u16 = 1062;
    /// `ER_DUP_KEY`, `ER_DUP_UNIQUE`, `ER_DUP_ENTRY_WITH_KEY_NAME`,
    /// `ER_DUP_UNKNOWN_IN_INDEX`: rarer spellings of a duplicate.
    pub(super) const OTHER_DUPLICATES: [u16; 4] = [1022, 1169, 1586, 1859];
    /// `ER_LOCK_DEADLOCK`: InnoDB chose this statement as a deadlock victim.
    pub(super) const LOCK_DEADLOCK: u16 = 1213;
    /// `ER_LOCK_WAIT_TIMEOUT`: `innodb_lock_wait_timeout` passed.
    pub(super) const LOCK_WAIT_TIMEOUT: u16 = 1205;
    /// Errors that mean "the server cannot serve this now": too many connections
    /// (1040, 1203), server shutdown (1053), connection or query killed (1927, 1317),
    /// statement time limit (MySQL 3024, MariaDB 1969).
    pub(super) const UNAVAILABLE: [u16; 7] = [1040, 1203, 1053, 1927, 1317, 3024, 1969];
    /// `ER_NET_PACKET_TOO_LARGE`, `ER_WARN_ALLOWED_PACKET_OVERFLOWED`: a statement or
    /// result over `max_allowed_packet`.
    pub(super) const PACKET_TOO_LARGE: [u16; 2] = [1153, 1301];
}

/// How often a statement that lost a deadlock or a lock wait is tried in all.
const ATTEMPTS: u32 = 8;
/// The first pause before a retry; it doubles each time, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(2);
/// The longest pause before a retry (before jitter).
const MAX_BACKOFF: Duration = Duration::from_millis(64);

/// The server error number of `err`, if the server sent one.
fn server_code(err: &sqlx::Error) -> Option<u16> {
    err.as_database_error()?
        .try_downcast_ref::<MySqlDatabaseError>()
        .map(MySqlDatabaseError::number)
}

/// Whether `err` is a deadlock or lock-wait timeout: InnoDB rolled the statement back,
/// so running it again is safe.
fn is_transient(err: &sqlx::Error) -> bool {
    matches!(
        server_code(err),
        Some(code::LOCK_DEADLOCK | code::LOCK_WAIT_TIMEOUT)
    )
}

/// The unique index a duplicate-entry error names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Duplicate {
    /// The table's primary key (a token id inserted by a concurrent writer).
    PrimaryKey,
    /// `uq_auth_tokens_access_digest`: another row holds the access token.
    AccessDigest,
}

/// Which unique index `err` violated, if it is a duplicate-entry error on one of ours.
///
/// The server names the index only in the message, `Duplicate entry '..' for key
/// 'NAME'` (MySQL 8 writes `'table.NAME'`); the entry itself may contain anything, so the
/// name is read after the last `for key '`.
pub(super) fn duplicate_key(err: &sqlx::Error) -> Option<Duplicate> {
    let db = err.as_database_error()?;
    let mysql = db.try_downcast_ref::<MySqlDatabaseError>()?;
    if mysql.number() != code::DUP_ENTRY {
        return None;
    }
    let (_, key) = mysql.message().rsplit_once("for key '")?;
    let key = key.trim_end_matches('\'');
    let key = key.rsplit_once('.').map_or(key, |(_, name)| name);
    match key {
        "PRIMARY" => Some(Duplicate::PrimaryKey),
        "uq_auth_tokens_access_digest" => Some(Duplicate::AccessDigest),
        _ => None,
    }
}

/// Runs `statement` until it succeeds, fails for good, or has lost [`ATTEMPTS`]
/// deadlocks or lock waits, pausing a little longer after each loss ([`backoff`]).
///
/// `statement` must be one autocommitted statement: a deadlock rolls it back whole.
pub(super) async fn retry_transient<T, F, Fut>(mut statement: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let mut attempt = 1;
    loop {
        match statement().await {
            Err(err) if attempt < ATTEMPTS && is_transient(&err) => {
                tracing::debug!(attempt, error = %err, "MySQL statement lost a lock; retrying");
                backoff(attempt).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Sleeps before retry number `attempt` (1, 2, ...): 2 ms doubling up to 64 ms, plus
/// up to half of that again at random, so racing writers retry at different times.
pub(super) async fn backoff(attempt: u32) {
    let base = FIRST_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    tokio::time::sleep(jitter(base)).await;
}

/// `base` plus up to half of it again, at random.
fn jitter(base: Duration) -> Duration {
    let fraction = f64::from(getrandom::u32().unwrap_or(0)) / f64::from(u32::MAX);
    base.mul_f64(1.0 + fraction / 2.0)
}

/// Maps a `sqlx` error met while doing `what` to the [`StorageError`] variant SPEC.md
/// `ERR-1` names, keeping the cause.
///
/// - Pool timeout or closed pool, I/O, TLS, a crashed connection worker, too many
///   connections, a server shutting down, a killed query, a statement time limit, and
///   deadlocks or lock waits still lost after [`retry_transient`]:
///   [`Unavailable`](StorageError::Unavailable) (may be retried).
/// - A unique violation: [`Conflict`](StorageError::Conflict).
/// - A statement or row over `max_allowed_packet`:
///   [`CapacityExceeded`](StorageError::CapacityExceeded).
/// - A value that does not decode: [`Serialization`](StorageError::Serialization).
/// - Anything else: [`Backend`](StorageError::Backend).
pub(super) fn map_err(what: &str, err: sqlx::Error) -> StorageError {
    match &err {
        sqlx::Error::PoolTimedOut => StorageError::unavailable(
            format!(
                "{what}: no MySQL connection within the pool's acquire timeout (all in use, \
                 or the server cannot be reached: sqlx retries refused connections until then)"
            ),
            err,
        ),
        sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StorageError::unavailable(
            format!("{what}: the MySQL server could not be reached"),
            err,
        ),
        sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => {
            StorageError::serialization(format!("{what}: a stored column did not decode"), err)
        }
        sqlx::Error::Database(db) => {
            let number = server_code(&err);
            let message = db.message().to_owned();
            match number {
                Some(code::DUP_ENTRY) => StorageError::Conflict(format!(
                    "{what}: a unique index already holds the value ({})",
                    index_name(&message)
                )),
                Some(n) if code::OTHER_DUPLICATES.contains(&n) => {
                    StorageError::Conflict(format!("{what}: {message}"))
                }
                Some(code::LOCK_DEADLOCK | code::LOCK_WAIT_TIMEOUT) => StorageError::unavailable(
                    format!("{what}: still losing lock waits or deadlocks after {ATTEMPTS} tries"),
                    err,
                ),
                Some(n) if code::UNAVAILABLE.contains(&n) => StorageError::unavailable(
                    format!("{what}: the MySQL server cannot serve the request now"),
                    err,
                ),
                Some(n) if code::PACKET_TOO_LARGE.contains(&n) => {
                    StorageError::CapacityExceeded(format!(
                        "{what}: the statement or its result exceeds the server's \
                         max_allowed_packet ({message})"
                    ))
                }
                _ => StorageError::backend(format!("{what}: MySQL error"), err),
            }
        }
        _ => StorageError::backend(format!("{what}: MySQL client error"), err),
    }
}

/// The index name from a duplicate-entry message, without the entry: the entry may be
/// a digest (binary noise) or a user's id, neither of which belongs in an error message.
fn index_name(message: &str) -> &str {
    message
        .rsplit_once("for key '")
        .map_or("unknown index", |(_, key)| key.trim_end_matches('\''))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_again() {
        let base = Duration::from_millis(8);
        for _ in 0..100 {
            let delay = jitter(base);
            assert!(delay >= base && delay <= base.mul_f64(1.5), "{delay:?}");
        }
    }

    #[test]
    fn index_name_is_read_after_the_last_key_clause() {
        assert_eq!(
            index_name("Duplicate entry 'for key 'x'' for key 'auth_tokens.PRIMARY'"),
            "auth_tokens.PRIMARY"
        );
        assert_eq!(index_name("something else"), "unknown index");
    }

    #[test]
    fn pool_errors_are_unavailable_and_others_backend() {
        let kind = |err| map_err("test", err).kind();
        assert_eq!(
            kind(sqlx::Error::PoolTimedOut),
            authstore_spec::ErrorKind::Unavailable
        );
        assert_eq!(
            kind(sqlx::Error::PoolClosed),
            authstore_spec::ErrorKind::Unavailable
        );
        assert_eq!(
            kind(sqlx::Error::Protocol("odd".into())),
            authstore_spec::ErrorKind::Backend
        );
    }
}
