//! The fill protocol step by step, against live servers (`AUTHSTORE_POSTGRES_URL`,
//! `AUTHSTORE_REDIS_URL`): a fill that read PostgreSQL before a write must not land, and
//! a write whose caller stops waiting while PostgreSQL runs it leaves nothing stale.

use std::str::FromStr;
use std::time::{Duration, Instant};

use authstore_spec::{AuthStorage, AuthToken, ErrorKind};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Executor};

use super::{Lookup, TieredStorage};
use crate::{PostgresStorage, RedisConfig};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start the servers (ci/start-postgres, ci/start-redis)")
    })
}

/// Two nodes on a fresh schema and prefix, and the admin pool (for the teardown).
async fn nodes(test: &str) -> (TieredStorage, TieredStorage, PgPool, String) {
    nodes_with(test, None).await
}

/// As [`nodes`], the nodes' PostgreSQL calls bounded by `operation_timeout` if given.
async fn nodes_with(
    test: &str,
    operation_timeout: Option<Duration>,
) -> (TieredStorage, TieredStorage, PgPool, String) {
    let options = postgres_options();
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .expect("connect to PostgreSQL");
    let name = format!(
        "tiered_unit_{test}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_subsec_nanos()
    );
    admin
        .execute(AssertSqlSafe(format!("CREATE SCHEMA {name}")))
        .await
        .expect("create schema");
    let a = node(&name, operation_timeout).await;
    a.migrate().await.expect("migrate");
    let b = node(&name, operation_timeout).await;
    (a, b, admin, name)
}

/// A node on `schema` and its prefix, with its own pool and Redis connection.
async fn node(schema: &str, operation_timeout: Option<Duration>) -> TieredStorage {
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(in_schema(schema))
        .await
        .expect("pool");
    let cache = RedisConfig::new(var("AUTHSTORE_REDIS_URL"))
        .with_prefix(format!("{schema}:"))
        .connect()
        .await
        .expect("connect to Redis");
    let store = PostgresStorage::new(pool);
    match operation_timeout {
        // The node's deadline is the one the test sets, whatever Redis's timeout.
        Some(timeout) => TieredStorage::new(cache, store.with_operation_timeout(timeout))
            .with_operation_timeout(timeout),
        None => TieredStorage::new(cache, store),
    }
}

fn postgres_options() -> PgConnectOptions {
    PgConnectOptions::from_str(&var("AUTHSTORE_POSTGRES_URL")).expect("URL")
}

/// Connection options whose tables are those of `schema`.
fn in_schema(schema: &str) -> PgConnectOptions {
    postgres_options().options([("search_path", schema)])
}

async fn teardown(a: TieredStorage, admin: PgPool, name: String) {
    a.cache.purge().await.expect("purge");
    admin
        .execute(AssertSqlSafe(format!("DROP SCHEMA {name} CASCADE")))
        .await
        .expect("drop schema");
}

fn token(access: &str, version: u64) -> AuthToken {
    AuthToken::new("t", "u", access, Duration::from_secs(3600))
        .with_metadata("version", version.into())
}

/// B misses and takes the lease, reads version 1 from PostgreSQL; A writes version 2 and
/// invalidates; B's fill of version 1 is rejected, and B then reads version 2.
#[tokio::test]
async fn a_fill_older_than_a_write_is_rejected() {
    let (a, b, admin, name) = nodes("race").await;
    a.store_token(&token("acc-1", 1)).await.expect("store");
    let key = b.key("t", "t");
    let Lookup::Lease { id, epoch } = b.lookup(&key).await.unwrap() else {
        panic!("a first miss takes the lease");
    };
    // While B holds the lease, another miss neither hits nor takes it.
    assert!(matches!(a.lookup(&key).await.unwrap(), Lookup::Skip));
    let read = b.store.get_token("t").await.expect("read").expect("v1");
    a.update_token(&token("acc-2", 2)).await.expect("update");
    let payload = serde_json::to_vec(&read).expect("encode");
    b.fill(&key, &id, &epoch, Some((payload, Some(read.expires_at))))
        .await;
    let seen = b.get_token("t").await.expect("get").expect("some");
    assert_eq!(seen.metadata.get("version"), Some(&2.into()));
    assert_eq!(
        b.get_token_by_access_token("acc-1").await.expect("old"),
        None
    );
    teardown(a, admin, name).await;
}

