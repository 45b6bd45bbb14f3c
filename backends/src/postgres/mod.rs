//! [`PostgresStorage`]: the PostgreSQL backend, over a [`PgPool`] the application built.

mod error;
mod queries;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use authstore_spec::{
    AuthStorage, AuthToken, Result, SessionData, StorageError, TimingProfile, async_trait, validate,
};
use serde::de::DeserializeOwned;
use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};

use self::error::{is_access_digest_violation, is_retryable, map_err};
use crate::sql::access_token_digest;

/// The embedded schema migrations (`backends/migrations/postgres`).
static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// Largest kv value accepted, in bytes (SPEC.md `KV-5`): 16 MiB. Larger values are
/// rejected with [`StorageError::InvalidInput`] before anything is sent.
const MAX_VALUE_BYTES: usize = 16 << 20;

/// How often a statement rolled back by a deadlock or serialization failure is run
/// again before the error is returned.
const MAX_ATTEMPTS: u32 = 5;

/// The default bound on one method call (SPEC.md `GEN-2`).
const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// [`AuthStorage`] on PostgreSQL (tested on 15): three tables, one SQL statement per
/// method, the server's clock for every expiry.
///
/// ```no_run
/// use authstore_backends::PostgresStorage;
/// use sqlx::PgPool;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = PgPool::connect("postgres://user:pass@localhost/auth_db").await?;
/// let storage = PostgresStorage::new(pool);
/// storage.migrate().await?; // creates the tables if they do not exist
/// # Ok(())
/// # }
/// ```
///
/// # TLS
/// Without TLS, tokens, session data and kv values cross the network in the clear. The
/// `postgres-storage` feature builds sqlx with rustls; ask for it in the URL the pool is
/// built from: `postgres://user:pass@db.example/auth_db?sslmode=verify-full&sslrootcert=/etc/authstore/ca.pem`
/// checks the server's certificate chain and host name (without `sslrootcert`, against the
/// system's root certificates). `sslmode=require` encrypts but accepts any certificate;
/// sqlx's default, `prefer`, silently falls back to plaintext.
///
/// # Schema
/// [`migrate`](Self::migrate) creates, in the connection's current schema (the first
/// existing one of its `search_path`): `auth_tokens` (token id, user id, SHA-256 of the access token under a
/// unique index, expiry, the token as JSON), `sessions` (session id, user id, expiry, the
/// session as JSON) and `kv_store` (key, value, expiry or NULL), with an index per lookup:
/// user lists, access digests, expiry instants, keys in byte order. Ids and keys use
/// `COLLATE "C"`: compared byte by byte, never trimmed or folded. The database must be
/// UTF-8 encoded (the migration checks). The tables are not those of the seed's schema
/// (JSONB, plain access-token column); drop those before migrating.
///
/// # Backend documentation (SPEC.md)
/// - **Clock** (`TIME-3`): the PostgreSQL server's, `now()`, for every comparison and for
///   kv expiry (`now() + ttl`, computed by the server), so several application nodes
///   agree whatever their own clocks say. Token and session `expires_at` are absolute
///   instants, stored as given. Granularity 1 µs (`TIMESTAMPTZ`); declared skew between
///   the server's clock and the callers' 50 ms by default, see
///   [`with_clock_skew`](Self::with_clock_skew) and [`timing`](Self::timing).
/// - **Default TTL** (`TTL-2`): none; kv entries stored with `ttl: None` never expire.
///   TTLs of 100 years or more mean no expiry (`TTL-4`); a zero TTL stores the entry
///   already expired, hiding any earlier value (`TTL-3`).
/// - **Value limit** (`KV-5`): 16 MiB per kv value, rejected above with
///   [`StorageError::InvalidInput`]. Keys, ids and secrets are limited by
///   [`validate`].
/// - **What the database holds**: ids, user ids, expiry instants, kv keys and values in
///   the clear, and the token and session records as JSON, including each token's
///   access and refresh token: [`get_token`](AuthStorage::get_token) must return them.
///   The access-token index holds only SHA-256 digests (`ACC-5`). To keep every secret
///   out of the database, wrap the storage in
///   [`EncryptedStorage`](crate::EncryptedStorage).
/// - **Counting** (`CNT-3`): `count_active_sessions` is `count(*)` over
///   `expires_at > now()`, which the planner serves from the expiry index once the table
///   is large enough to prefer it: it then reads only the live sessions' index entries,
///   neither the records nor the expired sessions, so its cost grows with the number of
///   live sessions (there is no counter).
/// - **Cleanup** (`CLN-3`, a departure): expired rows are invisible at once but stay on
///   disk until [`cleanup_expired`](AuthStorage::cleanup_expired), one statement that
///   deletes them through the expiry indexes. No background task is started, because
///   with several application nodes each would run one; schedule the call (every few
///   minutes, from one node) to bound the expired data.
///
/// # Atomicity and concurrency
/// Every method is one statement, hence atomic (`CON-1`). Token writes upsert one row
/// that carries the access digest, so no index can dangle (`CON-3`); the unique index
/// decides races for an access token (`ACC-2`, `CON-4`, `MH-4`), and a live holder makes
/// the write fail with [`StorageError::Conflict`]. The upsert's conflict target is the id
/// alone, so when writers of the same absent id race, the loser can trip the digest's
/// unique index (on the winner's entry) before it sees the id taken: such a violation
/// is followed by one query for the digest's live holder, and the write is sent again
/// unless the holder is another token (at most 8 times; the usual path stays one
/// statement). A token write first deletes, in the same statement, an *expired* token
/// holding the same access token, which therefore never blocks (`ACC-3`). A statement the server rolls back for a deadlock or a
/// serialization failure is run again, up to 5 times.
///
/// # Errors and timeouts
/// Pool timeouts, closed pools, lost connections and server shutdown or overload are
/// [`StorageError::Unavailable`]; a unique violation is [`StorageError::Conflict`];
/// anything else the server reports is [`StorageError::Backend`], with the sqlx error as
/// its source. Every call is bounded by an operation timeout (30 s unless set with
/// [`with_operation_timeout`](Self::with_operation_timeout)), after which it returns
/// `Unavailable` (`GEN-2`); the pool's own `acquire_timeout` should be shorter.
///
/// # Handles
/// Clones share the pool. Two storages over two pools on the same database and schema
/// are two handles on the same data (`MH-*`), as two application nodes would be.
///
/// `Debug` shows the pool's size and this storage's settings, never the connection
/// options (which hold the password) or any data.
#[derive(Clone)]
pub struct PostgresStorage {
    pool: PgPool,
    timing: TimingProfile,
    operation_timeout: Duration,
}

