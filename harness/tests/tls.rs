//! The server backends over TLS, against servers this test starts on loopback with a CA
//! it generates (`rcgen`): `redis-server` with only a TLS port, PostgreSQL whose
//! `pg_hba.conf` rejects TCP without TLS, MariaDB with `require_secure_transport`.
//!
//! For each: the verified URL form connects and a token round-trips; the connection is
//! really encrypted (PostgreSQL's `pg_stat_ssl`, MariaDB's `Ssl_cipher`); a few catalogue
//! scenarios pass over it; trusting another CA fails with an error, never a panic; and a
//! plaintext connection is refused. A missing server binary fails the test with the
//! package to install (see `tls/servers.rs`).
//!
//! Run with `cargo test -p authstore-harness --test tls`.

#[path = "tls/pki.rs"]
mod pki;
#[path = "tls/servers.rs"]
mod servers;

use std::fs;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use authstore_backends::{MySqlStorage, PostgresStorage, RedisConfig, RedisStorage};
use authstore_conformance::{BackendUnderTest, DEFAULT_TIMEOUT};
use authstore_spec::{AuthStorage, AuthToken, Capabilities, Capability, ErrorKind};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor};

use crate::pki::Pki;

/// Catalogue scenarios run over each TLS connection: tokens with their indexes, sessions,
/// and a 1 MiB kv value (many TLS records).
const SCENARIOS: [&str; 4] = [
    "tokens_store_then_get",
    "tokens_delete_removes_every_index_entry",
    "sessions_store_then_get",
    "kv_one_mib_value_round_trips",
];

/// What the backends claim for [`SCENARIOS`].
const CLAIMED: Capabilities = Capabilities::CORE.with(Capability::LargeValues);

/// Namespaces (key prefixes, schemas, databases) made so far, for unique names.
static NAMESPACES: AtomicU64 = AtomicU64::new(0);

fn fresh_name(stem: &str) -> String {
    format!("{stem}{}", NAMESPACES.fetch_add(1, Ordering::Relaxed))
}

/// The directory and PKI of one test; the directory goes when the test ends.
fn workspace() -> (tempfile::TempDir, Pki) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let pki = Pki::generate(dir.path()).unwrap_or_else(|err| panic!("{err}"));
    (dir, pki)
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

/// A token stored through `storage` reads back equal, by id and by access token.
async fn token_round_trip(storage: &dyn AuthStorage, label: &str) {
    let token = AuthToken::new(
        "tls-token",
        "tls-user",
        "secret-access",
        Duration::from_secs(600),
    );
    storage
        .store_token(&token)
        .await
        .unwrap_or_else(|err| panic!("{label}: store_token: {err}"));
    let by_id = storage.get_token("tls-token").await;
    assert_eq!(
        by_id.ok().flatten().as_ref(),
        Some(&token),
        "{label}: get_token"
    );
    let by_access = storage.get_token_by_access_token("secret-access").await;
    assert_eq!(
        by_access.ok().flatten().as_ref(),
        Some(&token),
        "{label}: by access token"
    );
}

