//! The tokio-postgres path of [`PostgresStorage`](super::PostgresStorage): a
//! deadpool-postgres pool lending connections without a round trip (fast recycling),
//! statements prepared once per connection with explicit parameter types (those sqlx
//! sends, so the server plans the same statements), binary parameters and results.
//!
//! The schema still comes from the sqlx migrations alone: [`migrate`] applies the
//! embedded files itself and records them in `_sqlx_migrations` exactly as sqlx's
//! migrator does (same table, checksums and advisory lock), so either path can migrate a
//! database the other created, and both can run at once.

use std::error::Error as StdError;
use std::fmt;
use std::time::{Duration, Instant};

use authstore_spec::{Result, StorageError};
use bytes::{BufMut, BytesMut};
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, QueueMode, RecyclingMethod, Runtime,
};
use sqlx::migrate::Migrator;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSqlOwned, IsNull, ToSql, Type, accepts, to_sql_checked};
use tokio_postgres::{Config, NoTls, Statement};

use super::error::{ACCESS_DIGEST_INDEX, map_server_error};

/// Connections of a pool built by [`super::PostgresStorage::connect`]: sqlx's default.
pub(super) const DEFAULT_POOL_SIZE: usize = 10;

/// How long a call waits for a pooled connection, or for a new one to open, before it
/// fails as `Unavailable` (the operation timeout bounds the whole call anyway).
const POOL_TIMEOUT: Duration = Duration::from_secs(10);

/// Parameters bound to a statement.
pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// A pool of tokio-postgres connections.
#[derive(Clone)]
pub(super) struct Native {
    pool: Pool,
}

/// An error of the native path: getting a connection, or running a statement.
#[derive(Debug)]
pub(super) enum NativeError {
    /// The pool could not lend a connection.
    Pool(PoolError),
    /// The statement failed (or its connection did).
    Query(tokio_postgres::Error),
}

impl fmt::Display for NativeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NativeError::Pool(err) => write!(f, "{err}"),
            NativeError::Query(err) => write!(f, "{err}"),
        }
    }
}

impl StdError for NativeError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            NativeError::Pool(err) => Some(err),
            NativeError::Query(err) => Some(err),
        }
    }
}

impl From<PoolError> for NativeError {
    fn from(err: PoolError) -> Self {
        NativeError::Pool(err)
    }
}

impl From<tokio_postgres::Error> for NativeError {
    fn from(err: tokio_postgres::Error) -> Self {
        NativeError::Query(err)
    }
}

impl NativeError {
    /// The tokio-postgres error inside, if any (a refused connection is one too).
    fn client_error(&self) -> Option<&tokio_postgres::Error> {
        match self {
            NativeError::Query(err) | NativeError::Pool(PoolError::Backend(err)) => Some(err),
            _ => None,
        }
    }

    /// Whether the server rolled the statement back for a deadlock or a serialization
    /// failure (see `error::is_retryable`).
    pub(super) fn is_retryable(&self) -> bool {
        self.client_error()
            .and_then(tokio_postgres::Error::code)
            .is_some_and(|code| {
                *code == SqlState::T_R_SERIALIZATION_FAILURE
                    || *code == SqlState::T_R_DEADLOCK_DETECTED
            })
    }

    /// Whether this is a unique violation of the access-digest index.
    pub(super) fn is_access_digest_violation(&self) -> bool {
        self.client_error()
            .and_then(tokio_postgres::Error::as_db_error)
            .is_some_and(|db| {
                *db.code() == SqlState::UNIQUE_VIOLATION
                    && db.constraint() == Some(ACCESS_DIGEST_INDEX)
            })
    }

