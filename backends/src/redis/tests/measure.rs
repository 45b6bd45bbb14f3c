//! Measurements run by hand, not checks: the longest single script call of the operations
//! whose work grows with the data, read from Redis's SLOWLOG on a server of your own (they
//! block the server they are given while they populate it). Commands in
//! benches/PROFILE.md.

use std::time::{Duration, Instant};

use ::redis::aio::MultiplexedConnection;
use authstore_spec::{AuthStorage, AuthToken};

use super::super::keys::{access_digest, last_visible_ms};
use super::super::{Lua, RedisConfig, RedisStorage, SCRIPTS};
use super::url;

/// Items the cleanup measurement leaves expired, split between kv entries, tokens and
/// sessions.
const MEASURED_EXPIRED_ITEMS: usize = 1_000_000;

/// Tokens the listing measurement gives its one user.
const MEASURED_USER_TOKENS: usize = 1_000_000;

/// A storage under a prefix of its own, with a timeout long enough for a script that
/// runs for seconds (the state before bounding).
async fn measured_storage(name: &str) -> (RedisStorage, MultiplexedConnection, String) {
    let url = url();
    let prefix = format!("{name}-measure-{}:", std::process::id());
    let storage = RedisConfig::new(&url)
        .with_prefix(&prefix)
        .with_operation_timeout(Duration::from_secs(120))
        .connect()
        .await
        .expect("connect");
    let conn = ::redis::Client::open(url)
        .expect("URL")
        .get_multiplexed_async_connection_with_config(
            &::redis::AsyncConnectionConfig::new()
                .set_response_timeout(Some(Duration::from_secs(120))),
        )
        .await
        .expect("connect");
    let base = format!("{{{prefix}}}");
    (storage, conn, base)
}

/// SLOWLOG set to log every command of 100 µs or more (Redis 7 also logs the commands a
/// script calls, and a zero threshold would flood the log with them); the settings it
/// replaced are restored by [`finish`](Self::finish).
struct SlowLog {
    slower_than: String,
    max_len: String,
}

impl SlowLog {
    async fn start(conn: &mut MultiplexedConnection) -> Self {
        let (_, slower_than) = config_get(conn, "slowlog-log-slower-than").await;
        let (_, max_len) = config_get(conn, "slowlog-max-len").await;
        config_set(conn, "slowlog-log-slower-than", "100").await;
        config_set(conn, "slowlog-max-len", "100000").await;
        let () = ::redis::cmd("SLOWLOG")
            .arg("RESET")
            .query_async(conn)
            .await
            .unwrap();
        Self {
            slower_than,
            max_len,
        }
    }

    /// The durations (µs, ascending) of the logged calls of `script` (by `EVALSHA` or by
    /// `FCALL` of its function); restores the settings.
    async fn finish(self, conn: &mut MultiplexedConnection, script: &Lua) -> Vec<i64> {
        // Each entry: id, timestamp, duration (µs), arguments, client address, client name.
        let log: Vec<(i64, Vec<Vec<u8>>)> = ::redis::cmd("SLOWLOG")
            .arg("GET")
            .arg(100_000)
            .query_async(conn)
            .await
            .map(|entries: Vec<Vec<::redis::Value>>| {
                entries
                    .into_iter()
                    .filter_map(|entry| {
                        let duration = ::redis::from_redis_value(entry.get(2)?.clone()).ok()?;
                        let args = ::redis::from_redis_value(entry.get(3)?.clone()).ok()?;
                        Some((duration, args))
                    })
                    .collect()
            })
            .unwrap();
        config_set(conn, "slowlog-log-slower-than", &self.slower_than).await;
        config_set(conn, "slowlog-max-len", &self.max_len).await;
        let mut micros: Vec<i64> = log
            .iter()
            .filter(|(_, args)| {
                args.get(1).is_some_and(|arg| {
                    arg == script.sha.as_bytes()
                        || script
                            .function
                            .as_ref()
                            .is_some_and(|f| arg == f.as_bytes())
                })
            })
            .map(|(duration, _)| *duration)
            .collect();
        micros.sort_unstable();
        micros
    }
}

