//! The connection to a single node or a cluster, behind one private enum so every
//! operation is written once.

use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterClientBuilder;
use ::redis::cluster_async::ClusterConnection;
use ::redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use ::redis::{Client, Cmd, FromRedisValue, RedisResult, ServerErrorKind, TlsCertificates};

use authstore_spec::StorageError;

use super::scripts::{Library, Lua};

/// Reconnection attempts before a command fails (the operation timeout bounds them too).
const RECONNECT_RETRIES: usize = 3;
/// The longest pause between reconnection attempts.
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(500);

/// Where a storage's data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// One server, by URL.
    Single(String),
    /// A Redis Cluster, by the URLs of some of its nodes.
    Cluster(Vec<String>),
}

impl Target {
    /// Fails with [`InvalidInput`](StorageError::InvalidInput) unless every URL asks for
    /// TLS (`rediss://`).
    pub(super) fn require_tls(&self) -> Result<(), StorageError> {
        let urls = match self {
            Self::Single(url) => std::slice::from_ref(url),
            Self::Cluster(urls) => urls.as_slice(),
        };
        if urls.iter().all(|url| url.starts_with("rediss://")) {
            Ok(())
        } else {
            Err(StorageError::InvalidInput(
                "root certificates were given for a Redis URL without TLS: use rediss://"
                    .to_owned(),
            ))
        }
    }
}

/// A multiplexed, self-healing connection: cheap to clone, shared by clones of a storage.
#[derive(Clone)]
pub(super) enum Connection {
    /// Reconnects on its own after a dropped connection.
    Single(ConnectionManager),
    /// Follows slot moves and failovers, reconnecting to nodes as needed.
    Cluster(ClusterConnection),
}

impl Connection {
    /// Connects to `target`, trusting `roots` (PEM) rather than the system's root
    /// certificates for TLS when given; every command then times out after `timeout`.
    pub(super) async fn open(
        target: &Target,
        roots: Option<&[u8]>,
        timeout: Duration,
    ) -> RedisResult<Self> {
        match target {
            Target::Single(url) => {
                let client = match roots {
                    Some(pem) => Client::build_with_tls(url.as_str(), trusting(pem))?,
                    None => Client::open(url.as_str())?,
                };
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(RECONNECT_RETRIES)
                    .set_max_delay(RECONNECT_MAX_DELAY);
                let manager = ConnectionManager::new_with_config(client, config).await?;
                Ok(Self::Single(manager))
            }
            Target::Cluster(urls) => {
                let mut builder = ClusterClientBuilder::new(urls.iter().map(String::as_str));
                if let Some(pem) = roots {
                    builder = builder.certs(trusting(pem));
                }
                let client = builder
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(u32::try_from(RECONNECT_RETRIES).unwrap_or(u32::MAX))
                    .build()?;
                Ok(Self::Cluster(client.get_async_connection().await?))
            }
        }
    }

    /// Sends `cmd` (routed by its first key on a cluster) and reads its reply.
    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T> {
        match self {
            Self::Single(manager) => cmd.query_async(&mut manager.clone()).await,
            Self::Cluster(cluster) => cmd.query_async(&mut cluster.clone()).await,
        }
    }

    /// Sends a keyless `cmd` to the node serving `key` (on a single node, to the node).
    pub(super) async fn query_at<T: FromRedisValue>(&self, cmd: Cmd, key: &[u8]) -> RedisResult<T> {
        match self {
            Self::Single(manager) => cmd.query_async(&mut manager.clone()).await,
            Self::Cluster(cluster) => {
                let route = Route::with_key(key, SlotAddr::Master);
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
                let value = cluster.clone().route_command(cmd, routing).await?;
                Ok(::redis::from_redis_value(value.extract_error()?)?)
            }
        }
    }

    /// Runs `script` by its SHA-1: one round trip. If the server has lost it (a restart,
    /// a failover, `SCRIPT FLUSH`), sends it whole with `EVAL`, which also caches it again.
    pub(super) async fn eval<T: FromRedisValue>(
        &self,
        script: &Lua,
        keys: &[&[u8]],
        args: &[&[u8]],
    ) -> RedisResult<T> {
        let by_sha = eval_cmd("EVALSHA", script.sha.as_bytes(), keys, args);
        match self.query(&by_sha).await {
            Err(err) if err.kind() == ::redis::ErrorKind::Server(ServerErrorKind::NoScript) => {
                let whole = eval_cmd("EVAL", script.code.as_bytes(), keys, args);
                self.query(&whole).await
            }
            result => result,
        }
    }

    /// Calls the function of `script` in `library` with `FCALL`: one round trip, without
    /// the script's prelude. If the node serving `keys[0]` lacks the library (a node added
    /// after the storage connected, `FUNCTION FLUSH`, a restart without persistence), loads
    /// it there and calls again; if it cannot be loaded there, runs `script` as a script.
    pub(super) async fn fcall<T: FromRedisValue>(
        &self,
        script: &Lua,
        library: &Library,
        keys: &[&[u8]],
        args: &[&[u8]],
    ) -> RedisResult<T> {
        let Some(function) = &script.function else {
            return self.eval(script, keys, args).await;
        };
        let call = eval_cmd("FCALL", function.as_bytes(), keys, args);
        match self.query(&call).await {
            Err(err) if function_missing(&err) => {
                let key = keys.first().copied().unwrap_or_default();
                let load = load_cmd(library);
                match self.query_at::<::redis::Value>(load, key).await {
                    Ok(_) => self.query(&call).await,
                    Err(_) => self.eval(script, keys, args).await,
                }
            }
            result => result,
        }
    }

    /// Loads `library` (replacing a library of the same name and so the same code) on
    /// every node: on a cluster, every master, whose replicas copy it.
    pub(super) async fn load_library(&self, library: &Library) -> RedisResult<()> {
        let _reply: ::redis::Value = self.query(&load_cmd(library)).await?;
        Ok(())
    }

    /// Loads `script` into the script cache (of every node of a cluster), so the first
    /// call of each operation is already one `EVALSHA`.
    pub(super) async fn load(&self, script: &Lua) -> RedisResult<()> {
        let mut load = ::redis::cmd("SCRIPT");
        load.arg("LOAD").arg(script.code.as_ref());
        let _sha: String = self.query(&load).await?;
        Ok(())
    }
}

/// TLS settings trusting the CA certificates in `pem`, without a client certificate.
fn trusting(pem: &[u8]) -> TlsCertificates {
    TlsCertificates {
        client_tls: None,
        root_cert: Some(pem.to_vec()),
    }
}

/// `FUNCTION LOAD REPLACE` of `library`.
fn load_cmd(library: &Library) -> Cmd {
    let mut load = ::redis::cmd("FUNCTION");
    load.arg("LOAD").arg("REPLACE").arg(library.code.as_str());
    load
}

/// Whether `err` is the server's reply to an `FCALL` of a function it does not have.
fn function_missing(err: &::redis::RedisError) -> bool {
    err.code() == Some("ERR")
        && err
            .detail()
            .is_some_and(|d| d.starts_with("Function not found"))
}

fn eval_cmd(verb: &str, script: &[u8], keys: &[&[u8]], args: &[&[u8]]) -> Cmd {
    let mut cmd = ::redis::cmd(verb);
    cmd.arg(script).arg(keys.len());
    for key in keys {
        cmd.arg(*key);
    }
    for arg in args {
        cmd.arg(*arg);
    }
    cmd
}
