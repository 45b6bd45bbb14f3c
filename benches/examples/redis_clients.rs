//! Which redis-rs connection reaches the server's limit: sequential `GET`s and `SET`s
//! through each, interleaved, mean latency per call.
//!
//! `cargo run --release -p authstore-bench --example redis_clients` with
//! `AUTHSTORE_REDIS_URL` set; `REDIS_CLIENTS_CALLS` calls per variant and round (2000).

use std::time::{Duration, Instant};

fn key(i: usize) -> String {
    format!("redis-clients-{}:{}", std::process::id(), i % 1000)
}

async fn async_calls<C: redis::aio::ConnectionLike + Send>(
    conn: &mut C,
    calls: usize,
) -> redis::RedisResult<(Duration, Duration)> {
    let value = vec![7u8; 256];
    let start = Instant::now();
    for i in 0..calls {
        redis::cmd("SET")
            .arg(key(i))
            .arg(&value)
            .query_async::<()>(conn)
            .await?;
    }
    let set = start.elapsed();
    let start = Instant::now();
    for i in 0..calls {
        let v: Option<Vec<u8>> = redis::cmd("GET").arg(key(i)).query_async(conn).await?;
        assert!(v.is_some());
    }
    Ok((start.elapsed(), set))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("AUTHSTORE_REDIS_URL")?;
    let calls: usize = std::env::var("REDIS_CLIENTS_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let client = redis::Client::open(url.as_str())?;
    let mt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let ct = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut mt_mux = mt.block_on(client.get_multiplexed_async_connection())?;
    let mut mt_mgr = mt.block_on(client.get_connection_manager())?;
    let mut ct_mux = ct.block_on(client.get_multiplexed_async_connection())?;
    let mut sync = client.get_connection()?;

    let mut totals: Vec<(&str, Duration, Duration)> = Vec::new();
    let mut add = |name: &'static str, (get, set): (Duration, Duration)| match totals
        .iter_mut()
        .find(|(n, _, _)| *n == name)
    {
        Some((_, g, s)) => {
            *g += get;
            *s += set;
        }
        None => totals.push((name, get, set)),
    };
    for _ in 0..3 {
        add(
            "multiplexed, current-thread runtime",
            ct.block_on(async_calls(&mut ct_mux, calls))?,
        );
        add(
            "multiplexed, multi-thread runtime",
            mt.block_on(async_calls(&mut mt_mux, calls))?,
        );
        add(
            "connection manager, multi-thread runtime",
            mt.block_on(async_calls(&mut mt_mgr, calls))?,
        );
        let value = vec![7u8; 256];
        let start = Instant::now();
        for i in 0..calls {
            let _: () = redis::Commands::set(&mut sync, key(i), &value)?;
        }
        let set = start.elapsed();
        let start = Instant::now();
        for i in 0..calls {
            let v: Option<Vec<u8>> = redis::Commands::get(&mut sync, key(i))?;
            assert!(v.is_some());
        }
        add("blocking connection, no runtime", (start.elapsed(), set));
    }
    for (name, get, set) in &totals {
        let per = |d: &Duration| d.as_secs_f64() * 1e6 / (3 * calls) as f64;
        println!("GET {:>6.1} us  SET {:>6.1} us  {name}", per(get), per(set));
    }
    let keys: Vec<String> = (0..1000).map(key).collect();
    let _: () = redis::Commands::del(&mut sync, keys)?;
    Ok(())
}