async fn config_get(conn: &mut MultiplexedConnection, name: &str) -> (String, String) {
    ::redis::cmd("CONFIG")
        .arg("GET")
        .arg(name)
        .query_async(conn)
        .await
        .unwrap()
}

async fn config_set(conn: &mut MultiplexedConnection, name: &str, value: &str) {
    let () = ::redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query_async(conn)
        .await
        .unwrap();
}

/// "N script calls, longest X ms, p99 Y ms, median Z ms, mean W ms, K over 10 ms" of
/// ascending durations in µs (calls under SLOWLOG's 100 µs threshold are not among them).
fn summary(micros: &[i64]) -> String {
    assert!(!micros.is_empty(), "SLOWLOG recorded no call of the script");
    let ms = |us: i64| us as f64 / 1000.0;
    let p99 = micros[(micros.len() * 99).div_ceil(100) - 1];
    let mean = micros.iter().sum::<i64>() as f64 / micros.len() as f64 / 1000.0;
    format!(
        "{} script calls, longest {:.2} ms, p99 {:.2} ms, median {:.2} ms, mean {mean:.2} ms, \
         {} over 10 ms",
        micros.len(),
        ms(*micros.last().unwrap()),
        ms(p99),
        ms(micros[micros.len() / 2]),
        micros.iter().filter(|&&us| us > 10_000).count(),
    )
}

/// The longest single script call of `cleanup_expired` over [`MEASURED_EXPIRED_ITEMS`]
/// expired items. The items are written as Redis leaves them once their keys have
/// expired: index entries with a past score, no item key. Run on a server of your own:
///
/// ```sh
/// AUTHSTORE_REDIS_URL=redis://127.0.0.1:6391 cargo test -p authstore-backends \
///   --features redis-storage --lib -- --ignored --nocapture cleanup_script_time
/// ```
#[tokio::test]
#[ignore = "a measurement: run by hand against a server of your own (see its docs)"]
async fn cleanup_script_time_over_a_million_expired_items() {
    let (storage, mut conn, base) = measured_storage("cleanup").await;
    let past = 1_000i64; // ms since the epoch: long expired
    let per_kind = MEASURED_EXPIRED_ITEMS / 3;
    for chunk in 0..per_kind.div_ceil(10_000) {
        let ids = (chunk * 10_000)..((chunk + 1) * 10_000).min(per_kind);
        let mut pipe = ::redis::pipe();
        let (mut kv, mut kv_expiry, mut tokens, mut sessions) = (
            ::redis::cmd("ZADD"),
            ::redis::cmd("ZADD"),
            ::redis::cmd("ZADD"),
            ::redis::cmd("ZADD"),
        );
        kv.arg(format!("{base}index:kv"));
        kv_expiry.arg(format!("{base}index:kv-expiry"));
        tokens.arg(format!("{base}index:tokens"));
        sessions.arg(format!("{base}index:sessions"));
        for i in ids {
            let user = format!("user{}", i % 1000);
            kv.arg(0).arg(format!("key{i}"));
            kv_expiry.arg(past).arg(format!("key{i}"));
            tokens.arg(past).arg(format!("{user}\0t{i}"));
            sessions.arg(past).arg(format!("{user}\0s{i}"));
            pipe.cmd("ZADD")
                .arg(format!("{base}user:{user}:tokens"))
                .arg(past)
                .arg(format!("t{i}"))
                .ignore();
            pipe.cmd("ZADD")
                .arg(format!("{base}user:{user}:sessions"))
                .arg(past)
                .arg(format!("s{i}"))
                .ignore();
        }
        pipe.add_command(kv).ignore();
        pipe.add_command(kv_expiry).ignore();
        pipe.add_command(tokens).ignore();
        pipe.add_command(sessions).ignore();
        let () = pipe.query_async(&mut conn).await.expect("populate");
    }

    let slowlog = SlowLog::start(&mut conn).await;
    let started = Instant::now();
    let result = storage.cleanup_expired().await;
    let elapsed = started.elapsed();
    let micros = slowlog.finish(&mut conn, &SCRIPTS.cleanup).await;
    let mut left = 0u64;
    for index in ["tokens", "sessions", "kv", "kv-expiry"] {
        let count: u64 = ::redis::cmd("ZCARD")
            .arg(format!("{base}index:{index}"))
            .query_async(&mut conn)
            .await
            .unwrap();
        left += count;
    }
    let removed = storage.purge().await;
    result.expect("cleanup_expired");
    removed.expect("purge");
    assert_eq!(left, 0, "index entries left after cleanup_expired");
    println!(
        "cleanup_expired over {MEASURED_EXPIRED_ITEMS} expired items: {}, total {:.2} s",
        summary(&micros),
        elapsed.as_secs_f64()
    );
}