impl PostgresStorage {
    /// The default timing profile (SPEC.md `TIME-3`): the server's clock, 1 µs
    /// granularity, 50 ms allowed skew between the server's clock and the callers'.
    pub const TIMING: TimingProfile =
        TimingProfile::new(Duration::from_micros(1), Duration::from_millis(50));

    /// The largest kv value accepted, in bytes (SPEC.md `KV-5`): 16 MiB.
    pub const MAX_VALUE_BYTES: usize = MAX_VALUE_BYTES;

    /// A storage over `pool`. Call [`migrate`](Self::migrate) once before use (from any
    /// number of processes).
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            timing: Self::TIMING,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
        }
    }

    /// This storage declaring that the server's clock and its callers' differ by at most
    /// `skew` (for [`timing`](Self::timing)); it changes no behaviour.
    pub fn with_clock_skew(mut self, skew: Duration) -> Self {
        self.timing.clock_skew = skew;
        self
    }

    /// This storage bounding every call to `timeout`, after which the call returns
    /// [`StorageError::Unavailable`] (SPEC.md `GEN-2`).
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// The bound on every call (see [`with_operation_timeout`](Self::with_operation_timeout)).
    pub fn operation_timeout(&self) -> Duration {
        self.operation_timeout
    }

    /// The declared timing profile: [`Self::TIMING`] with the configured clock skew.
    pub fn timing(&self) -> TimingProfile {
        self.timing
    }

    /// Creates or updates the tables and indexes (sqlx migrations embedded in the crate,
    /// recorded in `_sqlx_migrations`). Idempotent, and safe to call from several tasks
    /// or processes at once: sqlx holds a PostgreSQL advisory lock (one per database)
    /// while it migrates, so concurrent callers wait for each other. Not bounded by the
    /// operation timeout, since it may wait for another process's migration.
    pub async fn migrate(&self) -> Result<()> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|err| map_err("migrate", err))?;
        // `run_direct` is what `Migrator::run` calls once it has a connection; `run`'s
        // `Acquire` bound would make this future "not general enough" to be `Send`.
        match MIGRATOR.run_direct(None, &mut *conn, false).await {
            Ok(()) => Ok(()),
            Err(err) => {
                // sqlx keeps its session-level advisory lock when a migration fails;
                // closing the connection releases it instead of pooling it.
                let _closed = conn.close().await;
                Err(match err {
                    MigrateError::Execute(err) | MigrateError::ExecuteMigration(err, _) => {
                        map_err("migrate", err)
                    }
                    other => StorageError::backend(
                        "migrate: the database's migration history does not match this \
                         version of authstore-backends",
                        other,
                    ),
                })
            }
        }
    }

    /// Runs one statement: `attempt` again (bounded) while the server rolls it back for
    /// a deadlock or serialization failure, the whole under the operation timeout, and
    /// maps any error. `op` describes the call for error messages.
    async fn run<T, F, Fut>(&self, op: impl Fn() -> String, attempt: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = std::result::Result<T, sqlx::Error>>,
    {
        let work = async {
            let mut tries = 1;
            loop {
                match attempt().await {
                    Ok(value) => return Ok(value),
                    Err(err) if tries < MAX_ATTEMPTS && is_retryable(&err) => {
                        tokio::time::sleep(Duration::from_millis(2 << tries)).await;
                        tries += 1;
                    }
                    Err(err) => return Err(map_err(&op(), err)),
                }
            }
        };
        match tokio::time::timeout(self.operation_timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(StorageError::Unavailable {
                message: format!(
                    "{}: no answer from PostgreSQL within the operation timeout of {:?}",
                    op(),
                    self.operation_timeout
                ),
                source: None,
            }),
        }
    }

    /// Upserts a token (`must_exist`: only a live one, else `NotFound`).
    async fn put_token(&self, token: &AuthToken, must_exist: bool) -> Result<()> {
        validate::token(token)?;
        let record = serde_json::to_string(token)?;
        let digest = access_token_digest(&token.access_token);
        let (pool, record, digest) = (&self.pool, record.as_str(), digest.as_slice());
        let (sql, name) = if must_exist {
            (queries::UPDATE_TOKEN, "update_token")
        } else {
            (queries::STORE_TOKEN, "store_token")
        };
        let id = token.token_id.as_str();
        let done = self
            .run(
                || format!("{name}({id:?})"),
                move || async move {
                    let write = || {
                        sqlx::query(sql)
                            .bind(id)
                            .bind(token.user_id.as_str())
                            .bind(digest)
                            .bind(token.expires_at)
                            .bind(record)
                            .execute(pool)
                    };
                    // `ON CONFLICT (token_id)` arbitrates the id only: when two writers
                    // insert the same absent id at once, the loser can trip the unique
                    // index on the access digest (holding the winner's entry) before it
                    // sees the id taken. That is no conflict (ACC-2 needs *another* live
                    // holder): ask who holds the digest, and write again if it is this id
                    // or nobody live. Each resend follows a committed rival write, so it
                    // ends; the operation timeout bounds it anyway. The happy path stays
                    // one statement.
                    loop {
                        match write().await {
                            Err(err) if is_access_digest_violation(&err) => {
                                let other: Option<String> =
                                    sqlx::query_scalar(queries::OTHER_LIVE_DIGEST_HOLDER)
                                        .bind(digest)
                                        .bind(id)
                                        .fetch_optional(pool)
                                        .await?;
                                if other.is_some() {
                                    return Err(err);
                                }
                            }
                            result => return result,
                        }
                    }
                },
            )
            .await?;
        if must_exist && done.rows_affected() == 0 {
            return Err(StorageError::NotFound(format!(
                "update_token: no live token with id {:?}",
                token.token_id
            )));
        }
        Ok(())
    }
}

