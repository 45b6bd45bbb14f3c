//! `RedisStorage` against the best client (issue 15 item 3): sequential point reads and
//! writes of kv entries and tokens through `RedisStorage` on a single node and on the
//! cluster, and a plain GET / SET of the same value on one multiplexed redis-rs
//! connection (the bench's `best-redis`), in short alternated blocks; the median block
//! of each, per call, its speed relative to the plain GET or SET (`>= 0.8x` is the
//! target), and the cluster's relative to the single node (`>= 0.7x`).
//!
//! `cargo run --release -p authstore-bench --example redis_storage` with
//! `AUTHSTORE_REDIS_URL` and `AUTHSTORE_REDIS_CLUSTER_URLS` set; `REDIS_STORAGE_CALLS`
//! calls per block (500).

use std::time::{Duration, Instant};

use authstore_backends::{RedisConfig, RedisStorage};
use authstore_spec::{AuthStorage, AuthToken};
use redis::AsyncCommands;

const ITEMS: usize = 1000;
/// Blocks per variant.
const ROUNDS: usize = 15;

fn key(i: usize) -> String {
    format!("kv-{i:08}")
}

fn token(i: usize) -> AuthToken {
    AuthToken::new(
        format!("tok-{i:08}"),
        format!("user-{:06}", i / 10),
        format!("access-{i:08}"),
        Duration::from_secs(3600),
    )
}

/// The variants, in the order they run in each round.
const VARIANTS: [&str; 10] = [
    "read  best (plain GET, multiplexed connection)",
    "read  redis get_kv",
    "read  redis get_token",
    "read  redis-cluster get_kv",
    "read  redis-cluster get_token",
    "write best (plain SET, multiplexed connection)",
    "write redis store_kv",
    "write redis store_token (overwrite)",
    "write redis-cluster store_kv",
    "write redis-cluster store_token (overwrite)",
];

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("AUTHSTORE_REDIS_URL")?;
    let cluster_urls: Vec<String> = std::env::var("AUTHSTORE_REDIS_CLUSTER_URLS")?
        .split(',')
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .collect();
    let calls: usize = std::env::var("REDIS_STORAGE_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let prefix = format!("authstore-redis-storage-{}:", std::process::id());
    let value = vec![0xab_u8; 256];

    let mut best = redis::Client::open(url.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    let single = RedisConfig::new(url.clone())
        .with_prefix(prefix.clone())
        .connect()
        .await?;
    let cluster = RedisConfig::cluster(cluster_urls)
        .with_prefix(prefix.clone())
        .connect()
        .await?;
    let stores: [&RedisStorage; 2] = [&single, &cluster];
    for i in 0..ITEMS {
        let _: () = best.set(format!("{prefix}best:{}", key(i)), &value).await?;
        for store in stores {
            store.store_kv(&key(i), &value, None).await?;
            store.store_token(&token(i)).await?;
        }
    }
    let tokens: Vec<AuthToken> = (0..ITEMS).map(token).collect();

    let mut blocks: Vec<Vec<Duration>> = vec![Vec::new(); VARIANTS.len()];
    for _ in 0..ROUNDS {
        let mut timed = Vec::new();
        let start = Instant::now();
        for i in 0..calls {
            let found: Option<Vec<u8>> =
                best.get(format!("{prefix}best:{}", key(i % ITEMS))).await?;
            assert!(found.is_some());
        }
        timed.push(start.elapsed());
        for store in stores {
            let start = Instant::now();
            for i in 0..calls {
                assert!(store.get_kv(&key(i % ITEMS)).await?.is_some());
            }
            timed.push(start.elapsed());
            let start = Instant::now();
            for i in 0..calls {
                assert!(
                    store
                        .get_token(&tokens[i % ITEMS].token_id)
                        .await?
                        .is_some()
                );
            }
            timed.push(start.elapsed());
        }
        let start = Instant::now();
        for i in 0..calls {
            let _: () = best
                .set(format!("{prefix}best:{}", key(i % ITEMS)), &value)
                .await?;
        }
        timed.push(start.elapsed());
        for store in stores {
            let start = Instant::now();
            for i in 0..calls {
                store.store_kv(&key(i % ITEMS), &value, None).await?;
            }
            timed.push(start.elapsed());
            let start = Instant::now();
            for i in 0..calls {
                store.store_token(&tokens[i % ITEMS]).await?;
            }
            timed.push(start.elapsed());
        }
        for (block, d) in blocks.iter_mut().zip(timed) {
            block.push(d);
        }
    }
    let median = |blocks: &Vec<Duration>| {
        let mut b = blocks.clone();
        b.sort();
        b[b.len() / 2].as_secs_f64() * 1e6 / calls as f64
    };
    let per_call: Vec<f64> = blocks.iter().map(median).collect();
    let (read_base, write_base) = (per_call[0], per_call[5]);
    for (i, (name, m)) in VARIANTS.iter().zip(&per_call).enumerate() {
        let base = if i < 5 { read_base } else { write_base };
        let vs_single = match i {
            3 | 4 | 8 | 9 => format!("  cluster speed {:.2}x single node", per_call[i - 2] / m),
            _ => String::new(),
        };
        println!(
            "{m:>8.1} us  speed {:.2}x best  {name}{vs_single}",
            base / m
        );
    }
    for store in stores {
        store.purge().await?;
    }
    let keys: Vec<String> = (0..ITEMS)
        .map(|i| format!("{prefix}best:{}", key(i)))
        .collect();
    let _: () = best.del(keys).await?;
    Ok(())
}
