//! [`MySqlStorage`]: tokens, sessions and kv entries in MySQL 8 or MariaDB tables,
//! through a `sqlx` pool.
//!
//! The schema is `backends/migrations/mysql`; the statements are in `queries`; the one
//! error mapping is `error::map_err`.

mod error;
mod queries;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use authstore_spec::time::NO_EXPIRY_THRESHOLD;
use authstore_spec::{
    AuthStorage, AuthToken, Result, SessionData, StorageError, TimingProfile, async_trait, validate,
};
use serde::de::DeserializeOwned;
use sqlx::MySqlPool;
use sqlx::migrate::MigrateError;
use sqlx::mysql::MySqlQueryResult;
use tokio::sync::OnceCell;

use self::error::{Duplicate, duplicate_key, map_err, retry_transient};
use crate::sql::access_token_digest;

/// Bytes of a kv write's packet that are not the value: command, statement id, flags,
/// parameter types, the key (at most 512 bytes) and the TTL, with room to spare.
const PACKET_OVERHEAD: usize = 1024;

/// How long `migrate` waits for another process's migration to finish.
const MIGRATION_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// How many statements one token write may take while concurrent writers keep
/// changing the rows under it. A step repeats only after someone else's write succeeded
/// in between (an insert of the same id, a taking of the same expired holder's access
/// token), and some repeats wait a little longer each time ([`error::backoff`]), so this
/// is reached only under a sustained storm of writers of the same id or access token.
const TOKEN_WRITE_STEPS: u32 = 64;

