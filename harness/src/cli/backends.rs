//! The built-in backends the CLI can run: name -> factory, claimed capabilities, timing.
//!
//! In-process backends use the fixtures of `provision::in_process`; server backends
//! those of their service's provisioning module.

use authstore_backends::{MemoryStorage, UnifiedStorage};
use authstore_conformance::BackendUnderTest;
use authstore_harness::provision::{self, Endpoint, ProvisionError, Service, Source, in_process};
use authstore_spec::{Capabilities, Capability};

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

    /// Its servers from `source`, each obtained once for the process; `Err` only when
    /// one cannot be had here at all (its URL variable unset, no container engine, its
    /// image neither present nor pullable): the backend is then *unavailable*. A server
    /// that is configured but broken (a dead URL, a container that never gets ready) is
    /// left out of the list: the backend runs and its scenarios fail with that error,
    /// which is a real failure.
    pub(crate) async fn servers(&self, source: Source) -> Result<Vec<Endpoint>, ProvisionError> {
        let mut endpoints = Vec::new();
        for &service in self.services {
            match provision::endpoint_from(service, source).await {
                Ok(endpoint) => endpoints.push(endpoint),
                Err(
                    err @ (ProvisionError::NotConfigured { .. }
                    | ProvisionError::NoContainerEngine { .. }
                    | ProvisionError::ImageUnavailable { .. }),
                ) => return Err(err),
                Err(_) => {}
            }
        }
        Ok(endpoints)
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
    BackendUnderTest::new("memory", || async { in_process::memory() })
        .with_capabilities(in_process::MEMORY_CAPABILITIES)
        .with_timing(MemoryStorage::TIMING)
}

fn unified(_: Source) -> BackendUnderTest {
    BackendUnderTest::new("unified", || async { in_process::unified() })
        .with_capabilities(in_process::UNIFIED_CAPABILITIES)
        .with_timing(UnifiedStorage::TIMING)
}

fn encrypted_memory(_: Source) -> BackendUnderTest {
    BackendUnderTest::new("encrypted-memory", || async {
        in_process::encrypted_memory()
    })
    .with_capabilities(in_process::ENCRYPTED_MEMORY_CAPABILITIES)
    .with_timing(MemoryStorage::TIMING)
}

fn encrypted_unified(_: Source) -> BackendUnderTest {
    BackendUnderTest::new("encrypted-unified", || async {
        in_process::encrypted_unified()
    })
    .with_capabilities(in_process::ENCRYPTED_UNIFIED_CAPABILITIES)
    .with_timing(UnifiedStorage::TIMING)
}

/// A fresh schema per scenario on the PostgreSQL server from `source`.
fn postgres(source: Source) -> BackendUnderTest {
    BackendUnderTest::new("postgres", move || {
        provision::postgres::fixture_from(source)
    })
    .with_capabilities(
        Capabilities::ALL
            .with(Capability::Namespaces)
            .with(Capability::ValueLimit)
            .with(Capability::Introspection),
    )
    .with_timing(authstore_backends::PostgresStorage::TIMING)
}

/// A fresh database per scenario on the MySQL server from `source`.
fn mysql(source: Source) -> BackendUnderTest {
    BackendUnderTest::new("mysql", move || {
        provision::mysql::fixture_on(Service::MySql, source)
    })
    .with_capabilities(
        Capabilities::ALL
            .with(Capability::Namespaces)
            .with(Capability::Introspection),
    )
    .with_timing(authstore_backends::MySqlStorage::TIMING)
}

/// `MySqlStorage` on the MariaDB server from `source`, as [`mysql`].
fn mariadb(source: Source) -> BackendUnderTest {
    BackendUnderTest::new("mariadb", move || {
        provision::mysql::fixture_on(Service::MariaDb, source)
    })
    .with_capabilities(
        Capabilities::ALL
            .with(Capability::Namespaces)
            .with(Capability::Introspection),
    )
    .with_timing(authstore_backends::MySqlStorage::TIMING)
}

/// Redis from `source`: a fresh key prefix per scenario, a second connection as second
/// handle.
fn redis(source: Source) -> BackendUnderTest {
    BackendUnderTest::new("redis", move || provision::redis::fixture_from(source))
        .with_capabilities(
            Capabilities::ALL
                .with(Capability::Namespaces)
                .with(Capability::ValueLimit)
                .with(Capability::DefaultTtl),
        )
        .with_timing(authstore_backends::RedisStorage::TIMING)
}

/// A Redis Cluster from `source`, as [`redis`].
fn redis_cluster(source: Source) -> BackendUnderTest {
    BackendUnderTest::new("redis-cluster", move || {
        provision::redis::cluster_fixture_from(source)
    })
    .with_capabilities(
        Capabilities::ALL
            .with(Capability::Namespaces)
            .with(Capability::ValueLimit)
            .with(Capability::DefaultTtl),
    )
    .with_timing(authstore_backends::RedisStorage::TIMING)
}

/// TieredStorage: a fresh PostgreSQL schema and Redis prefix per scenario, both servers
/// from `source`; the second handle is a second, independent node.
fn tiered(source: Source) -> BackendUnderTest {
    BackendUnderTest::new("tiered", move || provision::tiered::fixture_from(source))
        .with_capabilities(Capabilities::ALL.with(Capability::Namespaces))
        .with_timing(authstore_backends::TieredStorage::TIMING)
}
