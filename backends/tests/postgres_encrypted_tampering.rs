//! [`EncryptedStorage`] over [`PostgresStorage`] when someone edits the tables with SQL
//! (issue 14 item 1): a row copied under another id, a user column changed, an expired
//! row's expiry stretched. Every answer must stay bound to the request.
//!
//! Each test works in a fresh schema on the server named by `AUTHSTORE_POSTGRES_URL`
//! and drops it afterwards; without a reachable server every test fails and says how to
//! provide one.
#![cfg(feature = "postgres-storage")]

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use authstore_backends::{EncryptedStorage, EncryptionKey, PostgresStorage};
use authstore_spec::{AuthStorage, AuthToken, SessionData, StorageError};
use chrono::{TimeDelta, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

const URL_VAR: &str = "AUTHSTORE_POSTGRES_URL";
const ADVICE: &str = "start a server with `bash ci/start-postgres` and export the URL it \
                      prints, or point AUTHSTORE_POSTGRES_URL at your own server";
const HOUR: Duration = Duration::from_secs(3600);

/// Runs `body` with an encrypted, migrated store and a pool on a fresh schema, then drops
/// the schema, whether `body` passed or panicked.
async fn with_store<F, Fut>(body: F)
where
    F: FnOnce(EncryptedStorage<PostgresStorage>, PgPool) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let url = std::env::var(URL_VAR).unwrap_or_else(|_| panic!("{URL_VAR} is not set: {ADVICE}"));
    let options = PgConnectOptions::from_str(&url)
        .unwrap_or_else(|err| panic!("{URL_VAR} is not a valid URL ({err}): {ADVICE}"));
    // A counter, not the clock, tells apart tests of one process started in the same
    // microsecond; the time tells apart processes that reuse a pid.
    static SCHEMAS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let schema = format!(
        "authstore_encrypted_{}_{}_{}",
        std::process::id(),
        SCHEMAS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        Utc::now().timestamp_micros()
    );
    admin(&options, &format!("CREATE SCHEMA {schema}")).await;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options.clone().options([("search_path", schema.as_str())]))
        .await;
    let outcome = match pool {
        Ok(pool) => {
            let inner = PostgresStorage::new(pool.clone());
            let outcome = match inner.migrate().await {
                Ok(()) => {
                    let store = EncryptedStorage::new(inner, EncryptionKey::new(1, [0x42; 32]));
                    tokio::spawn(body(store, pool.clone())).await
                }
                Err(err) => tokio::spawn(async move { panic!("migrate failed: {err}") }).await,
            };
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

/// Runs one edit of the tables, as someone with write access to the database would.
async fn edit(pool: &PgPool, sql: &'static str) {
    let done = sqlx::query(sql)
        .execute(pool)
        .await
        .unwrap_or_else(|err| panic!("`{sql}` failed: {err}"));
    assert_eq!(done.rows_affected(), 1, "`{sql}` edited no row");
}

fn assert_integrity<T: std::fmt::Debug>(result: authstore_spec::Result<T>, names: &str) {
    match result {
        Err(StorageError::Integrity(message)) => {
            assert!(message.contains(names), "{message:?} should name {names:?}");
        }
        other => panic!("expected Integrity naming {names:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_row_copied_under_another_id_is_integrity() {
    with_store(|s, pool| async move {
        s.store_token(&AuthToken::new("a", "alice", "at-a", HOUR))
            .await
            .unwrap();
        s.store_token(&AuthToken::new("b", "alice", "at-b", HOUR))
            .await
            .unwrap();
        s.store_session("a", &SessionData::new("a", "alice", HOUR))
            .await
            .unwrap();
        s.store_session("b", &SessionData::new("b", "alice", HOUR))
            .await
            .unwrap();
        edit(
            &pool,
            "UPDATE auth_tokens SET token_data = (SELECT token_data FROM auth_tokens \
             WHERE token_id = 'b') WHERE token_id = 'a'",
        )
        .await;
        edit(
            &pool,
            "UPDATE sessions SET session_data = (SELECT session_data FROM sessions \
             WHERE session_id = 'b') WHERE session_id = 'a'",
        )
        .await;
        assert_integrity(s.get_token("a").await, "\"a\"");
        assert_integrity(s.get_session("a").await, "\"a\"");
        assert_eq!(s.get_token("b").await.unwrap().unwrap().token_id, "b");
    })
    .await;
}

#[tokio::test]
async fn a_user_column_changed_is_integrity() {
    with_store(|s, pool| async move {
        s.store_token(&AuthToken::new("ta", "alice", "at-a", HOUR))
            .await
            .unwrap();
        s.store_token(&AuthToken::new("tb", "bob", "at-b", HOUR))
            .await
            .unwrap();
        s.store_session("sb", &SessionData::new("sb", "bob", HOUR))
            .await
            .unwrap();
        edit(
            &pool,
            "UPDATE auth_tokens SET user_id = 'alice' WHERE token_id = 'tb'",
        )
        .await;
        edit(
            &pool,
            "UPDATE sessions SET user_id = 'alice' WHERE session_id = 'sb'",
        )
        .await;
        assert_integrity(s.list_user_tokens("alice").await, "\"tb\"");
        assert_integrity(s.list_user_sessions("alice").await, "\"sb\"");
    })
    .await;
}

#[tokio::test]
async fn an_expired_row_with_its_expiry_stretched_stays_invisible() {
    with_store(|s, pool| async move {
        let expired_at = Utc::now() - TimeDelta::hours(1);
        let token = AuthToken::new("t", "alice", "at-t", HOUR).with_expires_at(expired_at);
        let session = SessionData::new("s", "alice", HOUR).with_expires_at(expired_at);
        s.store_token(&token).await.unwrap();
        s.store_session("s", &session).await.unwrap();
        // The expiry column PostgreSQL filters on...
        edit(
            &pool,
            "UPDATE auth_tokens SET expires_at = now() + interval '1 hour' WHERE token_id = 't'",
        )
        .await;
        edit(
            &pool,
            "UPDATE sessions SET expires_at = now() + interval '1 hour' WHERE session_id = 's'",
        )
        .await;
        let invisible = async || {
            assert_eq!(s.get_token("t").await.unwrap(), None);
            assert_eq!(s.get_token_by_access_token("at-t").await.unwrap(), None);
            assert_eq!(s.list_user_tokens("alice").await.unwrap(), vec![]);
            assert_eq!(s.get_session("s").await.unwrap(), None);
            assert_eq!(s.list_user_sessions("alice").await.unwrap(), vec![]);
        };
        invisible().await;
        // ...and the expiry inside the stored record too.
        edit(
            &pool,
            "UPDATE auth_tokens SET token_data = jsonb_set(token_data::jsonb, '{expires_at}', \
             to_jsonb(expires_at))::json WHERE token_id = 't'",
        )
        .await;
        edit(
            &pool,
            "UPDATE sessions SET session_data = jsonb_set(session_data::jsonb, '{expires_at}', \
             to_jsonb(expires_at))::json WHERE session_id = 's'",
        )
        .await;
        invisible().await;
    })
    .await;
}
