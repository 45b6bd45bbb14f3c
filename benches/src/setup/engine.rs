//! The raw engines the backends are compared with, holding the same data shape: kv
//! entries (key → the kv value's bytes) and records (token id → the token, as its JSON
//! bytes on servers and as the struct in a `DashMap`).
//!
//! Each server has two: `raw-*` drives it with the backend's own client library (sqlx,
//! redis-rs's connection manager), `best-*` with the fastest client measured on this
//! machine (`examples/pg_clients.rs`, `examples/redis_clients.rs`): the limit a backend
//! could reach.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use authstore_spec::AuthToken;
use dashmap::DashMap;
use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use sqlx::{MySql, QueryBuilder};
use tokio_postgres::{Client, Statement};

use super::servers::{MySqlNamespace, PgNamespace, redis_prefix, redis_version};
use super::{MYSQL_URL_VAR, POSTGRES_URL_VAR, REDIS_URL_VAR, missing_variable};
use crate::dataset::{Dataset, kv_key, kv_value, token, token_id};

/// Rows per bulk insert while filling.
const FILL_BATCH: usize = 1000;

/// A raw engine filled (by [`Engine::fill`]) with a dataset's kv entries and tokens.
#[derive(Debug)]
pub enum Engine {
    /// `DashMap<String, Vec<u8>>` and `DashMap<String, AuthToken>`.
    DashMap {
        /// Kv entries.
        kv: DashMap<String, Vec<u8>>,
        /// Tokens.
        records: DashMap<String, AuthToken>,
    },
    /// Two `(id, bytea)` tables in a schema of their own, read and upserted by primary key
    /// with prepared statements.
    Postgres(PgNamespace),
    /// The same tables, read and upserted through tokio-postgres on one connection with
    /// statements prepared once: no pool, no ping.
    BestPostgres {
        /// The schema (filled and dropped through its sqlx pool).
        ns: PgNamespace,
        /// The connection (its driver runs as a task of the runtime that opened it).
        client: Client,
        /// Read kv, upsert kv, read record, upsert record.
        statements: [Statement; 4],
    },
    /// Two `(id, longblob)` InnoDB tables in a database of their own.
    MySql(MySqlNamespace),
    /// The same tables through mysql_async on one connection with statements prepared
    /// once (calls in flight take turns on it).
    BestMySql {
        /// The database (filled and dropped through its sqlx pool).
        ns: MySqlNamespace,
        /// The connection and the statements: read kv, upsert kv, read record, upsert
        /// record.
        conn: tokio::sync::Mutex<(mysql_async::Conn, [mysql_async::Statement; 4])>,
    },
    /// Plain strings under a prefix of their own, read with `GET` and written with `SET`.
    Redis {
        /// The multiplexed connection.
        conn: ConnectionManager,
        /// The key prefix.
        prefix: String,
        /// `INFO server`'s version.
        version: String,
    },
    /// The same keys through a plain multiplexed connection (no reconnecting manager).
    BestRedis {
        /// The connection.
        conn: MultiplexedConnection,
        /// The key prefix.
        prefix: String,
        /// `INFO server`'s version.
        version: String,
    },
}

/// An engine, or why it cannot be measured.
#[derive(Debug)]
pub enum EngineAvailability {
    /// Connected on a fresh namespace.
    Ready(Arc<Engine>),
    /// The server's variable is unset.
    NotConfigured(String),
}