    /// The spec's variant for this error of operation `op`, by the same rules as the
    /// sqlx path (`error::map_err`).
    pub(super) fn into_storage(self, op: &str) -> StorageError {
        if let Some(db) = self
            .client_error()
            .and_then(tokio_postgres::Error::as_db_error)
        {
            let (code, constraint) = (db.code().code().to_owned(), db.constraint());
            let constraint = constraint.map(str::to_owned);
            return map_server_error(op, &code, constraint.as_deref(), self);
        }
        match &self {
            NativeError::Pool(PoolError::Timeout(_)) => StorageError::unavailable(
                format!(
                    "{op}: no PostgreSQL connection within the pool's timeout (all in use, or \
                     the server cannot be reached)"
                ),
                self,
            ),
            NativeError::Pool(PoolError::Closed) => {
                StorageError::unavailable(format!("{op}: the PostgreSQL pool is closed"), self)
            }
            NativeError::Pool(PoolError::Backend(_)) => StorageError::unavailable(
                format!("{op}: could not open a connection to PostgreSQL"),
                self,
            ),
            NativeError::Query(err) if is_connection_error(err) => StorageError::unavailable(
                format!("{op}: lost or could not open the connection to PostgreSQL"),
                self,
            ),
            _ => StorageError::backend(format!("{op}: PostgreSQL client error"), self),
        }
    }
}

/// Whether a tokio-postgres error (not one the server reported) is about the connection:
/// closed, an I/O error, a TLS failure or a connect timeout. tokio-postgres does not
/// expose its error kinds, so the closed flag, an I/O source, and the fixed messages of
/// the other kinds decide.
fn is_connection_error(err: &tokio_postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    let mut source = err.source();
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    let text = err.to_string();
    [
        "error connecting to server",
        "timeout waiting for server",
        "error performing TLS handshake",
        "error communicating with the server",
    ]
    .iter()
    .any(|prefix| text.starts_with(prefix))
}

/// A kv TTL bound as a PostgreSQL `interval` (binary: microseconds, days, months), as
/// sqlx binds a `Duration`.
#[derive(Debug)]
pub(super) struct Interval(pub(super) Duration);

impl ToSql for Interval {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.put_i64(i64::try_from(self.0.as_micros())?);
        out.put_i32(0);
        out.put_i32(0);
        Ok(IsNull::No)
    }

    accepts!(INTERVAL);
    to_sql_checked!();
}

/// Refuses a configuration asking for TLS: this path connects without it, and must not
/// do so silently when TLS was asked for.
pub(super) fn refuse_tls(config: &Config) -> Result<()> {
    if config.get_ssl_mode() == SslMode::Require {
        return Err(StorageError::InvalidInput(
            "PostgresStorage::connect: sslmode=require asks for TLS, which the tokio-postgres \
             path does not provide by itself; build a deadpool_postgres::Pool with a TLS \
             connector (e.g. tokio-postgres-rustls) and pass it to \
             PostgresStorage::from_deadpool, or use PostgresStorage::new over a sqlx pool"
                .to_owned(),
        ));
    }
    Ok(())
}

/// Parses a `postgres://` URL (or key-value string), refusing TLS modes this path cannot
/// honour with a clear error rather than a parse error or plaintext.
pub(super) fn parse_url(url: &str) -> Result<Config> {
    for (key, value) in url
        .split_once('?')
        .map(|(_, query)| query)
        .unwrap_or(url)
        .split(['&', ' '])
        .filter_map(|pair| pair.split_once('='))
    {
        if key.trim() == "sslmode" && value.trim().starts_with("verify") {
            return Err(StorageError::InvalidInput(format!(
                "PostgresStorage::connect: sslmode={} asks for a verified TLS connection, \
                 which the tokio-postgres path does not provide by itself; pass a \
                 deadpool_postgres::Pool built with a TLS connector to \
                 PostgresStorage::from_deadpool, or use PostgresStorage::new over a sqlx pool",
                value.trim()
            )));
        }
    }
    let config: Config = url.parse().map_err(|err| {
        StorageError::InvalidInput(format!(
            "PostgresStorage::connect: not a PostgreSQL connection URL: {err}"
        ))
    })?;
    refuse_tls(&config)?;
    Ok(config)
}

