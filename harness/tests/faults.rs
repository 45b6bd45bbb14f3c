//! Fault scenarios against servers this test controls, each in its own container
//! (`authstore_harness::provision::ServiceContainer`; images from
//! `AUTHSTORE_POSTGRES_IMAGE`, `AUTHSTORE_MARIADB_IMAGE`, `AUTHSTORE_REDIS_IMAGE`):
//!
//! - **paused** (`docker pause`): every operation fails with `Unavailable` within the
//!   operation timeout, none hangs, and afterwards the same storage value serves every
//!   operation again, with the data written before the pause;
//! - **killed** (SIGKILL) and restarted under eight concurrent writers: no acknowledged
//!   write is lost on PostgreSQL, MariaDB and Redis with `appendfsync always`; Redis
//!   without persistence loses everything and answers again, consistently;
//! - **restarted cache**: `TieredStorage` serves no stale entry after its Redis restarts
//!   with old entries restored from a snapshot;
//! - **refused** at construction: a typed error naming what failed, no panic.
//!
//! Scenarios run one at a time (they measure stalls). Each prints a `FAULT` line and
//! writes its figures to `$CARGO_TARGET_DIR` (else `target`)`/conformance/faults/<test>.json`.
//! Run with `cargo test -p authstore-harness --test faults -- --nocapture`.

#[path = "faults/ops.rs"]
mod ops;
#[path = "faults/support.rs"]
mod support;
#[path = "faults/writers.rs"]
mod writers;

mod paused {
    use std::time::{Duration, Instant};

    use authstore_harness::provision::{Service, ServiceContainer};
    use authstore_spec::{AuthStorage, ErrorKind};
    use serde_json::json;

    use crate::ops::{self, Call, OPS, Outcome, Seed, is_point_read};
    use crate::support::{self, Figures, OP_TIMEOUT, RECOVERY_BOUND, SLACK};