impl Engine {
    /// Opens the engine `name` (one of [`crate::ids::ENGINES`]) on a fresh namespace.
    pub async fn open(name: &str) -> Result<EngineAvailability, String> {
        if let Some(var) = missing_variable(name) {
            return Ok(EngineAvailability::NotConfigured(format!(
                "{var} is not set"
            )));
        }
        let var = |v: &str| std::env::var(v).map_err(|_| format!("{v} is not set"));
        let engine = match name {
            "raw-dashmap" => Engine::DashMap {
                kv: DashMap::new(),
                records: DashMap::new(),
            },
            "raw-postgres" => {
                let ns = PgNamespace::create(&var(POSTGRES_URL_VAR)?).await?;
                for ddl in [
                    r#"CREATE TABLE raw_kv (id VARCHAR(512) COLLATE "C" PRIMARY KEY, value BYTEA NOT NULL)"#,
                    r#"CREATE TABLE raw_record (id VARCHAR(255) COLLATE "C" PRIMARY KEY, value BYTEA NOT NULL)"#,
                ] {
                    sqlx::query(ddl)
                        .execute(&ns.pool)
                        .await
                        .map_err(|err| format!("creating the raw tables: {err}"))?;
                }
                Engine::Postgres(ns)
            }
            "best-postgres" => {
                let url = var(POSTGRES_URL_VAR)?;
                let ns = PgNamespace::create(&url).await?;
                for ddl in [
                    r#"CREATE TABLE raw_kv (id VARCHAR(512) COLLATE "C" PRIMARY KEY, value BYTEA NOT NULL)"#,
                    r#"CREATE TABLE raw_record (id VARCHAR(255) COLLATE "C" PRIMARY KEY, value BYTEA NOT NULL)"#,
                ] {
                    sqlx::query(ddl)
                        .execute(&ns.pool)
                        .await
                        .map_err(|err| format!("creating the raw tables: {err}"))?;
                }
                let (client, statements) = best_postgres(&url, &ns.schema).await?;
                Engine::BestPostgres {
                    ns,
                    client,
                    statements,
                }
            }
            "raw-mysql" => {
                let ns = MySqlNamespace::create(&var(MYSQL_URL_VAR)?).await?;
                for ddl in [
                    "CREATE TABLE raw_kv (id VARBINARY(512) PRIMARY KEY, value LONGBLOB NOT NULL) ENGINE = InnoDB",
                    "CREATE TABLE raw_record (id VARBINARY(255) PRIMARY KEY, value LONGBLOB NOT NULL) ENGINE = InnoDB",
                ] {
                    sqlx::query(ddl)
                        .execute(&ns.pool)
                        .await
                        .map_err(|err| format!("creating the raw tables: {err}"))?;
                }
                Engine::MySql(ns)
            }
            "best-mysql" => {
                let url = var(MYSQL_URL_VAR)?;
                let ns = MySqlNamespace::create(&url).await?;
                for ddl in [
                    "CREATE TABLE raw_kv (id VARBINARY(512) PRIMARY KEY, value LONGBLOB NOT NULL) ENGINE = InnoDB",
                    "CREATE TABLE raw_record (id VARBINARY(255) PRIMARY KEY, value LONGBLOB NOT NULL) ENGINE = InnoDB",
                ] {
                    sqlx::query(ddl)
                        .execute(&ns.pool)
                        .await
                        .map_err(|err| format!("creating the raw tables: {err}"))?;
                }
                let conn = best_mysql(&url, &ns.database).await?;
                Engine::BestMySql {
                    ns,
                    conn: tokio::sync::Mutex::new(conn),
                }
            }
            "raw-redis" => {
                let url = var(REDIS_URL_VAR)?;
                let client = redis::Client::open(url.as_str())
                    .map_err(|err| format!("Redis URL {url}: {err}"))?;
                let conn = client
                    .get_connection_manager()
                    .await
                    .map_err(|err| format!("connecting to Redis: {err}"))?;
                Engine::Redis {
                    conn,
                    prefix: format!("{}raw:", redis_prefix()),
                    version: redis_version(&url).await?,
                }
            }
            "best-redis" => {
                let url = var(REDIS_URL_VAR)?;
                let client = redis::Client::open(url.as_str())
                    .map_err(|err| format!("Redis URL {url}: {err}"))?;
                let conn = client
                    .get_multiplexed_async_connection()
                    .await
                    .map_err(|err| format!("connecting to Redis: {err}"))?;
                Engine::BestRedis {
                    conn,
                    prefix: format!("{}best:", redis_prefix()),
                    version: redis_version(&url).await?,
                }
            }
            other => return Err(format!("unknown engine {other:?}")),
        };
        Ok(EngineAvailability::Ready(Arc::new(engine)))
    }

    /// The server's version, `None` in process.
    pub fn server_version(&self) -> Option<String> {
        match self {
            Engine::DashMap { .. } => None,
            Engine::Postgres(ns) | Engine::BestPostgres { ns, .. } => Some(ns.version.clone()),
            Engine::MySql(ns) | Engine::BestMySql { ns, .. } => Some(ns.version.clone()),
            Engine::Redis { version, .. } | Engine::BestRedis { version, .. } => {
                Some(version.clone())
            }
        }
    }