/// A fill whose lease is current lands (the cache then serves it), and one taken in an
/// epoch that has since been raised does not.
#[tokio::test]
async fn fills_land_only_in_their_epoch() {
    let (a, b, admin, name) = nodes("epoch").await;
    a.store_token(&token("acc-1", 1)).await.expect("store");
    let key = b.key("t", "t");
    let Lookup::Lease { id, epoch } = b.lookup(&key).await.unwrap() else {
        panic!("a first miss takes the lease");
    };
    let read = b.store.get_token("t").await.expect("read").expect("v1");
    let payload = serde_json::to_vec(&read).expect("encode");
    b.fill(
        &key,
        &id,
        &epoch,
        Some((payload.clone(), Some(read.expires_at))),
    )
    .await;
    assert!(matches!(a.lookup(&key).await.unwrap(), Lookup::Hit(_)));

    a.cache
        .run_command::<()>("test", ::redis::cmd("DEL").arg(&key))
        .await
        .expect("DEL");
    let Lookup::Lease { id, epoch } = b.lookup(&key).await.unwrap() else {
        panic!("a miss takes the lease");
    };
    let raised = a.store.bump_cache_epoch().await.expect("bump");
    a.state.lock().must_check = true;
    assert!(matches!(a.lookup(&key).await.unwrap(), Lookup::Skip));
    b.fill(&key, &id, &epoch, Some((payload, Some(read.expires_at))))
        .await;
    let exists: bool = a
        .cache
        .run_command("test", ::redis::cmd("EXISTS").arg(&key))
        .await
        .expect("EXISTS");
    assert!(
        !exists,
        "a fill from epoch {epoch:?} landed after the raise to {raised}"
    );
    teardown(a, admin, name).await;
}

/// What a Redis restart that loads a snapshot (or a failover) leaves behind: entries the
/// old process held, under an owner key naming that process. Neither node serves them;
/// the epoch is raised once for all, and the cache then serves hits again.
#[tokio::test]
async fn entries_of_another_redis_process_are_retired() {
    let (a, b, admin, name) = nodes("owner").await;
    a.store_token(&token("acc-1", 1)).await.expect("store");
    let key = a.key("t", "t");
    // B fills version 1; A then hits it.
    assert_eq!(
        b.get_token("t")
            .await
            .expect("get")
            .expect("v1")
            .access_token,
        "acc-1"
    );
    assert!(matches!(a.lookup(&key).await.unwrap(), Lookup::Hit(_)));
    // Version 2 whose invalidation the "restored" cache never saw.
    a.store
        .update_token(&token("acc-2", 2))
        .await
        .expect("update in PostgreSQL");
    let before = a.store.cache_epoch().await.expect("epoch");
    let owner = a.owner_key();
    a.cache
        .run_command::<()>(
            "test",
            ::redis::cmd("SET").arg(&owner).arg("0123456789abcdef"),
        )
        .await
        .expect("SET owner");
    // Every node's connection broke in the restart, so each checks before its next use.
    a.state.lock().must_check = true;
    b.state.lock().must_check = true;

    for node in [&b, &a] {
        let seen = node.get_token("t").await.expect("get").expect("some");
        assert_eq!(seen.access_token, "acc-2", "a restored entry was served");
    }
    let after = a.store.cache_epoch().await.expect("epoch");
    assert!(
        after > before,
        "the epoch was not raised ({before} -> {after})"
    );
    let info: String = a
        .cache
        .run_command("test", ::redis::cmd("INFO").arg("server"))
        .await
        .expect("INFO");
    let recorded: String = a
        .cache
        .run_command("test", ::redis::cmd("GET").arg(&owner))
        .await
        .expect("GET owner");
    assert!(
        info.contains(&format!("run_id:{recorded}")),
        "the owner key should now name this server, not {recorded:?}"
    );
    // The cache is in use again: a read fills, the next one hits.
    b.get_token("t").await.expect("fill");
    assert!(matches!(a.lookup(&key).await.unwrap(), Lookup::Hit(_)));
    assert_eq!(
        a.get_token("t")
            .await
            .expect("get")
            .expect("v2")
            .access_token,
        "acc-2"
    );
    teardown(a, admin, name).await;
}

