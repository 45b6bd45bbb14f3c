//! The built-in backends the CLI can run: name -> factory, claimed capabilities, timing.
//!
//! In-process backends claim every capability; their second handle is a clone (which
//! shares the data). An `EncryptedStorage`'s second handle is a new `EncryptedStorage`
//! over a clone of the same inner store with the same key, as two application nodes
//! would be configured.

use authstore_backends::{
    EncryptedStorage, EncryptionKey, MemoryStorage, UnifiedStorage, UnifiedStorageConfig,
};
use authstore_conformance::provision::{self, Service, Source};
use authstore_conformance::{BackendUnderTest, Fixture};
use authstore_spec::{AuthStorage, Capabilities, Capability};

/// A backend the CLI knows by name.
pub(crate) struct Builtin {
    /// The name on the command line and in reports.
    pub(crate) name: &'static str,
    /// The servers it needs; none for an in-process backend (which `run` without
    /// `--backend` includes, as it needs nothing running).
    pub(crate) services: &'static [Service],
    build: fn(Source) -> BackendUnderTest,
}

impl Builtin {
    /// The backend under test, its servers from `source` (ignored in-process).
    pub(crate) fn backend(&self, source: Source) -> BackendUnderTest {
        (self.build)(source)
    }

    /// Runs in this process, needing no server.
    pub(crate) fn in_process(&self) -> bool {
        self.services.is_empty()
    }
}

/// Every built-in backend, in report order.
pub(crate) fn all() -> Vec<Builtin> {
    vec![
        Builtin {
            name: "memory",
            services: &[],
            build: memory,
        },
        Builtin {
            name: "unified",
            services: &[],
            build: unified,
        },
        Builtin {
            name: "encrypted-memory",
            services: &[],
            build: encrypted_memory,
        },
        Builtin {
            name: "encrypted-unified",
            services: &[],
            build: encrypted_unified,
        },
        Builtin {
            name: "postgres",
            services: &[Service::Postgres],
            build: postgres,
        },
        Builtin {
            name: "mysql",
            services: &[Service::MySql],
            build: mysql,
        },
        Builtin {
            name: "mariadb",
            services: &[Service::MariaDb],
            build: mariadb,
        },
        Builtin {
            name: "redis",
            services: &[Service::Redis],
            build: redis,
        },
        Builtin {
            name: "redis-cluster",
            services: &[Service::RedisCluster],
            build: redis_cluster,
        },
        Builtin {
            name: "tiered",
            services: &[Service::Postgres, Service::Redis],
            build: tiered,
        },
    ]
}

fn memory(_: Source) -> BackendUnderTest {
    BackendUnderTest::new("memory", || async { shared(MemoryStorage::new()) })
        .with_capabilities(Capabilities::ALL)
        .with_timing(MemoryStorage::TIMING)
}

/// The capacity the `unified` cell is configured with and declares: room for every other
/// scenario (1 MiB values, 10 000 sessions), small enough to churn 32 times over quickly.
const UNIFIED_CAPACITY: usize = 32 << 20;

fn unified(_: Source) -> BackendUnderTest {
    BackendUnderTest::new("unified", || async {
        let storage = UnifiedStorage::with_config(UnifiedStorageConfig {
            max_memory: UNIFIED_CAPACITY,
            ..UnifiedStorageConfig::default()
        });
        shared(storage).with_capacity(UNIFIED_CAPACITY as u64)
    })
    .with_capabilities(Capabilities::ALL.with(Capability::Capacity))
    .with_timing(UnifiedStorage::TIMING)
}

fn encrypted_memory(_: Source) -> BackendUnderTest {
    BackendUnderTest::new("encrypted-memory", || async {
        encrypted(MemoryStorage::new())
    })
    .with_capabilities(Capabilities::ALL)
    .with_timing(MemoryStorage::TIMING)
}

fn encrypted_unified(_: Source) -> BackendUnderTest {
    BackendUnderTest::new("encrypted-unified", || async {
        encrypted(UnifiedStorage::new())
    })
    .with_capabilities(Capabilities::ALL)
    .with_timing(UnifiedStorage::TIMING)
}

/// A fresh schema per scenario on the PostgreSQL server from `source`.
fn postgres(source: Source) -> BackendUnderTest {
    BackendUnderTest::new("postgres", move || {
        provision::postgres::fixture_from(source)
    })
    .with_capabilities(Capabilities::ALL.with(Capability::Namespaces))
    .with_timing(authstore_backends::PostgresStorage::TIMING)
}

/// A fresh database per scenario on the MySQL server from `source`.
fn mysql(source: Source) -> BackendUnderTest {
    BackendUnderTest::new("mysql", move || {
        provision::mysql::fixture_on(Service::MySql, source)
    })
    .with_capabilities(Capabilities::ALL.with(Capability::Namespaces))
    .with_timing(authstore_backends::MySqlStorage::TIMING)
}

/// `MySqlStorage` on the MariaDB server from `source`, as [`mysql`].
fn mariadb(source: Source) -> BackendUnderTest {
    BackendUnderTest::new("mariadb", move || {
        provision::mysql::fixture_on(Service::MariaDb, source)
    })
    .with_capabilities(Capabilities::ALL.with(Capability::Namespaces))
    .with_timing(authstore_backends::MySqlStorage::TIMING)
}

/// Redis from `source`: a fresh key prefix per scenario, a second connection as second
/// handle.
fn redis(source: Source) -> BackendUnderTest {
    BackendUnderTest::new("redis", move || provision::redis::fixture_from(source))
        .with_capabilities(Capabilities::ALL.with(Capability::Namespaces))
        .with_timing(authstore_backends::RedisStorage::TIMING)
}

/// A Redis Cluster from `source`, as [`redis`].
fn redis_cluster(source: Source) -> BackendUnderTest {
    BackendUnderTest::new("redis-cluster", move || {
        provision::redis::cluster_fixture_from(source)
    })
    .with_capabilities(Capabilities::ALL.with(Capability::Namespaces))
    .with_timing(authstore_backends::RedisStorage::TIMING)
}

/// TieredStorage: a fresh PostgreSQL schema and Redis prefix per scenario, both servers
/// from `source`; the second handle is a second, independent node.
fn tiered(source: Source) -> BackendUnderTest {
    BackendUnderTest::new("tiered", move || provision::tiered::fixture_from(source))
        .with_capabilities(Capabilities::ALL.with(Capability::Namespaces))
        .with_timing(authstore_backends::TieredStorage::TIMING)
}

/// A fixture whose second handle is a clone sharing the data.
fn shared<S: AuthStorage + Clone + 'static>(storage: S) -> Fixture {
    let second = storage.clone();
    Fixture::new(storage).with_second_handle(second)
}

/// `inner` wrapped with a fresh random key; the second handle wraps a clone of `inner`
/// with the same key.
fn encrypted<S: AuthStorage + Clone + 'static>(inner: S) -> Result<Fixture, String> {
    let key = EncryptionKey::generate(1).map_err(|err| format!("cannot generate a key: {err}"))?;
    let second = EncryptedStorage::new(inner.clone(), key.clone());
    Ok(Fixture::new(EncryptedStorage::new(inner, key)).with_second_handle(second))
}
