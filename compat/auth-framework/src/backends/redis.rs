//! Both Redis backends of theirs (feature `redis-storage`): `storage::RedisStorage`
//! (`core.rs`) and `storage::redis::RedisStorage` (`redis.rs`), two different types.

use std::future::Future;
use std::time::Duration;

use auth_framework::storage::RedisStorage as CoreRedis;
use auth_framework::storage::redis::RedisStorage as ModuleRedis;
use authstore_conformance::{BackendUnderTest, Fixture};
use authstore_spec::{Capabilities, Capability};

use super::{WHOLE_SECONDS, unique_name, url_from_env};
use crate::AuthFrameworkCompat;

const URL_VAR: &str = "AUTHSTORE_REDIS_URL";
const ADVICE: &str = "start a server with `bash ci/start-redis` and export the URL it prints";

/// What both claim: a second handle is a second client on the same prefix, another
/// namespace another prefix. Not introspection: their index keys share the prefix with
/// the records.
const CAPABILITIES: Capabilities = Capabilities::CORE
    .with(Capability::MultiHandle)
    .with(Capability::Namespaces);

/// `storage::RedisStorage::new(url, prefix)` with a fresh prefix per scenario.
pub fn redis_core() -> BackendUnderTest {
    BackendUnderTest::new("redis-core", || {
        prefixed(|url, prefix| async move {
            let open = || CoreRedis::new(&url, prefix.clone()).map_err(|e| e.to_string());
            Ok((
                AuthFrameworkCompat::new(open()?),
                AuthFrameworkCompat::new(open()?),
            ))
        })
    })
    .with_capabilities(CAPABILITIES)
    .with_timing(WHOLE_SECONDS)
}

/// `storage::redis::RedisStorage::with_config(url, prefix, 1 h)` (1 h is what their
/// `new` uses) with a fresh prefix per scenario.
pub fn redis_module() -> BackendUnderTest {
    BackendUnderTest::new("redis-module", || {
        prefixed(|url, prefix| async move {
            let open = || ModuleRedis::with_config(&url, prefix.clone(), Duration::from_secs(3600));
            let first = open().await.map_err(|e| e.to_string())?;
            let second = open().await.map_err(|e| e.to_string())?;
            Ok((
                AuthFrameworkCompat::new(first),
                AuthFrameworkCompat::new(second),
            ))
        })
    })
    .with_capabilities(CAPABILITIES)
    .with_timing(WHOLE_SECONDS)
}

/// A fixture of two handles `open` makes on a fresh prefix, with another prefix as the
/// other namespace; each teardown deletes its prefix's keys.
async fn prefixed<F, Fut, S>(open: F) -> Result<Fixture, String>
where
    F: Fn(String, String) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(S, S), String>> + Send + 'static,
    S: authstore_spec::AuthStorage + 'static,
{
    let url = url_from_env(URL_VAR, ADVICE)?;
    let one = move |open: F, url: String| async move {
        let prefix = format!("{}:", unique_name("redis"));
        let (first, second) = open(url.clone(), prefix.clone()).await?;
        Ok::<_, String>(
            Fixture::new(first)
                .with_second_handle(second)
                .with_teardown(delete_prefix(url, prefix)),
        )
    };
    let other = {
        let (open, url) = (open.clone(), url.clone());
        move || one(open.clone(), url.clone())
    };
    Ok(one(open, url).await?.with_other_namespace(other))
}

/// Deletes every key under `prefix` (SCAN, not KEYS: the server is shared).
async fn delete_prefix(url: String, prefix: String) -> Result<(), String> {
    let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("teardown: cannot connect to Redis: {e}"))?;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("teardown: SCAN failed: {e}"))?;
        if !keys.is_empty() {
            let _deleted: i64 = redis::cmd("DEL")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .map_err(|e| format!("teardown: DEL failed: {e}"))?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}