/// [`AuthStorage`] on MySQL 8 or MariaDB (tested on MariaDB 10.11), over a pool you build.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use authstore_backends::MySqlStorage;
///
/// let pool = sqlx::MySqlPool::connect("mysql://user:pass@localhost/auth_db").await?;
/// let storage = MySqlStorage::new(pool);
/// storage.migrate().await?; // creates the tables if they do not exist
/// # Ok(())
/// # }
/// ```
///
/// # TLS
/// Without TLS, tokens, session data and kv values cross the network in the clear. The
/// `mysql-storage` feature builds sqlx with rustls; ask for it in the URL the pool is
/// built from: `mysql://user:pass@db.example/auth_db?ssl-mode=VERIFY_IDENTITY&ssl-ca=/etc/authstore/ca.pem`
/// checks the server's certificate chain and host name (without `ssl-ca`, against the
/// system's root certificates). `ssl-mode=REQUIRED` encrypts but accepts any
/// certificate; the default, `PREFERRED`, silently falls back to plaintext.
///
/// # Tables
/// `migrate()` creates `auth_tokens`, `sessions` and `kv_store` (and
/// `_authstore_migrations`, its bookkeeping). Ids, user ids and keys are `VARBINARY`, so
/// they compare byte for byte: case, accents, Unicode composition and trailing spaces
/// all count (`VAL-1`, `VAL-2`; a `utf8mb4_bin` column would not do, it ignores trailing
/// spaces on MariaDB). A token or session is stored whole, as its JSON, next to the
/// columns that index it (user id, expiry instant, and for tokens the SHA-256 of the
/// access token under a unique index).
///
/// # Backend documentation (SPEC.md)
/// - **Clock** (`TIME-3`): the database server's. Every expiry comparison is
///   `expires_at > UTC_TIMESTAMP(6)` in the statement, and a kv TTL becomes
///   `UTC_TIMESTAMP(6) + ttl` in the statement that stores it, so several application
///   nodes agree whatever their own clocks say. Token and session expiry instants are
///   absolute and stored as given. Instants are `DATETIME(6)` in UTC: granularity
///   1 µs (TTLs are rounded up to whole microseconds), independent of the session
///   `time_zone`. The declared clock skew between application and server is 50 ms by
///   default ([`MySqlStorage::TIMING`]); set yours with [`with_clock_skew`](Self::with_clock_skew).
/// - **Default TTL** (`TTL-2`): none; a kv entry stored with `ttl: None`, or with a TTL
///   of 100 years or more, never expires. `Some(Duration::ZERO)` deletes the key.
/// - **Value limit** (`KV-5`): a value must fit in one packet: the server's
///   `max_allowed_packet` minus 1 KiB ([`max_value_bytes`](Self::max_value_bytes)); larger
///   values are rejected with [`StorageError::InvalidInput`] before anything is sent.
///   The spec's 1 MiB values need `max_allowed_packet` of at least 1 MiB + 1 KiB (the
///   defaults are 64 MiB on MySQL 8 and 16 MiB on MariaDB 10.11). The limit is read
///   once per storage (and its clones) and cached.
/// - **What the tables show**: everything, in the clear: ids, user ids, kv keys and
///   values, expiry instants, and each token's and session's record (its JSON). The
///   access-token column and its unique index hold only a SHA-256 digest (`ACC-5`),
///   but a token's record holds the whole token, access and refresh tokens included,
///   because `get_token` must return them; wrap the storage in
///   [`EncryptedStorage`](crate::EncryptedStorage) to keep secrets out of the database.
///
/// # Statements per method
/// Each method validates its arguments first (SPEC.md section 10) and then sends one
/// autocommitted statement, except where noted:
/// - `store_token` is one `INSERT ... ON DUPLICATE KEY UPDATE` whose assignments are
///   guarded. The table has two unique keys (the id, and the access digest), and a
///   plain upsert that clashes on the digest of *another* token would write this token
///   into that token's row: silent aliasing. So each assignment applies only if the row
///   it hit is this id's (overwritten, live or expired) or has expired (an expired
///   holder of the access token is taken over, id included, as if deleted first:
///   `ACC-3`); a live holder of another id is left untouched and the statement marks it
///   in `LAST_INSERT_ID`, which becomes `Conflict` (`ACC-2`). Every case is one
///   statement, except a re-store of an existing id with an access token held by
///   another row: that fails on the digest index as an `UPDATE` would, and is
///   `Conflict`, or, if the holder is expired, a `DELETE` of it and the upsert again.
///   `update_token` is one `UPDATE ... WHERE token_id = ? AND expires_at > now`; no
///   matched row is `NotFound` (sqlx connects with `CLIENT_FOUND_ROWS`, so a row
///   rewritten with identical values still counts as matched), a clash on the digest
///   index `Conflict`, or the same `DELETE` of an expired holder and the write again.
///   No write needs a transaction: every statement is atomic alone, and one that loses
///   a deadlock or lock wait is retried (up to 8 tries, jittered backoff); a token
///   write that keeps meeting concurrent writers of the same id gives up after 64
///   statements with `Unavailable`. With `binlog_format=STATEMENT` the server warns
///   that an upsert on a table with two unique keys is unsafe to replicate by
///   statement; `ROW` or `MIXED` (the defaults) log it by row.
/// - `store_session` and `store_kv` are one `INSERT ... ON DUPLICATE KEY UPDATE
///   col = VALUES(col)` each (their tables have no second unique index). MySQL 8.0.20+
///   accepts `VALUES()` there with a deprecation warning; its replacement, the row
///   alias, does not exist in MariaDB.
/// - `count_active_sessions` is an index-only range scan of the live part of the
///   expiry index: it reads no session row, but its cost grows with the number of live
///   sessions (`CNT-3`).
/// - `list_kv_keys` is a primary-key range scan from the prefix to its successor; it
///   also passes over expired keys in that range that cleanup has not removed yet
///   (`LST-7`).
/// - `cleanup_expired` sends three `DELETE`s (one per table, each a range scan of the
///   expiry index) in one round trip.
///
/// # Cleanup (`CLN-3`)
/// Expired rows are invisible at once but stay until [`cleanup_expired`](AuthStorage::cleanup_expired)
/// (or a write to the same id or key) removes them; schedule it on one node, e.g. every
/// few minutes. One call deletes every expired row in one transaction per table.
///
/// # Time limits (`GEN-2`)
/// Every method gives up after the operation timeout (30 s unless set with
/// [`with_operation_timeout`](Self::with_operation_timeout)) with
/// [`StorageError::Unavailable`]; waiting for a connection is also bounded by the pool's
/// own acquire timeout. A write that timed out may still have been applied.
///
/// Clones share the pool and are cheap; a clone is the same handle, a storage over a
/// second pool on the same database is a second handle.
#[derive(Clone)]
pub struct MySqlStorage {
    pool: MySqlPool,
    clock_skew: Duration,
    operation_timeout: Duration,
    /// The kv value limit, read from the server on first use.
    value_limit: Arc<OnceCell<usize>>,
}

