//! Which PostgreSQL client and pool set-up reaches the server's limit: sequential
//! primary-key reads through each, interleaved, mean latency per call.
//!
//! `cargo run --release -p authstore-bench --example pg_clients` with
//! `AUTHSTORE_POSTGRES_URL` set; `PG_CLIENTS_CALLS` calls per block (300); the median block of each.

use std::str::FromStr;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

const ROWS: usize = 1000;
/// Blocks per variant.
const ROUNDS: usize = 15;

fn id(i: usize) -> String {
    format!("tok-{i:08}")
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("AUTHSTORE_POSTGRES_URL")?;
    let calls: usize = std::env::var("PG_CLIENTS_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let schema = format!("authstore_pg_clients_{}", std::process::id());
    let table = format!("{schema}.t");
    let sql = format!("SELECT value FROM {table} WHERE id = $1");

    let config = tokio_postgres::Config::from_str(&url)?;
    let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; CREATE TABLE {table} (id VARCHAR(255) COLLATE \"C\" PRIMARY KEY, value BYTEA NOT NULL);
             INSERT INTO {table} SELECT 'tok-' || lpad(g::text, 8, '0'), decode(repeat('ab', 300), 'hex') FROM generate_series(0, {ROWS} - 1) g;"
        ))
        .await?;
    let stmt = client.prepare(&sql).await?;

    let options = PgConnectOptions::from_str(&url)?;
    let pool_default = PgPoolOptions::new()
        .max_connections(16)
        .connect_with(options.clone())
        .await?;
    let pool_noping = PgPoolOptions::new()
        .max_connections(16)
        .test_before_acquire(false)
        .connect_with(options.clone())
        .await?;
    let mut single = options.connect().await?;
    let mut held = pool_noping.acquire().await?;
    let manager = Manager::from_config(
        config.clone(),
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let deadpool = Pool::builder(manager).max_size(16).build()?;

    // Short blocks of each variant, alternated: the median block is robust against the
    // load of other work on the machine.
    let mut totals: Vec<(&str, Vec<Duration>)> = Vec::new();
    let mut add =
        |name: &'static str, d: Duration| match totals.iter_mut().find(|(n, _)| *n == name) {
            Some((_, t)) => t.push(d),
            None => totals.push((name, vec![d])),
        };
    for round in 0..ROUNDS {
        let start = Instant::now();
        for i in 0..calls {
            let row = client.query_opt(&stmt, &[&id(i % ROWS)]).await?;
            assert!(row.is_some());
        }
        add("tokio-postgres, one connection, prepared", start.elapsed());

        let start = Instant::now();
        for i in 0..calls {
            let conn = deadpool.get().await?;
            let stmt = conn.prepare_cached(&sql).await?;
            let row = conn.query_opt(&stmt, &[&id(i % ROWS)]).await?;
            assert!(row.is_some());
        }
        add(
            "deadpool-postgres (recycling: fast), prepare_cached",
            start.elapsed(),
        );

        let start = Instant::now();
        for i in 0..calls {
            let row: Option<Vec<u8>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id(i % ROWS))
                .fetch_optional(&pool_default)
                .await?;
            assert!(row.is_some());
        }
        add("sqlx pool, defaults", start.elapsed());

        let start = Instant::now();
        for i in 0..calls {
            let row: Option<Vec<u8>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id(i % ROWS))
                .fetch_optional(&pool_noping)
                .await?;
            assert!(row.is_some());
        }
        add("sqlx pool, test_before_acquire(false)", start.elapsed());

        let start = Instant::now();
        for i in 0..calls {
            let row: Option<Vec<u8>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id(i % ROWS))
                .fetch_optional(&mut *held)
                .await?;
            assert!(row.is_some());
        }
        add("sqlx pooled connection held across calls", start.elapsed());

        let start = Instant::now();
        for i in 0..calls {
            let row: Option<Vec<u8>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id(i % ROWS))
                .fetch_optional(&mut single)
                .await?;
            assert!(row.is_some());
        }
        add("sqlx PgConnection, no pool", start.elapsed());
        let _ = round;
    }
    let median = |blocks: &Vec<Duration>| {
        let mut b = blocks.clone();
        b.sort();
        b[b.len() / 2].as_secs_f64() * 1e6 / calls as f64
    };
    let base = median(&totals[0].1);
    for (name, blocks) in &totals {
        let m = median(blocks);
        println!("{m:>7.1} us  {:.2}x  {name}", m / base);
    }
    drop(held);
    let _ = single.close().await;
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await?;
    Ok(())
}
