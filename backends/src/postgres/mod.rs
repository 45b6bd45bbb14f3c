//! [`PostgresStorage`]: the PostgreSQL backend, over a tokio-postgres pool
//! (`native.rs`, the recommended path) or a sqlx [`PgPool`] the application built,
//! both behind one interface (`client.rs`).

mod client;
mod error;
mod native;
mod queries;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use authstore_spec::{
    AuthStorage, AuthToken, Result, SessionData, StorageError, TimingProfile, async_trait, validate,
};
use serde::de::DeserializeOwned;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool};
use tokio_postgres::types::FromSqlOwned;

use self::client::{Client, DriverError, Param};
use self::native::Native;
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
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// // Recommended: tokio-postgres connections in a deadpool-postgres pool.
/// let storage = PostgresStorage::connect("postgres://user:pass@localhost/auth_db").await?;
/// storage.migrate().await?; // creates the tables if they do not exist
/// # Ok(())
/// # }
/// ```
///
/// # Two clients, one behaviour
/// - [`connect`](Self::connect), [`connect_with`](Self::connect_with) and
///   [`from_deadpool`](Self::from_deadpool) run every method on **tokio-postgres**
///   connections pooled by deadpool-postgres: a connection is lent without a round trip
///   (fast recycling: only connections found closed are dropped), each statement is
///   prepared once per connection with explicit parameter types, and parameters and
///   results travel in binary. The recommended path: point reads measured 6-8x faster
///   than over the sqlx pool (benches/PROFILE.md).
/// - [`new`](Self::new) runs them on the application's sqlx [`PgPool`], as before.
///   sqlx's pool pings a connection before lending it and again when it is returned,
///   three round trips per statement where one suffices.
///
/// Both paths send the same SQL, map errors by the same rules, apply the same retries
/// and timeouts, and migrate the same schema (the sqlx migrations embedded in the crate;
/// the tokio-postgres path applies them itself and records them in `_sqlx_migrations`
/// as sqlx does, under sqlx's advisory lock). Storages of either path are handles on the
/// same data.
///
/// # TLS
/// Without TLS, tokens, session data and kv values cross the network in the clear.
/// - [`connect`](Self::connect) and [`connect_with`](Self::connect_with) connect
///   without TLS, and refuse with [`StorageError::InvalidInput`] a URL or configuration
///   asking for it (`sslmode=require`, `verify-ca`, `verify-full`) rather than connect
///   in plaintext. `sslmode=prefer` (tokio-postgres's default) asks for nothing and gets
///   plaintext. For TLS on this path, build a `deadpool_postgres::Pool` with a TLS
///   connector (e.g. tokio-postgres-rustls) and pass it to
///   [`from_deadpool`](Self::from_deadpool).
/// - The sqlx path builds sqlx with rustls; ask for it in the URL the pool is built
///   from: `postgres://user:pass@db.example/auth_db?sslmode=verify-full&sslrootcert=/etc/authstore/ca.pem`
///   checks the server's certificate chain and host name (without `sslrootcert`, against
///   the system's root certificates). `sslmode=require` encrypts but accepts any
///   certificate; sqlx's default, `prefer`, silently falls back to plaintext.
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
/// Pool timeouts, closed pools, refused or lost connections and server shutdown or
/// overload are [`StorageError::Unavailable`]; a unique violation is
/// [`StorageError::Conflict`]; anything else the server reports is
/// [`StorageError::Backend`], with the client's error (sqlx's or tokio-postgres's) as
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
    client: Client,
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

    /// Connections opened by [`connect`](Self::connect) at most: sqlx's default.
    pub const DEFAULT_POOL_SIZE: usize = native::DEFAULT_POOL_SIZE;

    /// A storage over the application's sqlx `pool` (see the type's docs for the faster
    /// [`connect`](Self::connect)). Call [`migrate`](Self::migrate) once before use
    /// (from any number of processes).
    pub fn new(pool: PgPool) -> Self {
        Self::over(Client::Sqlx(pool))
    }

    /// A storage on tokio-postgres connections (up to [`Self::DEFAULT_POOL_SIZE`]) to the
    /// server at `url` (`postgres://user:pass@host:port/db?options=...`, or libpq's
    /// `key=value` form), one of them opened now to check the URL and the server. A URL
    /// asking for TLS is refused (see the type's TLS section). Errors:
    /// [`StorageError::InvalidInput`] for a URL that cannot be used, else as the
    /// methods'. Call [`migrate`](Self::migrate) once before use.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(native::parse_url(url)?, Self::DEFAULT_POOL_SIZE).await
    }

    /// As [`connect`](Self::connect), from a `tokio_postgres::Config`, with up to
    /// `pool_size` connections (at least one). A configuration requiring TLS is refused.
    pub async fn connect_with(config: tokio_postgres::Config, pool_size: usize) -> Result<Self> {
        let storage = Self::over(Client::Native(Native::build(config, pool_size)?));
        let client = &storage.client;
        storage
            .run(|| "connect".to_string(), move || client.check())
            .await?;
        Ok(storage)
    }

    /// A storage on a deadpool-postgres `pool` the application built: its own size,
    /// timeouts, hooks and TLS connector. Use `RecyclingMethod::Fast` (deadpool's
    /// default): the others add a round trip per call. Opens nothing until first used.
    pub fn from_deadpool(pool: deadpool_postgres::Pool) -> Self {
        Self::over(Client::Native(Native::from_pool(pool)))
    }

    /// A storage over `client` with the default settings.
    fn over(client: Client) -> Self {
        Self {
            client,
            timing: Self::TIMING,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
        }
    }

    /// Closes the pool: idle connections now, lent ones when given back; calls made
    /// afterwards fail with [`StorageError::Unavailable`]. Clones share the pool.
    pub async fn close(&self) {
        self.client.close().await;
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
    ///
    /// On the tokio-postgres path the same migrations are applied by this crate, with the
    /// same lock and the same `_sqlx_migrations` records (see the type's docs).
    pub async fn migrate(&self) -> Result<()> {
        self.client.migrate(&MIGRATOR).await
    }

    /// Runs one statement: `attempt` again (bounded) while the server rolls it back for
    /// a deadlock or serialization failure, the whole under the operation timeout, and
    /// maps any error. `op` describes the call for error messages.
    async fn run<T, F, Fut>(&self, op: impl Fn() -> String, attempt: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = std::result::Result<T, DriverError>>,
    {
        let work = async {
            let mut tries = 1;
            loop {
                match attempt().await {
                    Ok(value) => return Ok(value),
                    Err(err) if tries < MAX_ATTEMPTS && err.is_retryable() => {
                        tokio::time::sleep(Duration::from_millis(2 << tries)).await;
                        tries += 1;
                    }
                    Err(err) => return Err(err.into_storage(&op())),
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

    /// Runs the statement `sql` (see [`run`](Self::run)); the number of rows it affected.
    async fn execute(
        &self,
        op: impl Fn() -> String,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<u64> {
        let client = &self.client;
        self.run(op, move || client.execute(sql, params)).await
    }

    /// The first column of the row the query `sql` returns, if any.
    async fn opt<T>(
        &self,
        op: impl Fn() -> String,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<Option<T>>
    where
        T: FromSqlOwned + Send + Unpin,
        (T,): for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let client = &self.client;
        self.run(op, move || client.opt(sql, params)).await
    }

    /// The first column of every row the query `sql` returns.
    async fn all<T>(
        &self,
        op: impl Fn() -> String,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<Vec<T>>
    where
        T: FromSqlOwned + Send + Unpin,
        (T,): for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let client = &self.client;
        self.run(op, move || client.all(sql, params)).await
    }

    /// The one `bigint` the parameterless query `sql` returns.
    async fn scalar_i64(&self, op: impl Fn() -> String, sql: &'static str) -> Result<i64> {
        let client = &self.client;
        self.run(op, move || client.one(sql, &[])).await
    }

    /// Upserts a token (`must_exist`: only a live one, else `NotFound`).
    async fn put_token(&self, token: &AuthToken, must_exist: bool) -> Result<()> {
        validate::token(token)?;
        let record = serde_json::to_string(token)?;
        let digest = access_token_digest(&token.access_token);
        let (sql, name) = if must_exist {
            (queries::UPDATE_TOKEN, "update_token")
        } else {
            (queries::STORE_TOKEN, "store_token")
        };
        let id = token.token_id.as_str();
        let params = [
            Param::Text(id),
            Param::Text(&token.user_id),
            Param::Bytes(&digest),
            Param::Instant(token.expires_at),
            Param::Text(&record),
        ];
        let holder = [Param::Bytes(&digest), Param::Text(id)];
        let (params, holder, client) = (&params, &holder, &self.client);
        // `ON CONFLICT (token_id)` arbitrates the id only: when two writers insert the
        // same absent id at once, the loser can trip the unique index on the access
        // digest (holding the winner's entry) before it sees the id taken. That is no
        // conflict (ACC-2 needs *another* live holder): ask who holds the digest, and
        // write again if it is this id or nobody live. Each resend follows a committed
        // rival write, so it ends; the operation timeout bounds it anyway. The happy
        // path stays one statement.
        let written = self
            .run(
                || format!("{name}({id:?})"),
                move || async move {
                    loop {
                        match client.execute(sql, params).await {
                            Err(err) if err.is_access_digest_violation() => {
                                let other: Option<String> = client
                                    .opt(queries::OTHER_LIVE_DIGEST_HOLDER, holder)
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
        if must_exist && written == 0 {
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
        const SQL: &str = "SELECT value, expires_at FROM kv_store \
                           WHERE key = $1 AND (expires_at IS NULL OR expires_at > now())";
        let (client, params) = (&self.client, &[Param::Text(key)]);
        self.run(
            || format!("get_kv({key:?})"),
            move || client.opt_pair(SQL, params),
        )
        .await
    }

    /// Creates the cache-epoch table (`authstore_cache_epoch`, one row) if missing.
    /// Idempotent and safe from concurrent callers: one implicit transaction under a
    /// transaction-level advisory lock.
    pub(crate) async fn migrate_cache_epoch(&self) -> Result<()> {
        const SQL: &str = "SELECT pg_advisory_xact_lock(7269541);
                     CREATE TABLE IF NOT EXISTS authstore_cache_epoch (
                         id SMALLINT PRIMARY KEY CHECK (id = 1),
                         epoch BIGINT NOT NULL);
                     INSERT INTO authstore_cache_epoch (id, epoch) VALUES (1, 0)
                         ON CONFLICT (id) DO NOTHING;";
        let client = &self.client;
        self.run(
            || "migrate (cache epoch)".to_string(),
            move || client.batch(SQL),
        )
        .await
    }

    /// The current cache epoch.
    pub(crate) async fn cache_epoch(&self) -> Result<i64> {
        self.scalar_i64(
            || "read the cache epoch".to_string(),
            "SELECT coalesce(max(epoch), 0) FROM authstore_cache_epoch",
        )
        .await
    }

    /// Raises the cache epoch by one and returns the new value.
    pub(crate) async fn bump_cache_epoch(&self) -> Result<i64> {
        self.scalar_i64(
            || "raise the cache epoch".to_string(),
            "INSERT INTO authstore_cache_epoch (id, epoch) VALUES (1, 1) \
             ON CONFLICT (id) DO UPDATE SET epoch = authstore_cache_epoch.epoch + 1 \
             RETURNING epoch",
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
        let mut out = f.debug_struct("PostgresStorage");
        self.client.describe(&mut out);
        out.field("timing", &self.timing)
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
        let text: Option<String> = self
            .opt(
                || format!("get_token({token_id:?})"),
                queries::GET_TOKEN,
                &[Param::Text(token_id)],
            )
            .await?;
        text.map(|text| decode(&text, || format!("the token {token_id:?}")))
            .transpose()
    }

    async fn get_token_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>> {
        validate::secret("access token", access_token)?;
        let digest = access_token_digest(access_token);
        let text: Option<String> = self
            .opt(
                || "get_token_by_access_token".to_string(),
                queries::GET_TOKEN_BY_ACCESS,
                &[Param::Bytes(&digest)],
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
        self.execute(
            || format!("delete_token({token_id:?})"),
            queries::DELETE_TOKEN,
            &[Param::Text(token_id)],
        )
        .await?;
        Ok(())
    }

    async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<AuthToken>> {
        validate::id("user id", user_id)?;
        let texts: Vec<String> = self
            .all(
                || format!("list_user_tokens({user_id:?})"),
                queries::LIST_USER_TOKENS,
                &[Param::Text(user_id)],
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
        self.execute(
            || format!("store_session({session_id:?})"),
            queries::STORE_SESSION,
            &[
                Param::Text(session_id),
                Param::Text(&data.user_id),
                Param::Instant(data.expires_at),
                Param::Text(&record),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_session(&self, session_id: &str) -> Result<Option<SessionData>> {
        validate::id("session id", session_id)?;
        let text: Option<String> = self
            .opt(
                || format!("get_session({session_id:?})"),
                queries::GET_SESSION,
                &[Param::Text(session_id)],
            )
            .await?;
        text.map(|text| decode(&text, || format!("the session {session_id:?}")))
            .transpose()
    }

    async fn delete_session(&self, session_id: &str) -> Result<()> {
        validate::id("session id", session_id)?;
        self.execute(
            || format!("delete_session({session_id:?})"),
            queries::DELETE_SESSION,
            &[Param::Text(session_id)],
        )
        .await?;
        Ok(())
    }

    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionData>> {
        validate::id("user id", user_id)?;
        let texts: Vec<String> = self
            .all(
                || format!("list_user_sessions({user_id:?})"),
                queries::LIST_USER_SESSIONS,
                &[Param::Text(user_id)],
            )
            .await?;
        texts
            .iter()
            .map(|text| decode(text, || format!("a session of user {user_id:?}")))
            .collect()
    }

    async fn count_active_sessions(&self) -> Result<u64> {
        let count = self
            .scalar_i64(
                || "count_active_sessions".to_string(),
                queries::COUNT_ACTIVE_SESSIONS,
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
        self.execute(
            || format!("store_kv({key:?})"),
            queries::STORE_KV,
            &[
                Param::Text(key),
                Param::Bytes(value),
                Param::Interval(queries::kv_ttl(ttl)),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
        validate::key(key)?;
        self.opt(
            || format!("get_kv({key:?})"),
            queries::GET_KV,
            &[Param::Text(key)],
        )
        .await
    }

    async fn delete_kv(&self, key: &str) -> Result<()> {
        validate::key(key)?;
        self.execute(
            || format!("delete_kv({key:?})"),
            queries::DELETE_KV,
            &[Param::Text(key)],
        )
        .await?;
        Ok(())
    }

    async fn list_kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        validate::prefix(prefix)?;
        let bound = queries::prefix_upper_bound(prefix);
        let op = || format!("list_kv_keys({prefix:?})");
        match bound.as_deref() {
            Some(bound) => {
                let params = [Param::Text(prefix), Param::Text(bound)];
                self.all(op, queries::LIST_KV_KEYS_RANGE, &params).await
            }
            None => {
                self.all(op, queries::LIST_KV_KEYS_FROM, &[Param::Text(prefix)])
                    .await
            }
        }
    }

    async fn cleanup_expired(&self) -> Result<()> {
        self.execute(
            || "cleanup_expired".to_string(),
            queries::CLEANUP_EXPIRED,
            &[],
        )
        .await?;
        Ok(())
    }
}
