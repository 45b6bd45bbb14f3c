//! PostgreSQL: everything the harness knows about it — [`PostgresServer`] (variables,
//! image, container, readiness, a schema per scenario) — and the fixture: a fresh schema
//! per scenario on the server from the chosen [`Source`] (`AUTHSTORE_POSTGRES_URL`, or a
//! container), with two independent pools on it.
//!
//! ```ignore
//! conformance_suite!(
//!     postgres,
//!     async { authstore_harness::provision::postgres::fixture().await },
//!     capabilities = [expiry, concurrency, large_values, multi_handle],
//!     timing = authstore_backends::PostgresStorage::TIMING,
//! );
//! ```

use std::str::FromStr;
use std::time::Duration;

use authstore_backends::PostgresStorage;
use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

use super::{ContainerLayout, Endpoint, Namespace, ProvisionError, Server, Service, Source};
use authstore_conformance::Fixture;

/// How to get a server, appended to every "cannot reach" error.
const ADVICE: &str = "check the server (`AUTHSTORE_POSTGRES_URL`'s user needs the right to \
                      create and drop schemas), or unset it to use a container";

/// How long to wait for the server to accept a connection. Generous: a server that is
/// down refuses at once, but one in a container on a loaded 2-core machine, opening a
/// connection for each of a whole matrix's concurrent scenarios, has been seen to take
/// over 5 s (a `tiered/container` cell failed its setup so).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections per pool: two pools per scenario keep a whole parallel run far below the
/// server's connection limit (100 by default).
const POOL_SIZE: u32 = 3;

/// How long a call waits for a free pooled connection before it fails as `Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Password of the `postgres` user in every container.
const PASSWORD: &str = "authstore";

/// The port PostgreSQL listens on inside its container.
const INNER_PORT: u16 = 5432;

/// PostgreSQL ([`Service::Postgres`]).
#[derive(Debug, Clone, Copy)]
pub struct PostgresServer;

impl Server for PostgresServer {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn url_var(&self) -> &'static str {
        "AUTHSTORE_POSTGRES_URL"
    }

    fn image_var(&self) -> &'static str {
        "AUTHSTORE_POSTGRES_IMAGE"
    }

    fn default_image(&self) -> &'static str {
        "postgres:17.5-bookworm"
    }

    fn advice(&self) -> &'static str {
        "start one with `eval \"$(bash ci/start-postgres)\"`"
    }

    fn container(&self, host_ports: &[u16], server_args: &[String]) -> ContainerLayout {
        let port = host_ports.first().copied().unwrap_or_default();
        ContainerLayout {
            entrypoint: None,
            env: vec![("POSTGRES_PASSWORD", PASSWORD)],
            ports: vec![(port, INNER_PORT)],
            cmd: server_args.to_vec(),
            url: format!("postgres://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"),
        }
    }

    fn suite_server_args(&self) -> &'static [&'static str] {
        &[
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=300",
        ]
    }

    fn probe<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<String, String>> {
        probe(url).boxed()
    }

    fn namespace_name(&self, unique: &str) -> String {
        format!("authstore_{unique}")
    }

    fn create_namespace<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(), ProvisionError>> {
        async move { admin(&options(endpoint)?, &format!("CREATE SCHEMA {name}")).await }.boxed()
    }

    fn drop_namespace<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(), ProvisionError>> {
        async move {
            admin(
                &options(endpoint)?,
                &format!("DROP SCHEMA IF EXISTS {name} CASCADE"),
            )
            .await
        }
        .boxed()
    }
}

/// `SELECT version()`, shortened to e.g. `PostgreSQL 15.14`.
async fn probe(url: &str) -> Result<String, String> {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|err| err.to_string())?;
    let version: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(&mut conn)
        .await
        .map_err(|err| err.to_string())?;
    let _closed = conn.close().await;
    // "PostgreSQL 15.14 (Debian 15.14-0+deb12u1) on x86_64-pc-linux-gnu, ..." -> first two words.
    Ok(version
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" "))
}

/// A fixture on a fresh schema: a [`PostgresStorage`] over its own pool, migrated, and as
/// second handle another `PostgresStorage` over a second, independent pool on the same
/// schema. The teardown closes both pools and drops the schema.
///
/// The server comes from the source `AUTHSTORE_SOURCE` chooses (default: the URL in
/// `AUTHSTORE_POSTGRES_URL` when set, else a container). Fails with a message saying how
/// to provide a server when none can be had. Call it inside the runtime that will use the
/// storages: the pools belong to it.
pub async fn fixture() -> Result<Fixture, ProvisionError> {
    fixture_from(Source::from_env()?).await
}

