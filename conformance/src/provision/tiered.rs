//! Tiered provisioning: a fresh PostgreSQL schema (`AUTHSTORE_POSTGRES_URL`) and a fresh
//! Redis key prefix (`AUTHSTORE_REDIS_URL`) per scenario, with two independently built
//! [`TieredStorage`] nodes on them.
//!
//! ```ignore
//! conformance_suite!(
//!     tiered,
//!     async { authstore_conformance::provision::tiered::fixture().await },
//!     capabilities = [expiry, concurrency, large_values, multi_handle],
//!     timing = authstore_backends::TieredStorage::TIMING,
//! );
//! ```

use authstore_backends::{PostgresStorage, RedisConfig, RedisStorage, TieredStorage};

use super::{postgres, redis};
use crate::Fixture;

/// A fixture on a fresh schema and a fresh prefix: a [`TieredStorage`] over its own pool
/// and Redis connection, migrated, and as second handle another `TieredStorage` built
/// independently (a second pool, a second connection) over the same schema and prefix,
/// as a second application node would be. The teardown closes both pools, drops the
/// schema and deletes every key under the prefix.
///
/// Fails with a message saying how to provide the servers when either URL is unset or a
/// server cannot be reached. Call it inside the runtime that will use the storages.
pub async fn fixture() -> Result<Fixture, String> {
    let redis_url = std::env::var(redis::URL_VAR)
        .map_err(|_| format!("{} is not set: {}", redis::URL_VAR, redis::ADVICE))?;
    let (options, schema, first, second) = postgres::fresh_schema().await?;
    let pools = [first.clone(), second.clone()];
    let prefix = redis::unique_prefix();
    let connect = || async {
        RedisConfig::new(redis_url.clone())
            .with_prefix(prefix.clone())
            .connect()
            .await
            .map_err(|err| {
                format!(
                    "cannot connect to the Redis named by {} ({err}): {}",
                    redis::URL_VAR,
                    redis::ADVICE
                )
            })
    };
    let nodes = async {
        let cache_a = connect().await?;
        let cache_b = connect().await?;
        let cleaner = cache_a.clone();
        let node_a = TieredStorage::new(cache_a, PostgresStorage::new(first));
        node_a
            .migrate()
            .await
            .map_err(|err| format!("migrating schema {schema} for TieredStorage failed: {err}"))?;
        let node_b = TieredStorage::new(cache_b, PostgresStorage::new(second));
        Ok::<_, String>((node_a, node_b, cleaner))
    }
    .await;
    match nodes {
        Ok((node_a, node_b, cleaner)) => Ok(Fixture::new(node_a)
            .with_second_handle(node_b)
            .with_teardown(teardown(options, schema, pools, cleaner))),
        Err(err) => match postgres::teardown(options, schema, pools).await {
            Ok(()) => Err(err),
            Err(drop_err) => Err(format!(
                "{err}\n(and the schema was not dropped: {drop_err})"
            )),
        },
    }
}

/// Drops the schema (after closing the pools), then the prefix's keys; reports both.
async fn teardown(
    options: sqlx::postgres::PgConnectOptions,
    schema: String,
    pools: [sqlx::PgPool; 2],
    cache: RedisStorage,
) -> Result<(), String> {
    let dropped = postgres::teardown(options, schema, pools).await;
    let purged = cache
        .purge()
        .await
        .map(drop)
        .map_err(|err| format!("deleting the keys of prefix {:?}: {err}", cache.prefix()));
    match (dropped, purged) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(err), Ok(())) | (Ok(()), Err(err)) => Err(err),
        (Err(a), Err(b)) => Err(format!("{a}; {b}")),
    }
}