/// What `TieredStorage` needs beyond the trait: kv reads with their expiry instant, and
/// the cache epoch (a one-row table, see [`migrate_cache_epoch`](Self::migrate_cache_epoch)).
#[cfg(feature = "tiered-storage")]
impl PostgresStorage {
    /// The live value under `key` with its expiry instant as the server computed it
    /// (`None`: no expiry), for a cache entry that must not outlive it.
    pub(crate) async fn get_kv_with_expiry(
        &self,
        key: &str,
    ) -> Result<Option<(Vec<u8>, Option<chrono::DateTime<chrono::Utc>>)>> {
        validate::key(key)?;
        let pool = &self.pool;
        self.run(
            || format!("get_kv({key:?})"),
            move || {
                sqlx::query_as::<_, (Vec<u8>, Option<chrono::DateTime<chrono::Utc>>)>(
                    "SELECT value, expires_at FROM kv_store \
                     WHERE key = $1 AND (expires_at IS NULL OR expires_at > now())",
                )
                .bind(key)
                .fetch_optional(pool)
            },
        )
        .await
    }

    /// Creates the cache-epoch table (`authstore_cache_epoch`, one row) if missing.
    /// Idempotent and safe from concurrent callers: one implicit transaction under a
    /// transaction-level advisory lock.
    pub(crate) async fn migrate_cache_epoch(&self) -> Result<()> {
        let pool = &self.pool;
        self.run(
            || "migrate (cache epoch)".to_string(),
            move || {
                sqlx::raw_sql(
                    "SELECT pg_advisory_xact_lock(7269541);
                     CREATE TABLE IF NOT EXISTS authstore_cache_epoch (
                         id SMALLINT PRIMARY KEY CHECK (id = 1),
                         epoch BIGINT NOT NULL);
                     INSERT INTO authstore_cache_epoch (id, epoch) VALUES (1, 0)
                         ON CONFLICT (id) DO NOTHING;",
                )
                .execute(pool)
            },
        )
        .await?;
        Ok(())
    }