/// As [`fixture`], on the server from `source`.
pub async fn fixture_from(source: Source) -> Result<Fixture, ProvisionError> {
    // The other namespace (for the `namespaces` scenarios) is another fresh schema on
    // the same server, made only when a scenario asks for it.
    Ok(one_schema(source).await?.with_other_namespace(move || {
        one_schema(source).map(|fixture| fixture.map_err(|err| err.to_string()))
    }))
}

/// A fixture on a fresh schema, without another namespace.
fn one_schema(source: Source) -> BoxFuture<'static, Result<Fixture, ProvisionError>> {
    Box::pin(async move {
        let schema = fresh_schema(source).await?;
        let probe = schema.first.clone();
        let (first, second) = (schema.first.clone(), schema.second.clone());
        Ok(Fixture::new(PostgresStorage::new(first))
            .with_second_handle(PostgresStorage::new(second))
            .with_teardown(schema.teardown())
            .with_kv_value_limit(PostgresStorage::MAX_VALUE_BYTES as u64)
            .with_stored_items(move || stored_rows(probe.clone())))
    })
}

/// The rows of the three tables, expired ones included.
async fn stored_rows(pool: PgPool) -> Result<u64, String> {
    let rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM auth_tokens) + (SELECT count(*) FROM sessions) \
         + (SELECT count(*) FROM kv_store)",
    )
    .fetch_one(&pool)
    .await
    .map_err(|err| format!("counting the rows of the scenario's schema: {err}"))?;
    u64::try_from(rows).map_err(|_| format!("a negative row count: {rows}"))
}

/// A fresh schema, migrated, with two independent pools on it.
pub(crate) struct FreshSchema {
    /// The schema on its server.
    pub(crate) namespace: Namespace,
    /// The pool the schema was migrated through.
    pub(crate) first: PgPool,
    /// A second, independent pool on it.
    pub(crate) second: PgPool,
}

impl FreshSchema {
    /// Closes the pools (waiting for their connections to come back), then drops the
    /// schema.
    pub(crate) async fn teardown(self) -> Result<(), ProvisionError> {
        for pool in [self.first, self.second] {
            pool.close().await;
        }
        self.namespace.drop().await
    }
}

/// A fresh schema, migrated, with two independent pools on it. Also used by the tiered
/// provisioning.
pub(crate) async fn fresh_schema(source: Source) -> Result<FreshSchema, ProvisionError> {
    let namespace = Namespace::fresh(Service::Postgres, source).await?;
    match storages(&namespace).await {
        Ok((first, second)) => Ok(FreshSchema {
            namespace,
            first,
            second,
        }),
        Err(err) => Err(err.with_cleanup(namespace.drop().await)),
    }
}

/// The connect options of the server's URL.
fn options(endpoint: &Endpoint) -> Result<PgConnectOptions, ProvisionError> {
    PgConnectOptions::from_str(&endpoint.url).map_err(|err| ProvisionError::InvalidUrl {
        service: Service::Postgres,
        origin: endpoint.origin.clone(),
        reason: err.to_string(),
    })
}

/// `user@host:port/database`, to name the server in errors without the password.
fn describe(options: &PgConnectOptions) -> String {
    format!(
        "{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("")
    )
}

/// [`ProvisionError::Connect`] for the server of `options`.
fn cannot_connect(options: &PgConnectOptions, reason: String) -> ProvisionError {
    ProvisionError::Connect {
        service: Service::Postgres,
        server: describe(options),
        reason,
        advice: ADVICE,
    }
}

/// Runs one administrative statement on a connection of its own.
async fn admin(options: &PgConnectOptions, sql: &str) -> Result<(), ProvisionError> {
    let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(err)) => return Err(cannot_connect(options, err.to_string())),
        Err(_) => {
            return Err(cannot_connect(
                options,
                format!("no connection accepted within {CONNECT_TIMEOUT:?}"),
            ));
        }
    };
    let result = conn
        .execute(AssertSqlSafe(sql.to_owned()))
        .await
        .map(drop)
        .map_err(|err| ProvisionError::Namespace {
            service: Service::Postgres,
            action: format!("`{sql}` at {}", describe(options)),
            reason: err.to_string(),
        });
    // The statement's outcome matters; a failed goodbye does not.
    let _closed = conn.close().await;
    result
}

