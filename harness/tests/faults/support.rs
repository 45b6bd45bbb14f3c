//! What every fault scenario needs: one scenario at a time, dedicated containers, storages
//! built on them with a short operation timeout, and the figures file each test writes.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use authstore_backends::{MySqlStorage, PostgresStorage, RedisConfig, RedisStorage, TieredStorage};
use authstore_harness::provision::{ContainerOptions, Service, ServiceContainer};
use serde_json::{Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::sync::{Mutex, MutexGuard};

/// The operation timeout every storage under test is configured with.
pub(crate) const OP_TIMEOUT: Duration = Duration::from_secs(2);

/// What a call may take beyond its timeout on this small, loaded machine (scheduling,
/// mapping the error, a pooled connection's cleanup) before it counts as late.
pub(crate) const SLACK: Duration = Duration::from_secs(1);

/// A call not back after this long is hung: a failure whatever it would have returned.
pub(crate) const HANG: Duration = Duration::from_secs(6);

/// How long a storage may take, after the fault ends, to serve every operation again.
pub(crate) const RECOVERY_BOUND: Duration = Duration::from_secs(10);

/// Pooled connections per SQL storage: more than the concurrent writers, so a healthy
/// pool never makes them wait.
const POOL_SIZE: u32 = 12;

/// How long a call waits for a pooled connection: longer than the operation timeout,
/// so that what bounds a call to a stalled server is the storage's own timeout (a pool
/// pings an idle connection before handing it out, and that ping stalls too).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// One fault scenario at a time: pausing and killing servers while another test measures
/// stalls on two cores would make every figure meaningless.
static SERIAL: Mutex<()> = Mutex::const_new(());

/// Holds the machine for one scenario; prints nothing, fails nothing.
pub(crate) async fn exclusive() -> MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// A dedicated container for `service` started with `server_args`; panics (failing the
/// test) with the provisioning layer's message when it cannot start.
pub(crate) async fn container(service: Service, server_args: &[&str]) -> ServiceContainer {
    let options = ContainerOptions {
        server_args: server_args.iter().map(|arg| (*arg).to_owned()).collect(),
    };
    match ServiceContainer::start(service, &options).await {
        Ok(container) => container,
        Err(err) => panic!("cannot start the {service} container: {err}"),
    }
}

/// PostgreSQL durability as shipped (fsync, synchronous commit): what a kill must not
/// undo.
pub(crate) const DURABLE_POSTGRES: &[&str] = &["-c", "max_connections=100"];

/// MariaDB durability as shipped (`innodb_flush_log_at_trx_commit=1`).
pub(crate) const DURABLE_MARIADB: &[&str] = &[];

/// A migrated [`PostgresStorage`] on the container at `url`, over a pool of its own.
pub(crate) async fn postgres(url: &str) -> PostgresStorage {
    let storage = PostgresStorage::new(pg_pool(url).await).with_operation_timeout(OP_TIMEOUT);
    storage.migrate().await.expect("migrate PostgreSQL");
    storage
}

/// A migrated [`PostgresStorage`] on the tokio-postgres path (a pool of its own,
/// [`PostgresStorage::connect_with`]) on the container at `url`.
pub(crate) async fn postgres_native(url: &str) -> PostgresStorage {
    let config = url.parse().expect("a PostgreSQL URL");
    let storage = PostgresStorage::connect_with(config, POOL_SIZE as usize)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to PostgreSQL at {url}: {err}"))
        .with_operation_timeout(OP_TIMEOUT);
    storage.migrate().await.expect("migrate PostgreSQL");
    storage
}

/// A pool on the PostgreSQL server at `url` (connected once, so a bad URL fails here).
pub(crate) async fn pg_pool(url: &str) -> PgPool {
    let options = PgConnectOptions::from_str(url).expect("a PostgreSQL URL");
    PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to PostgreSQL at {url}: {err}"))
}

/// A migrated [`MySqlStorage`] on the MariaDB container at `url`, over a pool of its own.
pub(crate) async fn mariadb(url: &str) -> MySqlStorage {
    let options = MySqlConnectOptions::from_str(url).expect("a MySQL URL");
    let pool: MySqlPool = MySqlPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to MariaDB at {url}: {err}"));
    let storage = MySqlStorage::new(pool).with_operation_timeout(OP_TIMEOUT);
    storage.migrate().await.expect("migrate MariaDB");
    storage
}

/// The key prefix of every Redis storage here (each container is this test's alone).
pub(crate) const PREFIX: &str = "faults:";

/// A [`RedisStorage`] on the container at `url`, on a connection of its own.
pub(crate) async fn redis(url: &str) -> RedisStorage {
    RedisConfig::new(url)
        .with_prefix(PREFIX)
        .with_operation_timeout(OP_TIMEOUT)
        .connect()
        .await
        .unwrap_or_else(|err| panic!("cannot connect to Redis at {url}: {err}"))
}

/// A migrated [`TieredStorage`] node: its own Redis connection and PostgreSQL pool, as an
/// application node builds it.
pub(crate) async fn tiered(
    redis_url: &str,
    postgres_url: &str,
    epoch_check: Duration,
) -> TieredStorage {
    let store =
        PostgresStorage::new(pg_pool(postgres_url).await).with_operation_timeout(OP_TIMEOUT);
    let node =
        TieredStorage::new(redis(redis_url).await, store).with_epoch_check_interval(epoch_check);
    node.migrate().await.expect("migrate TieredStorage");
    node
}

/// A raw client on the Redis container, for what the storage API does not do (`SAVE`,
/// inspecting keys).
pub(crate) async fn raw_redis(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|err| panic!("cannot connect to Redis at {url}: {err}"))
}