/// How long PostgreSQL may take to show a statement's progress before the test gives up:
/// the default operation timeout of [`PostgresStorage`].
const POSTGRES_PATIENCE: Duration = Duration::from_secs(30);

/// How often the test asks PostgreSQL for a statement's progress.
const POLL: Duration = Duration::from_millis(5);

/// A transaction of its own connection holding the row lock of token `t`, as a
/// concurrent writer would: writes to that row wait until it ends.
struct RowLock {
    conn: PgConnection,
    pid: i32,
}

impl RowLock {
    async fn take(schema: &str) -> Self {
        Self::take_with(schema, false).await
    }

    /// As [`take`](Self::take), also holding the cache epoch's row if `epoch`.
    async fn take_with(schema: &str, epoch: bool) -> Self {
        let mut conn = PgConnection::connect_with(&in_schema(schema))
            .await
            .expect("connect the lock holder");
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .expect("pid");
        conn.execute("BEGIN").await.expect("BEGIN");
        let locked: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM auth_tokens WHERE token_id = 't' FOR UPDATE")
                .fetch_optional(&mut conn)
                .await
                .expect("lock the row");
        assert_eq!(locked, Some(1), "the token's row exists");
        if epoch {
            conn.execute("SELECT 1 FROM authstore_cache_epoch FOR UPDATE")
                .await
                .expect("lock the epoch");
        }
        Self { conn, pid }
    }

    async fn release(mut self) {
        self.conn.execute("ROLLBACK").await.expect("ROLLBACK");
        self.conn.close().await.expect("close");
    }
}

