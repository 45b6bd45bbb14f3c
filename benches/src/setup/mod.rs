//! Opening each backend on a fresh namespace (PostgreSQL schema, MySQL database, Redis
//! key prefix) sized for 16 calls in flight, and removing the namespace afterwards.

pub mod engine;
pub mod servers;

use std::sync::Arc;
use std::time::Duration;

use authstore_backends::{
    EncryptedStorage, EncryptionKey, MemoryStorage, MySqlStorage, PostgresStorage, RedisConfig,
    TieredStorage, UnifiedStorage, UnifiedStorageConfig,
};
use authstore_spec::AuthStorage;
use futures::future::BoxFuture;

use self::servers::{MySqlNamespace, PgNamespace, redis_prefix};

/// `AUTHSTORE_POSTGRES_URL`: the PostgreSQL server.
pub const POSTGRES_URL_VAR: &str = "AUTHSTORE_POSTGRES_URL";
/// `AUTHSTORE_MYSQL_URL`: the MySQL or MariaDB server.
pub const MYSQL_URL_VAR: &str = "AUTHSTORE_MYSQL_URL";
/// `AUTHSTORE_REDIS_URL`: the single Redis node.
pub const REDIS_URL_VAR: &str = "AUTHSTORE_REDIS_URL";
/// `AUTHSTORE_REDIS_CLUSTER_URLS`: the Redis Cluster's nodes, comma-separated.
pub const REDIS_CLUSTER_URLS_VAR: &str = "AUTHSTORE_REDIS_CLUSTER_URLS";

/// `AUTHSTORE_BENCH_PG_CLIENT`: `sqlx` measures the `postgres` backend on
/// `PostgresStorage::new` (sqlx pool) instead of `PostgresStorage::connect_with`
/// (tokio-postgres, the default and the recommended constructor).
pub const PG_CLIENT_VAR: &str = "AUTHSTORE_BENCH_PG_CLIENT";

/// Connections per SQL pool: one per call in flight at concurrency 16.
pub const POOL_SIZE: u32 = 16;

/// Cache TTL of the tiered backend here: an hour instead of the default minute, so the
/// read benchmarks measure cache hits for as long as they run.
pub const TIERED_CACHE_TTL: Duration = Duration::from_secs(3600);

/// Undoes a namespace: closes pools, drops the schema or database, deletes keys.
pub type Teardown = Box<dyn FnOnce() -> BoxFuture<'static, Result<(), String>> + Send>;

/// A backend ready to be filled.
pub struct Opened {
    /// The storage under test.
    pub storage: Arc<dyn AuthStorage>,
    /// The server's version (`None` in process; both servers' for tiered).
    pub server_version: Option<String>,
    /// Removes the namespace.
    pub teardown: Teardown,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("server_version", &self.server_version)
            .finish_non_exhaustive()
    }
}

/// Why a backend can or cannot be measured.
#[derive(Debug)]
pub enum Availability {
    /// Opened on a fresh namespace.
    Ready(Opened),
    /// Its server's variable is unset: not measured, for this reason.
    NotConfigured(String),
}

/// The variable a server backend needs, if it needs one that is unset.
pub fn missing_variable(backend: &str) -> Option<&'static str> {
    let needed: &[&'static str] = match backend {
        "postgres" | "raw-postgres" => &[POSTGRES_URL_VAR],
        "mysql" | "raw-mysql" => &[MYSQL_URL_VAR],
        "redis" | "raw-redis" => &[REDIS_URL_VAR],
        "redis-cluster" => &[REDIS_CLUSTER_URLS_VAR],
        "tiered" => &[POSTGRES_URL_VAR, REDIS_URL_VAR],
        _ => &[],
    };
    needed
        .iter()
        .copied()
        .find(|var| std::env::var(var).map_or(true, |v| v.trim().is_empty()))
}