impl fmt::Debug for MySqlStorage {
    // The pool's state only: never connection options, which hold the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySqlStorage")
            .field("pool_size", &self.pool.size())
            .field("pool_idle", &self.pool.num_idle())
            .field("pool_closed", &self.pool.is_closed())
            .field("clock_skew", &self.clock_skew)
            .field("operation_timeout", &self.operation_timeout)
            .field("value_limit", &self.value_limit.get())
            .finish()
    }
}

impl MySqlStorage {
    /// The default timing profile (SPEC.md `TIME-3`): the server's clock at 1 µs
    /// granularity, with up to 50 ms of skew against the application's clock.
    pub const TIMING: TimingProfile =
        TimingProfile::new(Duration::from_micros(1), Duration::from_millis(50));

    /// How long a method may take by default before it fails with
    /// [`StorageError::Unavailable`].
    pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

    /// A storage over `pool`, whose database must be migrated (see
    /// [`migrate`](Self::migrate)). The pool's connect options are used as they are;
    /// nothing here depends on the session `time_zone` or character set.
    pub fn new(pool: MySqlPool) -> Self {
        Self {
            pool,
            clock_skew: Self::TIMING.clock_skew,
            operation_timeout: Self::DEFAULT_OPERATION_TIMEOUT,
            value_limit: Arc::new(OnceCell::new()),
        }
    }

    /// This storage declaring `skew` as the largest difference between the server's
    /// clock and the application's, for [`timing`](Self::timing).
    pub fn with_clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    /// This storage giving up on any method after `timeout`.
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// This storage's timing profile: 1 µs granularity and the configured clock skew.
    pub fn timing(&self) -> TimingProfile {
        TimingProfile::new(Self::TIMING.granularity, self.clock_skew)
    }

