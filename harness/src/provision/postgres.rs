//! PostgreSQL provisioning: a fresh schema per scenario on the server from the chosen
//! [`Source`] (`AUTHSTORE_POSTGRES_URL`, or a container), with two independent pools on it.
//!
//! ```ignore
//! conformance_suite!(
//!     postgres,
//!     async { authstore_harness::provision::postgres::fixture().await },
//!     capabilities = [expiry, concurrency, large_values, multi_handle],
//!     timing = authstore_backends::PostgresStorage::TIMING,
//! );
//! ```

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use authstore_backends::PostgresStorage;
use futures::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

use super::{Service, Source, endpoint_from};
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

/// Schemas made by this process so far, for unique names.
static SCHEMAS: AtomicU64 = AtomicU64::new(0);

/// A fixture on a fresh schema: a [`PostgresStorage`] over its own pool, migrated, and as
/// second handle another `PostgresStorage` over a second, independent pool on the same
/// schema. The teardown closes both pools and drops the schema.
///
/// The server comes from the source `AUTHSTORE_SOURCE` chooses (default: the URL in
/// `AUTHSTORE_POSTGRES_URL` when set, else a container). Fails with a message saying how
/// to provide a server when none can be had. Call it inside the runtime that will use the
/// storages: the pools belong to it.
pub async fn fixture() -> Result<Fixture, String> {
    fixture_from(Source::from_env()?).await
}

/// As [`fixture`], on the server from `source`.
pub async fn fixture_from(source: Source) -> Result<Fixture, String> {
    // The other namespace (for the `namespaces` scenarios) is another fresh schema on
    // the same server, made only when a scenario asks for it.
    Ok(one_schema(source)
        .await?
        .with_other_namespace(move || one_schema(source)))
}

/// A fixture on a fresh schema, without another namespace.
fn one_schema(source: Source) -> BoxFuture<'static, Result<Fixture, String>> {
    Box::pin(async move {
        let (options, schema, first, second) = fresh_schema(source).await?;
        let drop_schema = teardown(options, schema, [first.clone(), second.clone()]);
        let probe = first.clone();
        Ok(Fixture::new(PostgresStorage::new(first))
            .with_second_handle(PostgresStorage::new(second))
            .with_teardown(drop_schema)
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

/// A fresh schema, migrated, with two independent pools on it (the server's options,
/// the schema's name, the pools); [`teardown`] undoes it. Also used by the tiered
/// provisioning.
pub(crate) async fn fresh_schema(
    source: Source,
) -> Result<(PgConnectOptions, String, PgPool, PgPool), String> {
    let endpoint = endpoint_from(Service::Postgres, source).await?;
    let options = PgConnectOptions::from_str(&endpoint.url).map_err(|err| {
        format!(
            "{} is not a valid PostgreSQL URL ({err}): {ADVICE}",
            endpoint.origin
        )
    })?;
    let schema = unique_schema_name();
    admin(&options, &format!("CREATE SCHEMA {schema}")).await?;
    match storages(&options, &schema).await {
        Ok((first, second)) => Ok((options, schema, first, second)),
        Err(err) => {
            let dropped = admin(&options, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
            Err(match dropped {
                Ok(()) => err,
                Err(drop_err) => format!("{err}\n(and the schema was not dropped: {drop_err})"),
            })
        }
    }
}

/// `authstore_<pid>_<counter>_<random>`: unique across processes and runs, and made of
/// characters that need no quoting.
fn unique_schema_name() -> String {
    let counter = SCHEMAS.fetch_add(1, Ordering::Relaxed);
    let random = RandomState::new().hash_one(counter);
    format!(
        "authstore_{}_{counter}_{:08x}",
        std::process::id(),
        random as u32
    )
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

/// Runs one administrative statement on a connection of its own.
async fn admin(options: &PgConnectOptions, sql: &str) -> Result<(), String> {
    let server = describe(options);
    let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(err)) => {
            return Err(format!(
                "cannot connect to PostgreSQL at {server} ({err}): {ADVICE}"
            ));
        }
        Err(_) => {
            return Err(format!(
                "PostgreSQL at {server} did not accept a connection within {CONNECT_TIMEOUT:?}: \
                 {ADVICE}"
            ));
        }
    };
    let result = conn
        .execute(AssertSqlSafe(sql.to_owned()))
        .await
        .map(drop)
        .map_err(|err| format!("`{sql}` failed on PostgreSQL at {server}: {err}"));
    // The statement's outcome matters; a failed goodbye does not.
    let _closed = conn.close().await;
    result
}

/// Two pools on `schema` (through `search_path`), the schema migrated through the first.
async fn storages(options: &PgConnectOptions, schema: &str) -> Result<(PgPool, PgPool), String> {
    let options = options.clone().options([("search_path", schema)]);
    let pool = || {
        PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
    };
    let server = describe(&options);
    let first = pool()
        .await
        .map_err(|err| format!("cannot open a pool on PostgreSQL at {server} ({err}): {ADVICE}"))?;
    if let Err(err) = PostgresStorage::new(first.clone()).migrate().await {
        first.close().await;
        return Err(format!("migrating schema {schema} failed: {err}"));
    }
    match pool().await {
        Ok(second) => Ok((first, second)),
        Err(err) => {
            first.close().await;
            Err(format!(
                "cannot open a second pool on PostgreSQL at {server} ({err}): {ADVICE}"
            ))
        }
    }
}

/// Closes the pools (waiting for their connections to come back), then drops the schema.
pub(crate) async fn teardown(
    options: PgConnectOptions,
    schema: String,
    pools: [PgPool; 2],
) -> Result<(), String> {
    for pool in pools {
        pool.close().await;
    }
    admin(&options, &format!("DROP SCHEMA {schema} CASCADE")).await
}
