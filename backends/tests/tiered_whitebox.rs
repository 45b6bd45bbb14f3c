//! White-box tests of `TieredStorage` against live servers: that the cache is used, that
//! two nodes stay coherent, that fills cannot race writes, and what happens when Redis is
//! unreachable.
//!
//! They need the `tiered-storage` feature, `AUTHSTORE_POSTGRES_URL` and
//! `AUTHSTORE_REDIS_URL`:
//! `cargo test -p authstore-backends --features tiered-storage --test tiered_whitebox`.

#[cfg(not(feature = "tiered-storage"))]
#[test]
#[ignore = "needs the tiered-storage feature: cargo test -p authstore-backends --features \
            tiered-storage --test tiered_whitebox"]
fn tiered_whitebox_needs_the_tiered_storage_feature() {}

#[cfg(feature = "tiered-storage")]
mod live {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::str::FromStr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::thread;
    use std::time::{Duration, Instant};

    use authstore_backends::{PostgresStorage, RedisConfig, TieredStorage};
    use authstore_spec::{AuthStorage, AuthToken, SessionData};
    use chrono::Utc;
    use redis::{ConnectionAddr, IntoConnectionInfo};
    use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
    use sqlx::{AssertSqlSafe, Executor};

    const HOUR: Duration = Duration::from_secs(3600);