    /// Creates the tables and indexes if they do not exist (sqlx migrations embedded in
    /// the crate, recorded in `_authstore_migrations`).
    ///
    /// Safe to call at every start, from several processes at once: it holds a named
    /// lock (`GET_LOCK`, named after the database) while the migrations run, so one
    /// process applies them and the others wait, then find them applied; the statements
    /// themselves are `CREATE TABLE IF NOT EXISTS`. (sqlx's own migration lock is
    /// `GET_LOCK(name, -1)`, which MariaDB refuses, so it does nothing there; this lock
    /// replaces it.) It waits up to 60 s for another process's migration, then fails with
    /// [`StorageError::Unavailable`]; it is not bounded by the operation timeout.
    pub async fn migrate(&self) -> Result<()> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|err| map_err("migrate", err))?;
        let locked: Option<i64> = sqlx::query_scalar(queries::LOCK_MIGRATIONS)
            .bind(MIGRATION_LOCK_TIMEOUT.as_secs())
            .fetch_one(&mut *conn)
            .await
            .map_err(|err| map_err("migrate", err))?;
        if locked != Some(1) {
            return Err(StorageError::Unavailable {
                message: format!(
                    "migrate: another process held the migration lock of this database for \
                     {MIGRATION_LOCK_TIMEOUT:?}"
                ),
                source: None,
            });
        }
        let mut migrator = sqlx::migrate!("migrations/mysql");
        migrator.dangerous_set_table_name(queries::MIGRATIONS_TABLE);
        migrator.set_locking(false);
        // `run_direct` is what `Migrator::run` does once it has a connection; `run`'s
        // `Acquire` bound would make this future "not general enough" to be `Send`, so
        // `migrate()` could not be called inside `tokio::spawn`.
        let migrated = migrator.run_direct(None, &mut *conn, false).await;
        let unlocked = sqlx::query(queries::UNLOCK_MIGRATIONS)
            .execute(&mut *conn)
            .await;
        if migrated.is_err() || unlocked.is_err() {
            // The lock lives as long as the session, and a failed migration may leave
            // the session mid-transaction: close it rather than return it to the pool.
            let _closed = conn.close().await;
        }
        match migrated {
            Ok(()) => unlocked.map(drop).map_err(|err| map_err("migrate", err)),
            Err(MigrateError::Execute(err) | MigrateError::ExecuteMigration(err, _)) => {
                Err(map_err("migrate", err))
            }
            Err(other) => Err(StorageError::backend(
                "migrate: the MySQL migrations failed",
                other,
            )),
        }
    }

    /// The largest kv value this storage accepts, in bytes: the server's
    /// `max_allowed_packet` minus 1 KiB for the rest of the statement. Read from the
    /// server on the first call (by this storage or a clone) and cached.
    pub async fn max_value_bytes(&self) -> Result<usize> {
        self.bounded("max_value_bytes", self.value_limit()).await
    }

    async fn value_limit(&self) -> Result<usize> {
        let limit = self
            .value_limit
            .get_or_try_init(|| async {
                let packet: i64 = retry_transient(|| {
                    sqlx::query_scalar(queries::MAX_ALLOWED_PACKET).fetch_one(&self.pool)
                })
                .await
                .map_err(|err| map_err("reading max_allowed_packet", err))?;
                let packet = usize::try_from(packet).unwrap_or(0);
                Ok::<_, StorageError>(packet.saturating_sub(PACKET_OVERHEAD))
            })
            .await?;
        Ok(*limit)
    }

    /// Runs `operation`, or fails with `Unavailable` once the operation timeout passes.
    async fn bounded<T>(
        &self,
        what: &str,
        operation: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.operation_timeout, operation).await {
            Ok(result) => result,
            Err(_) => Err(StorageError::Unavailable {
                message: format!(
                    "{what}: no answer from MySQL within the operation timeout of {:?}",
                    self.operation_timeout
                ),
                source: None,
            }),
        }
    }

    /// One autocommitted statement with deadlock retries.
    async fn execute(
        &self,
        what: &str,
        query: impl Fn() -> sqlx::query::Query<'static, sqlx::MySql, sqlx::mysql::MySqlArguments>,
    ) -> Result<MySqlQueryResult> {
        retry_transient(|| query().execute(&self.pool))
            .await
            .map_err(|err| map_err(what, err))
    }

    /// `store_token` (`must_be_live: false`) or `update_token` (`true`) of a validated
    /// token; see "Statements per method" on [`MySqlStorage`].
    async fn write_token(&self, token: &AuthToken, must_be_live: bool) -> Result<()> {
        let what = if must_be_live {
            "update_token"
        } else {
            "store_token"
        };
        let record = serde_json::to_vec(token)?;
        let digest = access_token_digest(&token.access_token);
        let id = token.token_id.as_bytes();
        let user = token.user_id.as_bytes();
        let expires_at = token.expires_at.naive_utc();
        let step = if must_be_live {
            Step::UpdateLive
        } else {
            Step::Upsert
        };
        let conflict = || {
            StorageError::Conflict(format!(
                "{what}: the access token of token {:?} is held by another live token",
                token.token_id
            ))
        };
        let mut restarts = 0;
        for _ in 0..TOKEN_WRITE_STEPS {
            let result = retry_transient(|| {
                let query = match step {
                    Step::Upsert => sqlx::query(queries::UPSERT_TOKEN)
                        .bind(id)
                        .bind(user)
                        .bind(digest.as_slice())
                        .bind(expires_at)
                        .bind(record.as_slice()),
                    Step::UpdateLive => sqlx::query(queries::UPDATE_LIVE_TOKEN)
                        .bind(user)
                        .bind(digest.as_slice())
                        .bind(expires_at)
                        .bind(record.as_slice())
                        .bind(id),
                };
                query.execute(&self.pool)
            })
            .await;
            match (step, result) {
                (Step::Upsert, Ok(done)) => {
                    return if done.last_insert_id() == queries::HELD_BY_LIVE_TOKEN {
                        Err(conflict())
                    } else {
                        Ok(())
                    };
                }
                (Step::UpdateLive, Ok(done)) if done.rows_affected() > 0 => return Ok(()),
                (Step::UpdateLive, Ok(_)) => {
                    return Err(StorageError::NotFound(format!(
                        "update_token: no live token with id {:?}",
                        token.token_id
                    )));
                }
                (step, Err(err)) => match duplicate_key(&err) {
                    // The upsert was taking over an expired holder of the access token
                    // (renaming it to this id) while a concurrent writer inserted this
                    // id: the id exists now, so the next upsert overwrites it. Pause a
                    // little longer each time, so a storm of writers lets it through.
                    Some(Duplicate::PrimaryKey) if step == Step::Upsert => {
                        restarts += 1;
                        error::backoff(restarts).await;
                    }
                    // This id's row exists and another row holds the new access token.
                    Some(Duplicate::AccessDigest) => {
                        if !self.free_expired_digest(what, &digest, id).await? {
                            return Err(conflict());
                        }
                    }
                    _ => return Err(map_err(what, err)),
                },
            }
        }
        Err(StorageError::Unavailable {
            message: format!(
                "{what}: token {:?} kept changing under {TOKEN_WRITE_STEPS} statements of \
                 concurrent writers; try again",
                token.token_id
            ),
            source: None,
        })
    }

    /// Deletes the holder of `digest` if it is an expired token other than `id`;
    /// whether there was one.
    async fn free_expired_digest(&self, what: &str, digest: &[u8], id: &[u8]) -> Result<bool> {
        let done = self
            .execute(what, || {
                sqlx::query(queries::DELETE_EXPIRED_DIGEST_HOLDER)
                    .bind(digest)
                    .bind(id)
            })
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The records `sql` selects with `key` bound, decoded.
    async fn fetch_records<T: DeserializeOwned>(
        &self,
        what: &str,
        sql: &'static str,
        key: &[u8],
    ) -> Result<Vec<T>> {
        let rows: Vec<Vec<u8>> =
            retry_transient(|| sqlx::query_scalar(sql).bind(key).fetch_all(&self.pool))
                .await
                .map_err(|err| map_err(what, err))?;
        rows.iter()
            .map(|record| serde_json::from_slice(record).map_err(StorageError::from))
            .collect()
    }

    /// The one record `sql` selects with `key` bound, decoded.
    async fn fetch_record<T: DeserializeOwned>(
        &self,
        what: &str,
        sql: &'static str,
        key: &[u8],
    ) -> Result<Option<T>> {
        let row: Option<Vec<u8>> =
            retry_transient(|| sqlx::query_scalar(sql).bind(key).fetch_optional(&self.pool))
                .await
                .map_err(|err| map_err(what, err))?;
        row.map(|record| serde_json::from_slice(&record).map_err(StorageError::from))
            .transpose()
    }
}

