//! Fixtures of the storage backends auth-framework 0.6.0-rc202 ships, as the published
//! report runs them: each a [`BackendUnderTest`] with a fresh store per scenario, the
//! capabilities the backend can honestly back and a timing profile fitting its design.
//!
//! The server backends read the same variables as the rest of this repository
//! (`AUTHSTORE_POSTGRES_URL`, `AUTHSTORE_REDIS_URL`); without one, every scenario of that
//! backend fails with a message saying how to provide it, never passes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use authstore_conformance::BackendUnderTest;
use authstore_spec::TimingProfile;

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "unified")]
mod unified;

pub use memory::{dashmap_memory, encrypted_memory, memory};
#[cfg(feature = "postgres")]
pub use postgres::{postgres, postgres_with_pool};
#[cfg(feature = "redis")]
pub use redis::{redis_core, redis_module};
#[cfg(feature = "sqlite")]
pub use sqlite::sqlite;
#[cfg(feature = "unified")]
pub use unified::{unified, unified_with_max_memory};

/// Whole-second timing: for backends that round expiry to seconds by design (Redis
/// `SET EX`, UnifiedStorage's `timestamp()` arithmetic, SQLite's `expires_at` in
/// seconds).
pub const WHOLE_SECONDS: TimingProfile = TimingProfile::new(Duration::from_secs(1), Duration::ZERO);

/// Every backend this build can run, in report order.
pub fn all() -> Vec<BackendUnderTest> {
    #[allow(unused_mut)] // Only the features add to it.
    let mut backends = vec![memory(), dashmap_memory(), encrypted_memory()];
    #[cfg(feature = "unified")]
    backends.push(unified());
    #[cfg(feature = "redis")]
    backends.extend([redis_core(), redis_module()]);
    #[cfg(feature = "postgres")]
    backends.push(postgres());
    #[cfg(feature = "sqlite")]
    backends.push(sqlite());
    backends
}

/// A name no other scenario of any process uses: the pid, a counter and the time.
#[allow(dead_code)] // Unused when no server feature is on.
fn unique_name(kind: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "afcompat_{kind}_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_micros()
    )
}

/// The value of the URL variable `var`, or a message saying how to set it.
#[allow(dead_code)] // Unused when no server feature is on.
fn url_from_env(var: &str, advice: &str) -> Result<String, String> {
    std::env::var(var).map_err(|_| format!("{var} is not set: {advice}"))
}
