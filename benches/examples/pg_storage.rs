//! `PostgresStorage` on its two clients against the best client (issue 15 item 2): point
//! reads and upserts, sequential, through `PostgresStorage::connect_with` (tokio-postgres,
//! deadpool), `PostgresStorage::new` (sqlx pool) and tokio-postgres prepared statements
//! on one connection (the bench's `best-postgres`), in short alternated blocks; the
//! median block of each, per call, and its ratio to the best client. The pools are filled
//! first (64 concurrent reads), as concurrent traffic leaves them.
//!
//! `cargo run --release -p authstore-bench --example pg_storage` with
//! `AUTHSTORE_POSTGRES_URL` set; `PG_STORAGE_CALLS` calls per block (200).

use std::str::FromStr;
use std::time::{Duration, Instant};

use authstore_backends::PostgresStorage;
use authstore_spec::AuthStorage;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

const ROWS: usize = 1000;
/// Blocks per variant.
const ROUNDS: usize = 15;

fn key(i: usize) -> String {
    format!("kv-{i:08}")
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("AUTHSTORE_POSTGRES_URL")?;
    let calls: usize = std::env::var("PG_STORAGE_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let schema = format!("authstore_pg_storage_{}", std::process::id());
    let value = vec![0xab_u8; 300];

    let mut config = tokio_postgres::Config::from_str(&url)?;
    let (admin, conn) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA {schema};
             CREATE TABLE {schema}.raw_kv (id VARCHAR(512) COLLATE \"C\" PRIMARY KEY, value BYTEA NOT NULL);
             INSERT INTO {schema}.raw_kv SELECT 'kv-' || lpad(g::text, 8, '0'), decode(repeat('ab', 300), 'hex') FROM generate_series(0, {ROWS} - 1) g;"
        ))
        .await?;
    config.options(format!("-c search_path={schema}"));
    let (best, conn) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let read = best
        .prepare("SELECT value FROM raw_kv WHERE id = $1")
        .await?;
    let write = best
        .prepare(
            "INSERT INTO raw_kv (id, value) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value",
        )
        .await?;

    let native = PostgresStorage::connect_with(config.clone(), 16).await?;
    native.migrate().await?;
    let options = PgConnectOptions::from_str(&url)?.options([("search_path", schema.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .connect_with(options)
        .await?;
    let sqlx = PostgresStorage::new(pool.clone());
    for i in 0..ROWS {
        native.store_kv(&key(i), &value, None).await?;
    }

    // Open every pooled connection, as concurrent traffic does (the matrix runs each
    // operation at 16 and 64 tasks too): sequential calls then meet a full pool.
    for storage in [&native, &sqlx] {
        let keys: Vec<String> = (0..64).map(|i| key(i % ROWS)).collect();
        let reads = keys.iter().map(|k| storage.get_kv(k));
        for found in futures::future::join_all(reads).await {
            assert!(found?.is_some());
        }
    }

    let mut totals: Vec<(&str, Vec<Duration>)> = Vec::new();
    let mut add =
        |name: &'static str, d: Duration| match totals.iter_mut().find(|(n, _)| *n == name) {
            Some((_, t)) => t.push(d),
            None => totals.push((name, vec![d])),
        };
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for i in 0..calls {
            assert!(best.query_opt(&read, &[&key(i % ROWS)]).await?.is_some());
        }
        add(
            "read  best (tokio-postgres prepared, one connection)",
            start.elapsed(),
        );
        for (name, storage) in [
            (
                "read  PostgresStorage::connect_with (tokio-postgres)",
                &native,
            ),
            ("read  PostgresStorage::new (sqlx pool)", &sqlx),
        ] {
            let start = Instant::now();
            for i in 0..calls {
                assert!(storage.get_kv(&key(i % ROWS)).await?.is_some());
            }
            add(name, start.elapsed());
        }
        let start = Instant::now();
        for i in 0..calls {
            best.execute(&write, &[&key(i % ROWS), &value]).await?;
        }
        add(
            "write best (tokio-postgres prepared upsert)",
            start.elapsed(),
        );
        for (name, storage) in [
            (
                "write PostgresStorage::connect_with (tokio-postgres)",
                &native,
            ),
            ("write PostgresStorage::new (sqlx pool)", &sqlx),
        ] {
            let start = Instant::now();
            for i in 0..calls {
                storage.store_kv(&key(i % ROWS), &value, None).await?;
            }
            add(name, start.elapsed());
        }
    }
    let median = |blocks: &Vec<Duration>| {
        let mut b = blocks.clone();
        b.sort();
        b[b.len() / 2].as_secs_f64() * 1e6 / calls as f64
    };
    let (read_base, write_base) = (median(&totals[0].1), median(&totals[3].1));
    for (name, blocks) in &totals {
        let m = median(blocks);
        let base = if name.starts_with("read") {
            read_base
        } else {
            write_base
        };
        println!("{m:>8.1} us  {:.2}x  {name}", m / base);
    }
    native.close().await;
    pool.close().await;
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await?;
    Ok(())
}
