//! The built-in backends the CLI can run: name -> factory, claimed capabilities, timing.
//!
//! In-process backends claim every capability; their second handle is a clone (which
//! shares the data). An `EncryptedStorage`'s second handle is a new `EncryptedStorage`
//! over a clone of the same inner store with the same key, as two application nodes
//! would be configured.

use authstore_backends::{EncryptedStorage, EncryptionKey, MemoryStorage, UnifiedStorage};
use authstore_conformance::{BackendUnderTest, Fixture};
use authstore_spec::{AuthStorage, Capabilities};

/// A backend the CLI knows by name.
pub(crate) struct Builtin {
    /// The name on the command line and in reports.
    pub(crate) name: &'static str,
    /// Whether `run` without `--backend` includes it (in-process backends need nothing
    /// running).
    pub(crate) default: bool,
    build: fn() -> BackendUnderTest,
}

impl Builtin {
    pub(crate) fn backend(&self) -> BackendUnderTest {
        (self.build)()
    }
}

/// Every built-in backend, in report order.
pub(crate) fn all() -> Vec<Builtin> {
    vec![
        Builtin {
            name: "memory",
            default: true,
            build: memory,
        },
        Builtin {
            name: "unified",
            default: true,
            build: unified,
        },
        Builtin {
            name: "encrypted-memory",
            default: true,
            build: encrypted_memory,
        },
        Builtin {
            name: "encrypted-unified",
            default: true,
            build: encrypted_unified,
        },
        Builtin {
            name: "postgres",
            default: false,
            build: postgres,
        },
        Builtin {
            name: "mysql",
            default: false,
            build: mysql,
        },
        Builtin {
            name: "redis",
            default: false,
            build: redis,
        },
        Builtin {
            name: "redis-cluster",
            default: false,
            build: redis_cluster,
        },
        Builtin {
            name: "tiered",
            default: false,
            build: tiered,
        },
    ]
}

fn memory() -> BackendUnderTest {
    BackendUnderTest::new("memory", || async { shared(MemoryStorage::new()) })
        .with_capabilities(Capabilities::ALL)
        .with_timing(MemoryStorage::TIMING)
}

fn unified() -> BackendUnderTest {
    BackendUnderTest::new("unified", || async { shared(UnifiedStorage::new()) })
        .with_capabilities(Capabilities::ALL)
        .with_timing(UnifiedStorage::TIMING)
}

fn encrypted_memory() -> BackendUnderTest {
    BackendUnderTest::new("encrypted-memory", || async {
        encrypted(MemoryStorage::new())
    })
    .with_capabilities(Capabilities::ALL)
    .with_timing(MemoryStorage::TIMING)
}

fn encrypted_unified() -> BackendUnderTest {
    BackendUnderTest::new("encrypted-unified", || async {
        encrypted(UnifiedStorage::new())
    })
    .with_capabilities(Capabilities::ALL)
    .with_timing(UnifiedStorage::TIMING)
}

/// A fresh schema per scenario on the server at `AUTHSTORE_POSTGRES_URL`.
fn postgres() -> BackendUnderTest {
    BackendUnderTest::new(
        "postgres",
        authstore_conformance::provision::postgres::fixture,
    )
    .with_capabilities(Capabilities::ALL)
    .with_timing(authstore_backends::PostgresStorage::TIMING)
}

/// A fresh database per scenario on the MySQL or MariaDB server at `AUTHSTORE_MYSQL_URL`.
fn mysql() -> BackendUnderTest {
    BackendUnderTest::new("mysql", authstore_conformance::provision::mysql::fixture)
        .with_capabilities(Capabilities::ALL)
        .with_timing(authstore_backends::MySqlStorage::TIMING)
}

/// Redis on `AUTHSTORE_REDIS_URL`: a fresh key prefix per scenario, a second connection
/// as second handle.
fn redis() -> BackendUnderTest {
    BackendUnderTest::new("redis", authstore_conformance::provision::redis::fixture)
        .with_capabilities(Capabilities::ALL)
        .with_timing(authstore_backends::RedisStorage::TIMING)
}

/// A Redis Cluster on `AUTHSTORE_REDIS_CLUSTER_URLS`, as [`redis`].
fn redis_cluster() -> BackendUnderTest {
    BackendUnderTest::new(
        "redis-cluster",
        authstore_conformance::provision::redis::cluster_fixture,
    )
    .with_capabilities(Capabilities::ALL)
    .with_timing(authstore_backends::RedisStorage::TIMING)
}

/// TieredStorage: a fresh PostgreSQL schema (`AUTHSTORE_POSTGRES_URL`) and Redis prefix
/// (`AUTHSTORE_REDIS_URL`) per scenario; the second handle is a second, independent node.
fn tiered() -> BackendUnderTest {
    BackendUnderTest::new("tiered", authstore_conformance::provision::tiered::fixture)
        .with_capabilities(Capabilities::ALL)
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