/// The statement a token write sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Insert or overwrite this id's row, live or not (`store_token`).
    Upsert,
    /// `UPDATE` the row with this id if it is live (`update_token`).
    UpdateLive,
}

/// The kv TTL as whole microseconds for the server to add to its clock, `None` for no
/// expiry (`TTL-2`, `TTL-4`). Zero is handled before (the key is deleted).
fn ttl_micros(ttl: Option<Duration>) -> Option<i64> {
    let ttl = ttl.filter(|ttl| *ttl < NO_EXPIRY_THRESHOLD)?;
    // Rounded up, so a TTL never ends early; under 100 years it fits in an i64.
    let micros = ttl.as_nanos().div_ceil(1000);
    Some(i64::try_from(micros).unwrap_or(i64::MAX))
}

#[async_trait]
impl AuthStorage for MySqlStorage {
    async fn store_token(&self, token: &AuthToken) -> Result<()> {
        validate::token(token)?;
        self.bounded("store_token", self.write_token(token, false))
            .await
    }

    async fn get_token(&self, token_id: &str) -> Result<Option<AuthToken>> {
        validate::id("token id", token_id)?;
        self.bounded(
            "get_token",
            self.fetch_record("get_token", queries::GET_TOKEN, token_id.as_bytes()),
        )
        .await
    }