/// Opens each connection in a task of its own: the SCRAM key derivation (thousands of
/// HMAC rounds) then runs on any worker thread instead of the caller's task, where
/// callers awaiting several calls at once (`join_all`) would derive the keys of all
/// their new connections one after the other (seen: 16 concurrent first calls past a
/// 2 s timeout in a debug build).
struct SpawnedConnect;

impl deadpool_postgres::Connect for SpawnedConnect {
    fn connect(
        &self,
        config: &Config,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = std::result::Result<
                        (tokio_postgres::Client, tokio::task::JoinHandle<()>),
                        tokio_postgres::Error,
                    >,
                > + Send
                + '_,
        >,
    > {
        let config = config.clone();
        Box::pin(async move {
            let opened = tokio::spawn(async move {
                let (client, connection) = config.connect(NoTls).await?;
                let task = tokio::spawn(async move {
                    // Its error reaches the client as a closed connection.
                    let _ended = connection.await;
                });
                Ok((client, task))
            })
            .await;
            match opened {
                Ok(result) => result,
                Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
                // Cancelled: only when the runtime shuts down.
                Err(_) => std::future::pending().await,
            }
        })
    }
}

impl Native {
    /// A pool of up to `size` connections on `config`, without TLS, lending connections
    /// without a round trip (deadpool's fast recycling: only a closed connection is
    /// dropped).
    pub(super) fn build(config: Config, size: usize) -> Result<Self> {
        refuse_tls(&config)?;
        let manager = Manager::from_connect(
            config,
            SpawnedConnect,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(size.max(1))
            // The connection returned last is lent next: sequential calls stay on one
            // connection and server process, warm in both caches. FIFO lends the coldest
            // of a full pool every time (reads 1.23-1.32x the best client against
            // 0.98-1.06x, benches/PROFILE.md).
            .queue_mode(QueueMode::Lifo)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .build()
            .map_err(|err| StorageError::backend("building the PostgreSQL pool", err))?;
        Ok(Self { pool })
    }

    /// Over a pool the application built.
    pub(super) fn from_pool(pool: Pool) -> Self {
        Self { pool }
    }

    /// The pool.
    pub(super) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A pooled connection and `sql` prepared on it (cached per connection).
    async fn prepared(
        &self,
        sql: &str,
        types: &[Type],
    ) -> std::result::Result<(Object, Statement), NativeError> {
        let client = self.pool.get().await?;
        let statement = client.prepare_typed_cached(sql, types).await?;
        Ok((client, statement))
    }

    /// The first column of the one row, if any.
    pub(super) async fn opt<T: FromSqlOwned>(
        &self,
        sql: &str,
        types: &[Type],
        params: Params<'_>,
    ) -> std::result::Result<Option<T>, NativeError> {
        let (client, statement) = self.prepared(sql, types).await?;
        let row = client.query_opt(&statement, params).await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?)
    }

    /// The one row, if any.
    #[cfg(feature = "tiered-storage")]
    pub(super) async fn row_opt(
        &self,
        sql: &str,
        types: &[Type],
        params: Params<'_>,
    ) -> std::result::Result<Option<tokio_postgres::Row>, NativeError> {
        let (client, statement) = self.prepared(sql, types).await?;
        Ok(client.query_opt(&statement, params).await?)
    }

    /// The first column of the one row.
    pub(super) async fn one<T: FromSqlOwned>(
        &self,
        sql: &str,
        types: &[Type],
        params: Params<'_>,
    ) -> std::result::Result<T, NativeError> {
        let (client, statement) = self.prepared(sql, types).await?;
        Ok(client.query_one(&statement, params).await?.try_get(0)?)
    }

    /// The first column of every row.
    pub(super) async fn all<T: FromSqlOwned>(
        &self,
        sql: &str,
        types: &[Type],
        params: Params<'_>,
    ) -> std::result::Result<Vec<T>, NativeError> {
        let (client, statement) = self.prepared(sql, types).await?;
        let rows = client.query(&statement, params).await?;
        rows.iter()
            .map(|row| row.try_get(0).map_err(NativeError::from))
            .collect()
    }