/// The figures of one run of one test.
#[derive(Debug, Default)]
pub(crate) struct Figures {
    /// The test's name (also the file name).
    pub(crate) test: &'static str,
    /// Backend and fault, e.g. `postgres (killed)`.
    pub(crate) backend: String,
    /// Operations attempted during the run.
    pub(crate) attempted: u64,
    /// Operations that returned `Ok`.
    pub(crate) acknowledged: u64,
    /// Acknowledged writes missing afterwards (or stale reads, for the cache tests).
    pub(crate) lost: u64,
    /// The longest single call, in milliseconds.
    pub(crate) longest_stall_ms: u128,
    /// From the end of the fault (unpause, or restart requested) to every operation
    /// working again, in milliseconds.
    pub(crate) recover_ms: Option<u128>,
    /// From `docker start` to the server answering, in milliseconds.
    pub(crate) restart_ms: Option<u128>,
    /// Anything else worth quoting.
    pub(crate) extra: Value,
}

impl Figures {
    /// Prints the one-line summary and writes `<target>/conformance/faults/<test>.json`.
    pub(crate) fn publish(&self) {
        let show = |ms: Option<u128>| ms.map_or_else(|| "-".to_owned(), |ms| ms.to_string());
        println!(
            "FAULT {}: backend={} attempted={} acknowledged={} lost={} longest_stall_ms={} \
             recover_ms={} restart_ms={} {}",
            self.test,
            self.backend,
            self.attempted,
            self.acknowledged,
            self.lost,
            self.longest_stall_ms,
            show(self.recover_ms),
            show(self.restart_ms),
            self.extra
        );
        let record = json!({
            "test": self.test,
            "backend": self.backend,
            "attempted": self.attempted,
            "acknowledged": self.acknowledged,
            "lost": self.lost,
            "longest_stall_ms": self.longest_stall_ms,
            "recover_ms": self.recover_ms,
            "restart_ms": self.restart_ms,
            "op_timeout_ms": OP_TIMEOUT.as_millis(),
            "extra": self.extra,
        });
        let dir = figures_dir();
        let path = dir.join(format!("{}.json", self.test));
        let written = std::fs::create_dir_all(&dir).and_then(|()| {
            std::fs::write(
                &path,
                serde_json::to_vec_pretty(&record).unwrap_or_default(),
            )
        });
        if let Err(err) = written {
            panic!("cannot write {}: {err}", path.display());
        }
    }
}

/// `$CARGO_TARGET_DIR/conformance/faults`, else the workspace's `target/conformance/faults`.
fn figures_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .map_or_else(|| PathBuf::from("target"), |root| root.join("target"))
        },
        PathBuf::from,
    );
    target.join("conformance").join("faults")
}

/// Removes the container now (the reaper would at exit); a failure is only reported.
pub(crate) async fn remove(container: ServiceContainer) {
    let id = container.id().to_owned();
    if let Err(err) = container.remove().await {
        eprintln!("warning: removing container {id}: {err} (the reaper removes it at exit)");
    }
}
