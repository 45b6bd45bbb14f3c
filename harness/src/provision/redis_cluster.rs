//! Redis Cluster: everything the harness knows about it — [`RedisClusterServer`]
//! (variables, a three-master cluster in one Redis container, readiness of every node, a
//! key prefix per scenario) — and its fixture, built like the single node's
//! ([`super::redis`]).
//!
//! ```ignore
//! conformance_suite!(
//!     redis_cluster,
//!     async { authstore_harness::provision::redis::cluster_fixture().await },
//!     capabilities = [expiry, concurrency, large_values, multi_handle],
//!     timing = authstore_backends::RedisStorage::TIMING,
//! );
//! ```

use authstore_backends::RedisConfig;
use futures::FutureExt;
use futures::future::BoxFuture;

use super::redis::{self, info, info_field};
use super::{ContainerLayout, Endpoint, ProvisionError, Server, Service, Source, endpoint_from};
use authstore_conformance::Fixture;

/// Masters in the container's cluster.
const NODES: usize = 3;

/// First cluster-bus port inside the container: 17000 + i is below the host's ephemeral
/// range the client ports come from, so they cannot clash.
const BUS_PORT_BASE: usize = 17000;

/// A Redis Cluster of three masters ([`Service::RedisCluster`]); its container runs them
/// all in the Redis image.
#[derive(Debug, Clone, Copy)]
pub struct RedisClusterServer;

impl Server for RedisClusterServer {
    fn name(&self) -> &'static str {
        "redis-cluster"
    }

    fn url_var(&self) -> &'static str {
        "AUTHSTORE_REDIS_CLUSTER_URLS"
    }

    fn image_var(&self) -> &'static str {
        super::redis::RedisServer.image_var()
    }

    fn default_image(&self) -> &'static str {
        super::redis::RedisServer.default_image()
    }

    fn advice(&self) -> &'static str {
        redis::ADVICE
    }

    fn host_ports(&self) -> usize {
        NODES
    }

    /// The nodes listen on the host ports themselves (mapped one to one), so the
    /// redirects they send name reachable addresses.
    fn container(&self, host_ports: &[u16], server_args: &[String]) -> ContainerLayout {
        ContainerLayout {
            entrypoint: Some("sh"),
            env: Vec::new(),
            ports: host_ports.iter().map(|&port| (port, port)).collect(),
            cmd: vec!["-c".to_owned(), script(host_ports, server_args)],
            url: host_ports
                .iter()
                .map(|port| format!("redis://127.0.0.1:{port}"))
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    fn suite_server_args(&self) -> &'static [&'static str] {
        // The script already turns persistence off.
        &[]
    }

    fn probe<'a>(&'a self, urls: &'a str) -> BoxFuture<'a, Result<String, String>> {
        probe(urls).boxed()
    }

    fn namespace_name(&self, unique: &str) -> String {
        redis::prefix_name(unique)
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
        redis::purge(RedisConfig::cluster(endpoint.urls()), endpoint, name).boxed()
    }
}

/// Three cluster-enabled nodes on the given ports announcing 127.0.0.1 (the host side of
/// the port mappings), joined into one cluster; the shell then waits forever.
fn script(ports: &[u16], server_args: &[String]) -> String {
    let extra = server_args
        .iter()
        .map(|arg| format!("'{}'", arg.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let list = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    let nodes = ports
        .iter()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect::<Vec<_>>()
        .join(" ");
    let starts = ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "mkdir -p /tmp/node-{p}\n\
                 redis-server --port {p} --bind 0.0.0.0 --protected-mode no --daemonize yes \
                 --cluster-enabled yes --cluster-config-file /tmp/node-{p}/nodes.conf \
                 --cluster-port {bus} --cluster-announce-ip 127.0.0.1 --dir /tmp/node-{p} \
                 --save '' --appendonly no {extra}\n",
                bus = BUS_PORT_BASE + i
            )
        })
        .collect::<String>();
    format!(
        "set -e\n{starts}\
         for p in {list}; do until redis-cli -p $p ping >/dev/null 2>&1; do sleep 0.1; done; done\n\
         redis-cli --cluster create {nodes} --cluster-replicas 0 --cluster-yes\n\
         exec sleep infinity\n"
    )
}

/// Every node answers and reports the cluster healthy and complete.
async fn probe(urls: &str) -> Result<String, String> {
    let urls: Vec<&str> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect();
    if urls.is_empty() {
        return Err("no node URL".to_owned());
    }
    let mut version = String::new();
    for url in &urls {
        let client = ::redis::Client::open(*url).map_err(|err| err.to_string())?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|err| format!("{url}: {err}"))?;
        let cluster: String = ::redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut conn)
            .await
            .map_err(|err| format!("{url}: {err}"))?;
        let state = info_field(&cluster, "cluster_state");
        let known = info_field(&cluster, "cluster_known_nodes");
        if state != "ok" || known.parse::<usize>().ok() != Some(urls.len()) {
            return Err(format!(
                "{url}: cluster_state {state}, {known} known nodes of {}",
                urls.len()
            ));
        }
        version = info_field(&info(url).await?, "redis_version");
    }
    Ok(format!("Redis {version} cluster of {}", urls.len()))
}

/// As [`redis::fixture`], on a Redis Cluster (`AUTHSTORE_REDIS_CLUSTER_URLS`, or three
/// masters in one container). Each scenario's prefix is its keys' hash tag, so different
/// scenarios land on different masters.
pub async fn cluster_fixture() -> Result<Fixture, ProvisionError> {
    cluster_fixture_from(Source::from_env()?).await
}

/// As [`cluster_fixture`], on the cluster from `source`.
pub async fn cluster_fixture_from(source: Source) -> Result<Fixture, ProvisionError> {
    let endpoint = endpoint_from(Service::RedisCluster, source).await?;
    redis::build(RedisConfig::cluster(endpoint.urls()), endpoint).await
}