    /// The current cache epoch.
    pub(crate) async fn cache_epoch(&self) -> Result<i64> {
        let pool = &self.pool;
        self.run(
            || "read the cache epoch".to_string(),
            move || {
                sqlx::query_scalar::<_, i64>(
                    "SELECT coalesce(max(epoch), 0) FROM authstore_cache_epoch",
                )
                .fetch_one(pool)
            },
        )
        .await
    }

    /// Raises the cache epoch by one and returns the new value.
    pub(crate) async fn bump_cache_epoch(&self) -> Result<i64> {
        let pool = &self.pool;
        self.run(
            || "raise the cache epoch".to_string(),
            move || {
                sqlx::query_scalar::<_, i64>(
                    "INSERT INTO authstore_cache_epoch (id, epoch) VALUES (1, 1) \
                     ON CONFLICT (id) DO UPDATE SET epoch = authstore_cache_epoch.epoch + 1 \
                     RETURNING epoch",
                )
                .fetch_one(pool)
            },
        )
        .await
    }
}

/// Decodes a JSON record read back from the database; `what` names it in the error.
fn decode<T: DeserializeOwned>(text: &str, what: impl FnOnce() -> String) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|err| StorageError::serialization(format!("decoding {}", what()), err))
}

impl fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStorage")
            .field("pool_size", &self.pool.size())
            .field("pool_idle", &self.pool.num_idle())
            .field("pool_closed", &self.pool.is_closed())
            .field("timing", &self.timing)
            .field("operation_timeout", &self.operation_timeout)
            .finish()
    }
}

#[async_trait]
impl AuthStorage for PostgresStorage {
    async fn store_token(&self, token: &AuthToken) -> Result<()> {
        self.put_token(token, false).await
    }

    async fn get_token(&self, token_id: &str) -> Result<Option<AuthToken>> {
        validate::id("token id", token_id)?;
        let pool = &self.pool;
        let text = self
            .run(
                || format!("get_token({token_id:?})"),
                move || {
                    sqlx::query_scalar::<_, String>(queries::GET_TOKEN)
                        .bind(token_id)
                        .fetch_optional(pool)
                },
            )
            .await?;
        text.map(|text| decode(&text, || format!("the token {token_id:?}")))
            .transpose()
    }

    async fn get_token_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>> {
        validate::secret("access token", access_token)?;
        let digest = access_token_digest(access_token);
        let (pool, digest) = (&self.pool, digest.as_slice());
        let text = self
            .run(
                || "get_token_by_access_token".to_string(),
                move || {
                    sqlx::query_scalar::<_, String>(queries::GET_TOKEN_BY_ACCESS)
                        .bind(digest)
                        .fetch_optional(pool)
                },
            )
            .await?;
        let Some(text) = text else {
            return Ok(None);
        };
        let token: AuthToken = decode(&text, || "the token found by access token".to_string())?;
        // The digest matched; the record's own access token decides (ACC-1, ACC-4).
        Ok((token.access_token == access_token).then_some(token))
    }

    async fn update_token(&self, token: &AuthToken) -> Result<()> {
        self.put_token(token, true).await
    }

    async fn delete_token(&self, token_id: &str) -> Result<()> {
        validate::id("token id", token_id)?;
        let pool = &self.pool;
        self.run(
            || format!("delete_token({token_id:?})"),
            move || {
                sqlx::query(queries::DELETE_TOKEN)
                    .bind(token_id)
                    .execute(pool)
            },
        )
        .await?;
        Ok(())
    }

    async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<AuthToken>> {
        validate::id("user id", user_id)?;
        let pool = &self.pool;
        let texts = self
            .run(
                || format!("list_user_tokens({user_id:?})"),
                move || {
                    sqlx::query_scalar::<_, String>(queries::LIST_USER_TOKENS)
                        .bind(user_id)
                        .fetch_all(pool)
                },
            )
            .await?;
        texts
            .iter()
            .map(|text| decode(text, || format!("a token of user {user_id:?}")))
            .collect()
    }

