//! The fill protocol step by step, against live servers (`AUTHSTORE_POSTGRES_URL`,
//! `AUTHSTORE_REDIS_URL`): a fill that read PostgreSQL before a write must not land.

use std::str::FromStr;
use std::time::Duration;

use authstore_spec::{AuthStorage, AuthToken};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Executor};

use super::{Lookup, TieredStorage};
use crate::{PostgresStorage, RedisConfig};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start the servers (ci/start-postgres, ci/start-redis)")
    })
}

/// Two nodes on a fresh schema and prefix, and the admin pool (for the teardown).
async fn nodes(test: &str) -> (TieredStorage, TieredStorage, PgPool, String) {
    let options = PgConnectOptions::from_str(&var("AUTHSTORE_POSTGRES_URL")).expect("URL");
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
    let scoped = options.options([("search_path", name.as_str())]);
    let mut made = Vec::new();
    for _ in 0..2 {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(scoped.clone())
            .await
            .expect("pool");
        let cache = RedisConfig::new(var("AUTHSTORE_REDIS_URL"))
            .with_prefix(format!("{name}:"))
            .connect()
            .await
            .expect("connect to Redis");
        let node = TieredStorage::new(cache, PostgresStorage::new(pool));
        node.migrate().await.expect("migrate");
        made.push(node);
    }
    let b = made.pop().expect("two nodes");
    let a = made.pop().expect("two nodes");
    (a, b, admin, name)
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
