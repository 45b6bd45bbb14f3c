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

use authstore_backends::{PostgresStorage, RedisConfig, TieredStorage};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::postgres::{self, FreshSchema};
use super::{Namespace, ProvisionError, Service, Source, redis};
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
pub async fn fixture() -> Result<Fixture, ProvisionError> {
    fixture_from(Source::from_env()?).await
}

/// As [`fixture`], with both servers from `source`.
pub async fn fixture_from(source: Source) -> Result<Fixture, ProvisionError> {
    fixture_on(source, false).await
}

/// As [`fixture`], each node's [`PostgresStorage`] on the tokio-postgres path (a pool of
/// its own from `PostgresStorage::connect_with`); the schema is first migrated by sqlx,
/// so the nodes' migration checks the history sqlx recorded.
pub async fn native_fixture() -> Result<Fixture, ProvisionError> {
    fixture_on(Source::from_env()?, true).await
}

/// The fixture, on the tokio-postgres path if `native`.
async fn fixture_on(source: Source, native: bool) -> Result<Fixture, ProvisionError> {
    // The other namespace (for the `namespaces` scenarios): another fresh schema and
    // another Redis prefix on the same servers, made only when a scenario asks for it.
    Ok(one_namespace(source, native)
        .await?
        .with_other_namespace(move || {
            one_namespace(source, native).map(|fixture| fixture.map_err(|err| err.to_string()))
        }))
}

/// A fixture on a fresh schema and prefix, without another namespace.
fn one_namespace(
    source: Source,
    native: bool,
) -> BoxFuture<'static, Result<Fixture, ProvisionError>> {
    Box::pin(one_namespace_inner(source, native))
}

async fn one_namespace_inner(source: Source, native: bool) -> Result<Fixture, ProvisionError> {
    let cache = Namespace::fresh(Service::Redis, source).await?;
    let schema = postgres::fresh_schema(source).await?;
    let nodes = async {
        let store = async |pool: &sqlx::PgPool| {
            if native {
                postgres::native_storage(&schema.namespace).await
            } else {
                Ok(PostgresStorage::new(pool.clone()))
            }
        };
        let config = RedisConfig::new(cache.endpoint.url.clone());
        let cache_a = redis::connect(&config, &cache.name, &cache.endpoint).await?;
        let cache_b = redis::connect(&config, &cache.name, &cache.endpoint).await?;
        let node_a = TieredStorage::new(cache_a, store(&schema.first).await?);
        node_a
            .migrate()
            .await
            .map_err(|err| ProvisionError::Namespace {
                service: Service::Postgres,
                action: format!(
                    "migrating schema {} for TieredStorage",
                    schema.namespace.name
                ),
                reason: err.to_string(),
            })?;
        let node_b = TieredStorage::new(cache_b, store(&schema.second).await?);
        Ok::<_, ProvisionError>((node_a, node_b))
    }
    .await;
    match nodes {
        Ok((node_a, node_b)) => Ok(Fixture::new(node_a)
            .with_second_handle(node_b)
            .with_teardown(teardown(schema, cache))),
        Err(err) => Err(err.with_cleanup(teardown(schema, cache).await)),
    }
}

/// Drops the schema (after closing the pools), then the prefix's keys; reports both.
async fn teardown(schema: FreshSchema, cache: Namespace) -> Result<(), ProvisionError> {
    let dropped = schema.teardown().await;
    let purged = cache.drop().await;
    ProvisionError::all(
        [dropped, purged]
            .into_iter()
            .filter_map(Result::err)
            .collect(),
    )
}