    /// Runs a statement; the number of rows it affected.
    pub(super) async fn execute(
        &self,
        sql: &str,
        types: &[Type],
        params: Params<'_>,
    ) -> std::result::Result<u64, NativeError> {
        let (client, statement) = self.prepared(sql, types).await?;
        Ok(client.execute(&statement, params).await?)
    }

    /// Runs several statements in one simple-query round trip (one implicit
    /// transaction), as sqlx's `raw_sql` does.
    #[cfg(feature = "tiered-storage")]
    pub(super) async fn batch(&self, sql: &str) -> std::result::Result<(), NativeError> {
        let client = self.pool.get().await?;
        Ok(client.batch_execute(sql).await?)
    }

    /// Applies the embedded migrations as sqlx's `Migrator::run` does (see the module
    /// docs): under sqlx's advisory lock for this database, `_sqlx_migrations` created
    /// if missing, a failed (dirty) or unknown or altered applied migration refused,
    /// each missing one run in a transaction with its row.
    pub(super) async fn migrate(&self, migrator: &Migrator) -> Result<()> {
        let client = self
            .pool
            .get()
            .await
            .map_err(|err| NativeError::from(err).into_storage("migrate"))?;
        match run_migrations(&client, migrator).await {
            Ok(()) => Ok(()),
            Err(err) => {
                // The session-level advisory lock may still be held: close this
                // connection (detached from the pool, dropped) rather than pool it.
                drop(Object::take(client));
                Err(err)
            }
        }
    }
}

/// The body of [`Native::migrate`] on one connection.
async fn run_migrations(client: &Object, migrator: &Migrator) -> Result<()> {
    let pg = |err: tokio_postgres::Error| NativeError::from(err).into_storage("migrate");
    let database: String = client
        .query_one("SELECT current_database()", &[])
        .await
        .map_err(pg)?
        .try_get(0)
        .map_err(pg)?;
    let lock_id = sqlx_lock_id(&database);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&lock_id])
        .await
        .map_err(pg)?;
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
                version BIGINT PRIMARY KEY,
                description TEXT NOT NULL,
                installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
                success BOOLEAN NOT NULL,
                checksum BYTEA NOT NULL,
                execution_time BIGINT NOT NULL
            )",
        )
        .await
        .map_err(pg)?;
    let history = |what: String| {
        StorageError::backend(
            "migrate: the database's migration history does not match this version of \
             authstore-backends",
            what,
        )
    };
    let applied: Vec<(i64, Vec<u8>, bool)> = client
        .query(
            "SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version",
            &[],
        )
        .await
        .map_err(pg)?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
        .collect::<std::result::Result<_, tokio_postgres::Error>>()
        .map_err(pg)?;
    let known = || {
        migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
    };
    for (version, checksum, success) in &applied {
        if !success {
            return Err(history(format!(
                "migration {version} is partially applied; fix and remove it"
            )));
        }
        match known().find(|m| m.version == *version) {
            None => {
                return Err(history(format!(
                    "migration {version} was applied but is missing in the resolved migrations"
                )));
            }
            Some(m) if m.checksum.as_ref() != checksum.as_slice() => {
                return Err(history(format!(
                    "migration {version} was previously applied but has been modified"
                )));
            }
            Some(_) => {}
        }
    }
    for migration in known() {
        if applied
            .iter()
            .any(|(version, ..)| *version == migration.version)
        {
            continue;
        }
        let began = Instant::now();
        let sql = migration.sql.as_str();
        let record = "INSERT INTO _sqlx_migrations \
                      (version, description, success, checksum, execution_time) \
                      VALUES ($1, $2, TRUE, $3, -1)";
        let (description, checksum): (&str, &[u8]) = (&migration.description, &migration.checksum);
        let params: Params<'_> = &[&migration.version, &description, &checksum];
        if migration.no_tx {
            client.batch_execute(sql).await.map_err(pg)?;
            client.execute(record, params).await.map_err(pg)?;
        } else {
            client.batch_execute("BEGIN").await.map_err(pg)?;
            let applied = async {
                client.batch_execute(sql).await?;
                client.execute(record, params).await?;
                client.batch_execute("COMMIT").await
            }
            .await;
            if let Err(err) = applied {
                // The connection is discarded by the caller; roll back anyway.
                let _rolled_back = client.batch_execute("ROLLBACK").await;
                return Err(pg(err));
            }
        }
        let nanos = i64::try_from(began.elapsed().as_nanos()).unwrap_or(i64::MAX);
        client
            .execute(
                "UPDATE _sqlx_migrations SET execution_time = $1 WHERE version = $2",
                &[&nanos, &migration.version],
            )
            .await
            .map_err(pg)?;
    }
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&lock_id])
        .await
        .map_err(pg)?;
    Ok(())
}