    async fn get_token_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>> {
        validate::secret("access token", access_token)?;
        let digest = access_token_digest(access_token);
        let token: Option<AuthToken> = self
            .bounded(
                "get_token_by_access_token",
                self.fetch_record(
                    "get_token_by_access_token",
                    queries::GET_TOKEN_BY_DIGEST,
                    &digest,
                ),
            )
            .await?;
        // The digest found the row; the record must also hold this very token (ACC-4).
        Ok(token.filter(|token| token.access_token == access_token))
    }

    async fn update_token(&self, token: &AuthToken) -> Result<()> {
        validate::token(token)?;
        self.bounded("update_token", self.write_token(token, true))
            .await
    }

    async fn delete_token(&self, token_id: &str) -> Result<()> {
        validate::id("token id", token_id)?;
        let id = token_id.as_bytes();
        self.bounded(
            "delete_token",
            self.execute("delete_token", || {
                sqlx::query(queries::DELETE_TOKEN).bind(id)
            }),
        )
        .await
        .map(drop)
    }

    async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<AuthToken>> {
        validate::id("user id", user_id)?;
        self.bounded(
            "list_user_tokens",
            self.fetch_records(
                "list_user_tokens",
                queries::LIST_USER_TOKENS,
                user_id.as_bytes(),
            ),
        )
        .await
    }

    async fn store_session(&self, session_id: &str, data: &SessionData) -> Result<()> {
        validate::session(session_id, data)?;
        let record = serde_json::to_vec(data)?;
        let id = session_id.as_bytes();
        let user = data.user_id.as_bytes();
        let expires_at = data.expires_at.naive_utc();
        self.bounded(
            "store_session",
            self.execute("store_session", || {
                sqlx::query(queries::UPSERT_SESSION)
                    .bind(id)
                    .bind(user)
                    .bind(expires_at)
                    .bind(record.as_slice())
            }),
        )
        .await
        .map(drop)
    }

    async fn get_session(&self, session_id: &str) -> Result<Option<SessionData>> {
        validate::id("session id", session_id)?;
        self.bounded(
            "get_session",
            self.fetch_record("get_session", queries::GET_SESSION, session_id.as_bytes()),
        )
        .await
    }

    async fn delete_session(&self, session_id: &str) -> Result<()> {
        validate::id("session id", session_id)?;
        let id = session_id.as_bytes();
        self.bounded(
            "delete_session",
            self.execute("delete_session", || {
                sqlx::query(queries::DELETE_SESSION).bind(id)
            }),
        )
        .await
        .map(drop)
    }

    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionData>> {
        validate::id("user id", user_id)?;
        self.bounded(
            "list_user_sessions",
            self.fetch_records(
                "list_user_sessions",
                queries::LIST_USER_SESSIONS,
                user_id.as_bytes(),
            ),
        )
        .await
    }

