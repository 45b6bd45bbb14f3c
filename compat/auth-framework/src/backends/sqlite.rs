//! `SqliteStorage` (feature `sqlite-storage`): a fresh database file per scenario.

use std::path::PathBuf;
use std::time::Duration;

use auth_framework::storage::sqlite::SqliteStorage;
use authstore_conformance::{BackendUnderTest, Fixture};
use authstore_spec::{Capabilities, Capability};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

use super::{WHOLE_SECONDS, unique_name};
use crate::AuthFrameworkCompat;

/// `SqliteStorage::new(pool)` + `migrate()` on a new file in the temporary directory
/// (`sqlite::memory:` would give each pooled connection its own database): a second
/// pool on the file is the second handle, another file the other namespace, `COUNT(*)`
/// the probe. Whole-second timing: kv expiry and the session count compare seconds.
pub fn sqlite() -> BackendUnderTest {
    BackendUnderTest::new("sqlite", || async {
        Ok::<_, String>(file_fixture().await?.with_other_namespace(file_fixture))
    })
    .with_capabilities(
        Capabilities::CORE
            .with(Capability::MultiHandle)
            .with(Capability::Namespaces)
            .with(Capability::Introspection),
    )
    .with_timing(WHOLE_SECONDS)
}

async fn pool(path: &PathBuf, size: u32) -> Result<SqlitePool, String> {
    SqlitePoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true),
        )
        .await
        .map_err(|e| format!("cannot open {}: {e}", path.display()))
}

async fn file_fixture() -> Result<Fixture, String> {
    let path = std::env::temp_dir().join(format!("{}.db", unique_name("sqlite")));
    let first = pool(&path, 4).await?;
    let store = SqliteStorage::new(first.clone());
    store.migrate().await.map_err(|e| format!("migrate: {e}"))?;
    let second = pool(&path, 2).await?;
    let probe = first.clone();
    let pools = (first, second.clone());
    Ok(Fixture::new(AuthFrameworkCompat::new(store))
        .with_second_handle(AuthFrameworkCompat::new(SqliteStorage::new(second)))
        .with_stored_items(move || {
            let probe = probe.clone();
            async move {
                sqlx::query_scalar::<_, i64>(
                    "SELECT (SELECT count(*) FROM auth_tokens) + (SELECT count(*) FROM sessions) \
                     + (SELECT count(*) FROM kv_store)",
                )
                .fetch_one(&probe)
                .await
                .map(|n| n.unsigned_abs())
                .map_err(|e| format!("row count: {e}"))
            }
        })
        .with_teardown(async move {
            pools.0.close().await;
            pools.1.close().await;
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let file = PathBuf::from(format!("{}{suffix}", path.display()));
                if file.exists() {
                    std::fs::remove_file(&file)
                        .map_err(|e| format!("cannot remove {}: {e}", file.display()))?;
                }
            }
            Ok::<(), String>(())
        }))
}
