//! MySQL/MariaDB provisioning: a fresh database per scenario on a MySQL
//! ([`Service::MySql`]: `AUTHSTORE_MYSQL_URL` or a MySQL container) or MariaDB
//! ([`Service::MariaDb`]: `AUTHSTORE_MARIADB_URL` or a MariaDB container) server, with two
//! independent pools on it.
//!
//! ```ignore
//! conformance_suite!(
//!     mysql,
//!     async { authstore_harness::provision::mysql::fixture().await },
//!     capabilities = [expiry, concurrency, large_values, multi_handle],
//!     timing = authstore_backends::MySqlStorage::TIMING,
//! );
//! ```

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use authstore_backends::MySqlStorage;
use futures::future::BoxFuture;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

use super::{Service, Source, endpoint_from};
use authstore_conformance::Fixture;

/// How to get a server, appended to every "cannot reach" error.
const ADVICE: &str = "check the server (the URL's user needs the right to create and drop \
                      databases; its own database is only used to connect), or unset the \
                      URL variable to use a container";

/// How long to wait for the server to accept a connection. Generous: a server that is
/// down refuses at once, but one in a container on a loaded 2-core machine, opening a
/// connection for each of a whole matrix's concurrent scenarios, has been seen to take
/// over 5 s (a `tiered/container` cell failed its setup so).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections per pool: two pools per scenario (plus a short-lived admin connection)
/// keep a whole parallel run far below the server's connection limit (151 by default).
const POOL_SIZE: u32 = 3;

/// How long a call waits for a free pooled connection before it fails as `Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Databases made by this process so far, for unique names.
static DATABASES: AtomicU64 = AtomicU64::new(0);

/// A fixture on a fresh database: a [`MySqlStorage`] over its own pool, migrated, and as
/// second handle another `MySqlStorage` over a second, independent pool on the same
/// database. The teardown closes both pools and drops the database.
///
/// The server is a MySQL one from the source `AUTHSTORE_SOURCE` chooses (default: the URL
/// in `AUTHSTORE_MYSQL_URL` when set, else a MySQL container). Fails with a message saying
/// how to provide a server when none can be had. Call it inside the runtime that will use
/// the storages: the pools belong to it.
pub async fn fixture() -> Result<Fixture, String> {
    fixture_on(Service::MySql, Source::from_env()?).await
}

/// As [`fixture`], on a MariaDB server (`AUTHSTORE_MARIADB_URL` or a MariaDB container).
pub async fn mariadb_fixture() -> Result<Fixture, String> {
    fixture_on(Service::MariaDb, Source::from_env()?).await
}

/// As [`fixture`], on the `service` ([`Service::MySql`] or [`Service::MariaDb`]) server
/// from `source`.
pub async fn fixture_on(service: Service, source: Source) -> Result<Fixture, String> {
    // The other namespace (for the `namespaces` scenarios) is another fresh database on
    // the same server, made only when a scenario asks for it.
    Ok(one_database(service, source)
        .await?
        .with_other_namespace(move || one_database(service, source)))
}

/// A fixture on a fresh database, without another namespace.
fn one_database(service: Service, source: Source) -> BoxFuture<'static, Result<Fixture, String>> {
    Box::pin(one_database_inner(service, source))
}

async fn one_database_inner(service: Service, source: Source) -> Result<Fixture, String> {
    let endpoint = endpoint_from(service, source).await?;
    let options = MySqlConnectOptions::from_str(&endpoint.url).map_err(|err| {
        format!(
            "{} is not a valid MySQL URL ({err}): {ADVICE}",
            endpoint.origin
        )
    })?;
    let database = unique_database_name();
    admin(&options, &format!("CREATE DATABASE `{database}`")).await?;
    match storages(&options, &database).await {
        Ok((first, second)) => {
            let teardown = teardown(options, database, [first.clone(), second.clone()]);
            let probe = first.clone();
            Ok(Fixture::new(MySqlStorage::new(first))
                .with_second_handle(MySqlStorage::new(second))
                .with_teardown(teardown)
                .with_stored_items(move || stored_rows(probe.clone())))
        }
        Err(err) => {
            let dropped = admin(&options, &format!("DROP DATABASE IF EXISTS `{database}`")).await;
            Err(match dropped {
                Ok(()) => err,
                Err(drop_err) => format!("{err}\n(and the database was not dropped: {drop_err})"),
            })
        }
    }
}

/// `authstore_<pid>_<counter>_<random>`: unique across processes and runs, at most 64
/// characters, and made of characters that need no quoting (quoted anyway).
fn unique_database_name() -> String {
    let counter = DATABASES.fetch_add(1, Ordering::Relaxed);
    let random = RandomState::new().hash_one(counter);
    format!(
        "authstore_{}_{counter}_{:08x}",
        std::process::id(),
        random as u32
    )
}

/// `user@host:port/database`, to name the server in errors without the password.
fn describe(options: &MySqlConnectOptions) -> String {
    format!(
        "{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("")
    )
}

/// Runs one administrative statement on a connection of its own.
async fn admin(options: &MySqlConnectOptions, sql: &str) -> Result<(), String> {
    let server = describe(options);
    let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(err)) => {
            return Err(format!(
                "cannot connect to MySQL at {server} ({err}): {ADVICE}"
            ));
        }
        Err(_) => {
            return Err(format!(
                "MySQL at {server} did not accept a connection within {CONNECT_TIMEOUT:?}: \
                 {ADVICE}"
            ));
        }
    };
    let result = conn
        .execute(AssertSqlSafe(sql.to_owned()))
        .await
        .map(drop)
        .map_err(|err| format!("`{sql}` failed on MySQL at {server}: {err}"));
    // The statement's outcome matters; a failed goodbye does not.
    let _closed = conn.close().await;
    result
}

/// The rows of the three tables, expired ones included.
async fn stored_rows(pool: MySqlPool) -> Result<u64, String> {
    let rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM auth_tokens) + (SELECT count(*) FROM sessions) \
         + (SELECT count(*) FROM kv_store)",
    )
    .fetch_one(&pool)
    .await
    .map_err(|err| format!("counting the rows of the scenario's database: {err}"))?;
    u64::try_from(rows).map_err(|_| format!("a negative row count: {rows}"))
}

/// Two pools on `database`, which is migrated through the first. Connections keep
/// sqlx's defaults: `time_zone = '+00:00'` and `utf8mb4` (the storage needs neither).
async fn storages(
    options: &MySqlConnectOptions,
    database: &str,
) -> Result<(MySqlPool, MySqlPool), String> {
    let options = options.clone().database(database);
    let pool = || {
        MySqlPoolOptions::new()
            .max_connections(POOL_SIZE)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
    };
    let server = describe(&options);
    let first = pool()
        .await
        .map_err(|err| format!("cannot open a pool on MySQL at {server} ({err}): {ADVICE}"))?;
    if let Err(err) = MySqlStorage::new(first.clone()).migrate().await {
        first.close().await;
        return Err(format!("migrating database {database} failed: {err}"));
    }
    match pool().await {
        Ok(second) => Ok((first, second)),
        Err(err) => {
            first.close().await;
            Err(format!(
                "cannot open a second pool on MySQL at {server} ({err}): {ADVICE}"
            ))
        }
    }
}

/// Closes the pools (waiting for their connections to come back), then drops the
/// database.
async fn teardown(
    options: MySqlConnectOptions,
    database: String,
    pools: [MySqlPool; 2],
) -> Result<(), String> {
    for pool in pools {
        pool.close().await;
    }
    admin(&options, &format!("DROP DATABASE `{database}`")).await
}