    async fn count_active_sessions(&self) -> Result<u64> {
        let count: i64 = self
            .bounded("count_active_sessions", async {
                retry_transient(|| {
                    sqlx::query_scalar(queries::COUNT_ACTIVE_SESSIONS).fetch_one(&self.pool)
                })
                .await
                .map_err(|err| map_err("count_active_sessions", err))
            })
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn store_kv(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        validate::key(key)?;
        self.bounded("store_kv", async {
            let limit = self.value_limit().await?;
            if value.len() > limit {
                return Err(StorageError::InvalidInput(format!(
                    "kv value for key {key:?} is {} bytes; the limit is {limit} bytes \
                     (the MySQL server's max_allowed_packet minus {PACKET_OVERHEAD})",
                    value.len()
                )));
            }
            let key = key.as_bytes();
            if ttl == Some(Duration::ZERO) {
                // Already expired: the key is simply gone, old value included (TTL-3).
                return self
                    .execute("store_kv", || sqlx::query(queries::DELETE_KV).bind(key))
                    .await
                    .map(drop);
            }
            let micros = ttl_micros(ttl);
            self.execute("store_kv", || {
                sqlx::query(queries::UPSERT_KV)
                    .bind(key)
                    .bind(value)
                    .bind(micros)
            })
            .await
            .map(drop)
        })
        .await
    }

    async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
        validate::key(key)?;
        self.bounded("get_kv", async {
            retry_transient(|| {
                sqlx::query_scalar(queries::GET_KV)
                    .bind(key.as_bytes())
                    .fetch_optional(&self.pool)
            })
            .await
            .map_err(|err| map_err("get_kv", err))
        })
        .await
    }

    async fn delete_kv(&self, key: &str) -> Result<()> {
        validate::key(key)?;
        let key = key.as_bytes();
        self.bounded(
            "delete_kv",
            self.execute("delete_kv", || sqlx::query(queries::DELETE_KV).bind(key)),
        )
        .await
        .map(drop)
    }

    async fn list_kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        validate::prefix(prefix)?;
        let start = prefix.as_bytes();
        let end = queries::prefix_successor(prefix.as_bytes());
        let keys: Vec<Vec<u8>> = self
            .bounded("list_kv_keys", async {
                retry_transient(|| match &end {
                    Some(end) => sqlx::query_scalar(queries::LIST_KV_KEYS_BETWEEN)
                        .bind(start)
                        .bind(end.as_slice())
                        .fetch_all(&self.pool),
                    None => sqlx::query_scalar(queries::LIST_KV_KEYS_FROM)
                        .bind(start)
                        .fetch_all(&self.pool),
                })
                .await
                .map_err(|err| map_err("list_kv_keys", err))
            })
            .await?;
        keys.into_iter()
            .map(|key| {
                String::from_utf8(key).map_err(|err| {
                    StorageError::serialization("list_kv_keys: a stored key is not UTF-8", err)
                })
            })
            .collect()
    }

    async fn cleanup_expired(&self) -> Result<()> {
        self.bounded("cleanup_expired", async {
            retry_transient(|| sqlx::raw_sql(queries::CLEANUP_EXPIRED).execute(&self.pool))
                .await
                .map_err(|err| map_err("cleanup_expired", err))
        })
        .await
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_become_whole_microseconds_rounded_up() {
        assert_eq!(ttl_micros(None), None);
        assert_eq!(ttl_micros(Some(Duration::MAX)), None);
        assert_eq!(ttl_micros(Some(NO_EXPIRY_THRESHOLD)), None);
        assert_eq!(ttl_micros(Some(Duration::from_nanos(1))), Some(1));
        assert_eq!(ttl_micros(Some(Duration::from_nanos(1500))), Some(2));
        assert_eq!(ttl_micros(Some(Duration::from_secs(2))), Some(2_000_000));
        let just_under = NO_EXPIRY_THRESHOLD - Duration::from_nanos(1);
        assert!(ttl_micros(Some(just_under)).is_some_and(|m| m > 0));
    }
}
