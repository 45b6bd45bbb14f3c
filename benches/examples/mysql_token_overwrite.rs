//! What `MySqlStorage::store_token` pays to overwrite an existing token (issue 15 item 4):
//! the two statements it used to send (an `INSERT` that fails on the id, then an
//! `UPDATE`) against the one guarded upsert it sends now, with a plain one-key upsert of
//! the same row as the floor. All three on one connection, prepared, interleaved in
//! rounds; every call changes the row (a new expiry and record), so each commit flushes
//! the log as the backend's writes do. Prints the median per call of each variant.
//!
//! `cargo run --release -p authstore-bench --example mysql_token_overwrite` with
//! `AUTHSTORE_MYSQL_URL` set; `MYSQL_OVERWRITE_CALLS` calls per variant and round (200),
//! `MYSQL_OVERWRITE_ROUNDS` rounds (10).

use std::str::FromStr;
use std::time::{Duration, Instant};

use authstore_backends::MySqlStorage;
use chrono::{TimeDelta, Utc};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor};

const ROWS: usize = 1000;

/// The statements `store_token` sent for an overwrite before (copied from the history
/// of `backends/src/mysql/queries.rs`).
const OLD_INSERT: &str = "INSERT INTO auth_tokens \
     (token_id, user_id, access_digest, expires_at, record) VALUES (?, ?, ?, ?, ?)";
const OLD_UPDATE: &str = "UPDATE auth_tokens \
     SET user_id = ?, access_digest = ?, expires_at = ?, record = ? WHERE token_id = ?";

/// The statement it sends now (a copy of `queries::UPSERT_TOKEN`).
const NEW_UPSERT: &str = "INSERT INTO auth_tokens \
     (token_id, user_id, access_digest, expires_at, record) VALUES (?, ?, ?, ?, ?) \
     ON DUPLICATE KEY UPDATE \
     token_id = IF(token_id = VALUES(token_id) OR expires_at <= UTC_TIMESTAMP(6), \
         VALUES(token_id), IF(LAST_INSERT_ID(1), token_id, token_id)), \
     user_id = IF(token_id = VALUES(token_id) OR expires_at <= UTC_TIMESTAMP(6), \
         VALUES(user_id), user_id), \
     access_digest = IF(token_id = VALUES(token_id) OR expires_at <= UTC_TIMESTAMP(6), \
         VALUES(access_digest), access_digest), \
     expires_at = IF(token_id = VALUES(token_id) OR expires_at <= UTC_TIMESTAMP(6), \
         VALUES(expires_at), expires_at), \
     record = IF(token_id = VALUES(token_id) OR expires_at <= UTC_TIMESTAMP(6), \
         VALUES(record), record)";

/// The floor: an unguarded upsert of the same row (unsafe for tokens: it would alias a
/// row holding the access token of another id).
const PLAIN_UPSERT: &str = "INSERT INTO auth_tokens \
     (token_id, user_id, access_digest, expires_at, record) VALUES (?, ?, ?, ?, ?) \
     ON DUPLICATE KEY UPDATE user_id = VALUES(user_id), access_digest = VALUES(access_digest), \
     expires_at = VALUES(expires_at), record = VALUES(record)";

/// Column values of token `i`'s write number `n`: the expiry and record change each time.
struct Row {
    id: Vec<u8>,
    user: Vec<u8>,
    digest: Vec<u8>,
    expires_at: chrono::NaiveDateTime,
    record: Vec<u8>,
}

fn row(i: usize, n: usize) -> Row {
    let id = format!("tok-{:08}", i % ROWS);
    Row {
        // Stands in for the access token's SHA-256: 32 bytes, one value per token.
        digest: {
            let mut digest = [0x5A; 32];
            digest[..8].copy_from_slice(&((i % ROWS) as u64).to_le_bytes());
            digest.to_vec()
        },
        user: format!("user-{}", i % 97).into_bytes(),
        expires_at: (Utc::now() + TimeDelta::hours(1) + TimeDelta::microseconds(n as i64))
            .naive_utc(),
        record: format!(
            "{{\"token_id\":\"{id}\",\"n\":{n},\"pad\":\"{}\"}}",
            "x".repeat(250)
        )
        .into_bytes(),
        id: id.into_bytes(),
    }
}

async fn insert(conn: &mut MySqlConnection, sql: &'static str, r: &Row) -> sqlx::Result<()> {
    sqlx::query(sql)
        .bind(&r.id)
        .bind(&r.user)
        .bind(&r.digest)
        .bind(r.expires_at)
        .bind(&r.record)
        .execute(conn)
        .await
        .map(drop)
}

async fn write(conn: &mut MySqlConnection, variant: usize, r: &Row) -> sqlx::Result<()> {
    match variant {
        0 => insert(conn, PLAIN_UPSERT, r).await,
        1 => insert(conn, NEW_UPSERT, r).await,
        _ => {
            let failed = insert(conn, OLD_INSERT, r).await;
            assert!(failed.is_err(), "the old INSERT finds the id taken");
            let done = sqlx::query(OLD_UPDATE)
                .bind(&r.user)
                .bind(&r.digest)
                .bind(r.expires_at)
                .bind(&r.record)
                .bind(&r.id)
                .execute(conn)
                .await?;
            assert_eq!(done.rows_affected(), 1);
            Ok(())
        }
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("AUTHSTORE_MYSQL_URL")?;
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let calls = env("MYSQL_OVERWRITE_CALLS", 200);
    let rounds = env("MYSQL_OVERWRITE_ROUNDS", 10);
    let db = format!("mysql_token_overwrite_{}", std::process::id());
    let options = MySqlConnectOptions::from_str(&url)?;
    let mut admin = options.connect().await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .await?;
    let options = options.database(&db);
    let pool = MySqlPoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await?;
    MySqlStorage::new(pool.clone()).migrate().await?;
    pool.close().await;

    let mut conn = options.connect().await?;
    for i in 0..ROWS {
        insert(&mut conn, PLAIN_UPSERT, &row(i, 0)).await?;
    }
    let names = [
        "plain one-key upsert (floor, unsafe for tokens)",
        "new: one guarded upsert",
        "old: INSERT (duplicate id) + UPDATE",
    ];
    let mut per_call: [Vec<Duration>; 3] = Default::default();
    let mut n = 1;
    for round in 0..rounds {
        // Rotate which variant goes first, so no variant always follows another.
        for k in 0..3 {
            let variant = (round + k) % 3;
            let start = Instant::now();
            for c in 0..calls {
                write(&mut conn, variant, &row(c, n)).await?;
                n += 1;
            }
            per_call[variant].push(start.elapsed() / calls as u32);
        }
    }
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("{rounds} rounds x {calls} sequential overwrites per variant; load {loadavg}");
    let mut medians = [Duration::ZERO; 3];
    for (variant, times) in per_call.iter_mut().enumerate() {
        times.sort();
        medians[variant] = times[times.len() / 2];
        println!(
            "{:<48} median {:>9.1?}  min {:>9.1?}  max {:>9.1?}",
            names[variant],
            medians[variant],
            times[0],
            times[times.len() - 1]
        );
    }
    println!(
        "new / old = {:.2}, new / floor = {:.2}",
        medians[1].as_secs_f64() / medians[2].as_secs_f64(),
        medians[1].as_secs_f64() / medians[0].as_secs_f64()
    );
    conn.close().await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE {db}")))
        .await?;
    Ok(())
}
