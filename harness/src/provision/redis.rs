//! Redis provisioning: a fresh key prefix per scenario on the server (or cluster) from the
//! chosen [`Source`] (`AUTHSTORE_REDIS_URL` / `AUTHSTORE_REDIS_CLUSTER_URLS`, or a
//! container), with two independent connections on it.
//!
//! ```ignore
//! conformance_suite!(
//!     redis,
//!     async { authstore_harness::provision::redis::fixture().await },
//!     capabilities = [expiry, concurrency, large_values, multi_handle],
//!     timing = authstore_backends::RedisStorage::TIMING,
//! );
//! ```

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

use authstore_backends::{RedisConfig, RedisStorage};

use super::{Endpoint, Service, Source, endpoint_from};
use authstore_conformance::Fixture;

/// Prefixes made by this process so far, for unique names.
static PREFIXES: AtomicU64 = AtomicU64::new(0);

/// A fixture under a fresh key prefix on a single server: a [`RedisStorage`] on its own
/// connection, and as second handle another `RedisStorage` with the same prefix on a
/// second, independent connection. The teardown deletes every key under the prefix.
///
/// The server comes from the source `AUTHSTORE_SOURCE` chooses (default: the URL in
/// `AUTHSTORE_REDIS_URL` when set, else a container). Call it inside the runtime that
/// will use the storages: their connections belong to it.
pub async fn fixture() -> Result<Fixture, String> {
    fixture_from(Source::from_env()?).await
}

/// As [`fixture`], on the server from `source`.
pub async fn fixture_from(source: Source) -> Result<Fixture, String> {
    let endpoint = endpoint_from(Service::Redis, source).await?;
    build(RedisConfig::new(endpoint.url.clone()), endpoint).await
}

/// As [`fixture`], on a Redis Cluster (`AUTHSTORE_REDIS_CLUSTER_URLS`, or three masters
/// in one container). Each scenario's prefix is its keys' hash tag, so different
/// scenarios land on different masters.
pub async fn cluster_fixture() -> Result<Fixture, String> {
    cluster_fixture_from(Source::from_env()?).await
}

/// As [`cluster_fixture`], on the cluster from `source`.
pub async fn cluster_fixture_from(source: Source) -> Result<Fixture, String> {
    let endpoint = endpoint_from(Service::RedisCluster, source).await?;
    let urls = endpoint.urls();
    build(RedisConfig::cluster(urls), endpoint).await
}

/// Two storages under one fresh prefix, each on its own connection from `config`. The
/// other namespace (for the `namespaces` scenarios) is a storage whose prefix starts
/// with this one's and adds glob characters: `<prefix>x*?[ns]:`.
async fn build(config: RedisConfig, endpoint: Endpoint) -> Result<Fixture, String> {
    let prefix = unique_prefix();
    let first = connect(&config, &prefix, &endpoint).await?;
    let second = connect(&config, &prefix, &endpoint).await?;
    let cleaner = first.clone();
    let nested = format!("{prefix}x*?[ns]:");
    let (ttl_config, ttl_endpoint) = (config.clone(), endpoint.clone());
    Ok(Fixture::new(first)
        .with_second_handle(second)
        .with_teardown(teardown(cleaner))
        .with_kv_value_limit(RedisStorage::MAX_VALUE_BYTES as u64)
        .with_other_namespace(move || {
            let (config, nested, endpoint) = (config.clone(), nested.clone(), endpoint.clone());
            async move {
                let other = connect(&config, &nested, &endpoint).await?;
                Ok(Fixture::new(other.clone()).with_teardown(teardown(other)))
            }
        })
        .with_default_ttl_store(move |ttl| {
            let config = ttl_config.clone().with_default_ttl(ttl);
            let endpoint = ttl_endpoint.clone();
            async move {
                let store = connect(&config, &unique_prefix(), &endpoint).await?;
                Ok(Fixture::new(store.clone()).with_teardown(teardown(store)))
            }
        }))
}

/// A storage under `prefix` from `config`.
async fn connect(
    config: &RedisConfig,
    prefix: &str,
    endpoint: &Endpoint,
) -> Result<RedisStorage, String> {
    config
        .clone()
        .with_prefix(prefix)
        .connect()
        .await
        .map_err(|err| format!("cannot connect to the Redis of {} ({err})", endpoint.origin))
}

/// `authstore-test:<pid>-<counter>-<random>:`: unique across processes and runs, and
/// free of glob characters and braces.
pub(crate) fn unique_prefix() -> String {
    let counter = PREFIXES.fetch_add(1, Ordering::Relaxed);
    let random = RandomState::new().hash_one(counter);
    format!(
        "authstore-test:{}-{counter}-{:08x}:",
        std::process::id(),
        random as u32
    )
}

/// Deletes every key under the scenario's prefix.
async fn teardown(storage: RedisStorage) -> Result<(), String> {
    storage
        .purge()
        .await
        .map(drop)
        .map_err(|err| format!("deleting the keys of prefix {:?}: {err}", storage.prefix()))
}
