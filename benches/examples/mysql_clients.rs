//! Which MySQL/MariaDB client reaches the server's limit: sequential primary-key reads
//! and upserts through each, interleaved, mean latency per call.
//!
//! `cargo run --release -p authstore-bench --example mysql_clients` with
//! `AUTHSTORE_MYSQL_URL` set; `MYSQL_CLIENTS_CALLS` calls per variant and round (2000).

use std::str::FromStr;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor};

const ROWS: usize = 1000;

fn id(i: usize) -> String {
    format!("tok-{:08}", i % ROWS)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("AUTHSTORE_MYSQL_URL")?;
    let calls: usize = std::env::var("MYSQL_CLIENTS_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let db = format!("mysql_clients_{}", std::process::id());
    let options = MySqlConnectOptions::from_str(&url)?;
    let mut admin = options.connect().await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {db}.t (id VARBINARY(255) PRIMARY KEY, value LONGBLOB NOT NULL) ENGINE = InnoDB"
        )))
        .await?;
    for i in 0..ROWS {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {db}.t VALUES (?, ?)"
        )))
        .bind(id(i))
        .bind(vec![1u8; 300])
        .execute(&mut admin)
        .await?;
    }
    let read = format!("SELECT value FROM {db}.t WHERE id = ?");
    let write = format!(
        "INSERT INTO {db}.t (id, value) VALUES (?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value)"
    );

    let pool = MySqlPoolOptions::new()
        .max_connections(16)
        .connect_with(options.clone())
        .await?;
    let pool_noping = MySqlPoolOptions::new()
        .max_connections(16)
        .test_before_acquire(false)
        .connect_with(options.clone())
        .await?;
    let mut single = options.connect().await?;
    let mut my = mysql_async::Conn::new(mysql_async::Opts::from_url(&url)?).await?;
    let my_read = my.prep(&read).await?;
    let my_write = my.prep(&write).await?;

    let mut totals: Vec<(&str, Duration, Duration)> = Vec::new();
    let mut add = |name: &'static str, r: Duration, w: Duration| match totals
        .iter_mut()
        .find(|(n, _, _)| *n == name)
    {
        Some((_, a, b)) => {
            *a += r;
            *b += w;
        }
        None => totals.push((name, r, w)),
    };
    let mut stamp = 0u64;
    let mut value = || {
        stamp += 1;
        let mut v = vec![2u8; 300];
        v[..8].copy_from_slice(&stamp.to_le_bytes());
        v
    };
    macro_rules! sqlx_variant {
        ($name:expr, $exec:expr) => {{
            let start = Instant::now();
            for i in 0..calls {
                let row: Option<Vec<u8>> = sqlx::query_scalar(sqlx::AssertSqlSafe(read.clone()))
                    .bind(id(i))
                    .fetch_optional($exec)
                    .await?;
                assert!(row.is_some());
            }
            let r = start.elapsed();
            let start = Instant::now();
            for i in 0..calls {
                sqlx::query(sqlx::AssertSqlSafe(write.clone()))
                    .bind(id(i))
                    .bind(value())
                    .execute($exec)
                    .await?;
            }
            add($name, r, start.elapsed());
        }};
    }
    for _ in 0..3 {
        let start = Instant::now();
        for i in 0..calls {
            let row: Option<Vec<u8>> = my.exec_first(&my_read, (id(i),)).await?;
            assert!(row.is_some());
        }
        let r = start.elapsed();
        let start = Instant::now();
        for i in 0..calls {
            my.exec_drop(&my_write, (id(i), value())).await?;
        }
        add("mysql_async, one connection, prepared", r, start.elapsed());
        sqlx_variant!("sqlx pool, defaults", &pool);
        sqlx_variant!("sqlx pool, test_before_acquire(false)", &pool_noping);
        sqlx_variant!("sqlx MySqlConnection, no pool", &mut single);
    }
    for (name, r, w) in &totals {
        let per = |d: &Duration| d.as_secs_f64() * 1e6 / (3 * calls) as f64;
        println!("read {:>6.1} us  upsert {:>6.1} us  {name}", per(r), per(w));
    }
    admin
        .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE {db}")))
        .await?;
    let _ = admin.close().await;
    my.disconnect().await?;
    Ok(())
}