/// sqlx's migration lock id for `database` (`sqlx-postgres` `generate_lock_id`):
/// `0x3d32ad9e * crc32(name)`, CRC-32/ISO-HDLC; the same id makes the two paths'
/// migrations wait for each other.
fn sqlx_lock_id(database: &str) -> i64 {
    0x3d32_ad9e * i64::from(crc32(database.as_bytes()))
}

/// CRC-32/ISO-HDLC (the zlib/PNG CRC), bit by bit: run once per migration.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_iso_hdlc() {
        // The CRC catalogue's check value for CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            sqlx_lock_id("postgres"),
            0x3d32_ad9e * i64::from(crc32(b"postgres"))
        );
    }

    /// Once the pool is full, sequential calls still get the connection returned last,
    /// so they keep to one server process (`QueueMode::Lifo`).
    #[tokio::test]
    async fn sequential_calls_keep_to_the_connection_returned_last() {
        let url = std::env::var("AUTHSTORE_POSTGRES_URL").unwrap_or_else(|_| {
            panic!(
                "AUTHSTORE_POSTGRES_URL is not set: start a server with \
                 `eval \"$(bash ci/start-postgres)\"` or point it at your own PostgreSQL"
            )
        });
        let native = Native::build(parse_url(&url).expect("URL"), 4).expect("pool");
        // Four calls at once: the pool opens all four connections.
        let pids = |n| {
            let native = &native;
            async move {
                let client = native.pool.get().await.expect("connection");
                let pid: i32 = client
                    .query_one("SELECT pg_backend_pid()", &[])
                    .await
                    .expect("pid")
                    .get(0);
                tokio::time::sleep(Duration::from_millis(n)).await;
                pid
            }
        };
        let opened = tokio::join!(pids(50), pids(50), pids(50), pids(50));
        assert_eq!(native.pool.status().size, 4, "opened {opened:?}");
        let mut sequential = Vec::new();
        for _ in 0..6 {
            sequential.push(pids(0).await);
        }
        sequential.dedup();
        assert_eq!(
            sequential.len(),
            1,
            "sequential calls ran on {sequential:?}"
        );
    }

    #[test]
    fn tls_urls_are_refused_never_plaintext() {
        for url in [
            "postgres://u:p@localhost/db?sslmode=require",
            "postgres://u:p@localhost/db?sslmode=verify-full&sslrootcert=/ca.pem",
            "postgres://u:p@localhost/db?sslmode=verify-ca",
            "host=localhost user=u sslmode=verify-full",
        ] {
            let err = parse_url(url).expect_err(url);
            assert!(
                matches!(&err, StorageError::InvalidInput(m) if m.contains("TLS")),
                "{url}: {err}"
            );
        }
        let plain = parse_url("postgres://u:p@localhost/db?sslmode=disable").unwrap();
        assert_eq!(plain.get_ssl_mode(), SslMode::Disable);
    }
}
