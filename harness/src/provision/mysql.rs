//! MySQL and MariaDB: everything the harness knows about them — [`MySqlServer`]
//! (variables, images, container, readiness, a database per scenario) — and the fixture:
//! a fresh database per scenario on a MySQL ([`Service::MySql`]: `AUTHSTORE_MYSQL_URL` or
//! a MySQL container) or MariaDB ([`Service::MariaDb`]: `AUTHSTORE_MARIADB_URL` or a
//! MariaDB container) server, with two independent pools on it.
//!
//! ```ignore
//! conformance_suite!(
//!     mysql,
//!     async { authstore_harness::provision::mysql::fixture().await },
//!     capabilities = [expiry, concurrency, large_values, multi_handle],
//!     timing = authstore_backends::MySqlStorage::TIMING,
//! );
//! ```

use std::str::FromStr;
use std::time::Duration;

use authstore_backends::MySqlStorage;
use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

use super::{ContainerLayout, Endpoint, Namespace, ProvisionError, Server, Service, Source};
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

/// Password of the `root` user in every container.
const PASSWORD: &str = "authstore";

/// The port the server listens on inside its container.
const INNER_PORT: u16 = 3306;

/// A server speaking MySQL's protocol: [`MYSQL`] or [`MARIADB`], which differ only in
/// their variables and images.
#[derive(Debug, Clone, Copy)]
pub struct MySqlServer {
    name: &'static str,
    url_var: &'static str,
    image_var: &'static str,
    default_image: &'static str,
    service: Service,
}

/// MySQL 8 ([`Service::MySql`]).
pub const MYSQL: MySqlServer = MySqlServer {
    name: "mysql",
    url_var: "AUTHSTORE_MYSQL_URL",
    image_var: "AUTHSTORE_MYSQL_IMAGE",
    default_image: "mysql:8.4.5",
    service: Service::MySql,
};

/// MariaDB ([`Service::MariaDb`]).
pub const MARIADB: MySqlServer = MySqlServer {
    name: "mariadb",
    url_var: "AUTHSTORE_MARIADB_URL",
    image_var: "AUTHSTORE_MARIADB_IMAGE",
    default_image: "mariadb:11.4.5",
    service: Service::MariaDb,
};

impl Server for MySqlServer {
    fn name(&self) -> &'static str {
        self.name
    }

    fn url_var(&self) -> &'static str {
        self.url_var
    }

    fn image_var(&self) -> &'static str {
        self.image_var
    }

    fn default_image(&self) -> &'static str {
        self.default_image
    }

    fn advice(&self) -> &'static str {
        "start one with `eval \"$(bash ci/start-mysql)\"` (MariaDB from Debian)"
    }

    fn container(&self, host_ports: &[u16], server_args: &[String]) -> ContainerLayout {
        let port = host_ports.first().copied().unwrap_or_default();
        ContainerLayout {
            entrypoint: None,
            // Both images' variables, so either image (or an offline one) starts.
            env: vec![
                ("MYSQL_ROOT_PASSWORD", PASSWORD),
                ("MARIADB_ROOT_PASSWORD", PASSWORD),
                ("MYSQL_DATABASE", "authstore"),
                ("MARIADB_DATABASE", "authstore"),
            ],
            ports: vec![(port, INNER_PORT)],
            cmd: server_args.to_vec(),
            url: format!("mysql://root:{PASSWORD}@127.0.0.1:{port}/authstore"),
        }
    }

    fn suite_server_args(&self) -> &'static [&'static str] {
        &[
            "--innodb-flush-log-at-trx-commit=2",
            "--max-connections=300",
        ]
    }

    fn probe<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<String, String>> {
        probe(url).boxed()
    }

    fn namespace_name(&self, unique: &str) -> String {
        // At most 64 characters, as MySQL requires.
        format!("authstore_{unique}")
    }

    fn create_namespace<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(), ProvisionError>> {
        async move {
            admin(
                self.service,
                &options(endpoint)?,
                &format!("CREATE DATABASE `{name}`"),
            )
            .await
        }
        .boxed()
    }

    fn drop_namespace<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(), ProvisionError>> {
        async move {
            admin(
                self.service,
                &options(endpoint)?,
                &format!("DROP DATABASE IF EXISTS `{name}`"),
            )
            .await
        }
        .boxed()
    }
}

/// `SELECT VERSION()`, as e.g. `MariaDB 10.11.14`.
async fn probe(url: &str) -> Result<String, String> {
    let mut conn = sqlx::MySqlConnection::connect(url)
        .await
        .map_err(|err| err.to_string())?;
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&mut conn)
        .await
        .map_err(|err| err.to_string())?;
    let _closed = conn.close().await;
    Ok(server_name(&version))
}

/// `10.11.14-MariaDB-0+deb12u2` -> `MariaDB 10.11.14`; `8.4.5` -> `MySQL 8.4.5`.
fn server_name(version: &str) -> String {
    let number = version.split('-').next().unwrap_or(version);
    if version.contains("MariaDB") {
        format!("MariaDB {number}")
    } else {
        format!("MySQL {number}")
    }
}

