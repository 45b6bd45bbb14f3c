//! One minimal reproduction per defect class of the published report
//! (`reports/auth-framework-0.6.0-rc202/README.md`), written against auth-framework's own
//! API only (no authstore type), so a maintainer can paste each into a test of theirs.
//! Each asserts the defective behaviour, so it passes while the defect is there; the
//! comment says what should happen instead. Server backends read `AUTHSTORE_REDIS_URL` /
//! `AUTHSTORE_POSTGRES_URL` and fail without them.

use std::time::Duration;

use auth_framework::storage::dashmap_memory::DashMapMemoryStorage;
use auth_framework::storage::{AuthStorage, MemoryStorage, SessionData};
use auth_framework::tokens::AuthToken;

const HOUR: Duration = Duration::from_secs(3600);

/// A token of theirs with this id, user and access token, living an hour.
fn token(id: &str, user: &str, access: &str) -> AuthToken {
    let mut token = AuthToken::new(user, access, HOUR, "test");
    token.token_id = id.to_owned();
    token
}

/// D1 (memory, dashmap, encrypted): storing a token again under its id with another
/// access token keeps the old access-token index entry, so the old access token still
/// finds the token (which now carries the new one). Expected: `None` for the old one.
#[tokio::test]
async fn d1_restore_keeps_old_access_token_index() {
    let store = MemoryStorage::new();
    store
        .store_token(&token("t1", "alice", "old"))
        .await
        .unwrap();
    store
        .store_token(&token("t1", "alice", "new"))
        .await
        .unwrap();
    let found = store.get_token_by_access_token("old").await.unwrap();
    assert_eq!(found.map(|t| t.access_token), Some("new".to_owned()));
}

/// D2 (memory, dashmap, encrypted): storing a token again lists it twice for its user,
/// and a token moved to another user stays listed under the first. Expected: once, and
/// only under its current user. Sessions alike.
#[tokio::test]
async fn d2_restore_duplicates_and_leaves_user_lists_stale() {
    let store = DashMapMemoryStorage::new();
    store.store_token(&token("t1", "alice", "a")).await.unwrap();
    store.store_token(&token("t1", "alice", "a")).await.unwrap();
    assert_eq!(store.list_user_tokens("alice").await.unwrap().len(), 2);
    store.store_token(&token("t1", "bob", "a")).await.unwrap();
    let alices = store.list_user_tokens("alice").await.unwrap();
    assert!(
        alices.iter().any(|t| t.user_id == "bob"),
        "alice's list shows bob's token"
    );

    let session = SessionData::new("s1", "alice", HOUR);
    store.store_session("s1", &session).await.unwrap();
    store.store_session("s1", &session).await.unwrap();
    assert_eq!(store.list_user_sessions("alice").await.unwrap().len(), 2);
}

/// D3 (memory, dashmap, encrypted): `list_user_tokens` returns a token whose `expires_at`
/// has passed (it checks only the store-wide TTL), while `get_token` hides it.
#[tokio::test]
async fn d3_list_user_tokens_returns_expired_tokens() {
    let store = MemoryStorage::new();
    let mut expired = token("t1", "alice", "a");
    expired.expires_at = chrono::Utc::now() - chrono::Duration::seconds(1);
    store.store_token(&expired).await.unwrap();
    assert_eq!(store.list_user_tokens("alice").await.unwrap().len(), 1);
    assert!(store.get_token("t1").await.unwrap().is_none());
}

