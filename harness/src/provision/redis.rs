//! Redis: everything the harness knows about a single Redis server — [`RedisServer`]
//! (variables, image, container, readiness, a key prefix per scenario) — and the fixture
//! both Redis backends share: a fresh key prefix per scenario on the server (or, with
//! [`super::redis_cluster`], the cluster) from the chosen [`Source`]
//! (`AUTHSTORE_REDIS_URL`, or a container), with two independent connections on it.
//!
//! ```ignore
//! conformance_suite!(
//!     redis,
//!     async { authstore_harness::provision::redis::fixture().await },
//!     capabilities = [expiry, concurrency, large_values, multi_handle],
//!     timing = authstore_backends::RedisStorage::TIMING,
//! );
//! ```

use authstore_backends::{RedisConfig, RedisStorage};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::{
    ContainerLayout, Endpoint, Namespace, ProvisionError, Server, Service, Source, endpoint_from,
};
use authstore_conformance::Fixture;

pub use super::redis_cluster::{cluster_fixture, cluster_fixture_from};

/// The port Redis listens on inside its container.
const INNER_PORT: u16 = 6379;

/// A single Redis server ([`Service::Redis`]).
#[derive(Debug, Clone, Copy)]
pub struct RedisServer;

impl Server for RedisServer {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn url_var(&self) -> &'static str {
        "AUTHSTORE_REDIS_URL"
    }

    fn image_var(&self) -> &'static str {
        "AUTHSTORE_REDIS_IMAGE"
    }

    fn default_image(&self) -> &'static str {
        "redis:7.4.2-bookworm"
    }

    fn advice(&self) -> &'static str {
        ADVICE
    }

    fn container(&self, host_ports: &[u16], server_args: &[String]) -> ContainerLayout {
        let port = host_ports.first().copied().unwrap_or_default();
        ContainerLayout {
            entrypoint: None,
            env: Vec::new(),
            ports: vec![(port, INNER_PORT)],
            cmd: server_args.to_vec(),
            url: format!("redis://127.0.0.1:{port}"),
        }
    }

    fn suite_server_args(&self) -> &'static [&'static str] {
        &["--save", "", "--appendonly", "no"]
    }

    fn probe<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<String, String>> {
        async move {
            let info = info(url).await?;
            Ok(format!("Redis {}", info_field(&info, "redis_version")))
        }
        .boxed()
    }

    fn namespace_name(&self, unique: &str) -> String {
        prefix_name(unique)
    }

    fn create_namespace<'a>(
        &'a self,
        _endpoint: &'a Endpoint,
        _name: &'a str,
    ) -> BoxFuture<'a, Result<(), ProvisionError>> {
        // A prefix exists as soon as a key under it does.
        async { Ok(()) }.boxed()
    }

    fn drop_namespace<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(), ProvisionError>> {
        purge(RedisConfig::new(endpoint.url.clone()), endpoint, name).boxed()
    }
}

/// How to get Redis servers without containers (`ci/start-redis` starts the single node
/// and the cluster).
pub(crate) const ADVICE: &str = "start them with `eval \"$(bash ci/start-redis)\"`";

/// `authstore-test:<unique>:`: free of glob characters and braces (the prefix is also the
/// keys' hash tag).
pub(crate) fn prefix_name(unique: &str) -> String {
    format!("authstore-test:{unique}:")
}

/// Deletes every key under `prefix`, on a connection of its own from `config`.
pub(crate) async fn purge(
    config: RedisConfig,
    endpoint: &Endpoint,
    prefix: &str,
) -> Result<(), ProvisionError> {
    let storage = connect(&config, prefix, endpoint).await?;
    storage
        .purge()
        .await
        .map(drop)
        .map_err(|err| ProvisionError::Namespace {
            service: endpoint.service,
            action: format!("deleting the keys of prefix {prefix:?}"),
            reason: err.to_string(),
        })
}

/// `INFO server` of the node at `url`.
pub(crate) async fn info(url: &str) -> Result<String, String> {
    let client = ::redis::Client::open(url).map_err(|err| err.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|err| format!("{url}: {err}"))?;
    ::redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await
        .map_err(|err| format!("{url}: {err}"))
}

/// The value of `name:value` in an INFO-style reply, or `?`.
pub(crate) fn info_field(info: &str, name: &str) -> String {
    info.lines()
        .find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or("?")
        .to_owned()
}

/// A fixture under a fresh key prefix on a single server: a [`RedisStorage`] on its own
/// connection, and as second handle another `RedisStorage` with the same prefix on a
/// second, independent connection. The teardown deletes every key under the prefix.
///
/// The server comes from the source `AUTHSTORE_SOURCE` chooses (default: the URL in
/// `AUTHSTORE_REDIS_URL` when set, else a container). Call it inside the runtime that
/// will use the storages: their connections belong to it.
pub async fn fixture() -> Result<Fixture, ProvisionError> {
    fixture_from(Source::from_env()?).await
}

/// As [`fixture`], on the server from `source`.
pub async fn fixture_from(source: Source) -> Result<Fixture, ProvisionError> {
    let endpoint = endpoint_from(Service::Redis, source).await?;
    build(RedisConfig::new(endpoint.url.clone()), endpoint).await
}

/// Two storages under one fresh prefix, each on its own connection from `config`. The
/// other namespace (for the `namespaces` scenarios) is a storage whose prefix starts
/// with this one's and adds glob characters: `<prefix>x*?[ns]:`.
pub(crate) async fn build(
    config: RedisConfig,
    endpoint: Endpoint,
) -> Result<Fixture, ProvisionError> {
    let namespace = Namespace::fresh_on(endpoint.clone()).await?;
    let first = connect(&config, &namespace.name, &endpoint).await?;
    let second = connect(&config, &namespace.name, &endpoint).await?;
    let nested = Namespace {
        endpoint: endpoint.clone(),
        name: format!("{}x*?[ns]:", namespace.name),
    };
    let ttl_config = config.clone();
    let ttl_endpoint = endpoint.clone();
    Ok(Fixture::new(first)
        .with_second_handle(second)
        .with_teardown(namespace.drop())
        .with_kv_value_limit(RedisStorage::MAX_VALUE_BYTES as u64)
        .with_other_namespace(move || {
            let (config, nested) = (config.clone(), nested.clone());
            async move {
                let other = connect(&config, &nested.name, &nested.endpoint)
                    .await
                    .map_err(|err| err.to_string())?;
                Ok(Fixture::new(other).with_teardown(nested.drop()))
            }
        })
        .with_default_ttl_store(move |ttl| {
            let config = ttl_config.clone().with_default_ttl(ttl);
            let endpoint = ttl_endpoint.clone();
            async move {
                let namespace = Namespace::fresh_on(endpoint)
                    .await
                    .map_err(|err| err.to_string())?;
                let store = connect(&config, &namespace.name, &namespace.endpoint)
                    .await
                    .map_err(|err| err.to_string())?;
                Ok(Fixture::new(store).with_teardown(namespace.drop()))
            }
        }))
}

/// A storage under `prefix` from `config`.
pub(crate) async fn connect(
    config: &RedisConfig,
    prefix: &str,
    endpoint: &Endpoint,
) -> Result<RedisStorage, ProvisionError> {
    config
        .clone()
        .with_prefix(prefix)
        .connect()
        .await
        .map_err(|err| ProvisionError::Connect {
            service: endpoint.service,
            server: endpoint.origin.clone(),
            reason: err.to_string(),
            advice: ADVICE,
        })
}