    /// Fills the engine with the dataset's kv entries and tokens, in bulk.
    pub async fn fill(&self, ds: Dataset) -> Result<(), String> {
        let kv_rows = (0..ds.kv_entries()).map(|i| (kv_key(i), kv_value(i)));
        match self {
            Engine::DashMap { kv, records } => {
                for (key, value) in kv_rows {
                    kv.insert(key, value);
                }
                for i in 0..ds.tokens() {
                    records.insert(token_id(i), token(i));
                }
                return Ok(());
            }
            _ => {
                let kv_rows: Vec<(String, Vec<u8>)> = kv_rows.collect();
                let record_rows: Vec<(String, Vec<u8>)> = (0..ds.tokens())
                    .map(|i| (token_id(i), record_bytes(i)))
                    .collect();
                for (table, rows) in [("raw_kv", kv_rows), ("raw_record", record_rows)] {
                    for batch in rows.chunks(FILL_BATCH) {
                        self.insert_batch(table, batch).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Inserts one batch of rows into `table` (a key family on Redis).
    async fn insert_batch(&self, table: &str, batch: &[(String, Vec<u8>)]) -> Result<(), String> {
        let fail = |err: String| format!("filling {table}: {err}");
        match self {
            Engine::DashMap { .. } => Ok(()),
            Engine::Postgres(ns) | Engine::BestPostgres { ns, .. } => {
                let ids: Vec<&str> = batch.iter().map(|(id, _)| id.as_str()).collect();
                let values: Vec<&[u8]> = batch.iter().map(|(_, v)| v.as_slice()).collect();
                let sql = format!(
                    "INSERT INTO {table} (id, value) SELECT * FROM UNNEST($1::varchar[], $2::bytea[])"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(ids)
                    .bind(values)
                    .execute(&ns.pool)
                    .await
                    .map(drop)
                    .map_err(|e| fail(e.to_string()))
            }
            Engine::MySql(ns) | Engine::BestMySql { ns, .. } => {
                let mut insert: QueryBuilder<MySql> =
                    QueryBuilder::new(format!("INSERT INTO {table} (id, value) "));
                insert.push_values(batch, |mut row, (id, value)| {
                    row.push_bind(id.as_str()).push_bind(value.as_slice());
                });
                insert
                    .build()
                    .execute(&ns.pool)
                    .await
                    .map(drop)
                    .map_err(|e| fail(e.to_string()))
            }
            Engine::Redis { prefix, .. } | Engine::BestRedis { prefix, .. } => {
                let mut mset = redis::cmd("MSET");
                for (id, value) in batch {
                    mset.arg(format!("{prefix}{table}:{id}")).arg(value);
                }
                self.redis_query::<()>(&mset)
                    .await
                    .map_err(|e| fail(e.to_string()))
            }
        }
    }

    /// Reads kv entry `i` by primary key; `None` if absent.
    pub async fn read_kv(&self, i: usize) -> Result<Option<Vec<u8>>, String> {
        let key = kv_key(i);
        match self {
            Engine::DashMap { kv, .. } => Ok(kv.get(&key).map(|v| v.value().clone())),
            _ => self.read("raw_kv", &key).await,
        }
    }

    /// Upserts kv entry `i` with bytes that differ from the stored ones (see
    /// [`fresh_kv_value`]).
    pub async fn write_kv(&self, i: usize) -> Result<(), String> {
        let (key, value) = (kv_key(i), fresh_kv_value(i));
        match self {
            Engine::DashMap { kv, .. } => {
                kv.insert(key, value);
                Ok(())
            }
            _ => self.upsert("raw_kv", &key, &value).await,
        }
    }

    /// Reads token `i` by primary key (bytes on servers, a struct clone in the `DashMap`);
    /// whether it was found.
    pub async fn read_record(&self, i: usize) -> Result<bool, String> {
        let id = token_id(i);
        match self {
            Engine::DashMap { records, .. } => {
                let found = records.get(&id).map(|t| t.value().clone());
                Ok(std::hint::black_box(found).is_some())
            }
            _ => Ok(self.read("raw_record", &id).await?.is_some()),
        }
    }

    /// Upserts token `i` (serialised to JSON on servers, as the backends do).
    pub async fn write_record(&self, i: usize) -> Result<(), String> {
        match self {
            Engine::DashMap { records, .. } => {
                records.insert(token_id(i), token(i));
                Ok(())
            }
            _ => {
                self.upsert("raw_record", &token_id(i), &record_bytes(i))
                    .await
            }
        }
    }

    /// A primary-key read on a server.
    async fn read(&self, table: &'static str, id: &str) -> Result<Option<Vec<u8>>, String> {
        let result = match self {
            Engine::DashMap { .. } => unreachable!("DashMap reads are inline"),
            Engine::Postgres(ns) => {
                let sql = if table == "raw_kv" {
                    "SELECT value FROM raw_kv WHERE id = $1"
                } else {
                    "SELECT value FROM raw_record WHERE id = $1"
                };
                sqlx::query_scalar(sql)
                    .bind(id)
                    .fetch_optional(&ns.pool)
                    .await
                    .map_err(|e| e.to_string())
            }
            Engine::BestPostgres {
                client, statements, ..
            } => {
                let statement = &statements[if table == "raw_kv" { 0 } else { 2 }];
                client
                    .query_opt(statement, &[&id])
                    .await
                    .map(|row| row.map(|row| row.get::<_, Vec<u8>>(0)))
                    .map_err(|e| e.to_string())
            }
            Engine::MySql(ns) => {
                let sql = if table == "raw_kv" {
                    "SELECT value FROM raw_kv WHERE id = ?"
                } else {
                    "SELECT value FROM raw_record WHERE id = ?"
                };
                sqlx::query_scalar(sql)
                    .bind(id)
                    .fetch_optional(&ns.pool)
                    .await
                    .map_err(|e| e.to_string())
            }
            Engine::BestMySql { conn, .. } => {
                use mysql_async::prelude::Queryable;
                let mut guard = conn.lock().await;
                let (conn, statements) = &mut *guard;
                let statement = statements[if table == "raw_kv" { 0 } else { 2 }].clone();
                conn.exec_first::<Vec<u8>, _, _>(statement, (id,))
                    .await
                    .map_err(|e| e.to_string())
            }
            Engine::Redis { prefix, .. } | Engine::BestRedis { prefix, .. } => self
                .redis_query(redis::cmd("GET").arg(format!("{prefix}{table}:{id}")))
                .await
                .map_err(|e| e.to_string()),
        };
        result.map_err(|err| format!("reading {table}: {err}"))
    }

    /// An upsert on a server.
    async fn upsert(&self, table: &'static str, id: &str, value: &[u8]) -> Result<(), String> {
        let result = match self {
            Engine::DashMap { .. } => unreachable!("DashMap writes are inline"),
            Engine::Postgres(ns) => {
                let sql = if table == "raw_kv" {
                    "INSERT INTO raw_kv (id, value) VALUES ($1, $2) \
                     ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value"
                } else {
                    "INSERT INTO raw_record (id, value) VALUES ($1, $2) \
                     ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value"
                };
                sqlx::query(sql)
                    .bind(id)
                    .bind(value)
                    .execute(&ns.pool)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Engine::BestPostgres {
                client, statements, ..
            } => {
                let statement = &statements[if table == "raw_kv" { 1 } else { 3 }];
                client
                    .execute(statement, &[&id, &value])
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Engine::MySql(ns) => {
                let sql = if table == "raw_kv" {
                    "INSERT INTO raw_kv (id, value) VALUES (?, ?) \
                     ON DUPLICATE KEY UPDATE value = VALUES(value)"
                } else {
                    "INSERT INTO raw_record (id, value) VALUES (?, ?) \
                     ON DUPLICATE KEY UPDATE value = VALUES(value)"
                };
                sqlx::query(sql)
                    .bind(id)
                    .bind(value)
                    .execute(&ns.pool)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Engine::BestMySql { conn, .. } => {
                use mysql_async::prelude::Queryable;
                let mut guard = conn.lock().await;
                let (conn, statements) = &mut *guard;
                let statement = statements[if table == "raw_kv" { 1 } else { 3 }].clone();
                conn.exec_drop(statement, (id, value))
                    .await
                    .map_err(|e| e.to_string())
            }
            Engine::Redis { prefix, .. } | Engine::BestRedis { prefix, .. } => self
                .redis_query::<()>(
                    redis::cmd("SET")
                        .arg(format!("{prefix}{table}:{id}"))
                        .arg(value),
                )
                .await
                .map_err(|e| e.to_string()),
        };
        result.map_err(|err| format!("upserting into {table}: {err}"))
    }

    /// Drops the schema or database, or deletes the keys.
    pub async fn teardown(self) -> Result<(), String> {
        match self {
            Engine::DashMap { .. } => Ok(()),
            Engine::Postgres(ns) => ns.drop_schema().await,
            Engine::BestPostgres { ns, client, .. } => {
                drop(client);
                ns.drop_schema().await
            }
            Engine::MySql(ns) => ns.drop_database().await,
            Engine::BestMySql { ns, conn } => {
                let (conn, _) = conn.into_inner();
                let _closed = conn.disconnect().await;
                ns.drop_database().await
            }
            Engine::BestRedis { conn, prefix, .. } => redis_delete_prefix(conn, &prefix).await,
            Engine::Redis { conn, prefix, .. } => redis_delete_prefix(conn, &prefix).await,
        }
    }

    /// Sends `cmd` on the engine's Redis connection.
    async fn redis_query<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> redis::RedisResult<T> {
        match self {
            Engine::Redis { conn, .. } => cmd.query_async(&mut conn.clone()).await,
            Engine::BestRedis { conn, .. } => cmd.query_async(&mut conn.clone()).await,
            _ => unreachable!("not a Redis engine"),
        }
    }
}

/// Deletes every key under `prefix`.
async fn redis_delete_prefix(
    mut conn: impl ConnectionLike + Send,
    prefix: &str,
) -> Result<(), String> {
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("SCAN: {e}"))?;
        if !keys.is_empty() {
            redis::cmd("UNLINK")
                .arg(&keys)
                .query_async::<()>(&mut conn)
                .await
                .map_err(|e| format!("UNLINK: {e}"))?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// A tokio-postgres connection whose `search_path` is `schema`, and the baseline's four
/// statements prepared on it.
async fn best_postgres(url: &str, schema: &str) -> Result<(Client, [Statement; 4]), String> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|err| format!("AUTHSTORE_POSTGRES_URL for tokio-postgres: {err}"))?;
    config.options(format!("-c search_path={schema}"));
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|err| format!("connecting to PostgreSQL with tokio-postgres: {err}"))?;
    tokio::spawn(connection);
    let mut statements = Vec::new();
    for sql in [
        "SELECT value FROM raw_kv WHERE id = $1",
        "INSERT INTO raw_kv (id, value) VALUES ($1, $2) \
         ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value",
        "SELECT value FROM raw_record WHERE id = $1",
        "INSERT INTO raw_record (id, value) VALUES ($1, $2) \
         ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value",
    ] {
        statements.push(
            client
                .prepare(sql)
                .await
                .map_err(|err| format!("preparing {sql:?}: {err}"))?,
        );
    }
    let statements = statements
        .try_into()
        .map_err(|_| "four statements".to_owned())?;
    Ok((client, statements))
}

/// A mysql_async connection on `database`, and the baseline's four statements prepared
/// on it.
async fn best_mysql(
    url: &str,
    database: &str,
) -> Result<(mysql_async::Conn, [mysql_async::Statement; 4]), String> {
    use mysql_async::prelude::Queryable;
    let opts = mysql_async::Opts::from_url(url)
        .map_err(|err| format!("AUTHSTORE_MYSQL_URL for mysql_async: {err}"))?;
    let opts = mysql_async::OptsBuilder::from_opts(opts).db_name(Some(database));
    let mut conn = mysql_async::Conn::new(opts)
        .await
        .map_err(|err| format!("connecting to MySQL with mysql_async: {err}"))?;
    let mut statements = Vec::new();
    for sql in [
        "SELECT value FROM raw_kv WHERE id = ?",
        "INSERT INTO raw_kv (id, value) VALUES (?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value)",
        "SELECT value FROM raw_record WHERE id = ?",
        "INSERT INTO raw_record (id, value) VALUES (?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value)",
    ] {
        statements.push(
            conn.prep(sql)
                .await
                .map_err(|err| format!("preparing {sql:?}: {err}"))?,
        );
    }
    let statements = statements
        .try_into()
        .map_err(|_| "four statements".to_owned())?;
    Ok((conn, statements))
}

/// Kv value `i` with a write counter in its last 8 bytes: every baseline write changes
/// the row, as the backends' writes do (they set a new expiry). An upsert of identical
/// bytes is a no-op to InnoDB (no redo record, no log flush at commit), which made the
/// MySQL baseline measure a write that never happened.
fn fresh_kv_value(i: usize) -> Vec<u8> {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let mut value = kv_value(i);
    let stamp = WRITES.fetch_add(1, Ordering::Relaxed).to_le_bytes();
    let at = value.len() - stamp.len();
    value[at..].copy_from_slice(&stamp);
    value
}

/// Token `i` as the JSON bytes a server stores (its timestamps are now's, so every
/// write changes the row).
fn record_bytes(i: usize) -> Vec<u8> {
    serde_json::to_vec(&token(i)).expect("a token serialises")
}
