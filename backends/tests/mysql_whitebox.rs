//! White-box tests of [`MySqlStorage`] against a real MySQL 8 or MariaDB server (named by
//! `AUTHSTORE_MYSQL_URL`), looking at the tables with SQL: cleanup deletes expired rows
//! and their index entries, no access token is stored where it need not be, migrations
//! are idempotent and safe to run concurrently, ids and keys are byte-exact, and the
//! documented value limit is exact.
//!
//! Each test works in a database of its own, dropped at the end whatever the outcome.
//! Without `AUTHSTORE_MYSQL_URL` every test fails, saying how to provide a server.

/// Without the `mysql-storage` feature there is no `MySqlStorage` to test: say so as an
/// ignored test rather than report nothing. `cargo test --workspace` enables the feature
/// (the conformance crate asks for it); alone, run
/// `cargo test -p authstore-backends --features mysql-storage --test mysql_whitebox`.
#[cfg(not(feature = "mysql-storage"))]
#[test]
#[ignore = "needs the `mysql-storage` feature of authstore-backends"]
fn mysql_whitebox_needs_the_mysql_storage_feature() {}

#[cfg(feature = "mysql-storage")]
mod mysql {

    use std::future::Future;
    use std::str::FromStr;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use authstore_backends::{EncryptedStorage, EncryptionKey, MySqlStorage};
    use authstore_spec::{AuthStorage, AuthToken, ErrorKind, SessionData};
    use chrono::{TimeDelta, Utc};
    use sha2::{Digest, Sha256};
    use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
    use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, Row};

    type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

    const HOUR: Duration = Duration::from_secs(3600);

    /// Databases made by this test binary, for unique names.
    static DATABASES: AtomicU64 = AtomicU64::new(0);

    /// The server's connect options from `AUTHSTORE_MYSQL_URL`; panics (fails the test) with
    /// the advice if it is unset or invalid.
    fn server_options() -> MySqlConnectOptions {
        let advice = "start a server with `bash ci/start-mysql` and export the URL it prints, \
                      or point AUTHSTORE_MYSQL_URL at your own MySQL 8 or MariaDB server";
        let url = std::env::var("AUTHSTORE_MYSQL_URL")
            .unwrap_or_else(|_| panic!("AUTHSTORE_MYSQL_URL is not set: {advice}"));
        MySqlConnectOptions::from_str(&url).unwrap_or_else(|err| {
            panic!("AUTHSTORE_MYSQL_URL is not a valid MySQL URL ({err}): {advice}")
        })
    }

    /// Runs one statement on a connection of its own.
    async fn admin(options: &MySqlConnectOptions, sql: String) -> TestResult {
        let mut conn = tokio::time::timeout(Duration::from_secs(5), options.connect())
            .await
            .map_err(|_| "the MySQL server did not accept a connection within 5 s")??;
        conn.execute(AssertSqlSafe(sql)).await?;
        conn.close().await?;
        Ok(())
    }

    /// A pool of `size` on `database`.
    async fn pool_on(
        options: &MySqlConnectOptions,
        database: &str,
        size: u32,
    ) -> sqlx::Result<MySqlPool> {
        MySqlPoolOptions::new()
            .max_connections(size)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone().database(database))
            .await
    }

    /// Runs `body` with the name of a fresh, empty database and a pool on it, then drops
    /// the database, and fails if `body` failed or panicked, or the drop failed. The body
    /// runs as a task of its own, so a failed assertion in it still drops the database.
    async fn with_database<F, Fut>(body: F)
    where
        F: FnOnce(MySqlConnectOptions, String, MySqlPool) -> Fut,
        Fut: Future<Output = TestResult> + Send + 'static,
    {
        let options = server_options();
        let database = format!(
            "authstore_wb_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        if let Err(err) = admin(&options, format!("CREATE DATABASE `{database}`")).await {
            panic!("cannot create a database on the MySQL server: {err}");
        }
        let outcome = match pool_on(&options, &database, 4).await {
            Ok(pool) => {
                let task = tokio::spawn(body(options.clone(), database.clone(), pool.clone()));
                let outcome = task.await;
                pool.close().await;
                outcome
            }
            Err(err) => Ok(Err(err.into())),
        };
        let dropped = admin(&options, format!("DROP DATABASE `{database}`")).await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(err)) => panic!("{err}"),
            Err(join) => match join.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(join) => panic!("the test body did not finish: {join}"),
            },
        }
        if let Err(err) = dropped {
            panic!("dropping database {database} failed: {err}");
        }
    }

    async fn migrated(pool: &MySqlPool) -> Result<MySqlStorage, authstore_spec::StorageError> {
        let storage = MySqlStorage::new(pool.clone());
        storage.migrate().await?;
        Ok(storage)
    }

    async fn count(pool: &MySqlPool, sql: &'static str, bind: &[u8]) -> sqlx::Result<i64> {
        sqlx::query_scalar(sql).bind(bind).fetch_one(pool).await
    }

    async fn count_all(pool: &MySqlPool, table: &str) -> sqlx::Result<i64> {
        sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(pool)
            .await
    }

    #[tokio::test]
    async fn cleanup_deletes_expired_rows_and_their_index_entries() {
        with_database(|_, _, pool| async move {
            let s = migrated(&pool).await?;
            let past = Utc::now() - TimeDelta::hours(1);
            let live = AuthToken::new("live", "alice", "live-access", HOUR);
            let expired = AuthToken::new("expired", "bob", "expired-access", HOUR).with_expires_at(past);
            s.store_token(&live).await?;
            s.store_token(&expired).await?;
            s.store_session("s-live", &SessionData::new("s-live", "alice", HOUR))
                .await?;
            let old = SessionData::new("s-expired", "bob", HOUR).with_expires_at(past);
            s.store_session("s-expired", &old).await?;
            s.store_kv("k-forever", b"v", None).await?;
            s.store_kv("k-huge", b"v", Some(Duration::MAX)).await?;
            s.store_kv("k-hour", b"v", Some(HOUR)).await?;
            s.store_kv("k-short", b"v", Some(Duration::from_millis(1))).await?;
            s.store_kv("k-zero", b"v", Some(Duration::ZERO)).await?;

            // The server computed the kv expiry: an hour from its clock, NULL for none.
            let hour_left: i64 = sqlx::query_scalar(
                "SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(6), expires_at) FROM kv_store WHERE kv_key = ?",
            )
            .bind(&b"k-hour"[..])
            .fetch_one(&pool)
            .await?;
            assert!((3590..=3600).contains(&hour_left), "k-hour expires in {hour_left} s");
            let no_expiry = count(
                &pool,
                "SELECT COUNT(*) FROM kv_store WHERE kv_key = ? AND expires_at IS NULL",
                b"k-huge",
            )
            .await?;
            assert_eq!(no_expiry, 1, "a TTL of Duration::MAX is stored as no expiry");
            // A zero TTL never leaves a row behind.
            assert_eq!(count(&pool, "SELECT COUNT(*) FROM kv_store WHERE kv_key = ?", b"k-zero").await?, 0);
            tokio::time::sleep(Duration::from_millis(20)).await;

            // Expired rows are invisible but still there before cleanup.
            assert_eq!(s.get_token("expired").await?, None);
            assert_eq!(s.get_kv("k-short").await?, None);
            assert_eq!(count_all(&pool, "auth_tokens").await?, 2);
            assert_eq!(count_all(&pool, "sessions").await?, 2);
            assert_eq!(count_all(&pool, "kv_store").await?, 4);

            s.cleanup_expired().await?;

            assert_eq!(count_all(&pool, "auth_tokens").await?, 1);
            assert_eq!(count_all(&pool, "sessions").await?, 1);
            assert_eq!(count_all(&pool, "kv_store").await?, 3);
            // Nothing of the expired items is reachable through any index either.
            let digest = Sha256::digest(b"expired-access");
            let through_digest = count(
                &pool,
                "SELECT COUNT(*) FROM auth_tokens FORCE INDEX (uq_auth_tokens_access_digest) \
                 WHERE access_digest = ?",
                &digest[..],
            )
            .await?;
            assert_eq!(through_digest, 0, "access-digest index entry of the expired token");
            let through_user = count(
                &pool,
                "SELECT COUNT(*) FROM auth_tokens FORCE INDEX (ix_auth_tokens_user) WHERE user_id = ?",
                b"bob",
            )
            .await?;
            assert_eq!(through_user, 0, "user index entry of the expired token");
            let sessions_of_bob = count(
                &pool,
                "SELECT COUNT(*) FROM sessions FORCE INDEX (ix_sessions_user) WHERE user_id = ?",
                b"bob",
            )
            .await?;
            assert_eq!(sessions_of_bob, 0, "user index entry of the expired session");
            let expired_in_index: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM auth_tokens FORCE INDEX (ix_auth_tokens_expires_at) \
                         WHERE expires_at <= UTC_TIMESTAMP(6)) \
                      + (SELECT COUNT(*) FROM sessions FORCE INDEX (ix_sessions_expires_at) \
                         WHERE expires_at <= UTC_TIMESTAMP(6)) \
                      + (SELECT COUNT(*) FROM kv_store FORCE INDEX (ix_kv_store_expires_at) \
                         WHERE expires_at <= UTC_TIMESTAMP(6))",
            )
            .fetch_one(&pool)
            .await?;
            assert_eq!(expired_in_index, 0, "expiry index entries of expired items");

            // Live items are untouched, and a second cleanup changes nothing.
            assert_eq!(s.get_token("live").await?, Some(live.clone()));
            assert_eq!(s.get_token_by_access_token("live-access").await?, Some(live));
            assert_eq!(s.count_active_sessions().await?, 1);
            assert_eq!(
                s.list_kv_keys("k-").await?,
                vec!["k-forever".to_string(), "k-hour".to_string(), "k-huge".to_string()]
            );
            s.cleanup_expired().await?;
            assert_eq!(count_all(&pool, "auth_tokens").await?, 1);
            assert_eq!(count_all(&pool, "sessions").await?, 1);
            assert_eq!(count_all(&pool, "kv_store").await?, 3);
            Ok(())
        })
        .await;
    }

    /// Every column of every row of every table in the database, as bytes, with where it
    /// came from.
    async fn every_cell(pool: &MySqlPool) -> sqlx::Result<Vec<(String, Vec<u8>)>> {
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR) FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION",
        )
        .fetch_all(pool)
        .await?;
        let mut cells = Vec::new();
        for (table, column) in columns {
            let values: Vec<Option<Vec<u8>>> = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT CAST(`{column}` AS BINARY) FROM `{table}`"
            )))
            .fetch_all(pool)
            .await?;
            cells.extend(
                values
                    .into_iter()
                    .flatten()
                    .map(|value| (format!("{table}.{column}"), value)),
            );
        }
        Ok(cells)
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack
            .windows(needle.len())
            .any(|window| window == needle)
    }

    #[tokio::test]
    async fn no_plaintext_access_token_outside_the_token_record() {
        with_database(|_, _, pool| async move {
            let s = migrated(&pool).await?;
            let access = "AT-9f3c1e77-plaintext-access-token";
            let refresh = "RT-51d0aa42-plaintext-refresh-token";
            let token = AuthToken::new("t1", "alice", access, HOUR).with_refresh_token(refresh);
            s.store_token(&token).await?;
            // A second version, so an old access token could linger somewhere too.
            let renewed = token.clone().with_access_token(format!("{access}-renewed"));
            s.update_token(&renewed).await?;
            s.store_token(&AuthToken::new(
                "t2",
                "bob",
                format!("{access}-other"),
                HOUR,
            ))
            .await?;

            let cells = every_cell(&pool).await?;
            assert!(
                cells
                    .iter()
                    .any(|(at, _)| at == "auth_tokens.access_digest")
            );
            for (at, value) in &cells {
                if at == "auth_tokens.record" {
                    // The record must give the token back whole (TOK-1), secrets included.
                    continue;
                }
                assert!(
                    !contains(value, access.as_bytes()) && !contains(value, refresh.as_bytes()),
                    "a plaintext token is stored in {at}"
                );
            }
            // The lookup column holds exactly the SHA-256 of the current access token.
            let digest: Vec<u8> =
                sqlx::query_scalar("SELECT access_digest FROM auth_tokens WHERE token_id = ?")
                    .bind(&b"t1"[..])
                    .fetch_one(&pool)
                    .await?;
            assert_eq!(
                digest,
                Sha256::digest(renewed.access_token.as_bytes()).to_vec()
            );
            assert_eq!(s.get_token_by_access_token(access).await?, None);
            assert_eq!(
                s.get_token_by_access_token(&renewed.access_token).await?,
                Some(renewed)
            );
            Ok(())
        })
        .await;
    }

    #[tokio::test]
    async fn under_encrypted_storage_no_secret_is_stored_anywhere() {
        with_database(|_, _, pool| async move {
            let key = EncryptionKey::new(7, [0x42; 32]);
            let s = EncryptedStorage::new(migrated(&pool).await?, key);
            let access = "AT-0c9d2b1a-plaintext-access-token";
            let refresh = "RT-7e6f5a4b-plaintext-refresh-token";
            let token = AuthToken::new("t1", "alice", access, HOUR).with_refresh_token(refresh);
            s.store_token(&token).await?;
            assert_eq!(s.get_token_by_access_token(access).await?, Some(token));
            for (at, value) in every_cell(&pool).await? {
                assert!(
                    !contains(&value, access.as_bytes()) && !contains(&value, refresh.as_bytes()),
                    "a plaintext token is stored in {at}"
                );
            }
            Ok(())
        })
        .await;
    }

    #[tokio::test]
    async fn migrate_is_idempotent_and_safe_concurrently() {
        with_database(|options, database, pool| async move {
            // Eight "processes": each its own pool, all migrating at once.
            let mut tasks = Vec::new();
            for _ in 0..8 {
                let (options, database) = (options.clone(), database.clone());
                tasks.push(tokio::spawn(async move {
                    let pool = pool_on(&options, &database, 1).await?;
                    let result = MySqlStorage::new(pool.clone()).migrate().await;
                    pool.close().await;
                    result.map_err(|err| -> Box<dyn std::error::Error + Send + Sync> { err.into() })
                }));
            }
            for task in tasks {
                task.await??;
            }
            // And again, sequentially, on a database that is already migrated.
            let s = migrated(&pool).await?;
            s.migrate().await?;
            let applied: Vec<(i64, bool)> = sqlx::query_as(
                "SELECT version, success FROM _authstore_migrations ORDER BY version",
            )
            .fetch_all(&pool)
            .await?;
            assert_eq!(
                applied,
                vec![(1, true)],
                "each migration recorded once, successfully"
            );
            let mut tables: Vec<String> = sqlx::query_scalar(
                "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
            )
            .fetch_all(&pool)
            .await?;
            tables.sort();
            assert_eq!(
                tables,
                [
                    "_authstore_migrations",
                    "auth_tokens",
                    "kv_store",
                    "sessions"
                ]
            );
            s.store_kv("works", b"yes", None).await?;
            assert_eq!(s.get_kv("works").await?, Some(b"yes".to_vec()));
            Ok(())
        })
        .await;
    }

    #[tokio::test]
    async fn ids_and_keys_are_byte_exact() {
        with_database(|_, _, pool| async move {
            let s = migrated(&pool).await?;
            // Equal under utf8mb4_bin on MariaDB (PAD SPACE) or under case- or
            // accent-insensitive collations; all different here.
            let ids = ["a", "a ", "A", "á", "a\u{301}"];
            for (i, id) in ids.iter().enumerate() {
                s.store_token(&AuthToken::new(*id, *id, format!("access-{i}"), HOUR))
                    .await?;
                s.store_kv(id, format!("value-{i}").as_bytes(), None)
                    .await?;
            }
            assert_eq!(count_all(&pool, "auth_tokens").await?, ids.len() as i64);
            assert_eq!(count_all(&pool, "kv_store").await?, ids.len() as i64);
            for (i, id) in ids.iter().enumerate() {
                let token = s.get_token(id).await?.ok_or("a token is missing")?;
                assert_eq!(token.access_token, format!("access-{i}"), "token {id:?}");
                assert_eq!(s.list_user_tokens(id).await?, vec![token]);
                assert_eq!(s.get_kv(id).await?, Some(format!("value-{i}").into_bytes()));
            }
            let mut sorted: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
            sorted.sort();
            assert_eq!(s.list_kv_keys("").await?, sorted, "keys in byte order");
            assert_eq!(s.list_kv_keys("a ").await?, vec!["a ".to_string()]);
            Ok(())
        })
        .await;
    }

    #[tokio::test]
    async fn rewriting_an_identical_token_succeeds() {
        // MySQL reports changed rows unless the client asks for matched rows; sqlx asks
        // (CLIENT_FOUND_ROWS), which `update_token`'s NotFound detection relies on.
        with_database(|_, _, pool| async move {
            let s = migrated(&pool).await?;
            let token = AuthToken::new("same", "alice", "same-access", HOUR);
            s.store_token(&token).await?;
            s.store_token(&token).await?;
            s.update_token(&token).await?;
            assert_eq!(s.get_token("same").await?, Some(token));
            let absent = AuthToken::new("absent", "alice", "other-access", HOUR);
            let err = s
                .update_token(&absent)
                .await
                .err()
                .ok_or("update of an absent token")?;
            assert_eq!(err.kind(), ErrorKind::NotFound);
            Ok(())
        })
        .await;
    }

    /// How many prepared statements this pool's one connection has executed (its
    /// session's `Com_stmt_execute`), read with the text protocol so the reading itself
    /// is not counted.
    async fn statements_executed(
        pool: &MySqlPool,
    ) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
        let mut conn = pool.acquire().await?;
        let row = sqlx::raw_sql("SHOW SESSION STATUS LIKE 'Com_stmt_execute'")
            .fetch_one(&mut *conn)
            .await?;
        let value: String = row.try_get(1)?;
        Ok(value.parse()?)
    }

    /// Every row of `auth_tokens` as (id column, the id inside its record, user column).
    async fn token_rows(pool: &MySqlPool) -> sqlx::Result<Vec<(String, String, String)>> {
        let rows: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> =
            sqlx::query_as("SELECT token_id, record, user_id FROM auth_tokens ORDER BY token_id")
                .fetch_all(pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, record, user)| {
                let record: AuthToken =
                    serde_json::from_slice(&record).expect("a stored record decodes");
                (
                    String::from_utf8_lossy(&id).into_owned(),
                    record.token_id,
                    String::from_utf8_lossy(&user).into_owned(),
                )
            })
            .collect())
    }

    #[tokio::test]
    async fn store_token_is_one_statement_in_every_case() {
        // Issue 15 item 4: an overwrite used to be an INSERT that failed on the id, then
        // an UPDATE. One connection, so the session counter sees every statement.
        with_database(|options, database, _| async move {
            let pool = pool_on(&options, &database, 1).await?;
            let s = migrated(&pool).await?;
            let store = |token: AuthToken| {
                let (s, pool) = (s.clone(), pool.clone());
                async move {
                    let before = statements_executed(&pool).await?;
                    let result = s.store_token(&token).await;
                    let sent = statements_executed(&pool).await? - before;
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>((result, sent))
                }
            };
            let token = AuthToken::new("tok", "alice", "access", HOUR);
            let (result, sent) = store(token.clone()).await?;
            result?;
            assert_eq!(sent, 1, "statements for a new token");
            let overwrite = AuthToken::new("tok", "alice", "access", 2 * HOUR);
            let (result, sent) = store(overwrite.clone()).await?;
            result?;
            assert_eq!(
                sent, 1,
                "statements for an overwrite with the same access token"
            );
            let moved = AuthToken::new("tok", "bob", "access-2", HOUR);
            let (result, sent) = store(moved.clone()).await?;
            result?;
            assert_eq!(
                sent, 1,
                "statements for an overwrite with a new access token"
            );
            assert_eq!(s.get_token("tok").await?, Some(moved.clone()));

            // A live holder of another id: Conflict, and its row untouched.
            let intruder = AuthToken::new("intruder", "mallory", "access-2", HOUR);
            let (result, sent) = store(intruder).await?;
            let err = result
                .err()
                .ok_or("store_token onto a live holder's access token")?;
            assert_eq!(err.kind(), ErrorKind::Conflict);
            assert_eq!(sent, 1, "statements for a clash with a live holder");
            assert_eq!(
                token_rows(&pool).await?,
                vec![("tok".into(), "tok".into(), "bob".into())]
            );
            // The next write on this connection is not taken for a clash.
            let other = AuthToken::new("other", "carol", "access-3", HOUR);
            let (result, sent) = store(other.clone()).await?;
            result?;
            assert_eq!(sent, 1);

            // An expired holder of another id: taken over, in one statement.
            let mut expired = AuthToken::new("old", "dave", "access-4", HOUR);
            expired.expires_at = Utc::now() - TimeDelta::hours(1);
            store(expired).await?.0?;
            let taker = AuthToken::new("taker", "erin", "access-4", HOUR);
            let (result, sent) = store(taker.clone()).await?;
            result?;
            assert_eq!(
                sent, 1,
                "statements for taking an expired holder's access token"
            );
            assert_eq!(s.get_token_by_access_token("access-4").await?, Some(taker));
            assert_eq!(s.get_token("old").await?, None);
            assert_eq!(
                token_rows(&pool).await?,
                vec![
                    ("other".into(), "other".into(), "carol".into()),
                    ("taker".into(), "taker".into(), "erin".into()),
                    ("tok".into(), "tok".into(), "bob".into()),
                ],
                "the expired holder's row is gone, no row holds another token's record"
            );
            pool.close().await;
            Ok(())
        })
        .await;
    }

    #[tokio::test]
    async fn new_tokens_racing_for_an_expired_holders_access_token_have_one_winner() {
        // The one-statement upsert takes an expired holder's row over (renaming it):
        // racing takers must still leave exactly one holder, and no row aliased.
        with_database(|options, database, _| async move {
            let pool = pool_on(&options, &database, 8).await?;
            let s = migrated(&pool).await?;
            for round in 0..8 {
                let access = format!("contested-{round}");
                let mut holder = AuthToken::new(format!("holder-{round}"), "old", &access, HOUR);
                holder.expires_at = Utc::now() - TimeDelta::hours(1);
                s.store_token(&holder).await?;
                let racers: Vec<_> = (0..16)
                    .map(|i| {
                        let s = s.clone();
                        let token =
                            AuthToken::new(format!("r{round}-{i}"), format!("u{i}"), &access, HOUR);
                        tokio::spawn(async move { (s.store_token(&token).await, token) })
                    })
                    .collect();
                let mut winners = Vec::new();
                for racer in racers {
                    match racer.await? {
                        (Ok(()), token) => winners.push(token),
                        (Err(err), _) => assert_eq!(err.kind(), ErrorKind::Conflict, "{err}"),
                    }
                }
                assert_eq!(winners.len(), 1, "round {round}: exactly one taker wins");
                assert_eq!(
                    s.get_token_by_access_token(&access).await?,
                    Some(winners[0].clone())
                );
                assert_eq!(s.get_token(&holder.token_id).await?, None);
            }
            let rows = token_rows(&pool).await?;
            assert_eq!(rows.len(), 8, "one row per round: {rows:?}");
            for (id, record_id, _) in &rows {
                assert_eq!(id, record_id, "row {id} holds the record of {record_id}");
            }
            pool.close().await;
            Ok(())
        })
        .await;
    }

    #[tokio::test]
    async fn value_limit_is_exact_and_checked_before_sending() {
        with_database(|_, _, pool| async move {
            let s = migrated(&pool).await?;
            let packet: i64 = sqlx::query_scalar("SELECT CAST(@@max_allowed_packet AS SIGNED)")
                .fetch_one(&pool)
                .await?;
            let limit = s.max_value_bytes().await?;
            assert_eq!(limit as i64, packet - 1024);
            assert!(
                limit >= 1 << 20,
                "the server's max_allowed_packet is below 1 MiB + 1 KiB"
            );
            // A value of exactly the limit fits in one packet with its statement.
            let at_limit: Vec<u8> = (0..limit).map(|i| (i % 251) as u8).collect();
            s.store_kv("big", &at_limit, None).await?;
            assert!(
                s.get_kv("big").await? == Some(at_limit),
                "the value at the limit round-trips"
            );
            // One byte more is refused before sending, and the old value stays.
            s.store_kv("big", b"small", None).await?;
            let over = vec![0xA5; limit + 1];
            let err = s
                .store_kv("big", &over, None)
                .await
                .err()
                .ok_or("an oversized value")?;
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert_eq!(s.get_kv("big").await?, Some(b"small".to_vec()));
            Ok(())
        })
        .await;
    }
}
