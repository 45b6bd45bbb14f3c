//! Redis provisioning: a fresh key prefix per scenario on the server (or cluster) named by
//! `AUTHSTORE_REDIS_URL` (`AUTHSTORE_REDIS_CLUSTER_URLS`), with two independent
//! connections on it.
//!
//! ```ignore
//! conformance_suite!(
//!     redis,
//!     async { authstore_conformance::provision::redis::fixture().await },
//!     capabilities = [expiry, concurrency, large_values, multi_handle],
//!     timing = authstore_backends::RedisStorage::TIMING,
//! );
//! ```

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

use authstore_backends::{RedisConfig, RedisStorage};

use crate::Fixture;

/// The environment variable holding the single server's URL, e.g.
/// `redis://127.0.0.1:6379`.
pub const URL_VAR: &str = "AUTHSTORE_REDIS_URL";

/// The environment variable holding a Redis Cluster's node URLs, comma-separated, e.g.
/// `redis://127.0.0.1:7000,redis://127.0.0.1:7001,redis://127.0.0.1:7002`.
pub const CLUSTER_URLS_VAR: &str = "AUTHSTORE_REDIS_CLUSTER_URLS";

/// How to get servers, appended to every "no server" error.
pub(crate) const ADVICE: &str = "start servers with `eval \"$(bash ci/start-redis)\"` or point it at \
                      your own Redis";

/// Prefixes made by this process so far, for unique names.
static PREFIXES: AtomicU64 = AtomicU64::new(0);

/// A fixture under a fresh key prefix on the single server: a [`RedisStorage`] on its own
/// connection, and as second handle another `RedisStorage` with the same prefix on a
/// second, independent connection. The teardown deletes every key under the prefix.
///
/// Fails with a message saying how to provide a server when `AUTHSTORE_REDIS_URL` is
/// unset or the server cannot be reached. Call it inside the runtime that will use the
/// storages: their connections belong to it.
pub async fn fixture() -> Result<Fixture, String> {
    let url = std::env::var(URL_VAR).map_err(|_| format!("{URL_VAR} is not set: {ADVICE}"))?;
    build(|| RedisConfig::new(url.clone()), URL_VAR).await
}

/// As [`fixture`], on the Redis Cluster named by `AUTHSTORE_REDIS_CLUSTER_URLS`. Each
/// scenario's prefix is its keys' hash tag, so different scenarios land on different
/// masters.
pub async fn cluster_fixture() -> Result<Fixture, String> {
    let urls = std::env::var(CLUSTER_URLS_VAR)
        .map_err(|_| format!("{CLUSTER_URLS_VAR} is not set: {ADVICE}"))?;
    let urls: Vec<String> = urls
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .collect();
    if urls.is_empty() {
        return Err(format!("{CLUSTER_URLS_VAR} names no node: {ADVICE}"));
    }
    build(|| RedisConfig::cluster(urls.clone()), CLUSTER_URLS_VAR).await
}

/// Two storages under one fresh prefix, each from its own `config()`.
async fn build(config: impl Fn() -> RedisConfig, var: &str) -> Result<Fixture, String> {
    let prefix = unique_prefix();
    let connect = || async {
        config()
            .with_prefix(prefix.clone())
            .connect()
            .await
            .map_err(|err| format!("cannot connect to the Redis named by {var} ({err}): {ADVICE}"))
    };
    let first = connect().await?;
    let second = connect().await?;
    let cleaner = first.clone();
    Ok(Fixture::new(first)
        .with_second_handle(second)
        .with_teardown(teardown(cleaner)))
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