    /// What the calls made while the server is paused must do.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Expect {
        /// Fail with `Unavailable`.
        Unavailable,
        /// `TieredStorage` whose Redis is paused: answer correctly from PostgreSQL.
        AnswerFromPostgres,
        /// `TieredStorage` whose PostgreSQL is paused: fail with `Unavailable`, except
        /// that a point read may be answered, correctly, from the cache.
        UnavailableOrCached,
    }

    /// Seeds `storage`, pauses `server`, calls every operation, unpauses, and waits for
    /// every operation to work again on the same storage value; asserts `expect` for the
    /// paused calls, each within `bound` (point reads within `point_read_bound`).
    async fn scenario(
        test: &'static str,
        backend: &str,
        storage: &dyn AuthStorage,
        server: &ServiceContainer,
        expect: Expect,
        bound: Duration,
        point_read_bound: Duration,
    ) {
        let seed = Seed::new();
        seed.write(storage).await;
        let healthy = ops::round(storage, &seed, 0).await;
        assert!(
            healthy
                .iter()
                .all(|call| matches!(call.outcome, Outcome::Correct)),
            "{backend}: not every operation works before the fault:\n{}",
            ops::describe(&healthy)
        );

        // Let every periodic check fall due (TieredStorage's epoch check, 1 s), so the
        // paused calls meet the slowest path, not the one just warmed up.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        server.pause().await.expect("docker pause");
        let paused = ops::round(storage, &seed, 1).await;
        server.unpause().await.expect("docker unpause");
        let unpaused = Instant::now();

        let mut rounds = 0;
        let recovered = loop {
            rounds += 1;
            let calls = ops::round(storage, &seed, 1 + rounds).await;
            if calls
                .iter()
                .all(|call| matches!(call.outcome, Outcome::Correct))
            {
                break unpaused.elapsed();
            }
            assert!(
                unpaused.elapsed() < RECOVERY_BOUND,
                "{backend}: the same storage value did not recover within {RECOVERY_BOUND:?} \
                 of the unpause; last round:\n{}",
                ops::describe(&calls)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };

        let longest = paused
            .iter()
            .map(|call| call.elapsed)
            .max()
            .unwrap_or_default();
        let acknowledged = paused
            .iter()
            .filter(|call| call.error_kind().is_none())
            .count();
        Figures {
            test,
            backend: backend.to_owned(),
            attempted: OPS.len() as u64,
            acknowledged: acknowledged as u64,
            lost: 0,
            longest_stall_ms: longest.as_millis(),
            recover_ms: Some(recovered.as_millis()),
            restart_ms: None,
            extra: json!({
                "fault": "docker pause",
                "bound_ms": bound.as_millis(),
                "point_read_bound_ms": point_read_bound.as_millis(),
                "recovery_rounds": rounds,
                "paused_calls": paused.iter().map(|call| json!({
                    "op": call.op,
                    "ms": call.elapsed.as_millis(),
                    "kind": call.error_kind().map(|kind| format!("{kind:?}")),
                })).collect::<Vec<_>>(),
            }),
        }
        .publish();

        let wrong: Vec<&Call> = paused
            .iter()
            .filter(|call| !as_expected(call, expect))
            .collect();
        assert!(
            wrong.is_empty(),
            "{backend} paused: expected {expect:?} from every operation; the calls:\n{}",
            ops::describe(&paused)
        );
        let allowed = |call: &Call| {
            if is_point_read(call.op) {
                point_read_bound
            } else {
                bound
            }
        };
        let late: Vec<&Call> = paused
            .iter()
            .filter(|call| call.elapsed > allowed(call))
            .collect();
        assert!(
            late.is_empty(),
            "{backend} paused: calls took longer than {bound:?} (point reads \
             {point_read_bound:?}):\n{}",
            ops::describe(&paused)
        );
    }

    fn as_expected(call: &Call, expect: Expect) -> bool {
        match (expect, &call.outcome) {
            (_, Outcome::Hung | Outcome::Wrong(_)) => false,
            (Expect::AnswerFromPostgres, outcome) => matches!(outcome, Outcome::Correct),
            (Expect::Unavailable, _) => call.error_kind() == Some(ErrorKind::Unavailable),
            (Expect::UnavailableOrCached, Outcome::Correct) => is_point_read(call.op),
            (Expect::UnavailableOrCached, _) => call.error_kind() == Some(ErrorKind::Unavailable),
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn paused_postgres_fails_fast_then_recovers() {
        let _machine = support::exclusive().await;
        let server = support::container(Service::Postgres, support::DURABLE_POSTGRES).await;
        let storage = support::postgres(server.url()).await;
        scenario(
            "paused_postgres_fails_fast_then_recovers",
            "postgres",
            &storage,
            &server,
            Expect::Unavailable,
            OP_TIMEOUT + SLACK,
            OP_TIMEOUT + SLACK,
        )
        .await;
        support::remove(server).await;
    }

    /// The same on the tokio-postgres path ([`PostgresStorage::connect_with`]).
    #[tokio::test(flavor = "multi_thread")]
    async fn paused_postgres_native_fails_fast_then_recovers() {
        let _machine = support::exclusive().await;
        let server = support::container(Service::Postgres, support::DURABLE_POSTGRES).await;
        let storage = support::postgres_native(server.url()).await;
        scenario(
            "paused_postgres_native_fails_fast_then_recovers",
            "postgres-native",
            &storage,
            &server,
            Expect::Unavailable,
            OP_TIMEOUT + SLACK,
            OP_TIMEOUT + SLACK,
        )
        .await;
        support::remove(server).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn paused_mariadb_fails_fast_then_recovers() {
        let _machine = support::exclusive().await;
        let server = support::container(Service::MariaDb, support::DURABLE_MARIADB).await;
        let storage = support::mariadb(server.url()).await;
        scenario(
            "paused_mariadb_fails_fast_then_recovers",
            "mariadb",
            &storage,
            &server,
            Expect::Unavailable,
            OP_TIMEOUT + SLACK,
            OP_TIMEOUT + SLACK,
        )
        .await;
        support::remove(server).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn paused_redis_fails_fast_then_recovers() {
        let _machine = support::exclusive().await;
        let server = support::container(Service::Redis, &[]).await;
        let storage = support::redis(server.url()).await;
        scenario(
            "paused_redis_fails_fast_then_recovers",
            "redis",
            &storage,
            &server,
            Expect::Unavailable,
            OP_TIMEOUT + SLACK,
            OP_TIMEOUT + SLACK,
        )
        .await;
        support::remove(server).await;
    }

    /// The tiered docs: "When Redis is unreachable, reads and writes work from
    /// PostgreSQL"; "Redis errors never fail a call". A call waits for at most one Redis
    /// timeout (then the node leaves Redis alone for `epoch_check_interval`).
    #[tokio::test(flavor = "multi_thread")]
    async fn paused_tiered_cache_answers_from_postgres_then_recovers() {
        let _machine = support::exclusive().await;
        let cache = support::container(Service::Redis, &[]).await;
        let store = support::container(Service::Postgres, support::DURABLE_POSTGRES).await;
        let node = support::tiered(cache.url(), store.url(), Duration::from_secs(1)).await;
        scenario(
            "paused_tiered_cache_answers_from_postgres_then_recovers",
            "tiered (redis paused)",
            &node,
            &cache,
            Expect::AnswerFromPostgres,
            OP_TIMEOUT + SLACK,
            OP_TIMEOUT + SLACK,
        )
        .await;
        support::remove(cache).await;
        support::remove(store).await;
    }

    /// PostgreSQL is the source of truth: every call that needs it fails; a point read
    /// whose entry is cached may still be answered from Redis. A point read whose epoch
    /// check is due fails with the epoch check's error: one timeout, like every call.
    #[tokio::test(flavor = "multi_thread")]
    async fn paused_tiered_store_fails_fast_then_recovers() {
        let _machine = support::exclusive().await;
        let cache = support::container(Service::Redis, &[]).await;
        let store = support::container(Service::Postgres, support::DURABLE_POSTGRES).await;
        let node = support::tiered(cache.url(), store.url(), Duration::from_secs(1)).await;
        scenario(
            "paused_tiered_store_fails_fast_then_recovers",
            "tiered (postgres paused)",
            &node,
            &store,
            Expect::UnavailableOrCached,
            OP_TIMEOUT + SLACK,
            OP_TIMEOUT + SLACK,
        )
        .await;
        support::remove(cache).await;
        support::remove(store).await;
    }
}

mod killed {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use authstore_harness::provision::{Service, ServiceContainer};
    use authstore_spec::AuthStorage;
    use serde_json::json;

    use crate::support::{self, Figures};
    use crate::writers::{self, FaultTimes, Verdict, WriteRun};

    /// Writers for a second, SIGKILL, a second down, restart, writers for two seconds
    /// more; then every acknowledged write read back.
    async fn scenario(
        test: &'static str,
        backend: &str,
        storage: Arc<dyn AuthStorage>,
        server: &ServiceContainer,
    ) -> (WriteRun, FaultTimes, Verdict) {
        let mut restart_took = Duration::ZERO;
        let fault = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            server.kill().await.expect("docker kill");
            tokio::time::sleep(Duration::from_secs(1)).await;
            let restart_requested = Instant::now();
            restart_took = server.restart().await.expect("docker start");
            FaultTimes {
                restart_requested,
                restarted: Instant::now(),
            }
        };
        let (run, times) = writers::write_through(Arc::clone(&storage), fault).await;
        let verdict = writers::verify(storage.as_ref(), &run, &times).await;
        Figures {
            test,
            backend: backend.to_owned(),
            attempted: run.attempted,
            acknowledged: run.acked.len() as u64,
            lost: verdict.lost(),
            longest_stall_ms: run.longest_stall.as_millis(),
            recover_ms: run.first_ack_after(&times).map(|took| took.as_millis()),
            restart_ms: Some(restart_took.as_millis()),
            extra: json!({
                "fault": "docker kill --signal=KILL, docker start 1 s later",
                "writers": writers::WRITERS,
                "failed_writes": run.errored.len(),
                "acked_before_restart": verdict.acked_before_restart,
                "lost_before_restart": verdict.lost_before_restart,
                "lost_after_restart": verdict.lost_after_restart,
                "server_ready_after_restart_request_ms":
                    times.restarted.duration_since(times.restart_requested).as_millis(),
            }),
        }
        .publish();
        assert!(
            verdict.corrupt.is_empty() && verdict.read_errors.is_empty(),
            "{backend}: after the restart, reads failed or returned other data: corrupt {:?}, \
             errors {:?}",
            verdict.corrupt,
            verdict.read_errors
        );
        assert!(
            verdict.index_problems.is_empty(),
            "{backend}: listings disagree with the records after the restart: {:?}",
            verdict.index_problems
        );
        assert!(
            run.first_ack_after(&times).is_some(),
            "{backend}: no write was acknowledged after the restart"
        );
        (run, times, verdict)
    }

    fn assert_nothing_lost(backend: &str, run: &WriteRun, verdict: &Verdict) {
        assert!(
            verdict.acked_before_restart > 0,
            "{backend}: no write was acknowledged before the kill, the run proves nothing"
        );
        assert_eq!(
            verdict.lost(),
            0,
            "{backend}: {} of {} acknowledged writes are gone after the restart ({} acknowledged \
             before it)",
            verdict.lost(),
            run.acked.len(),
            verdict.acked_before_restart
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn killed_postgres_keeps_every_acknowledged_write() {
        let _machine = support::exclusive().await;
        let server = support::container(Service::Postgres, support::DURABLE_POSTGRES).await;
        let storage = Arc::new(support::postgres(server.url()).await);
        let (run, _, verdict) = scenario(
            "killed_postgres_keeps_every_acknowledged_write",
            "postgres",
            storage,
            &server,
        )
        .await;
        assert_nothing_lost("postgres", &run, &verdict);
        support::remove(server).await;
    }

    /// The same on the tokio-postgres path: connections cut by the kill are dropped
    /// from the pool, new ones opened once the server is back.
    #[tokio::test(flavor = "multi_thread")]
    async fn killed_postgres_native_keeps_every_acknowledged_write() {
        let _machine = support::exclusive().await;
        let server = support::container(Service::Postgres, support::DURABLE_POSTGRES).await;
        let storage = Arc::new(support::postgres_native(server.url()).await);
        let (run, _, verdict) = scenario(
            "killed_postgres_native_keeps_every_acknowledged_write",
            "postgres-native",
            storage,
            &server,
        )
        .await;
        assert_nothing_lost("postgres-native", &run, &verdict);
        support::remove(server).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn killed_mariadb_keeps_every_acknowledged_write() {
        let _machine = support::exclusive().await;
        let server = support::container(Service::MariaDb, support::DURABLE_MARIADB).await;
        let storage = Arc::new(support::mariadb(server.url()).await);
        let (run, _, verdict) = scenario(
            "killed_mariadb_keeps_every_acknowledged_write",
            "mariadb",
            storage,
            &server,
        )
        .await;
        assert_nothing_lost("mariadb", &run, &verdict);
        support::remove(server).await;
    }

    /// `appendfsync always`: Redis writes and fsyncs the AOF before it replies.
    #[tokio::test(flavor = "multi_thread")]
    async fn killed_redis_with_aof_always_keeps_every_acknowledged_write() {
        let _machine = support::exclusive().await;
        let server = support::container(
            Service::Redis,
            &["--appendonly", "yes", "--appendfsync", "always"],
        )
        .await;
        let storage = Arc::new(support::redis(server.url()).await);
        let (run, _, verdict) = scenario(
            "killed_redis_with_aof_always_keeps_every_acknowledged_write",
            "redis (appendfsync always)",
            storage,
            &server,
        )
        .await;
        assert_nothing_lost("redis (appendfsync always)", &run, &verdict);
        support::remove(server).await;
    }

    /// No RDB, no AOF (the offline image's default): the restarted server is empty. What
    /// the writers acknowledged before the kill is all gone; what they acknowledged after
    /// the restart is all there, and the indexes agree with the records.
    #[tokio::test(flavor = "multi_thread")]
    async fn killed_redis_without_persistence_loses_everything_and_answers_again() {
        let _machine = support::exclusive().await;
        let server =
            support::container(Service::Redis, &["--save", "", "--appendonly", "no"]).await;
        let storage = Arc::new(support::redis(server.url()).await);
        let backend = "redis (no persistence)";
        let (_, _, verdict) = scenario(
            "killed_redis_without_persistence_loses_everything_and_answers_again",
            backend,
            storage,
            &server,
        )
        .await;
        assert!(
            verdict.acked_before_restart > 0,
            "{backend}: nothing acknowledged before the kill"
        );
        assert_eq!(
            verdict.lost_before_restart, verdict.acked_before_restart,
            "{backend}: a server without persistence restarts empty, yet some writes from \
             before the kill survived"
        );
        assert_eq!(
            verdict.lost_after_restart, 0,
            "{backend}: writes acknowledged by the restarted server are missing"
        );
        support::remove(server).await;
    }
}

mod restarted_cache {
    use std::time::{Duration, Instant};

    use authstore_backends::TieredStorage;
    use authstore_harness::provision::{Service, ServiceContainer};
    use authstore_spec::{AuthStorage, AuthToken, SessionData};
    use redis::AsyncCommands;
    use serde_json::json;

    use crate::support::{self, Figures, HANG};

    const HOUR: Duration = Duration::from_secs(3600);

    /// How often each node checks the cache epoch (the tiered default).
    const EPOCH_CHECK: Duration = Duration::from_secs(1);

    /// How long the nodes are read from after the restart: well past one epoch check
    /// interval and the quiet period after a Redis error.
    const READ_FOR: Duration = Duration::from_secs(3);

    /// One version of the three cached kinds of item.
    struct Version {
        token: AuthToken,
        session: SessionData,
        value: Vec<u8>,
    }

    const KV_KEY: &str = "cached-kv";

    impl Version {
        fn new(tag: &str) -> Self {
            Version {
                token: AuthToken::new("cached-token", "cache-user", format!("access-{tag}"), HOUR),
                session: SessionData::new("cached-session", "cache-user", HOUR)
                    .with_data("version", json!(tag)),
                value: tag.as_bytes().to_vec(),
            }
        }
    }

    /// Reads every item of `v1` through `node` (filling the cache) and checks it is v1.
    async fn read_v1(node: &TieredStorage, v1: &Version) {
        assert_eq!(
            node.get_kv(KV_KEY).await.unwrap().as_deref(),
            Some(&v1.value[..])
        );
        assert_eq!(
            node.get_token(&v1.token.token_id).await.unwrap().as_ref(),
            Some(&v1.token)
        );
        assert_eq!(
            node.get_token_by_access_token(&v1.token.access_token)
                .await
                .unwrap()
                .as_ref(),
            Some(&v1.token)
        );
        assert_eq!(
            node.get_session(&v1.session.session_id)
                .await
                .unwrap()
                .as_ref(),
            Some(&v1.session)
        );
    }

    /// Cache entries (not leases, not the epoch) of tokens, sessions and kv.
    async fn cache_entries(url: &str) -> Vec<(String, Vec<u8>)> {
        let mut raw = support::raw_redis(url).await;
        let keys: Vec<String> = raw.keys("*cache:[tsk]:*").await.expect("KEYS");
        let mut entries = Vec::new();
        for key in keys.into_iter().filter(|key| !key.ends_with(":lease")) {
            let value: Option<Vec<u8>> = raw.get(&key).await.expect("GET");
            entries.extend(value.map(|value| (key, value)));
        }
        entries
    }

    fn holds(entries: &[(String, Vec<u8>)], needle: &[u8]) -> bool {
        entries
            .iter()
            .any(|(_, value)| value.windows(needle.len()).any(|window| window == needle))
    }

    /// Kills Redis and starts it again (loading `dump.rdb`), checking that old entries
    /// came back; returns how long the restart took.
    async fn restart_with_snapshot(
        cache: &ServiceContainer,
        during: impl AsyncFnOnce(),
    ) -> Duration {
        cache.kill().await.expect("docker kill");
        during().await;
        let took = cache.restart().await.expect("docker start");
        let restored = cache_entries(cache.url()).await;
        assert!(
            holds(&restored, b"v1"),
            "the snapshot should bring v1's cache entries back, else this test proves \
             nothing; entries after the restart: {:?}",
            restored.iter().map(|(key, _)| key).collect::<Vec<_>>()
        );
        took
    }

    /// Reads through every node for [`READ_FOR`]: returns (reads, stale reads, errors,
    /// longest read, first stale read's description).
    async fn read_v2(nodes: &[(&str, &TieredStorage)], v1: &Version, v2: &Version) -> Reads {
        let mut reads = Reads::default();
        let began = Instant::now();
        while began.elapsed() < READ_FOR {
            for (name, node) in nodes {
                let t0 = Instant::now();
                let found = tokio::time::timeout(HANG, async {
                    Ok::<_, authstore_spec::StorageError>((
                        node.get_kv(KV_KEY).await?,
                        node.get_token(&v2.token.token_id).await?,
                        node.get_token_by_access_token(&v1.token.access_token)
                            .await?,
                        node.get_token_by_access_token(&v2.token.access_token)
                            .await?,
                        node.get_session(&v2.session.session_id).await?,
                    ))
                })
                .await;
                reads.longest = reads.longest.max(t0.elapsed());
                reads.attempted += 5;
                let at = began.elapsed().as_millis();
                match found {
                    Ok(Ok((kv, token, by_old_access, by_new_access, session))) => {
                        reads.acknowledged += 5;
                        let mut stale = Vec::new();
                        if kv.as_deref() != Some(&v2.value[..]) {
                            stale.push(format!(
                                "get_kv {:?}",
                                kv.as_deref().map(String::from_utf8_lossy)
                            ));
                        }
                        if token.as_ref() != Some(&v2.token) {
                            stale.push("get_token not v2".to_owned());
                        }
                        if by_old_access.is_some() {
                            stale.push("v1's access token still resolves".to_owned());
                        }
                        if by_new_access.as_ref() != Some(&v2.token) {
                            stale.push("v2's access token does not resolve".to_owned());
                        }
                        if session.as_ref() != Some(&v2.session) {
                            stale.push("get_session not v2".to_owned());
                        }
                        reads.stale += stale.len() as u64;
                        if !stale.is_empty() && reads.first_stale.is_none() {
                            reads.first_stale = Some(format!("node {name} at {at} ms: {stale:?}"));
                        }
                    }
                    Ok(Err(err)) => reads.errors.push(format!("node {name} at {at} ms: {err}")),
                    Err(_) => reads.errors.push(format!("node {name} at {at} ms: hung")),
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        reads
    }

    #[derive(Debug, Default)]
    struct Reads {
        attempted: u64,
        acknowledged: u64,
        stale: u64,
        errors: Vec<String>,
        longest: Duration,
        first_stale: Option<String>,
    }

    fn publish(test: &'static str, reads: &Reads, restart: Duration, fault: &str) {
        Figures {
            test,
            backend: "tiered (redis restarted)".to_owned(),
            attempted: reads.attempted,
            acknowledged: reads.acknowledged,
            lost: reads.stale,
            longest_stall_ms: reads.longest.as_millis(),
            recover_ms: None,
            restart_ms: Some(restart.as_millis()),
            extra: json!({
                "fault": fault,
                "lost_means": "stale reads (v1 served after v2 was acknowledged)",
                "epoch_check_interval_ms": EPOCH_CHECK.as_millis(),
                "errors": reads.errors.len(),
                "first_stale": reads.first_stale,
            }),
        }
        .publish();
    }

    /// No read failed or was stale, and the cache is in use again (v2 got cached): being
    /// fresh by never using the cache would not count.
    async fn assert_fresh(reads: &Reads, cache_url: &str) {
        assert!(reads.errors.is_empty(), "reads failed: {:?}", reads.errors);
        assert_eq!(
            reads.stale, 0,
            "TieredStorage served v1 after v2 was acknowledged ({} of {} reads); first: {:?}",
            reads.stale, reads.attempted, reads.first_stale
        );
        let entries = cache_entries(cache_url).await;
        assert!(
            holds(&entries, b"v2") && !holds(&entries, b"v1"),
            "after the restart the cache should hold v2 and no v1; it holds {:?}",
            entries.iter().map(|(key, _)| key).collect::<Vec<_>>()
        );
    }

    async fn write(node: &TieredStorage, version: &Version, update: bool) {
        node.store_kv(KV_KEY, &version.value, None)
            .await
            .expect("store_kv");
        if update {
            node.update_token(&version.token)
                .await
                .expect("update_token");
        } else {
            node.store_token(&version.token).await.expect("store_token");
        }
        node.store_session(&version.session.session_id, &version.session)
            .await
            .expect("store_session");
    }

    async fn save(url: &str) {
        let mut raw = support::raw_redis(url).await;
        let saved: String = redis::cmd("SAVE")
            .query_async(&mut raw)
            .await
            .expect("SAVE");
        assert_eq!(saved, "OK");
    }

    /// v1 cached on both nodes and snapshotted; v2 written through A (its invalidation
    /// succeeds); Redis killed and restarted from the snapshot, which brings v1's entries
    /// back. Neither node, nor a node C built afterwards, may serve v1.
    #[tokio::test(flavor = "multi_thread")]
    async fn restarted_cache_from_snapshot_serves_no_stale_entry() {
        let _machine = support::exclusive().await;
        let cache = support::container(Service::Redis, &[]).await;
        let store = support::container(Service::Postgres, &["-c", "fsync=off"]).await;
        let a = support::tiered(cache.url(), store.url(), EPOCH_CHECK).await;
        let b = support::tiered(cache.url(), store.url(), EPOCH_CHECK).await;
        let (v1, v2) = (Version::new("v1"), Version::new("v2"));
        write(&a, &v1, false).await;
        read_v1(&a, &v1).await;
        read_v1(&b, &v1).await;
        save(cache.url()).await;
        write(&a, &v2, true).await;
        let left = cache_entries(cache.url()).await;
        assert!(
            !holds(&left, b"v1"),
            "A's invalidation should have removed v1's entries"
        );

        let restart = restart_with_snapshot(&cache, async || {
            tokio::time::sleep(Duration::from_millis(500)).await;
        })
        .await;
        let c = support::tiered(cache.url(), store.url(), EPOCH_CHECK).await;
        let reads = read_v2(&[("A", &a), ("B", &b), ("C", &c)], &v1, &v2).await;
        publish(
            "restarted_cache_from_snapshot_serves_no_stale_entry",
            &reads,
            restart,
            "SAVE with v1 cached, v2 written (invalidated), docker kill + start",
        );
        assert_fresh(&reads, cache.url()).await;
        support::remove(cache).await;
        support::remove(store).await;
    }

    /// v1 cached and snapshotted; Redis killed; v2 written through A and B while it is
    /// down (PostgreSQL takes them, invalidation fails); Redis restarted from the
    /// snapshot. No node serves v1.
    #[tokio::test(flavor = "multi_thread")]
    async fn restarted_cache_after_writes_while_down_serves_no_stale_entry() {
        let _machine = support::exclusive().await;
        let cache = support::container(Service::Redis, &[]).await;
        let store = support::container(Service::Postgres, &["-c", "fsync=off"]).await;
        let a = support::tiered(cache.url(), store.url(), EPOCH_CHECK).await;
        let b = support::tiered(cache.url(), store.url(), EPOCH_CHECK).await;
        let (v1, v2) = (Version::new("v1"), Version::new("v2"));
        write(&a, &v1, false).await;
        read_v1(&a, &v1).await;
        read_v1(&b, &v1).await;
        save(cache.url()).await;

        let restart = restart_with_snapshot(&cache, async || {
            // A updates the kv entry and the token, B the session, while Redis is down.
            let v2_kv_token = async {
                a.store_kv(KV_KEY, &v2.value, None)
                    .await
                    .expect("store_kv while down");
                a.update_token(&v2.token)
                    .await
                    .expect("update_token while down");
            };
            let v2_session = async {
                b.store_session(&v2.session.session_id, &v2.session)
                    .await
                    .expect("store_session while down");
            };
            tokio::join!(v2_kv_token, v2_session);
        })
        .await;
        let c = support::tiered(cache.url(), store.url(), EPOCH_CHECK).await;
        let reads = read_v2(&[("A", &a), ("B", &b), ("C", &c)], &v1, &v2).await;
        publish(
            "restarted_cache_after_writes_while_down_serves_no_stale_entry",
            &reads,
            restart,
            "SAVE with v1 cached, docker kill, v2 written while down, docker start",
        );
        assert_fresh(&reads, cache.url()).await;
        support::remove(cache).await;
        support::remove(store).await;
    }
}

mod refused {
    use std::net::TcpListener;
    use std::str::FromStr;
    use std::time::{Duration, Instant};

    use authstore_backends::{MySqlStorage, PostgresStorage, RedisConfig};
    use authstore_spec::{AuthStorage, ErrorKind};
    use serde_json::json;
    use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

    use crate::ops::{self, OPS, Seed};
    use crate::support::{self, Figures, HANG, OP_TIMEOUT, SLACK};

    /// A local port nothing listens on (free when asked).
    fn dead_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        listener.local_addr().expect("its address").port()
    }

    /// Every operation on a storage whose server refuses connections: `Unavailable`
    /// within the operation timeout, with a message that contains `names`.
    async fn every_operation_unavailable(
        test: &'static str,
        backend: &str,
        storage: &dyn AuthStorage,
        construction: Duration,
        construction_error: &str,
        names: &str,
    ) {
        let calls = ops::round(storage, &Seed::new(), 0).await;
        let longest = calls
            .iter()
            .map(|call| call.elapsed)
            .max()
            .unwrap_or_default();
        Figures {
            test,
            backend: backend.to_owned(),
            attempted: OPS.len() as u64 + 1,
            acknowledged: 0,
            lost: 0,
            longest_stall_ms: longest.max(construction).as_millis(),
            recover_ms: None,
            restart_ms: None,
            extra: json!({
                "fault": "connection refused",
                "construction_ms": construction.as_millis(),
                "construction_error": construction_error,
                "first_call_error": calls.first().map(|call| match &call.outcome {
                    ops::Outcome::Failed(err) => err.to_string(),
                    other => format!("{other:?}"),
                }),
            }),
        }
        .publish();
        for call in &calls {
            let ok = match &call.outcome {
                ops::Outcome::Failed(err) => {
                    err.kind() == ErrorKind::Unavailable && err.to_string().contains(names)
                }
                _ => false,
            };
            assert!(
                ok && call.elapsed <= OP_TIMEOUT + SLACK,
                "{backend}: every call should fail with Unavailable naming {names:?} within \
                 {:?}:\n{}",
                OP_TIMEOUT + SLACK,
                ops::describe(&calls)
            );
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn refused_postgres_is_a_clear_error() {
        let _machine = support::exclusive().await;
        let url = format!("postgres://postgres:x@127.0.0.1:{}/postgres", dead_port());
        let options = PgConnectOptions::from_str(&url).unwrap();
        // Eager construction: the pool's own error, typed.
        let began = Instant::now();
        let eager = tokio::time::timeout(
            HANG,
            PgPoolOptions::new()
                .acquire_timeout(OP_TIMEOUT)
                .connect_with(options.clone()),
        )
        .await
        .expect("connecting to a closed port hung");
        let err = eager.expect_err("a pool on a closed port");
        // sqlx retries a refused connection until the acquire timeout ("the server may be
        // starting"), then says only `PoolTimedOut`: typed, bounded, but without the cause.
        assert!(
            matches!(err, sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)),
            "connecting to a closed port: {err:?}"
        );
        assert!(
            began.elapsed() <= OP_TIMEOUT + SLACK,
            "connect took {:?}",
            began.elapsed()
        );
        let construction = began.elapsed();
        // Lazy construction: the storage's first calls fail, typed and named.
        let pool = PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(1500))
            .connect_lazy_with(options);
        let storage = PostgresStorage::new(pool).with_operation_timeout(OP_TIMEOUT);
        let migrate = tokio::time::timeout(HANG, storage.migrate())
            .await
            .expect("migrate on a closed port hung")
            .expect_err("migrate on a closed port");
        assert_eq!(migrate.kind(), ErrorKind::Unavailable, "{migrate}");
        assert!(migrate.to_string().contains("PostgreSQL"), "{migrate}");
        every_operation_unavailable(
            "refused_postgres_is_a_clear_error",
            "postgres",
            &storage,
            construction,
            &err.to_string(),
            "PostgreSQL",
        )
        .await;
    }

    /// The tokio-postgres path: `connect` fails at once, typed and named; a storage on
    /// a lazily connecting pool fails every call so.
    #[tokio::test(flavor = "multi_thread")]
    async fn refused_postgres_native_is_a_clear_error() {
        use authstore_backends::deadpool_postgres::{self, Runtime};
        let _machine = support::exclusive().await;
        let url = format!("postgres://postgres:x@127.0.0.1:{}/postgres", dead_port());
        let began = Instant::now();
        let eager = tokio::time::timeout(HANG, PostgresStorage::connect(&url))
            .await
            .expect("connecting to a closed port hung");
        let err = eager.expect_err("a storage on a closed port");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(err.to_string().contains("PostgreSQL"), "{err}");
        let construction = began.elapsed();
        assert!(
            construction <= OP_TIMEOUT + SLACK,
            "connect took {construction:?}"
        );
        let config: deadpool_postgres::tokio_postgres::Config = url.parse().unwrap();
        let manager =
            deadpool_postgres::Manager::new(config, deadpool_postgres::tokio_postgres::NoTls);
        let pool = deadpool_postgres::Pool::builder(manager)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_millis(1500)))
            .build()
            .unwrap();
        let storage = PostgresStorage::from_deadpool(pool).with_operation_timeout(OP_TIMEOUT);
        let migrate = tokio::time::timeout(HANG, storage.migrate())
            .await
            .expect("migrate on a closed port hung")
            .expect_err("migrate on a closed port");
        assert_eq!(migrate.kind(), ErrorKind::Unavailable, "{migrate}");
        assert!(migrate.to_string().contains("PostgreSQL"), "{migrate}");
        every_operation_unavailable(
            "refused_postgres_native_is_a_clear_error",
            "postgres-native",
            &storage,
            construction,
            &err.to_string(),
            "PostgreSQL",
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn refused_mariadb_is_a_clear_error() {
        let _machine = support::exclusive().await;
        let url = format!("mysql://root:x@127.0.0.1:{}/authstore", dead_port());
        let options = MySqlConnectOptions::from_str(&url).unwrap();
        let began = Instant::now();
        let eager = tokio::time::timeout(
            HANG,
            MySqlPoolOptions::new()
                .acquire_timeout(OP_TIMEOUT)
                .connect_with(options.clone()),
        )
        .await
        .expect("connecting to a closed port hung");
        let err = eager.expect_err("a pool on a closed port");
        // sqlx retries a refused connection until the acquire timeout ("the server may be
        // starting"), then says only `PoolTimedOut`: typed, bounded, but without the cause.
        assert!(
            matches!(err, sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)),
            "connecting to a closed port: {err:?}"
        );
        assert!(
            began.elapsed() <= OP_TIMEOUT + SLACK,
            "connect took {:?}",
            began.elapsed()
        );
        let construction = began.elapsed();
        let pool = MySqlPoolOptions::new()
            .acquire_timeout(Duration::from_millis(1500))
            .connect_lazy_with(options);
        let storage = MySqlStorage::new(pool).with_operation_timeout(OP_TIMEOUT);
        let migrate = tokio::time::timeout(HANG, storage.migrate())
            .await
            .expect("migrate on a closed port hung")
            .expect_err("migrate on a closed port");
        assert_eq!(migrate.kind(), ErrorKind::Unavailable, "{migrate}");
        assert!(migrate.to_string().contains("MySQL"), "{migrate}");
        every_operation_unavailable(
            "refused_mariadb_is_a_clear_error",
            "mariadb",
            &storage,
            construction,
            &err.to_string(),
            "MySQL",
        )
        .await;
    }

    /// `RedisConfig::connect` is the construction: it connects and loads scripts.
    #[tokio::test(flavor = "multi_thread")]
    async fn refused_redis_is_a_clear_error() {
        let _machine = support::exclusive().await;
        let url = format!("redis://127.0.0.1:{}", dead_port());
        let began = Instant::now();
        let connected = tokio::time::timeout(
            HANG,
            RedisConfig::new(url)
                .with_prefix(support::PREFIX)
                .with_operation_timeout(OP_TIMEOUT)
                .connect(),
        )
        .await
        .expect("connecting to a closed port hung");
        let took = began.elapsed();
        let err = connected.expect_err("a Redis storage on a closed port");
        Figures {
            test: "refused_redis_is_a_clear_error",
            backend: "redis".to_owned(),
            attempted: 1,
            acknowledged: 0,
            lost: 0,
            longest_stall_ms: took.as_millis(),
            recover_ms: None,
            restart_ms: None,
            extra: json!({"fault": "connection refused", "error": err.to_string()}),
        }
        .publish();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(
            err.to_string().contains("Redis") && err.to_string().contains("connect"),
            "the message should say that connecting to Redis failed: {err}"
        );
        assert!(took <= OP_TIMEOUT + SLACK, "connect took {took:?}");
    }
}