/// A fixture on a fresh database: a [`MySqlStorage`] over its own pool, migrated, and as
/// second handle another `MySqlStorage` over a second, independent pool on the same
/// database. The teardown closes both pools and drops the database.
///
/// The server is a MySQL one from the source `AUTHSTORE_SOURCE` chooses (default: the URL
/// in `AUTHSTORE_MYSQL_URL` when set, else a MySQL container). Fails with a message saying
/// how to provide a server when none can be had. Call it inside the runtime that will use
/// the storages: the pools belong to it.
pub async fn fixture() -> Result<Fixture, ProvisionError> {
    fixture_on(Service::MySql, Source::from_env()?).await
}

/// As [`fixture`], on a MariaDB server (`AUTHSTORE_MARIADB_URL` or a MariaDB container).
pub async fn mariadb_fixture() -> Result<Fixture, ProvisionError> {
    fixture_on(Service::MariaDb, Source::from_env()?).await
}

/// As [`fixture`], on the `service` ([`Service::MySql`] or [`Service::MariaDb`]) server
/// from `source`.
pub async fn fixture_on(service: Service, source: Source) -> Result<Fixture, ProvisionError> {
    // The other namespace (for the `namespaces` scenarios) is another fresh database on
    // the same server, made only when a scenario asks for it.
    Ok(one_database(service, source)
        .await?
        .with_other_namespace(move || {
            one_database(service, source).map(|fixture| fixture.map_err(|err| err.to_string()))
        }))
}

/// A fixture on a fresh database, without another namespace.
fn one_database(
    service: Service,
    source: Source,
) -> BoxFuture<'static, Result<Fixture, ProvisionError>> {
    Box::pin(one_database_inner(service, source))
}

async fn one_database_inner(service: Service, source: Source) -> Result<Fixture, ProvisionError> {
    let database = Namespace::fresh(service, source).await?;
    match storages(&database).await {
        Ok((first, second)) => {
            let probe = first.clone();
            let pools = [first.clone(), second.clone()];
            Ok(Fixture::new(MySqlStorage::new(first))
                .with_second_handle(MySqlStorage::new(second))
                .with_teardown(teardown(database, pools))
                .with_stored_items(move || stored_rows(probe.clone())))
        }
        Err(err) => Err(err.with_cleanup(database.drop().await)),
    }
}

/// The connect options of the server's URL.
fn options(endpoint: &Endpoint) -> Result<MySqlConnectOptions, ProvisionError> {
    MySqlConnectOptions::from_str(&endpoint.url).map_err(|err| ProvisionError::InvalidUrl {
        service: endpoint.service,
        origin: endpoint.origin.clone(),
        reason: err.to_string(),
    })
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

/// [`ProvisionError::Connect`] for the server of `options`.
fn cannot_connect(
    service: Service,
    options: &MySqlConnectOptions,
    reason: String,
) -> ProvisionError {
    ProvisionError::Connect {
        service,
        server: describe(options),
        reason,
        advice: ADVICE,
    }
}

/// Runs one administrative statement on a connection of its own.
async fn admin(
    service: Service,
    options: &MySqlConnectOptions,
    sql: &str,
) -> Result<(), ProvisionError> {
    let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(err)) => return Err(cannot_connect(service, options, err.to_string())),
        Err(_) => {
            return Err(cannot_connect(
                service,
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
            service,
            action: format!("`{sql}` at {}", describe(options)),
            reason: err.to_string(),
        });
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

/// Two pools on the database, which is migrated through the first. Connections keep
/// sqlx's defaults: `time_zone = '+00:00'` and `utf8mb4` (the storage needs neither).
async fn storages(database: &Namespace) -> Result<(MySqlPool, MySqlPool), ProvisionError> {
    let service = database.service();
    let options = options(&database.endpoint)?.database(&database.name);
    let pool = || {
        MySqlPoolOptions::new()
            .max_connections(POOL_SIZE)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
    };
    let first = pool()
        .await
        .map_err(|err| cannot_connect(service, &options, format!("opening a pool: {err}")))?;
    if let Err(err) = MySqlStorage::new(first.clone()).migrate().await {
        first.close().await;
        return Err(ProvisionError::Namespace {
            service,
            action: format!("migrating database {}", database.name),
            reason: err.to_string(),
        });
    }
    match pool().await {
        Ok(second) => Ok((first, second)),
        Err(err) => {
            first.close().await;
            Err(cannot_connect(
                service,
                &options,
                format!("opening a second pool: {err}"),
            ))
        }
    }
}

/// Closes the pools (waiting for their connections to come back), then drops the
/// database.
async fn teardown(database: Namespace, pools: [MySqlPool; 2]) -> Result<(), ProvisionError> {
    for pool in pools {
        pool.close().await;
    }
    database.drop().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_version_string() {
        assert_eq!(
            server_name("10.11.14-MariaDB-0+deb12u2"),
            "MariaDB 10.11.14"
        );
        assert_eq!(server_name("8.4.5"), "MySQL 8.4.5");
    }
}