    async fn store_session(&self, session_id: &str, data: &SessionData) -> Result<()> {
        validate::session(session_id, data)?;
        let record = serde_json::to_string(data)?;
        let (pool, record) = (&self.pool, record.as_str());
        self.run(
            || format!("store_session({session_id:?})"),
            move || {
                sqlx::query(queries::STORE_SESSION)
                    .bind(session_id)
                    .bind(data.user_id.as_str())
                    .bind(data.expires_at)
                    .bind(record)
                    .execute(pool)
            },
        )
        .await?;
        Ok(())
    }

    async fn get_session(&self, session_id: &str) -> Result<Option<SessionData>> {
        validate::id("session id", session_id)?;
        let pool = &self.pool;
        let text = self
            .run(
                || format!("get_session({session_id:?})"),
                move || {
                    sqlx::query_scalar::<_, String>(queries::GET_SESSION)
                        .bind(session_id)
                        .fetch_optional(pool)
                },
            )
            .await?;
        text.map(|text| decode(&text, || format!("the session {session_id:?}")))
            .transpose()
    }

    async fn delete_session(&self, session_id: &str) -> Result<()> {
        validate::id("session id", session_id)?;
        let pool = &self.pool;
        self.run(
            || format!("delete_session({session_id:?})"),
            move || {
                sqlx::query(queries::DELETE_SESSION)
                    .bind(session_id)
                    .execute(pool)
            },
        )
        .await?;
        Ok(())
    }

    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionData>> {
        validate::id("user id", user_id)?;
        let pool = &self.pool;
        let texts = self
            .run(
                || format!("list_user_sessions({user_id:?})"),
                move || {
                    sqlx::query_scalar::<_, String>(queries::LIST_USER_SESSIONS)
                        .bind(user_id)
                        .fetch_all(pool)
                },
            )
            .await?;
        texts
            .iter()
            .map(|text| decode(text, || format!("a session of user {user_id:?}")))
            .collect()
    }

    async fn count_active_sessions(&self) -> Result<u64> {
        let pool = &self.pool;
        let count = self
            .run(
                || "count_active_sessions".to_string(),
                move || {
                    sqlx::query_scalar::<_, i64>(queries::COUNT_ACTIVE_SESSIONS).fetch_one(pool)
                },
            )
            .await?;
        // count(*) is never negative.
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn store_kv(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        validate::key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(StorageError::InvalidInput(format!(
                "kv value for key {key:?} is {} bytes; the limit is {MAX_VALUE_BYTES} bytes",
                value.len()
            )));
        }
        let (pool, ttl) = (&self.pool, queries::kv_ttl(ttl));
        self.run(
            || format!("store_kv({key:?})"),
            move || {
                sqlx::query(queries::STORE_KV)
                    .bind(key)
                    .bind(value)
                    .bind(ttl)
                    .execute(pool)
            },
        )
        .await?;
        Ok(())
    }

    async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
        validate::key(key)?;
        let pool = &self.pool;
        self.run(
            || format!("get_kv({key:?})"),
            move || {
                sqlx::query_scalar::<_, Vec<u8>>(queries::GET_KV)
                    .bind(key)
                    .fetch_optional(pool)
            },
        )
        .await
    }

    async fn delete_kv(&self, key: &str) -> Result<()> {
        validate::key(key)?;
        let pool = &self.pool;
        self.run(
            || format!("delete_kv({key:?})"),
            move || sqlx::query(queries::DELETE_KV).bind(key).execute(pool),
        )
        .await?;
        Ok(())
    }

    async fn list_kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        validate::prefix(prefix)?;
        let bound = queries::prefix_upper_bound(prefix);
        let (pool, bound) = (&self.pool, bound.as_deref());
        self.run(
            || format!("list_kv_keys({prefix:?})"),
            move || {
                let query = match bound {
                    Some(bound) => sqlx::query_scalar::<_, String>(queries::LIST_KV_KEYS_RANGE)
                        .bind(prefix)
                        .bind(bound),
                    None => {
                        sqlx::query_scalar::<_, String>(queries::LIST_KV_KEYS_FROM).bind(prefix)
                    }
                };
                query.fetch_all(pool)
            },
        )
        .await
    }

    async fn cleanup_expired(&self) -> Result<()> {
        let pool = &self.pool;
        self.run(
            || "cleanup_expired".to_string(),
            move || sqlx::query(queries::CLEANUP_EXPIRED).execute(pool),
        )
        .await?;
        Ok(())
    }
}
