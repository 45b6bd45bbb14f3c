//! White-box tests of [`PostgresStorage`]: they look into its tables with SQL.
//!
//! Each test works in a fresh schema on the server named by `AUTHSTORE_POSTGRES_URL`
//! and drops it afterwards; without a reachable server every test fails and says how to
//! provide one.
#![cfg(feature = "postgres-storage")]

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use authstore_backends::{EncryptedStorage, EncryptionKey, PostgresStorage};
use authstore_spec::{AuthStorage, AuthToken, SessionData};
use chrono::{TimeDelta, Utc};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, Row};

const URL_VAR: &str = "AUTHSTORE_POSTGRES_URL";
const ADVICE: &str = "start a server with `bash ci/start-postgres` and export the URL it \
                      prints, or point AUTHSTORE_POSTGRES_URL at your own server";
const HOUR: Duration = Duration::from_secs(3600);

/// Runs `body` with a pool (of `pool_size` connections) on a fresh, empty, unmigrated
/// schema, then drops the schema, whether `body` passed or panicked.
async fn with_schema<F, Fut>(pool_size: u32, body: F)
where
    F: FnOnce(PgPool) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let url = std::env::var(URL_VAR).unwrap_or_else(|_| panic!("{URL_VAR} is not set: {ADVICE}"));
    let options = PgConnectOptions::from_str(&url)
        .unwrap_or_else(|err| panic!("{URL_VAR} is not a valid URL ({err}): {ADVICE}"));
    // A counter, not the clock, tells apart tests of one process started in the same
    // microsecond; the time tells apart processes that reuse a pid.
    static SCHEMAS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let schema = format!(
        "authstore_whitebox_{}_{}_{}",
        std::process::id(),
        SCHEMAS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        Utc::now().timestamp_micros()
    );
    admin(&options, &format!("CREATE SCHEMA {schema}")).await;
    let pool = PgPoolOptions::new()
        .max_connections(pool_size)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options.clone().options([("search_path", schema.as_str())]))
        .await;
    let outcome = match pool {
        Ok(pool) => {
            let outcome = tokio::spawn(body(pool.clone())).await;
            pool.close().await;
            outcome.map_err(|err| err.into_panic())
        }
        Err(err) => Err(Box::new(format!("cannot open a pool ({err}): {ADVICE}")) as _),
    };
    admin(&options, &format!("DROP SCHEMA {schema} CASCADE")).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Runs one statement on a connection of its own.
async fn admin(options: &PgConnectOptions, sql: &str) {
    let mut conn = tokio::time::timeout(Duration::from_secs(5), options.connect())
        .await
        .unwrap_or_else(|_| panic!("PostgreSQL did not answer within 5 s: {ADVICE}"))
        .unwrap_or_else(|err| panic!("cannot connect to PostgreSQL ({err}): {ADVICE}"));
    conn.execute(AssertSqlSafe(sql.to_owned()))
        .await
        .unwrap_or_else(|err| panic!("`{sql}` failed: {err}"));
    let _closed = conn.close().await;
}

/// A migrated storage over `pool`.
async fn migrated(pool: &PgPool) -> PostgresStorage {
    let storage = PostgresStorage::new(pool.clone());
    storage.migrate().await.expect("migrate");
    storage
}

/// Every row of `table`, counted without any expiry filter.
async fn rows(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .expect("count rows")
}

