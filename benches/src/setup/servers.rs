//! Fresh namespaces on the servers: a PostgreSQL schema or MySQL database of its own
//! with a pool on it, and unique Redis key prefixes.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

use super::POOL_SIZE;

/// How long a pool waits for a connection before the call fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Namespaces made by this process, for unique names.
static NAMESPACES: AtomicU64 = AtomicU64::new(0);

/// `authstore_bench_<pid>_<counter>_<seconds>`: unique across runs, no quoting needed.
pub(crate) fn unique_name() -> String {
    let counter = NAMESPACES.fetch_add(1, Ordering::Relaxed);
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("authstore_bench_{}_{counter}_{seconds}", std::process::id())
}

/// A unique Redis key prefix (no braces: it becomes the hash tag).
pub(crate) fn redis_prefix() -> String {
    format!("{}:", unique_name().replace('_', "-"))
}

/// A schema of its own on the PostgreSQL server, with a pool whose `search_path` is it.
#[derive(Debug)]
pub struct PgNamespace {
    options: PgConnectOptions,
    /// The schema's name.
    pub(crate) schema: String,
    /// The pool on the schema.
    pub(crate) pool: PgPool,
    /// `SHOW server_version`.
    pub(crate) version: String,
}

impl PgNamespace {
    /// Creates the schema and the pool.
    pub(crate) async fn create(url: &str) -> Result<Self, String> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|err| format!("AUTHSTORE_POSTGRES_URL is not a PostgreSQL URL: {err}"))?;
        let schema = unique_name();
        let mut conn = options
            .connect()
            .await
            .map_err(|err| format!("connecting to PostgreSQL: {err}"))?;
        conn.execute(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .await
            .map_err(|err| format!("creating schema {schema}: {err}"))?;
        let version: String = sqlx::query_scalar("SHOW server_version")
            .fetch_one(&mut conn)
            .await
            .map_err(|err| format!("asking PostgreSQL its version: {err}"))?;
        let _closed = conn.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone().options([("search_path", schema.as_str())]))
            .await
            .map_err(|err| format!("opening a pool on PostgreSQL: {err}"))?;
        Ok(Self {
            options,
            schema,
            pool,
            version: format!("PostgreSQL {version}"),
        })
    }

    /// Closes the pool and drops the schema.
    pub(crate) async fn drop_schema(self) -> Result<(), String> {
        self.pool.close().await;
        let mut conn = self
            .options
            .connect()
            .await
            .map_err(|err| format!("connecting to PostgreSQL: {err}"))?;
        let schema = &self.schema;
        let result = conn
            .execute(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .await
            .map(drop)
            .map_err(|err| format!("dropping schema {schema}: {err}"));
        let _closed = conn.close().await;
        result
    }
}

/// A database of its own on the MySQL server, with a pool on it.
#[derive(Debug)]
pub struct MySqlNamespace {
    options: MySqlConnectOptions,
    /// The database's name.
    pub(crate) database: String,
    /// The pool on the database.
    pub(crate) pool: MySqlPool,
    /// `SELECT VERSION()`.
    pub(crate) version: String,
}

impl MySqlNamespace {
    /// Creates the database and the pool.
    pub(crate) async fn create(url: &str) -> Result<Self, String> {
        let options = MySqlConnectOptions::from_str(url)
            .map_err(|err| format!("AUTHSTORE_MYSQL_URL is not a MySQL URL: {err}"))?;
        let database = unique_name();
        let mut conn = options
            .connect()
            .await
            .map_err(|err| format!("connecting to MySQL: {err}"))?;
        conn.execute(AssertSqlSafe(format!("CREATE DATABASE `{database}`")))
            .await
            .map_err(|err| format!("creating database {database}: {err}"))?;
        let version: String = sqlx::query_scalar("SELECT VERSION()")
            .fetch_one(&mut conn)
            .await
            .map_err(|err| format!("asking MySQL its version: {err}"))?;
        let _closed = conn.close().await;
        let pool = MySqlPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone().database(&database))
            .await
            .map_err(|err| format!("opening a pool on MySQL: {err}"))?;
        let flavour = if version.contains("MariaDB") {
            "MariaDB"
        } else {
            "MySQL"
        };
        Ok(Self {
            options,
            database,
            pool,
            version: format!("{flavour} {version}"),
        })
    }

    /// Closes the pool and drops the database.
    pub(crate) async fn drop_database(self) -> Result<(), String> {
        self.pool.close().await;
        let mut conn = self
            .options
            .connect()
            .await
            .map_err(|err| format!("connecting to MySQL: {err}"))?;
        let database = &self.database;
        let result = conn
            .execute(AssertSqlSafe(format!("DROP DATABASE `{database}`")))
            .await
            .map(drop)
            .map_err(|err| format!("dropping database {database}: {err}"));
        let _closed = conn.close().await;
        result
    }
}

/// `Redis <redis_version>` from `INFO server`.
pub(crate) async fn redis_version(url: &str) -> Result<String, String> {
    let client = redis::Client::open(url).map_err(|err| format!("Redis URL {url}: {err}"))?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|err| format!("connecting to Redis: {err}"))?;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await
        .map_err(|err| format!("INFO server: {err}"))?;
    let version = info
        .lines()
        .find_map(|line| line.strip_prefix("redis_version:"))
        .unwrap_or("unknown")
        .trim();
    Ok(format!("Redis {version}"))
}
