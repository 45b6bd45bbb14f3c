//! `PostgresStorage` (feature `postgres-storage`): a fresh schema per scenario in a
//! database of this crate's own with `LC_COLLATE "C"` (byte order, as SPEC.md `LST-4`
//! asks of listings; their `ORDER BY key` follows the database's collation).

use std::str::FromStr;
use std::time::Duration;

use auth_framework::storage::postgres::PostgresStorage;
use authstore_conformance::{BackendUnderTest, Fixture};
use authstore_spec::{Capabilities, Capability, TimingProfile};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};
use tokio::sync::OnceCell;

use super::{unique_name, url_from_env};
use crate::AuthFrameworkCompat;

const URL_VAR: &str = "AUTHSTORE_POSTGRES_URL";
const ADVICE: &str = "start a server with `bash ci/start-postgres` and export the URL it prints";
/// The database the scenarios' schemas live in, created once if missing.
const DATABASE: &str = "authstore_afcompat";

/// `PostgresStorage::new(pool)` + `migrate()` in a fresh schema: a second pool is the
/// second handle, another schema the other namespace, `COUNT(*)` of their three tables
/// the introspection probe. Microsecond timestamps on one host: the in-process profile.
pub fn postgres() -> BackendUnderTest {
    postgres_with_pool(4)
}

/// [`postgres`] with a first pool of `size` connections: the peers benchmark gives it
/// as many as authstore's own PostgreSQL backend gets (one per call in flight).
pub fn postgres_with_pool(size: u32) -> BackendUnderTest {
    BackendUnderTest::new("postgres", move || async move {
        let options = database_options().await?;
        let fixture = schema_fixture(options.clone(), size).await?;
        Ok::<_, String>(fixture.with_other_namespace(move || schema_fixture(options.clone(), size)))
    })
    .with_capabilities(
        Capabilities::CORE
            .with(Capability::MultiHandle)
            .with(Capability::Namespaces)
            .with(Capability::Introspection),
    )
    .with_timing(TimingProfile::IN_PROCESS)
}

/// Connect options for [`DATABASE`], creating it on first use in this process.
async fn database_options() -> Result<PgConnectOptions, String> {
    static READY: OnceCell<PgConnectOptions> = OnceCell::const_new();
    READY
        .get_or_try_init(|| async {
            let url = url_from_env(URL_VAR, ADVICE)?;
            let server = PgConnectOptions::from_str(&url)
                .map_err(|e| format!("{URL_VAR} is not a valid URL ({e}): {ADVICE}"))?;
            let mut conn = connect(&server).await?;
            let exists: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                    .bind(DATABASE)
                    .fetch_optional(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
            if exists.is_none() {
                let create = format!(
                    "CREATE DATABASE {DATABASE} TEMPLATE template0 ENCODING 'UTF8' \
                     LC_COLLATE 'C' LC_CTYPE 'C'"
                );
                // Another process may have created it since the check.
                if let Err(err) = conn.execute(AssertSqlSafe(create)).await
                    && !err.to_string().contains("already exists")
                {
                    return Err(format!("cannot create database {DATABASE}: {err}"));
                }
            }
            let _closed = conn.close().await;
            Ok(server.database(DATABASE))
        })
        .await
        .cloned()
}

async fn connect(options: &PgConnectOptions) -> Result<sqlx::PgConnection, String> {
    tokio::time::timeout(Duration::from_secs(10), options.connect())
        .await
        .map_err(|_| format!("PostgreSQL did not answer within 10 s: {ADVICE}"))?
        .map_err(|e| format!("cannot connect to PostgreSQL ({e}): {ADVICE}"))
}

async fn admin(options: &PgConnectOptions, sql: String) -> Result<(), String> {
    let mut conn = connect(options).await?;
    let outcome = conn.execute(AssertSqlSafe(sql.clone())).await;
    let _closed = conn.close().await;
    outcome
        .map(drop)
        .map_err(|e| format!("`{sql}` failed: {e}"))
}

async fn pool(options: &PgConnectOptions, schema: &str, size: u32) -> Result<PgPool, String> {
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options.clone().options([("search_path", schema)]))
        .await
        .map_err(|e| format!("cannot open a pool on schema {schema}: {e}"))
}

/// A migrated store in a fresh schema, a second pool on it, the row-count probe, and a
/// teardown dropping the schema.
async fn schema_fixture(options: PgConnectOptions, size: u32) -> Result<Fixture, String> {
    let schema = unique_name("pg");
    admin(&options, format!("CREATE SCHEMA {schema}")).await?;
    let built = async {
        let first = pool(&options, &schema, size).await?;
        let store = PostgresStorage::new(first.clone());
        store.migrate().await.map_err(|e| format!("migrate: {e}"))?;
        let second = pool(&options, &schema, 2).await?;
        Ok::<_, String>((first, store, second))
    }
    .await;
    let drop_schema = {
        let (options, schema) = (options.clone(), schema.clone());
        move || {
            let (options, sql) = (options.clone(), format!("DROP SCHEMA {schema} CASCADE"));
            async move { admin(&options, sql).await }
        }
    };
    let (first, store, second) = match built {
        Ok(parts) => parts,
        Err(err) => {
            drop_schema().await?;
            return Err(err);
        }
    };
    let probe = first.clone();
    let pools = (first, second.clone());
    Ok(Fixture::new(AuthFrameworkCompat::new(store))
        .with_second_handle(AuthFrameworkCompat::new(PostgresStorage::new(second)))
        .with_stored_items(move || {
            let probe = probe.clone();
            async move {
                sqlx::query_scalar::<_, i64>(
                    "SELECT (SELECT count(*) FROM auth_tokens) + (SELECT count(*) FROM sessions) \
                     + (SELECT count(*) FROM kv_store)",
                )
                .fetch_one(&probe)
                .await
                .map(|n| n.unsigned_abs())
                .map_err(|e| format!("row count: {e}"))
            }
        })
        .with_teardown(async move {
            pools.0.close().await;
            pools.1.close().await;
            drop_schema().await
        }))
}