/// The longest single script call of `list_user_tokens` for one user holding
/// [`MEASURED_USER_TOKENS`] live tokens, all with the same `expires_at` (as tokens created
/// in bulk have), so every index member has the same score. The tokens are written as
/// `store_token` lays them out (record hash and the user's index; the access and global
/// indexes play no part in a listing). Run on a server of your own:
///
/// ```sh
/// AUTHSTORE_REDIS_URL=redis://127.0.0.1:6391 cargo test -p authstore-backends \
///   --features redis-storage --lib -- --ignored --nocapture list_user_tokens_script_time
/// ```
#[tokio::test]
#[ignore = "a measurement: run by hand against a server of your own (see its docs)"]
async fn list_user_tokens_script_time_over_a_million_tokens() {
    let (storage, mut conn, base) = measured_storage("list-owned").await;
    let user = "heavy-user";
    let template = AuthToken::new("t", user, "a", Duration::from_secs(3600));
    let last = last_visible_ms(template.expires_at);
    for chunk in 0..MEASURED_USER_TOKENS.div_ceil(10_000) {
        let ids = (chunk * 10_000)..((chunk + 1) * 10_000).min(MEASURED_USER_TOKENS);
        let mut pipe = ::redis::pipe();
        let mut index = ::redis::cmd("ZADD");
        index.arg(format!("{base}user:{user}:tokens"));
        for i in ids {
            let token = AuthToken {
                token_id: format!("t{i}"),
                access_token: format!("access-{i}"),
                ..template.clone()
            };
            let record = serde_json::to_vec(&token).expect("JSON");
            let key = format!("{base}token:{}", token.token_id);
            pipe.cmd("HSET")
                .arg(&key)
                .arg("record")
                .arg(record)
                .arg("user")
                .arg(user)
                .arg("access")
                .arg(access_digest(&token.access_token))
                .ignore();
            pipe.cmd("PEXPIREAT").arg(&key).arg(last).ignore();
            index.arg(last).arg(&token.token_id);
        }
        pipe.add_command(index).ignore();
        let () = pipe.query_async(&mut conn).await.expect("populate");
    }

    let slowlog = SlowLog::start(&mut conn).await;
    let started = Instant::now();
    let result = storage.list_user_tokens(user).await;
    let elapsed = started.elapsed();
    let micros = slowlog.finish(&mut conn, &SCRIPTS.list_owned).await;
    let removed = storage.purge().await;
    let listed = result.expect("list_user_tokens");
    removed.expect("purge");
    assert_eq!(listed.len(), MEASURED_USER_TOKENS, "tokens listed");
    println!(
        "list_user_tokens of one user with {MEASURED_USER_TOKENS} tokens: {}, total {:.2} s",
        summary(&micros),
        elapsed.as_secs_f64()
    );
}