/// Every (table, column) of the schema whose value, as text (bytea as hex) or as raw
/// bytes, contains `needle` in some row.
async fn columns_containing(pool: &PgPool, needle: &str) -> Vec<(String, String)> {
    let columns = sqlx::query(
        "SELECT table_name::text, column_name::text, data_type::text \
         FROM information_schema.columns WHERE table_schema = current_schema() \
         ORDER BY table_name, column_name",
    )
    .fetch_all(pool)
    .await
    .expect("list columns");
    assert!(
        columns.len() >= 12,
        "the schema has too few columns to scan"
    );
    let mut found = Vec::new();
    for column in columns {
        let (table, name, kind): (String, String, String) =
            (column.get(0), column.get(1), column.get(2));
        let values: Vec<Option<Vec<u8>>> = if kind == "bytea" {
            sqlx::query_scalar(AssertSqlSafe(format!("SELECT \"{name}\" FROM {table}")))
                .fetch_all(pool)
                .await
                .expect("read bytea column")
        } else {
            let texts: Vec<Option<String>> = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT \"{name}\"::text FROM {table}"
            )))
            .fetch_all(pool)
            .await
            .expect("read column as text");
            texts
                .into_iter()
                .map(|t| t.map(String::into_bytes))
                .collect()
        };
        let hit = values.iter().flatten().any(|value| {
            value
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
        });
        if hit {
            found.push((table, name));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_physically_deletes_expired_rows_and_their_index_entries() {
    with_schema(3, |pool| async move {
        let s = migrated(&pool).await;
        let past = Utc::now() - TimeDelta::seconds(10);
        s.store_token(&AuthToken::new("live", "alice", "at-live", HOUR))
            .await
            .expect("store live token");
        s.store_token(&AuthToken::new("dead", "bob", "at-dead", HOUR).with_expires_at(past))
            .await
            .expect("store expired token");
        s.store_session("s-live", &SessionData::new("s-live", "alice", HOUR))
            .await
            .expect("store live session");
        s.store_session(
            "s-dead",
            &SessionData::new("s-dead", "bob", HOUR).with_expires_at(past),
        )
        .await
        .expect("store expired session");
        s.store_kv("k-live", b"v", Some(HOUR)).await.expect("kv");
        s.store_kv("k-forever", b"v", None).await.expect("kv");
        s.store_kv("k-dead", b"v", Some(Duration::ZERO))
            .await
            .expect("kv");
        s.store_kv("k-short", b"v", Some(Duration::from_millis(20)))
            .await
            .expect("kv");
        tokio::time::sleep(Duration::from_millis(50)).await;

        // Expired rows are invisible but still stored before cleanup.
        assert_eq!(s.get_token("dead").await.expect("get"), None);
        assert_eq!(rows(&pool, "auth_tokens").await, 2);
        assert_eq!(rows(&pool, "sessions").await, 2);
        assert_eq!(rows(&pool, "kv_store").await, 4);

        s.cleanup_expired().await.expect("cleanup");
        assert_eq!(rows(&pool, "auth_tokens").await, 1);
        assert_eq!(rows(&pool, "sessions").await, 1);
        assert_eq!(rows(&pool, "kv_store").await, 2);
        let dead_digest = Sha256::digest(b"at-dead").to_vec();
        let holders: i64 =
            sqlx::query_scalar("SELECT count(*) FROM auth_tokens WHERE access_digest = $1")
                .bind(&dead_digest)
                .fetch_one(&pool)
                .await
                .expect("count digest holders");
        assert_eq!(holders, 0, "the expired token's access digest is gone");
        let bob: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM auth_tokens WHERE user_id = 'bob') \
                  + (SELECT count(*) FROM sessions WHERE user_id = 'bob')",
        )
        .fetch_one(&pool)
        .await
        .expect("count bob's rows");
        assert_eq!(bob, 0, "no user-index entry of an expired item is left");
        let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM kv_store ORDER BY key")
            .fetch_all(&pool)
            .await
            .expect("list keys");
        assert_eq!(keys, ["k-forever", "k-live"]);

        // Live items are untouched, and a second cleanup changes nothing.
        assert!(s.get_token("live").await.expect("get").is_some());
        assert_eq!(s.count_active_sessions().await.expect("count"), 1);
        s.cleanup_expired().await.expect("cleanup again");
        assert_eq!(rows(&pool, "auth_tokens").await, 1);
        assert_eq!(rows(&pool, "sessions").await, 1);
        assert_eq!(rows(&pool, "kv_store").await, 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_holder_of_an_access_token_is_deleted_by_the_write_that_reuses_it() {
    with_schema(3, |pool| async move {
        let s = migrated(&pool).await;
        let past = Utc::now() - TimeDelta::seconds(10);
        s.store_token(&AuthToken::new("old", "alice", "shared-at", HOUR).with_expires_at(past))
            .await
            .expect("store expired holder");
        s.store_token(&AuthToken::new("new", "alice", "shared-at", HOUR))
            .await
            .expect("an expired holder must not block");
        let ids: Vec<String> = sqlx::query_scalar("SELECT token_id FROM auth_tokens")
            .fetch_all(&pool)
            .await
            .expect("list ids");
        assert_eq!(ids, ["new"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_are_indexed_only_as_sha256_digests() {
    with_schema(3, |pool| async move {
        let s = migrated(&pool).await;
        let access = "plaintext-access-token-4f1c2b";
        let refresh = "plaintext-refresh-token-9a7d3e";
        let token = AuthToken::new("t1", "alice", access, HOUR).with_refresh_token(refresh);
        s.store_token(&token).await.expect("store");
        s.store_session("s1", &SessionData::new("s1", "alice", HOUR))
            .await
            .expect("store session");
        s.store_kv("k1", b"value", None).await.expect("store kv");

        let digest: Vec<u8> =
            sqlx::query_scalar("SELECT access_digest FROM auth_tokens WHERE token_id = 't1'")
                .fetch_one(&pool)
                .await
                .expect("read digest");
        assert_eq!(digest, Sha256::digest(access.as_bytes()).to_vec());
        // The record must hold the token to return it (get_token); nothing else does,
        // the access-token index included.
        let expected = vec![("auth_tokens".to_string(), "token_data".to_string())];
        assert_eq!(columns_containing(&pool, access).await, expected);
        assert_eq!(columns_containing(&pool, refresh).await, expected);
        assert_eq!(
            s.get_token_by_access_token(access).await.expect("lookup"),
            Some(token)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_encrypted_storage_no_column_of_any_row_holds_a_secret() {
    with_schema(3, |pool| async move {
        let inner = migrated(&pool).await;
        let s = EncryptedStorage::new(inner, EncryptionKey::new(1, [0x42; 32]));
        let access = "plaintext-access-token-77e0a1";
        let refresh = "plaintext-refresh-token-c3b8f2";
        let token = AuthToken::new("t1", "alice", access, HOUR).with_refresh_token(refresh);
        s.store_token(&token).await.expect("store");
        let replaced = token
            .clone()
            .with_access_token("plaintext-access-token-second");
        s.store_token(&AuthToken::new(
            "t2",
            "bob",
            "plaintext-access-token-other",
            HOUR,
        ))
        .await
        .expect("store another");
        for needle in [access, refresh, "plaintext-access-token-other"] {
            assert_eq!(
                columns_containing(&pool, needle).await,
                Vec::<(String, String)>::new(),
                "{needle} is stored somewhere"
            );
        }
        // Sanity check of the scan itself: the ids are stored in the clear.
        assert!(!columns_containing(&pool, "alice").await.is_empty());
        s.store_token(&replaced).await.expect("re-store");
        assert_eq!(
            s.get_token_by_access_token(access).await.expect("old"),
            None
        );
        assert_eq!(
            columns_containing(&pool, "plaintext-access-token-second").await,
            Vec::<(String, String)>::new()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_is_idempotent_and_safe_to_run_concurrently() {
    with_schema(8, |pool| async move {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let storage = PostgresStorage::new(pool.clone());
                tokio::spawn(async move { storage.migrate().await })
            })
            .collect();
        for task in tasks {
            task.await.expect("join").expect("concurrent migrate");
        }
        let s = migrated(&pool).await;
        s.migrate().await.expect("migrate once more");
        let applied: Vec<(i64, bool)> =
            sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&pool)
                .await
                .expect("read migration history");
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
            .expect("read the migrations folder")
            .count();
        assert_eq!(
            applied.len(),
            files,
            "each migration applied once: {applied:?}"
        );
        assert!(applied.iter().all(|(_, success)| *success));
        s.store_kv("k", b"v", None)
            .await
            .expect("usable after migrating");
        assert_eq!(s.get_kv("k").await.expect("get"), Some(b"v".to_vec()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_rolled_back_by_a_deadlock_is_retried() {
    with_schema(4, |pool| async move {
        let s = migrated(&pool).await;
        let past = Utc::now() - TimeDelta::seconds(10);
        s.store_token(&AuthToken::new("x", "alice", "at-x", HOUR))
            .await
            .expect("store x");
        s.store_token(&AuthToken::new("z", "bob", "at-shared", HOUR).with_expires_at(past))
            .await
            .expect("store expired z");
        // Another session locks x. Our store_token of x with z's access token then
        // deletes (locks) the expired z and waits for x; when the other session tries to
        // delete z, each waits for the other. PostgreSQL aborts the statement that waited
        // first, ours, with 40P01; the retry must succeed once the other session commits.
        let mut other = pool.begin().await.expect("begin");
        sqlx::query("UPDATE auth_tokens SET user_id = user_id WHERE token_id = 'x'")
            .execute(&mut *other)
            .await
            .expect("lock x");
        let store = tokio::spawn({
            let s = s.clone();
            async move {
                s.store_token(&AuthToken::new("x", "alice", "at-shared", HOUR))
                    .await
            }
        });
        let mut waited = Duration::ZERO;
        loop {
            let blocked: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity JOIN pg_locks USING (pid) \
                 WHERE wait_event_type = 'Lock' AND granted \
                   AND relation = 'auth_tokens'::regclass",
            )
            .fetch_one(&pool)
            .await
            .expect("poll pg_stat_activity");
            if blocked > 0 {
                break;
            }
            assert!(
                waited < Duration::from_secs(10),
                "store_token never blocked on x"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
            waited += Duration::from_millis(10);
        }
        sqlx::query("DELETE FROM auth_tokens WHERE token_id = 'z'")
            .execute(&mut *other)
            .await
            .expect("the other session deletes z once the deadlock is broken");
        other.commit().await.expect("commit");
        store
            .await
            .expect("join")
            .expect("store_token is retried after the deadlock");
        let stored = s
            .get_token_by_access_token("at-shared")
            .await
            .expect("lookup");
        assert_eq!(stored.map(|t| t.token_id), Some("x".to_string()));
    })
    .await;
}
