//! Tests of private parts that need a live server (`AUTHSTORE_REDIS_URL`).

use std::time::Duration;

use super::connection::{Connection, Target};
use super::scripts::Lua;

fn url() -> String {
    std::env::var("AUTHSTORE_REDIS_URL").unwrap_or_else(|_| {
        panic!(
            "AUTHSTORE_REDIS_URL is not set: start servers with `eval \"$(bash ci/start-redis)\"` \
             or point it at your own Redis"
        )
    })
}

/// A script the server has never seen (its text is unique) runs anyway: `EVALSHA` fails
/// with `NOSCRIPT`, the script is sent whole with `EVAL`, and the server caches it.
#[tokio::test]
async fn eval_falls_back_to_the_script_body() {
    let conn = Connection::open(&Target::Single(url()), None, Duration::from_secs(5))
        .await
        .unwrap_or_else(|err| panic!("cannot connect to AUTHSTORE_REDIS_URL: {err}"));
    let nonce = format!("{:?}", std::time::SystemTime::now());
    let code: &'static str =
        Box::leak(format!("return KEYS[1] .. ARGV[1] .. '{nonce}'").into_boxed_str());
    let script = Lua::new(code);
    let mut exists = ::redis::cmd("SCRIPT");
    exists.arg("EXISTS").arg(&script.sha);
    let before: Vec<bool> = conn.query(&exists).await.expect("SCRIPT EXISTS");
    assert_eq!(before, [false], "the script is new");
    let got: String = conn
        .eval(&script, &[b"k"], &[b"-a-"])
        .await
        .expect("EVALSHA then EVAL");
    assert_eq!(got, format!("k-a-{nonce}"));
    let after: Vec<bool> = conn.query(&exists).await.expect("SCRIPT EXISTS");
    assert_eq!(after, [true], "EVAL cached the script");
    let again: String = conn.eval(&script, &[b"x"], &[b"y"]).await.expect("EVALSHA");
    assert_eq!(again, format!("xy{nonce}"));
}

/// Items the cleanup measurement leaves expired, split between kv entries, tokens and
/// sessions.
const MEASURED_EXPIRED_ITEMS: usize = 1_000_000;

/// Not a check but a measurement, run by hand (it blocks the server it is given while it
/// populates): the longest single script call of `cleanup_expired` over
/// [`MEASURED_EXPIRED_ITEMS`] expired items, read from Redis's SLOWLOG (every command of
/// 100 µs or more logged for the run, the settings restored after: Redis 7 also logs the
/// commands a script calls, and a zero threshold would flood the log with them). The items are written as Redis
/// leaves them once their keys have expired: index entries with a past score, no item
/// key. Run on a server of your own:
///
/// ```sh
/// AUTHSTORE_REDIS_URL=redis://127.0.0.1:6391 cargo test -p authstore-backends \
///   --features redis-storage --lib -- --ignored --nocapture cleanup_script_time
/// ```
#[tokio::test]
#[ignore = "a measurement: run by hand against a server of your own (see its docs)"]
async fn cleanup_script_time_over_a_million_expired_items() {
    use std::time::Instant;

    use super::RedisStorage;
    use authstore_spec::AuthStorage;

    let url = url();
    let prefix = format!("cleanup-measure-{}:", std::process::id());
    let storage = super::RedisConfig::new(&url)
        .with_prefix(&prefix)
        .with_operation_timeout(Duration::from_secs(120))
        .connect()
        .await
        .expect("connect");
    let mut conn = ::redis::Client::open(url)
        .expect("URL")
        .get_multiplexed_async_connection_with_config(
            &::redis::AsyncConnectionConfig::new()
                .set_response_timeout(Some(Duration::from_secs(120))),
        )
        .await
        .expect("connect");
    let base = format!("{{{prefix}}}");
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

    let config = |name: &str| {
        let mut get = ::redis::cmd("CONFIG");
        get.arg("GET").arg(name.to_owned());
        get
    };
    let set = |name: &str, value: &str| {
        let mut set = ::redis::cmd("CONFIG");
        set.arg("SET").arg(name.to_owned()).arg(value.to_owned());
        set
    };
    let (_, slower_than): (String, String) = config("slowlog-log-slower-than")
        .query_async(&mut conn)
        .await
        .unwrap();
    let (_, max_len): (String, String) = config("slowlog-max-len")
        .query_async(&mut conn)
        .await
        .unwrap();
    let () = set("slowlog-log-slower-than", "100")
        .query_async(&mut conn)
        .await
        .unwrap();
    let () = set("slowlog-max-len", "100000")
        .query_async(&mut conn)
        .await
        .unwrap();
    let () = ::redis::cmd("SLOWLOG")
        .arg("RESET")
        .query_async(&mut conn)
        .await
        .unwrap();

    let started = Instant::now();
    let result = storage.cleanup_expired().await;
    let elapsed = started.elapsed();

    // Each entry: id, timestamp, duration (µs), arguments, client address, client name.
    let log: Vec<(i64, Vec<Vec<u8>>)> = ::redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(100_000)
        .query_async(&mut conn)
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
    let () = set("slowlog-log-slower-than", &slower_than)
        .query_async(&mut conn)
        .await
        .unwrap();
    let () = set("slowlog-max-len", &max_len)
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut left = 0u64;
    for index in ["tokens", "sessions", "kv", "kv-expiry"] {
        let count: u64 = ::redis::cmd("ZCARD")
            .arg(format!("{base}index:{index}"))
            .query_async(&mut conn)
            .await
            .unwrap();
        left += count;
    }
    let removed = RedisStorage::purge(&storage).await;
    result.expect("cleanup_expired");
    removed.expect("purge");

    let cleanup_sha = super::SCRIPTS.cleanup.sha.as_bytes();
    let mut micros: Vec<i64> = log
        .iter()
        .filter(|(_, args)| args.get(1).is_some_and(|sha| sha == cleanup_sha))
        .map(|(duration, _)| *duration)
        .collect();
    micros.sort_unstable();
    assert_eq!(left, 0, "index entries left after cleanup_expired");
    assert!(
        !micros.is_empty(),
        "SLOWLOG recorded no cleanup script call"
    );
    let p99 = micros[(micros.len() * 99).div_ceil(100) - 1];
    println!(
        "cleanup_expired over {MEASURED_EXPIRED_ITEMS} expired items: {} script calls, longest \
         {:.2} ms, p99 {:.2} ms, total {:.2} s",
        micros.len(),
        *micros.last().unwrap() as f64 / 1000.0,
        p99 as f64 / 1000.0,
        elapsed.as_secs_f64()
    );
}