    fn var(name: &str) -> String {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: start the servers (ci/start-postgres, ci/start-redis)")
        })
    }

    fn redis_url() -> String {
        var("AUTHSTORE_REDIS_URL")
    }

    /// `host:port` of a `redis://` URL.
    fn address(url: &str) -> String {
        let info = url
            .into_connection_info()
            .unwrap_or_else(|err| panic!("{url} is not a Redis URL: {err}"));
        match info.addr() {
            ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
            other => panic!("{url}: only plain TCP servers are supported here, not {other:?}"),
        }
    }

    fn unique(test: &str) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = Utc::now().timestamp_subsec_nanos();
        format!("{test}_{}_{n}_{nanos}", std::process::id())
    }

    /// Two nodes on a fresh schema and prefix; node A may reach Redis through `a_redis`.
    struct Setup {
        admin: PgPool,
        schema: String,
        prefix: String,
        a: TieredStorage,
        b: TieredStorage,
    }

    impl Setup {
        async fn new(test: &str, a_redis: Option<String>, interval: Duration) -> Self {
            let options =
                PgConnectOptions::from_str(&var("AUTHSTORE_POSTGRES_URL")).expect("postgres URL");
            let admin = PgPoolOptions::new()
                .max_connections(2)
                .connect_with(options.clone())
                .await
                .expect("connect to PostgreSQL");
            let schema = format!("tiered_wb_{}", unique(test));
            admin
                .execute(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .await
                .expect("create schema");
            let scoped = options.options([("search_path", schema.as_str())]);
            let pool = || async {
                PgPoolOptions::new()
                    .max_connections(4)
                    .connect_with(scoped.clone())
                    .await
                    .expect("pool")
            };
            let prefix = format!("tiered-wb:{}:", unique(test));
            let timeout = Duration::from_millis(300);
            let cache = |url: String| {
                let prefix = prefix.clone();
                async move {
                    RedisConfig::new(url)
                        .with_prefix(prefix)
                        .with_operation_timeout(timeout)
                        .connect()
                        .await
                        .expect("connect to Redis")
                }
            };
            let a = TieredStorage::new(
                cache(a_redis.unwrap_or_else(redis_url)).await,
                PostgresStorage::new(pool().await),
            )
            .with_epoch_check_interval(interval);
            a.migrate().await.expect("migrate");
            let b =
                TieredStorage::new(cache(redis_url()).await, PostgresStorage::new(pool().await))
                    .with_epoch_check_interval(interval);
            Self {
                admin,
                schema,
                prefix,
                a,
                b,
            }
        }

        /// Runs SQL on the schema behind both nodes' backs.
        async fn sql(&self, sql: &str) {
            sqlx::raw_sql(AssertSqlSafe(format!(
                "SET search_path TO {}; {sql}",
                self.schema
            )))
            .execute(&self.admin)
            .await
            .unwrap_or_else(|err| panic!("`{sql}`: {err}"));
        }

        /// Whether the cache holds an entry (live or retired) under `kind` for `id`, read
        /// with a raw connection.
        async fn cached(&self, kind: &str, id: &str) -> bool {
            let hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
            let key = format!("{{{}}}cache:{kind}:{hex}", self.prefix);
            let client = redis::Client::open(redis_url()).expect("Redis URL");
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .expect("connect to Redis");
            let exists: bool = redis::cmd("EXISTS")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .expect("EXISTS");
            exists
        }

        async fn teardown(self) {
            self.admin
                .execute(AssertSqlSafe(format!(
                    "DROP SCHEMA {} CASCADE",
                    self.schema
                )))
                .await
                .expect("drop schema");
            let cleaner = RedisConfig::new(redis_url())
                .with_prefix(self.prefix)
                .connect()
                .await
                .expect("connect to Redis");
            cleaner.purge().await.expect("purge");
        }
    }

    fn token(id: &str, access: &str, version: u64) -> AuthToken {
        AuthToken::new(id, "user-1", access, HOUR).with_metadata("version", version.into())
    }

    fn version(token: &AuthToken) -> u64 {
        token
            .metadata
            .get("version")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    }

    /// (1) A point read is served from Redis: after a read, a change made directly in
    /// PostgreSQL is not seen until a write through the storage invalidates the entry.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hits_are_served_from_redis() {
        let s = Setup::new("hits", None, Duration::from_secs(1)).await;
        s.a.store_token(&token("t1", "acc-1", 1))
            .await
            .expect("store");
        assert_eq!(
            version(&s.a.get_token("t1").await.expect("get").expect("some")),
            1
        );
        // Warms the access-token mapping too.
        assert!(
            s.a.get_token_by_access_token("acc-1")
                .await
                .expect("by access")
                .is_some()
        );
        s.a.store_kv("k", b"cached", None).await.expect("store_kv");
        assert_eq!(
            s.a.get_kv("k").await.expect("get_kv").as_deref(),
            Some(&b"cached"[..])
        );
        let session = SessionData::new("s1", "user-1", HOUR);
        s.a.store_session("s1", &session)
            .await
            .expect("store_session");
        assert!(s.a.get_session("s1").await.expect("get_session").is_some());

        s.sql(
            "UPDATE auth_tokens SET token_data = \
               json_build_object('bogus', 1) WHERE token_id = 't1'; \
               UPDATE kv_store SET value = 'changed'::bytea WHERE key = 'k'; \
               DELETE FROM sessions WHERE session_id = 's1'",
        )
        .await;
        // Both nodes share the cache: both see the cached versions, not PostgreSQL's.
        for node in [&s.a, &s.b] {
            let cached = node.get_token("t1").await.expect("get").expect("cached");
            assert_eq!(version(&cached), 1);
            let by_access = node
                .get_token_by_access_token("acc-1")
                .await
                .expect("by access");
            assert_eq!(by_access.map(|t| version(&t)), Some(1));
            assert_eq!(
                node.get_kv("k").await.expect("get_kv").as_deref(),
                Some(&b"cached"[..])
            );
            assert!(node.get_session("s1").await.expect("get_session").is_some());
        }
        // Listings go to PostgreSQL.
        assert!(
            s.a.list_user_sessions("user-1")
                .await
                .expect("list")
                .is_empty()
        );

        s.b.update_token(&token("t1", "acc-1", 2))
            .await
            .expect("update");
        s.b.delete_kv("k").await.expect("delete_kv");
        s.b.delete_session("s1").await.expect("delete_session");
        for node in [&s.a, &s.b] {
            assert_eq!(
                version(&node.get_token("t1").await.expect("get").expect("some")),
                2
            );
            assert_eq!(node.get_kv("k").await.expect("get_kv"), None);
            assert!(node.get_session("s1").await.expect("get_session").is_none());
        }
        s.teardown().await;
    }

    /// (2) After node A updates or deletes, node B with a warm cache never returns the
    /// old version or resolves the old access token.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nodes_stay_coherent() {
        let s = Setup::new("coherent", None, Duration::from_secs(1)).await;
        s.a.store_token(&token("t1", "old-access", 1))
            .await
            .expect("store");
        for _ in 0..2 {
            assert!(s.b.get_token("t1").await.expect("get").is_some());
            assert!(
                s.b.get_token_by_access_token("old-access")
                    .await
                    .expect("by access")
                    .is_some()
            );
        }
        s.a.update_token(&token("t1", "new-access", 2))
            .await
            .expect("update");
        assert_eq!(
            version(&s.b.get_token("t1").await.expect("get").expect("some")),
            2
        );
        assert_eq!(
            s.b.get_token_by_access_token("old-access")
                .await
                .expect("by old"),
            None
        );
        let by_new =
            s.b.get_token_by_access_token("new-access")
                .await
                .expect("by new");
        assert_eq!(by_new.map(|t| version(&t)), Some(2));
        // The old access token moves to another token: it resolves to that one.
        s.a.store_token(&token("t2", "old-access", 7))
            .await
            .expect("store t2");
        let moved =
            s.b.get_token_by_access_token("old-access")
                .await
                .expect("moved");
        assert_eq!(moved.map(|t| t.token_id), Some("t2".to_owned()));

        s.a.delete_token("t1").await.expect("delete");
        assert_eq!(s.b.get_token("t1").await.expect("get"), None);
        assert_eq!(
            s.b.get_token_by_access_token("new-access")
                .await
                .expect("by new"),
            None
        );

        s.b.store_kv("k", b"1", None).await.expect("store_kv");
        assert!(s.a.get_kv("k").await.expect("get_kv").is_some());
        s.b.store_kv("k", b"2", None).await.expect("store_kv");
        assert_eq!(
            s.a.get_kv("k").await.expect("get_kv").as_deref(),
            Some(&b"2"[..])
        );
        assert_eq!(
            s.a.list_user_tokens("user-1").await.expect("list").len(),
            s.b.list_user_tokens("user-1").await.expect("list").len()
        );
        s.teardown().await;
    }

    /// (3) Fill races: B keeps reading (missing, filling) while A keeps updating; every
    /// read that starts after an update returned sees that update or a later one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fills_never_land_stale_versions() {
        let s = Setup::new("race", None, Duration::from_secs(1)).await;
        s.a.store_token(&token("t", "acc-0", 0))
            .await
            .expect("store");
        let committed = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let mut readers = Vec::new();
        for node in [s.a.clone(), s.b.clone(), s.b.clone()] {
            let (committed, done) = (committed.clone(), done.clone());
            readers.push(tokio::spawn(async move {
                let mut reads = 0u64;
                while !done.load(Ordering::SeqCst) {
                    let floor = committed.load(Ordering::SeqCst);
                    let seen = node.get_token("t").await.expect("get").expect("some");
                    assert!(
                        version(&seen) >= floor,
                        "read version {} after version {floor} was committed",
                        version(&seen)
                    );
                    let access = format!("acc-{floor}");
                    if let Some(t) = node.get_token_by_access_token(&access).await.expect("by") {
                        // An access token resolves only to the version that holds it.
                        assert_eq!(t.access_token, access);
                    }
                    reads += 1;
                }
                reads
            }));
        }
        let started = Instant::now();
        let mut n = 0;
        while started.elapsed() < Duration::from_secs(3) {
            n += 1;
            s.a.update_token(&token("t", &format!("acc-{n}"), n))
                .await
                .expect("update");
            committed.store(n, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        done.store(true, Ordering::SeqCst);
        let mut total = 0;
        for reader in readers {
            total += reader.await.expect("reader");
        }
        assert!(
            n > 50 && total > 100,
            "too little contention: {n} writes, {total} reads"
        );
        s.teardown().await;
    }

    /// A TCP proxy to Redis that can go down: while down it refuses connections and cuts
    /// the open ones at their next byte, so nothing sent meanwhile reaches Redis (a held
    /// back command arriving later would hide a failed invalidation).
    struct Proxy {
        addr: String,
        down: Arc<AtomicBool>,
    }

    impl Proxy {
        fn start(upstream: String) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
            let addr = listener.local_addr().expect("proxy address").to_string();
            let down = Arc::new(AtomicBool::new(false));
            let gate = down.clone();
            thread::spawn(move || {
                for client in listener.incoming() {
                    let Ok(client) = client else { break };
                    if gate.load(Ordering::SeqCst) {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    }
                    let Ok(server) = TcpStream::connect(&upstream) else {
                        break;
                    };
                    for (from, to) in [
                        (client.try_clone(), server.try_clone()),
                        (server.try_clone(), client.try_clone()),
                    ] {
                        let (Ok(from), Ok(to)) = (from, to) else {
                            return;
                        };
                        let gate = gate.clone();
                        thread::spawn(move || pipe(from, to, &gate));
                    }
                }
            });
            Self { addr, down }
        }

        fn set_down(&self, down: bool) {
            self.down.store(down, Ordering::SeqCst);
        }
    }

    fn pipe(mut from: TcpStream, mut to: TcpStream, down: &AtomicBool) {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || down.load(Ordering::SeqCst) || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    }

    /// (4) Redis unreachable from node A: reads and writes keep working from PostgreSQL,
    /// and a delete A made meanwhile is not served after Redis returns, by A at all and
    /// by B (which reached Redis all along) at most one epoch check interval later.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_outage_degrades_and_recovers_coherently() {
        let interval = Duration::from_millis(500);
        let proxy = Proxy::start(address(&redis_url()));
        let s = Setup::new("outage", Some(format!("redis://{}", proxy.addr)), interval).await;
        s.a.store_token(&token("t1", "acc-1", 1))
            .await
            .expect("store");
        s.a.store_token(&token("t2", "acc-2", 1))
            .await
            .expect("store");
        for node in [&s.a, &s.b] {
            assert!(node.get_token("t1").await.expect("warm").is_some());
            assert!(
                node.get_token_by_access_token("acc-1")
                    .await
                    .expect("warm")
                    .is_some()
            );
            assert!(node.get_token("t2").await.expect("warm").is_some());
        }

        proxy.set_down(true);
        // Writes and reads work, from PostgreSQL.
        s.a.delete_token("t1")
            .await
            .expect("delete while Redis is down");
        assert!(
            s.cached("t", "t1").await,
            "the failed invalidation left the entry"
        );
        s.a.update_token(&token("t2", "acc-2b", 2))
            .await
            .expect("update while down");
        s.a.store_kv("k", b"v", None)
            .await
            .expect("store_kv while down");
        assert_eq!(
            s.a.get_kv("k").await.expect("get_kv").as_deref(),
            Some(&b"v"[..])
        );
        assert_eq!(s.a.get_token("t1").await.expect("get while down"), None);
        assert_eq!(
            s.a.get_token_by_access_token("acc-1")
                .await
                .expect("by access"),
            None
        );
        assert_eq!(
            version(&s.a.get_token("t2").await.expect("get").expect("t2")),
            2
        );
        assert_eq!(s.a.list_user_tokens("user-1").await.expect("list").len(), 1);

        // B could reach Redis all along: within one interval of the failed invalidation
        // it has compared epochs and serves nothing stale.
        tokio::time::sleep(s.b.epoch_check_interval() + Duration::from_millis(50)).await;
        assert_eq!(s.b.get_token("t1").await.expect("b get"), None);
        assert_eq!(
            s.b.get_token_by_access_token("acc-1")
                .await
                .expect("b by access"),
            None
        );
        assert_eq!(
            version(&s.b.get_token("t2").await.expect("b get").expect("t2")),
            2
        );

        proxy.set_down(false);
        // A saw the outage: never stale, while it comes back to the cache.
        let deadline = Instant::now() + 4 * interval;
        while Instant::now() < deadline {
            for node in [&s.a, &s.b] {
                assert_eq!(node.get_token("t1").await.expect("get"), None);
                assert_eq!(
                    node.get_token_by_access_token("acc-1").await.expect("by"),
                    None
                );
                assert_eq!(
                    version(&node.get_token("t2").await.expect("get").expect("t2")),
                    2
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        s.teardown().await;
    }

    /// A's cache entries written before an outage stay unserved after it even when no
    /// other node raised the epoch first: the node that saw the error checks before its
    /// next cache use.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_node_that_saw_the_outage_checks_first() {
        let interval = Duration::from_millis(300);
        let proxy = Proxy::start(address(&redis_url()));
        let s = Setup::new("saw", Some(format!("redis://{}", proxy.addr)), interval).await;
        s.a.store_session("s1", &SessionData::new("s1", "user-1", HOUR))
            .await
            .expect("store");
        assert!(s.a.get_session("s1").await.expect("warm").is_some());
        proxy.set_down(true);
        s.a.delete_session("s1").await.expect("delete while down");
        proxy.set_down(false);
        // The entry is still in Redis (the DEL never arrived), stamped with the old epoch.
        assert!(
            s.cached("s", "s1").await,
            "the failed invalidation left the entry"
        );
        let deadline = Instant::now() + 3 * interval;
        while Instant::now() < deadline {
            assert!(s.a.get_session("s1").await.expect("get").is_none());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(s.a.count_active_sessions().await.expect("count"), 0);
        assert_eq!(s.b.count_active_sessions().await.expect("count"), 0);
        s.teardown().await;
    }
}