/// D4 (memory, encrypted): `MemoryStorage::list_kv_keys` lists expired keys, which their
/// trait documents it must not ("Expired keys are not listed").
#[tokio::test]
async fn d4_memory_lists_expired_kv_keys() {
    let store = MemoryStorage::new();
    store
        .store_kv("k", b"v", Some(Duration::from_millis(1)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(store.list_kv_keys("k").await.unwrap(), vec!["k".to_owned()]);
    assert!(store.get_kv("k").await.unwrap().is_none());
}

/// D5 (dashmap): `cleanup_expired` leaves tokens whose `expires_at` passed (it removes
/// only what the store-wide TTL expired), so they stay in memory for ever.
#[tokio::test]
async fn d5_cleanup_keeps_expired_tokens() {
    let store = DashMapMemoryStorage::new();
    let mut expired = token("t1", "alice", "a");
    expired.expires_at = chrono::Utc::now() - chrono::Duration::seconds(1);
    store.store_token(&expired).await.unwrap();
    store.cleanup_expired().await.unwrap();
    let stats = store.get_storage_statistics();
    assert_eq!(stats["total_tokens"], serde_json::json!(1));
}

/// D6 (unified): storing a token that has already expired panics in their code
/// (`(expires_at - now) as u64` wraps to a huge `Duration`, then `SystemTime + Duration`
/// overflows). Expected: `Ok`, and the token invisible.
#[cfg(feature = "unified")]
#[tokio::test]
async fn d6_unified_panics_on_an_expired_token() {
    use auth_framework::storage::UnifiedStorage;
    let store = UnifiedStorage::new();
    let mut expired = token("t1", "alice", "a");
    expired.expires_at = chrono::Utc::now() - chrono::Duration::seconds(1);
    let outcome = tokio::spawn(async move { store.store_token(&expired).await }).await;
    let panic = outcome.expect_err("store_token returned instead of panicking");
    assert!(panic.is_panic());
}

/// D7 (unified): the memory counter only grows, so a store with `max_memory` of 1 MiB
/// refuses a 1 KiB write after 1 MiB of overwrites of one key, with one key live.
/// Expected: writes keep succeeding while the live data fits.
#[cfg(feature = "unified")]
#[tokio::test]
async fn d7_unified_memory_counter_never_decreases() {
    use auth_framework::storage::{UnifiedStorage, UnifiedStorageConfig};
    let store = UnifiedStorage::with_config(UnifiedStorageConfig {
        max_memory: 1 << 20,
        ..UnifiedStorageConfig::default()
    });
    let value = vec![0u8; 1024];
    let mut refused = None;
    for round in 0..2048 {
        if let Err(err) = store.store_kv("one-key", &value, None).await {
            refused = Some((round, err.to_string()));
            break;
        }
    }
    let (round, message) = refused.expect("never refused");
    assert!(round <= 1024, "refused only at round {round}");
    assert!(message.contains("Memory limit exceeded"), "{message}");
}

/// D8 (unified): the background cleanup task deletes every entry, live ones included,
/// once it meets an expired one: it subtracts the freed bytes from a counter of its own
/// that starts at 0, the `u64` wraps, and its "aggressive cleanup" then evicts until a
/// target it can never reach. Its first pass runs right after construction, then every
/// 60 s. Expected: the live key stays.
#[cfg(feature = "unified")]
#[tokio::test]
async fn d8_unified_cleanup_task_evicts_live_entries() {
    use auth_framework::storage::UnifiedStorage;
    let store = UnifiedStorage::new();
    store.store_kv("live", b"stays", None).await.unwrap();
    store
        .store_kv("brief", b"x", Some(Duration::from_nanos(1)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.get_kv("live").await.unwrap(), None);
    assert_eq!(store.get_stats().total_entries, 0);
}

/// The Redis URL of the test environment.
#[cfg(feature = "redis")]
fn redis_url() -> String {
    std::env::var("AUTHSTORE_REDIS_URL").expect("set AUTHSTORE_REDIS_URL (bash ci/start-redis)")
}

/// A key prefix of this test alone.
#[cfg(feature = "redis")]
fn prefix(test: &str) -> String {
    format!(
        "afrepro:{test}:{}:{}:",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    )
}

/// D9 (redis-core, redis-module as applicable): a token stored an hour after it expired
/// is read back (its Redis TTL is clamped to at least 1 s and `get_token` does not look
/// at `expires_at`); a kv value stored with TTL zero is read back (clamped to 1 ms).
/// Expected: `None` for both.
#[cfg(feature = "redis")]
#[tokio::test]
async fn d9_redis_reads_back_items_stored_already_expired() {
    use auth_framework::storage::RedisStorage;
    let store = RedisStorage::new(&redis_url(), prefix("d9")).unwrap();
    let mut expired = token("t1", "alice", "a");
    expired.expires_at = chrono::Utc::now() - chrono::Duration::hours(1);
    store.store_token(&expired).await.unwrap();
    assert!(store.get_token("t1").await.unwrap().is_some());
    store
        .store_kv("k", b"new", Some(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(store.get_kv("k").await.unwrap(), Some(b"new".to_vec()));
    store.delete_token("t1").await.unwrap();
}

/// D10 (redis-core): `list_kv_keys("a*")` lists `abc` too: the prefix is a `SCAN MATCH`
/// pattern, not escaped. Expected: only keys starting with the two characters `a*`.
#[cfg(feature = "redis")]
#[tokio::test]
async fn d10_redis_core_prefix_is_a_glob() {
    use auth_framework::storage::RedisStorage;
    let store = RedisStorage::new(&redis_url(), prefix("d10")).unwrap();
    store
        .store_kv("a*b", b"1", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    store
        .store_kv("abc", b"2", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    let mut listed = store.list_kv_keys("a*").await.unwrap();
    listed.sort();
    assert_eq!(listed, vec!["a*b".to_owned(), "abc".to_owned()]);
}

/// D9 (redis-module part) and C7: `storage::redis::RedisStorage` keeps a session stored
/// an hour after it expired for its default TTL, returns and counts it; it refuses an
/// expired token outright. Expected by SPEC.md: both stored, neither visible.
#[cfg(feature = "redis")]
#[tokio::test]
async fn d9_c7_redis_module_expired_session_kept_expired_token_refused() {
    use auth_framework::storage::redis::RedisStorage;
    let store = RedisStorage::with_config(&redis_url(), prefix("d9m"), HOUR)
        .await
        .unwrap();
    let mut session = SessionData::new("s1", "alice", HOUR);
    session.expires_at = chrono::Utc::now() - chrono::Duration::hours(1);
    store.store_session("s1", &session).await.unwrap();
    assert!(store.get_session("s1").await.unwrap().is_some());
    assert_eq!(store.count_active_sessions().await.unwrap(), 1);
    store.delete_session("s1").await.unwrap();

    let mut expired = token("t1", "alice", "a");
    expired.expires_at = chrono::Utc::now() - chrono::Duration::hours(1);
    let refused = store.store_token(&expired).await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("Cannot store an already-expired token"),
        "{refused}"
    );
}

/// A migrated `PostgresStorage` in a fresh schema of the `AUTHSTORE_POSTGRES_URL`
/// server, and the schema's name (drop it with [`drop_schema`]).
#[cfg(feature = "postgres")]
async fn pg_store(
    test: &str,
) -> (
    auth_framework::storage::postgres::PostgresStorage,
    sqlx::PgPool,
    String,
) {
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    use std::str::FromStr;
    let url = std::env::var("AUTHSTORE_POSTGRES_URL")
        .expect("set AUTHSTORE_POSTGRES_URL (bash ci/start-postgres)");
    let options = PgConnectOptions::from_str(&url).unwrap();
    let schema = format!(
        "afrepro_{test}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options.options([("search_path", schema.as_str())]))
        .await
        .unwrap();
    let store = auth_framework::storage::postgres::PostgresStorage::new(pool.clone());
    store.migrate().await.unwrap();
    (store, admin, schema)
}

#[cfg(feature = "postgres")]
async fn drop_schema(admin: sqlx::PgPool, schema: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await
        .unwrap();
}

/// D11, D12, D13, D14 (postgres). D11: re-storing `t1` for bob with new scopes keeps
/// alice and the old scopes (the upsert sets only some columns). D12: an expired token
/// keeps its access token, so another token cannot take it. D13: a token with U+0000 in
/// a scope cannot be stored. D14: `store_kv` with `Duration::MAX` stores the value
/// already expired. Expected: bob and the new scopes; the second store succeeds; the NUL
/// round-trips; the value is readable.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn d11_to_d14_postgres() {
    let (store, admin, schema) = pg_store("pg").await;
    store
        .store_token(&token("t1", "alice", "a1"))
        .await
        .unwrap();
    let mut moved = token("t1", "bob", "a1");
    moved.scopes = auth_framework::types::Scopes(vec!["new".into()]);
    store.store_token(&moved).await.unwrap();
    let read = store.get_token("t1").await.unwrap().unwrap();
    assert_eq!((read.user_id.as_str(), read.scopes.0.len()), ("alice", 0));

    let mut expired = token("t2", "alice", "shared");
    expired.expires_at = chrono::Utc::now() - chrono::Duration::hours(1);
    store.store_token(&expired).await.unwrap();
    let taken = store
        .store_token(&token("t3", "bob", "shared"))
        .await
        .unwrap_err();
    assert!(
        taken.to_string().contains("auth_tokens_access_token_key"),
        "{taken}"
    );

    let mut nul = token("t4", "alice", "a4");
    nul.scopes = auth_framework::types::Scopes(vec!["a\u{0}b".into()]);
    let refused = store.store_token(&nul).await.unwrap_err();
    assert!(refused.to_string().contains("0x00"), "{refused}");

    store
        .store_kv("forever", b"v", Some(Duration::MAX))
        .await
        .unwrap();
    assert_eq!(store.get_kv("forever").await.unwrap(), None);
    drop(store);
    drop_schema(admin, &schema).await;
}

/// D10 (postgres): `list_kv_keys("a%")` lists `abc`: the prefix goes into `LIKE`
/// unescaped. Expected: only `a%b`.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn d10_postgres_prefix_is_a_like_pattern() {
    let (store, admin, schema) = pg_store("like").await;
    store.store_kv("a%b", b"1", None).await.unwrap();
    store.store_kv("abc", b"2", None).await.unwrap();
    assert_eq!(
        store.list_kv_keys("a%").await.unwrap(),
        vec!["a%b".to_owned(), "abc".to_owned()]
    );
    drop(store);
    drop_schema(admin, &schema).await;
}

/// D15 and D10 (sqlite): a value stored with TTL zero is read back (expiry is kept in
/// whole seconds), and `list_kv_keys("user")` lists `USER:1` (`LIKE` ignores ASCII case).
/// Expected: `None`, and only `user:2`.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn d15_d10_sqlite() {
    use auth_framework::storage::sqlite::SqliteStorage;
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    let store = SqliteStorage::new(pool);
    store.migrate().await.unwrap();
    store
        .store_kv("k", b"v", Some(Duration::ZERO))
        .await
        .unwrap();
    // Within the same second as the store (retried if the second turned in between).
    let mut read = store.get_kv("k").await.unwrap();
    for _ in 0..3 {
        if read.is_some() {
            break;
        }
        store
            .store_kv("k", b"v", Some(Duration::ZERO))
            .await
            .unwrap();
        read = store.get_kv("k").await.unwrap();
    }
    assert_eq!(read, Some(b"v".to_vec()));
    store.store_kv("USER:1", b"1", None).await.unwrap();
    store.store_kv("user:2", b"2", None).await.unwrap();
    assert_eq!(
        store.list_kv_keys("user").await.unwrap(),
        vec!["USER:1".to_owned(), "user:2".to_owned()]
    );
}

/// D16 (redis-module): a token living 3 s stored after one living an hour sets the
/// user's token set to expire in 2-3 s, and with it the hour-long token drops out of
/// `list_user_tokens`. Expected: the hour-long token is still listed.
#[cfg(feature = "redis")]
#[tokio::test]
async fn d16_redis_module_short_token_shortens_the_user_set() {
    use auth_framework::storage::redis::RedisStorage;
    let store = RedisStorage::with_config(&redis_url(), prefix("d16"), HOUR)
        .await
        .unwrap();
    store
        .store_token(&token("long", "alice", "a-long"))
        .await
        .unwrap();
    let mut short = token("short", "alice", "a-short");
    short.expires_at = chrono::Utc::now() + chrono::Duration::seconds(3);
    store.store_token(&short).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert!(store.get_token("long").await.unwrap().is_some());
    assert!(store.list_user_tokens("alice").await.unwrap().is_empty());
    store.delete_token("long").await.unwrap();
}
