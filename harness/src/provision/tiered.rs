//! Tiered provisioning: a fresh PostgreSQL schema and a fresh Redis key prefix per
//! scenario (each server from the chosen [`Source`]), with two independently built
//! [`TieredStorage`] nodes on them.
//!
//! ```ignore
//! conformance_suite!(
//!     tiered,
//!     async { authstore_harness::provision::tiered::fixture().await },
//!     capabilities = [expiry, concurrency, large_values, multi_handle],
//!     timing = authstore_backends::TieredStorage::TIMING,
//! );
//! ```

use authstore_backends::{PostgresStorage, RedisConfig, RedisStorage, TieredStorage};
use futures::future::BoxFuture;

use super::{Service, Source, endpoint_from, postgres, redis};
use authstore_conformance::Fixture;

/// A fixture on a fresh schema and a fresh prefix: a [`TieredStorage`] over its own pool
/// and Redis connection, migrated, and as second handle another `TieredStorage` built
/// independently (a second pool, a second connection) over the same schema and prefix,
/// as a second application node would be. The teardown closes both pools, drops the
/// schema and deletes every key under the prefix.
///
/// The servers come from the source `AUTHSTORE_SOURCE` chooses (for each: its URL
/// variable when set, else a container). Call it inside the runtime that will use the
/// storages.
pub async fn fixture() -> Result<Fixture, String> {
    fixture_from(Source::from_env()?).await
}

/// As [`fixture`], with both servers from `source`.
pub async fn fixture_from(source: Source) -> Result<Fixture, String> {
    // The other namespace (for the `namespaces` scenarios): another fresh schema and
    // another Redis prefix on the same servers, made only when a scenario asks for it.
    Ok(one_namespace(source)
        .await?
        .with_other_namespace(move || one_namespace(source)))
}

/// A fixture on a fresh schema and prefix, without another namespace.
fn one_namespace(source: Source) -> BoxFuture<'static, Result<Fixture, String>> {
    Box::pin(one_namespace_inner(source))
}

async fn one_namespace_inner(source: Source) -> Result<Fixture, String> {
    let cache = endpoint_from(Service::Redis, source).await?;
    let (options, schema, first, second) = postgres::fresh_schema(source).await?;
    let pools = [first.clone(), second.clone()];
    let prefix = redis::unique_prefix();
    let connect = || async {
        RedisConfig::new(cache.url.clone())
            .with_prefix(prefix.clone())
            .connect()
            .await
            .map_err(|err| format!("cannot connect to the Redis of {} ({err})", cache.origin))
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