/// Opens `backend` (a name from [`crate::ids::BACKENDS`]) on a fresh namespace, sized
/// for a dataset of `records`. Call it inside the runtime that will drive it.
pub async fn open(backend: &str, records: u64) -> Result<Availability, String> {
    if let Some(var) = missing_variable(backend) {
        return Ok(Availability::NotConfigured(format!("{var} is not set")));
    }
    let nothing_to_undo = || -> Teardown { Box::new(|| Box::pin(async { Ok(()) })) };
    let opened = match backend {
        "memory" => Opened {
            storage: Arc::new(MemoryStorage::new()),
            server_version: None,
            teardown: nothing_to_undo(),
        },
        "unified" => Opened {
            storage: Arc::new(UnifiedStorage::with_config(unified_config(records))),
            server_version: None,
            teardown: nothing_to_undo(),
        },
        "encrypted-memory" => {
            let key = EncryptionKey::generate(1).map_err(|err| format!("key: {err}"))?;
            Opened {
                storage: Arc::new(EncryptedStorage::new(MemoryStorage::new(), key)),
                server_version: None,
                teardown: nothing_to_undo(),
            }
        }
        "postgres" => {
            let url = env(POSTGRES_URL_VAR)?;
            let ns = PgNamespace::create(&url).await?;
            let storage = match postgres_storage(&url, &ns).await {
                Ok(storage) => storage,
                Err(err) => {
                    let _dropped = ns.drop_schema().await;
                    return Err(err);
                }
            };
            if let Err(err) = storage.migrate().await {
                let _dropped = ns.drop_schema().await;
                return Err(format!("migrating PostgreSQL: {err}"));
            }
            let closing = storage.clone();
            Opened {
                storage: Arc::new(storage),
                server_version: Some(ns.version.clone()),
                teardown: Box::new(move || {
                    Box::pin(async move {
                        closing.close().await;
                        ns.drop_schema().await
                    })
                }),
            }
        }
        "mysql" => {
            let ns = MySqlNamespace::create(&env(MYSQL_URL_VAR)?).await?;
            let storage = MySqlStorage::new(ns.pool.clone());
            if let Err(err) = storage.migrate().await {
                let _dropped = ns.drop_database().await;
                return Err(format!("migrating MySQL: {err}"));
            }
            Opened {
                storage: Arc::new(storage),
                server_version: Some(ns.version.clone()),
                teardown: Box::new(move || Box::pin(ns.drop_database())),
            }
        }
        "redis" | "redis-cluster" => {
            let config = if backend == "redis" {
                RedisConfig::new(env(REDIS_URL_VAR)?)
            } else {
                RedisConfig::cluster(cluster_urls()?)
            };
            let storage = config
                .with_prefix(redis_prefix())
                .connect()
                .await
                .map_err(|err| format!("connecting to Redis: {err}"))?;
            let version = if backend == "redis" {
                servers::redis_version(&env(REDIS_URL_VAR)?).await?
            } else {
                servers::redis_version(&cluster_urls()?[0]).await?
            };
            let cleaner = storage.clone();
            Opened {
                storage: Arc::new(storage),
                server_version: Some(version),
                teardown: Box::new(move || {
                    Box::pin(
                        async move { cleaner.purge().await.map(drop).map_err(|e| e.to_string()) },
                    )
                }),
            }
        }
        "tiered" => {
            let redis_url = env(REDIS_URL_VAR)?;
            let cache = RedisConfig::new(redis_url.clone())
                .with_prefix(redis_prefix())
                .connect()
                .await
                .map_err(|err| format!("connecting to Redis: {err}"))?;
            let ns = PgNamespace::create(&env(POSTGRES_URL_VAR)?).await?;
            let storage = TieredStorage::new(cache.clone(), PostgresStorage::new(ns.pool.clone()))
                .with_cache_ttl(TIERED_CACHE_TTL);
            if let Err(err) = storage.migrate().await {
                let _dropped = ns.drop_schema().await;
                return Err(format!("migrating tiered: {err}"));
            }
            let version = format!(
                "{} + {}",
                ns.version,
                servers::redis_version(&redis_url).await?
            );
            Opened {
                storage: Arc::new(storage),
                server_version: Some(version),
                teardown: Box::new(move || {
                    Box::pin(async move {
                        let dropped = ns.drop_schema().await;
                        let purged = cache.purge().await.map(drop).map_err(|e| e.to_string());
                        dropped.and(purged)
                    })
                }),
            }
        }
        other => return Err(format!("unknown backend {other:?}")),
    };
    Ok(Availability::Ready(opened))
}

/// The `postgres` backend's storage on `ns`: the recommended tokio-postgres path
/// (`PostgresStorage::connect_with`, [`POOL_SIZE`] connections), or with
/// `AUTHSTORE_BENCH_PG_CLIENT=sqlx` the sqlx pool of `PostgresStorage::new`, to compare.
async fn postgres_storage(url: &str, ns: &PgNamespace) -> Result<PostgresStorage, String> {
    if std::env::var(PG_CLIENT_VAR).is_ok_and(|client| client == "sqlx") {
        return Ok(PostgresStorage::new(ns.pool.clone()));
    }
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|err| format!("{POSTGRES_URL_VAR} for tokio-postgres: {err}"))?;
    config.options(format!("-c search_path={}", ns.schema));
    PostgresStorage::connect_with(config, POOL_SIZE as usize)
        .await
        .map_err(|err| format!("connecting PostgresStorage: {err}"))
}

/// UnifiedStorage's memory cap (512 MiB by default) raised so the 1M dataset fits; the
/// accounting itself still runs on every write.
fn unified_config(_records: u64) -> UnifiedStorageConfig {
    UnifiedStorageConfig {
        max_memory: 16 << 30,
        ..UnifiedStorageConfig::default()
    }
}

/// The value of a set variable.
fn env(var: &str) -> Result<String, String> {
    std::env::var(var).map_err(|_| format!("{var} is not set"))
}

/// The cluster's node URLs.
fn cluster_urls() -> Result<Vec<String>, String> {
    let urls: Vec<String> = env(REDIS_CLUSTER_URLS_VAR)?
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect();
    if urls.is_empty() {
        return Err(format!("{REDIS_CLUSTER_URLS_VAR} names no node"));
    }
    Ok(urls)
}