/// Runs [`SCENARIOS`] on `backend`; every one must pass (not claimed would fail too).
async fn run_scenarios(backend: BackendUnderTest) {
    for id in SCENARIOS {
        let scenario =
            authstore_scenarios::find(id).unwrap_or_else(|| panic!("no scenario `{id}`"));
        let run = backend.run(&scenario, DEFAULT_TIMEOUT).await;
        assert!(
            run.verdict.is_passed(),
            "{id} on {}: {}",
            backend.name(),
            run.verdict
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_tls() {
    let (dir, pki) = workspace();
    let server = servers::redis(dir.path(), &pki)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let url = format!("rediss://127.0.0.1:{}", server.port);
    let ca = read(&pki.ca);

    let storage = RedisConfig::new(&url)
        .with_root_certificates(ca.clone())
        .with_prefix(fresh_name("tls"))
        .connect()
        .await
        .unwrap_or_else(|err| panic!("rediss:// trusting the test CA: {err}"));
    token_round_trip(&storage, "rediss://").await;

    let (scenario_url, scenario_ca) = (url.clone(), ca.clone());
    let backend = BackendUnderTest::new("redis/tls", move || {
        let config = RedisConfig::new(scenario_url.clone())
            .with_root_certificates(scenario_ca.clone())
            .with_prefix(fresh_name("tls"));
        async move { config.connect().await }
    })
    .with_capabilities(CLAIMED)
    .with_timing(RedisStorage::TIMING);
    run_scenarios(backend).await;

    let wrong_ca = RedisConfig::new(&url)
        .with_root_certificates(read(&pki.other_ca))
        .connect()
        .await
        .expect_err("a server certificate from an untrusted CA was accepted");
    println!("rediss:// trusting another CA: {wrong_ca}");
    assert_eq!(wrong_ca.kind(), ErrorKind::Unavailable, "{wrong_ca}");
    assert!(wrong_ca.to_string().contains("certificate"), "{wrong_ca}");

    let system_roots = RedisStorage::new(&url)
        .await
        .expect_err("the test CA is not among the system's roots, yet it was trusted");
    println!("rediss:// with the system's roots: {system_roots}");

    let plain = RedisConfig::new(format!("redis://127.0.0.1:{}", server.port))
        .connect()
        .await
        .expect_err("a plaintext connection to the TLS port succeeded");
    println!("redis:// to the TLS port: {plain}");
    assert_eq!(plain.kind(), ErrorKind::Unavailable, "{plain}");

    let roots_without_tls = RedisConfig::new(format!("redis://127.0.0.1:{}", server.port))
        .with_root_certificates(ca)
        .connect()
        .await
        .expect_err("root certificates were accepted for a plaintext URL");
    assert_eq!(
        roots_without_tls.kind(),
        ErrorKind::InvalidInput,
        "{roots_without_tls}"
    );
}

/// `postgres://` on the test's server with these TLS parameters.
fn postgres_url(port: u16, tls: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/postgres?{tls}")
}

/// Whether the pool's connection is encrypted, by the server's own account.
async fn postgres_ssl(pool: &PgPool) -> bool {
    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(pool)
        .await
        .unwrap_or_else(|err| panic!("reading pg_stat_ssl: {err}"))
}

async fn postgres_pool(options: PgConnectOptions) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls() {
    let (dir, pki) = workspace();
    let ca = pki.ca.display().to_string();
    let server = servers::postgres(dir.path(), &pki, |port| async move {
        let url = postgres_url(port, "sslmode=require");
        match sqlx::PgConnection::connect(&url).await {
            Ok(conn) => conn.close().await.map_err(|err| err.to_string()),
            Err(err) => Err(err.to_string()),
        }
    })
    .await
    .unwrap_or_else(|err| panic!("{err}"));
    let port = server.port;

    let verify_full = postgres_url(port, &format!("sslmode=verify-full&sslrootcert={ca}"));
    let verified = PgConnectOptions::from_str(&verify_full).expect("a valid URL");
    let pool = postgres_pool(verified.clone())
        .await
        .unwrap_or_else(|err| panic!("sslmode=verify-full trusting the test CA: {err}"));
    assert!(
        postgres_ssl(&pool).await,
        "verify-full: pg_stat_ssl says not encrypted"
    );
    let storage = PostgresStorage::new(pool.clone());
    storage.migrate().await.expect("migrating over TLS");
    token_round_trip(&storage, "verify-full").await;

    let required =
        PgConnectOptions::from_str(&postgres_url(port, "sslmode=require")).expect("a valid URL");
    let pool = postgres_pool(required)
        .await
        .unwrap_or_else(|err| panic!("sslmode=require: {err}"));
    assert!(
        postgres_ssl(&pool).await,
        "require: pg_stat_ssl says not encrypted"
    );

    let backend = BackendUnderTest::new("postgres/tls", move || {
        let options = verified.clone();
        async move { postgres_schema(options).await }
    })
    .with_capabilities(CLAIMED)
    .with_timing(PostgresStorage::TIMING);
    run_scenarios(backend).await;

    let other_ca = pki.other_ca.display();
    let wrong = postgres_url(port, &format!("sslmode=verify-full&sslrootcert={other_ca}"));
    let err = sqlx::PgConnection::connect(&wrong)
        .await
        .expect_err("verify-full accepted a certificate from an untrusted CA");
    println!("verify-full trusting another CA: {err}");

    let err = sqlx::PgConnection::connect(&postgres_url(port, "sslmode=disable"))
        .await
        .expect_err("the server accepted TCP without TLS");
    println!("sslmode=disable: {err}");
}

/// A fresh, migrated schema on the server, over a pool of its own.
async fn postgres_schema(options: PgConnectOptions) -> Result<PostgresStorage, String> {
    let schema = fresh_name("tls_");
    let mut admin = options.connect().await.map_err(|err| err.to_string())?;
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .map_err(|err| err.to_string())?;
    let _closed = admin.close().await;
    let pool = postgres_pool(options.options([("search_path", schema.as_str())]))
        .await
        .map_err(|err| err.to_string())?;
    let storage = PostgresStorage::new(pool);
    storage.migrate().await.map_err(|err| err.to_string())?;
    Ok(storage)
}

/// `mysql://` as the test's TLS-only user, on `database`, with these TLS parameters.
fn mysql_url(port: u16, database: &str, tls: &str) -> String {
    format!("mysql://tls:tls@127.0.0.1:{port}/{database}?{tls}")
}

async fn mysql_pool(url: &str) -> Result<MySqlPool, sqlx::Error> {
    MySqlPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_over_tls() {
    let (dir, pki) = workspace();
    let server = servers::mariadb(dir.path(), &pki)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let port = server.port;
    let verify = format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={}", pki.ca.display());

    let pool = mysql_pool(&mysql_url(port, "mysql", &verify))
        .await
        .unwrap_or_else(|err| panic!("ssl-mode=VERIFY_IDENTITY trusting the test CA: {err}"));
    let (_, cipher): (String, String) = sqlx::query_as("SHOW STATUS LIKE 'Ssl_cipher'")
        .fetch_one(&pool)
        .await
        .expect("reading Ssl_cipher");
    assert!(
        !cipher.is_empty(),
        "VERIFY_IDENTITY: Ssl_cipher is empty, not encrypted"
    );
    let storage = mysql_database(port, verify.clone())
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    token_round_trip(&storage, "VERIFY_IDENTITY").await;

    let backend = BackendUnderTest::new("mariadb/tls", move || {
        let verify = verify.clone();
        async move { mysql_database(port, verify).await }
    })
    .with_capabilities(CLAIMED)
    .with_timing(MySqlStorage::TIMING);
    run_scenarios(backend).await;

    let wrong = format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={}", pki.other_ca.display());
    let err = sqlx::MySqlConnection::connect(&mysql_url(port, "mysql", &wrong))
        .await
        .expect_err("VERIFY_IDENTITY accepted a certificate from an untrusted CA");
    println!("VERIFY_IDENTITY trusting another CA: {err}");

    let err = sqlx::MySqlConnection::connect(&mysql_url(port, "mysql", "ssl-mode=DISABLED"))
        .await
        .expect_err("the server accepted a connection without TLS");
    println!("ssl-mode=DISABLED: {err}");
}

/// A fresh, migrated database on the server, over a pool of its own.
async fn mysql_database(port: u16, tls: String) -> Result<MySqlStorage, String> {
    let database = fresh_name("tls_");
    let admin_url = mysql_url(port, "mysql", &tls);
    let mut admin = MySqlConnectOptions::from_str(&admin_url)
        .map_err(|err| err.to_string())?
        .connect()
        .await
        .map_err(|err| err.to_string())?;
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .await
        .map_err(|err| err.to_string())?;
    let _closed = admin.close().await;
    let pool = mysql_pool(&mysql_url(port, &database, &tls))
        .await
        .map_err(|err| err.to_string())?;
    let storage = MySqlStorage::new(pool);
    storage.migrate().await.map_err(|err| err.to_string())?;
    Ok(storage)
}