/// Waits until a statement waits for `holder`'s lock; returns the waiting backend's pid.
async fn blocked_by(admin: &PgPool, holder: i32) -> i32 {
    let started = Instant::now();
    loop {
        let waiting: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid)) LIMIT 1",
        )
        .bind(holder)
        .fetch_optional(admin)
        .await
        .expect("pg_stat_activity");
        if let Some(pid) = waiting {
            return pid;
        }
        assert!(
            started.elapsed() < POSTGRES_PATIENCE,
            "no statement waited for the row lock"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the backend `pid` has ended its statement (committed or rolled back).
async fn statement_ended(admin: &PgPool, pid: i32) {
    let started = Instant::now();
    loop {
        let active: Option<bool> =
            sqlx::query_scalar("SELECT state = 'active' FROM pg_stat_activity WHERE pid = $1")
                .bind(pid)
                .fetch_optional(admin)
                .await
                .expect("pg_stat_activity");
        if active != Some(true) {
            return;
        }
        assert!(
            started.elapsed() < POSTGRES_PATIENCE,
            "the blocked statement did not end once the lock was released"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Whatever PostgreSQL did with the interrupted delete of token `t`, every node answers
/// as PostgreSQL does, now and on a second read (after any fill the first one made),
/// by id and by access token.
async fn nodes_agree_with_postgres(nodes: [&TieredStorage; 2], admin: &PgPool, schema: &str) {
    let rows: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {schema}.auth_tokens WHERE token_id = 't'"
    )))
    .fetch_one(admin)
    .await
    .expect("count");
    let deleted = rows == 0;
    eprintln!(
        "PostgreSQL {} the delete",
        if deleted {
            "committed"
        } else {
            "did not commit"
        }
    );
    for round in ["first", "second"] {
        for (name, node) in ["A", "B"].into_iter().zip(nodes) {
            let by_id = node.get_token("t").await.expect("get_token");
            assert_eq!(
                by_id.is_none(),
                deleted,
                "node {name}, {round} read by id after the delete ended: {by_id:?}"
            );
            let by_access = node
                .get_token_by_access_token("acc-1")
                .await
                .expect("get_token_by_access_token");
            assert_eq!(
                by_access.is_none(),
                deleted,
                "node {name}, {round} read by access token after the delete ended"
            );
        }
    }
}

/// Both nodes have read token `t`, so the cache holds it.
async fn cache_token(a: &TieredStorage, b: &TieredStorage) {
    a.store_token(&token("acc-1", 1)).await.expect("store");
    for node in [a, b] {
        assert!(node.get_token("t").await.expect("get").is_some());
        assert!(
            node.get_token_by_access_token("acc-1")
                .await
                .expect("get by access")
                .is_some()
        );
    }
    let cached: bool = a
        .cache
        .run_command("test", ::redis::cmd("EXISTS").arg(a.key("t", "t")))
        .await
        .expect("EXISTS");
    assert!(cached, "the reads filled the cache");
}

/// A `delete_token` whose caller drops the future while PostgreSQL runs the DELETE
/// (blocked on a row lock, then committed once the lock is released): no node serves
/// the deleted token from the cache afterwards, though it read it meanwhile.
#[tokio::test]
async fn a_delete_dropped_mid_statement_leaves_no_stale_token() {
    let (a, b, admin, name) = nodes("dropped").await;
    cache_token(&a, &b).await;
    let lock = RowLock::take(&name).await;
    let deleter = {
        let delete = a.delete_token("t");
        tokio::pin!(delete);
        tokio::select! {
            result = &mut delete => panic!("delete_token returned {result:?} while the row was locked"),
            pid = blocked_by(&admin, lock.pid) => pid,
        }
        // The caller gives up here: the future is dropped with the DELETE in PostgreSQL.
    };
    // Readers while the DELETE waits: the token is still current.
    for node in [&a, &b] {
        assert!(node.get_token("t").await.expect("get").is_some());
    }
    lock.release().await;
    statement_ended(&admin, deleter).await;
    nodes_agree_with_postgres([&a, &b], &admin, &name).await;
    teardown(a, admin, name).await;
}

/// The call's deadline of this test's nodes (for the timeout test).
const DEADLINE: Duration = Duration::from_secs(2);

/// A `delete_token` that times out while its DELETE waits for a row lock another session
/// holds, and commits after: no node serves the deleted token from the cache afterwards,
/// though both read it (and could fill the cache) while the DELETE waited.
#[tokio::test]
async fn a_delete_timed_out_mid_statement_leaves_no_stale_token() {
    let (a, b, admin, name) = nodes_with("timeout", Some(DEADLINE)).await;
    cache_token(&a, &b).await;
    let lock = RowLock::take(&name).await;
    let (result, deleter) = tokio::join!(a.delete_token("t"), blocked_by(&admin, lock.pid));
    let err = result.expect_err("the delete waits for the lock past its deadline");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    for node in [&a, &b] {
        assert!(node.get_token("t").await.expect("get").is_some());
    }
    lock.release().await;
    statement_ended(&admin, deleter).await;
    nodes_agree_with_postgres([&a, &b], &admin, &name).await;
    teardown(a, admin, name).await;
}

/// A node whose process stops (its runtime shut down, every task and connection gone)
/// while its `delete_token` waits in PostgreSQL, which then commits it: the other nodes
/// read the token meanwhile, yet none serves it from the cache after the commit.
#[tokio::test]
async fn a_delete_whose_node_stops_mid_statement_leaves_no_stale_token() {
    let (a, b, admin, name) = nodes("stopped").await;
    cache_token(&a, &b).await;
    // Node C lives on a runtime of its own, as another process would.
    let process = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let schema = name.clone();
    let c = process
        .spawn(async move { node(&schema, None).await })
        .await
        .expect("node C");
    let lock = RowLock::take(&name).await;
    let _delete = process.spawn(async move { c.delete_token("t").await });
    let deleter = blocked_by(&admin, lock.pid).await;
    process.shutdown_background();
    for node in [&a, &b] {
        assert!(node.get_token("t").await.expect("get").is_some());
    }
    lock.release().await;
    statement_ended(&admin, deleter).await;
    nodes_agree_with_postgres([&a, &b], &admin, &name).await;
    teardown(a, admin, name).await;
}

/// A `delete_token` dropped mid-statement on a node that cannot use Redis (it has just
/// seen it fail): once PostgreSQL commits it, the write still raises the cache epoch,
/// so another node that reads the token from the cache meanwhile stops serving it
/// within its epoch check interval.
#[tokio::test]
async fn a_delete_dropped_on_a_node_without_redis_retires_the_token_everywhere() {
    let (a, b, admin, name) = nodes("dropped_quiet").await;
    cache_token(&a, &b).await;
    let before = a.store.cache_epoch().await.expect("epoch");
    a.state.lock().quiet_until = Some(Instant::now() + POSTGRES_PATIENCE);
    let lock = RowLock::take(&name).await;
    let deleter = {
        let delete = a.delete_token("t");
        tokio::pin!(delete);
        tokio::select! {
            result = &mut delete => panic!("delete_token returned {result:?} while the row was locked"),
            pid = blocked_by(&admin, lock.pid) => pid,
        }
    };
    assert!(b.get_token("t").await.expect("get").is_some());
    lock.release().await;
    statement_ended(&admin, deleter).await;
    let started = Instant::now();
    while a.store.cache_epoch().await.expect("epoch") == before {
        assert!(
            started.elapsed() < POSTGRES_PATIENCE,
            "the delete committed but the cache epoch was never raised"
        );
        tokio::time::sleep(POLL).await;
    }
    // Node B's next epoch check is due at the latest one interval from now.
    tokio::time::sleep(b.epoch_check_interval()).await;
    assert_eq!(b.get_token("t").await.expect("get"), None, "node B");
    teardown(a, admin, name).await;
}

/// A write's round trips share one deadline: with the token's row and the cache epoch's
/// row both locked and Redis unusable on the node, the DELETE and then the epoch raise
/// would each wait a full operation timeout; the call returns `Unavailable` within one.
#[tokio::test]
async fn a_write_returns_within_one_deadline_however_many_round_trips_wait() {
    let (a, b, admin, name) = nodes_with("deadline", Some(DEADLINE)).await;
    cache_token(&a, &b).await;
    a.state.lock().quiet_until = Some(Instant::now() + POSTGRES_PATIENCE);
    let lock = RowLock::take_with(&name, true).await;
    let started = Instant::now();
    let err = a
        .delete_token("t")
        .await
        .expect_err("the delete waits for the lock past its deadline");
    let took = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    // Two round trips of a full timeout each would take twice the deadline.
    assert!(
        took < 2 * DEADLINE,
        "delete_token took {took:?}, deadline {DEADLINE:?}"
    );
    lock.release().await;
    teardown(a, admin, name).await;
}

/// A node configured with an unbounded deadline still fences its writes (the fence ends
/// at an instant Redis accepts) and keeps using the cache.
#[tokio::test]
async fn an_unbounded_deadline_still_fences_writes() {
    let (a, b, admin, name) = nodes("unbounded").await;
    let a = a.with_operation_timeout(Duration::MAX);
    a.store_token(&token("acc-1", 1)).await.expect("store");
    assert_eq!(
        a.state.lock().failures,
        0,
        "a cache step of the write failed"
    );
    b.get_token("t").await.expect("fill");
    assert!(matches!(
        a.lookup(&a.key("t", "t")).await.unwrap(),
        Lookup::Hit(_)
    ));
    teardown(a, admin, name).await;
}