/// Two pools on the schema (through `search_path`), the schema migrated through the
/// first.
async fn storages(schema: &Namespace) -> Result<(PgPool, PgPool), ProvisionError> {
    let options = options(&schema.endpoint)?.options([("search_path", schema.name.as_str())]);
    let pool = || {
        PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
    };
    let first = pool()
        .await
        .map_err(|err| cannot_connect(&options, format!("opening a pool: {err}")))?;
    if let Err(err) = PostgresStorage::new(first.clone()).migrate().await {
        first.close().await;
        return Err(ProvisionError::Namespace {
            service: Service::Postgres,
            action: format!("migrating schema {}", schema.name),
            reason: err.to_string(),
        });
    }
    match pool().await {
        Ok(second) => Ok((first, second)),
        Err(err) => {
            first.close().await;
            Err(cannot_connect(
                &options,
                format!("opening a second pool: {err}"),
            ))
        }
    }
}

/// As [`fixture`], on the tokio-postgres path: two [`PostgresStorage::connect_with`]
/// storages (independent pools) on a fresh schema, migrated through the first (the
/// native path's own migration).
pub async fn native_fixture() -> Result<Fixture, ProvisionError> {
    native_fixture_from(Source::from_env()?).await
}

/// As [`native_fixture`], on the server from `source`.
pub async fn native_fixture_from(source: Source) -> Result<Fixture, ProvisionError> {
    Ok(native_schema(source).await?.with_other_namespace(move || {
        native_schema(source).map(|fixture| fixture.map_err(|err| err.to_string()))
    }))
}

/// A native fixture on a fresh schema, without another namespace.
fn native_schema(source: Source) -> BoxFuture<'static, Result<Fixture, ProvisionError>> {
    Box::pin(async move {
        let namespace = Namespace::fresh(Service::Postgres, source).await?;
        let storages = async {
            let first = native_storage(&namespace).await?;
            first
                .migrate()
                .await
                .map_err(|err| ProvisionError::Namespace {
                    service: Service::Postgres,
                    action: format!("migrating schema {} (tokio-postgres)", namespace.name),
                    reason: err.to_string(),
                })?;
            let second = native_storage(&namespace).await?;
            Ok::<_, ProvisionError>((first, second))
        }
        .await;
        let (first, second) = match storages {
            Ok(storages) => storages,
            Err(err) => return Err(err.with_cleanup(namespace.drop().await)),
        };
        let config = native_config(&namespace)?;
        let (a, b) = (first.clone(), second.clone());
        Ok(Fixture::new(first)
            .with_second_handle(second)
            .with_teardown(async move {
                a.close().await;
                b.close().await;
                namespace.drop().await
            })
            .with_kv_value_limit(PostgresStorage::MAX_VALUE_BYTES as u64)
            .with_stored_items(move || native_stored_rows(config.clone())))
    })
}

/// The tokio-postgres configuration of the schema `namespace` (its `search_path`).
pub(crate) fn native_config(
    namespace: &Namespace,
) -> Result<tokio_postgres::Config, ProvisionError> {
    let mut config: tokio_postgres::Config =
        namespace
            .endpoint
            .url
            .parse()
            .map_err(|err: tokio_postgres::Error| ProvisionError::InvalidUrl {
                service: Service::Postgres,
                origin: namespace.endpoint.origin.clone(),
                reason: err.to_string(),
            })?;
    config
        .options(format!("-c search_path={}", namespace.name))
        .connect_timeout(CONNECT_TIMEOUT);
    Ok(config)
}

/// A [`PostgresStorage`] on the tokio-postgres path (its own pool) on the schema
/// `namespace`, not migrated.
pub(crate) async fn native_storage(
    namespace: &Namespace,
) -> Result<PostgresStorage, ProvisionError> {
    let described = options(&namespace.endpoint)?;
    PostgresStorage::connect_with(native_config(namespace)?, POOL_SIZE as usize)
        .await
        .map_err(|err| cannot_connect(&described, format!("opening a tokio-postgres pool: {err}")))
}

/// The rows of the three tables, expired ones included, asked on a connection of its
/// own.
async fn native_stored_rows(config: tokio_postgres::Config) -> Result<u64, String> {
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|err| format!("connecting to count the schema's rows: {err}"))?;
    let connection = tokio::spawn(connection);
    let rows: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM auth_tokens) + (SELECT count(*) FROM sessions) \
             + (SELECT count(*) FROM kv_store)",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|err| format!("counting the rows of the scenario's schema: {err}"))?;
    drop(client);
    let _finished = connection.await;
    u64::try_from(rows).map_err(|_| format!("a negative row count: {rows}"))
}
