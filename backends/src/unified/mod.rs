//! [`UnifiedStorage`]: an in-process backend on concurrent maps, with hit/miss statistics
//! and a memory budget.
//!
//! Point reads go to [`dashmap::DashMap`] shards without a global lock; token writes and
//! session writes are each serialized by one mutex so their multi-index updates are atomic;
//! kv writes lock only their key's shard. See `maps.rs` for the details.

mod accounting;
mod counter;
mod maps;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use authstore_spec::time::kv_expiry;
use authstore_spec::{
    AuthStorage, AuthToken, Result, SessionData, StorageError, TimingProfile, async_trait, validate,
};
use chrono::Utc;

use self::maps::Core;
use crate::memory::cleanup::{self, CleanupTask};

/// `initial_capacity` is capped at this many entries per map, so a huge setting cannot
/// abort the process on allocation.
const MAX_INITIAL_CAPACITY: usize = 1 << 20;

/// Settings of a [`UnifiedStorage`]. Start from [`Default`] and override fields:
///
/// ```
/// use std::time::Duration;
/// use authstore_backends::{UnifiedStorage, UnifiedStorageConfig};
///
/// let storage = UnifiedStorage::with_config(UnifiedStorageConfig {
///     initial_capacity: 10_000,
///     default_ttl: Duration::from_secs(3600),
///     max_memory: 512 * 1024 * 1024,
///     ..Default::default()
/// });
/// # drop(storage);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnifiedStorageConfig {
    /// Entries pre-allocated in each of the token, access-index, session and kv maps
    /// (default 1024; capped at 1 Mi).
    pub initial_capacity: usize,
    /// TTL given to kv entries stored with `ttl: None` (SPEC.md `TTL-2`); default 1 hour.
    /// [`Duration::MAX`] (or anything of 100 years or more) means no expiry.
    pub default_ttl: Duration,
    /// Upper bound, in bytes, of [`UnifiedStats::memory_bytes`]; a write that would exceed
    /// it fails with [`CapacityExceeded`](authstore_spec::StorageError::CapacityExceeded)
    /// and changes nothing. Default 512 MiB.
    pub max_memory: usize,
    /// How often the background task removes expired items; default 5 minutes.
    /// [`Duration::ZERO`] disables the task.
    pub cleanup_interval: Duration,
}

impl Default for UnifiedStorageConfig {
    fn default() -> Self {
        Self {
            initial_capacity: 1024,
            default_ttl: Duration::from_secs(3600),
            max_memory: 512 * 1024 * 1024,
            cleanup_interval: Duration::from_secs(5 * 60),
        }
    }
}

/// A snapshot of a [`UnifiedStorage`]'s counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UnifiedStats {
    /// Point reads (`get_token`, `get_token_by_access_token`, `get_session`, `get_kv`)
    /// that found a live item.
    pub hits: u64,
    /// Point reads that found nothing live.
    pub misses: u64,
    /// Stored items (tokens, sessions, kv entries), including expired ones not yet
    /// cleaned up.
    pub entries: usize,
    /// The sum of the stored items' charges: for each item, 64 bytes of overhead plus its
    /// id or key bytes plus its content (the JSON record size of a token or session, the
    /// value bytes of a kv entry). Bounded by [`UnifiedStorageConfig::max_memory`].
    pub memory_bytes: usize,
}

/// An in-process [`AuthStorage`] on sharded concurrent maps, with statistics
/// ([`get_stats`](Self::get_stats)) and a memory budget.
///
/// - **Clock** (SPEC.md `TIME-3`): the application's, [`Utc::now`], at full precision;
///   see [`UnifiedStorage::TIMING`].
/// - **Default TTL** (`TTL-2`): [`UnifiedStorageConfig::default_ttl`], 1 hour unless
///   changed; `Duration::MAX` for none.
/// - **Value limit** (`KV-5`): none of its own; a write that would take the accounted
///   memory past [`UnifiedStorageConfig::max_memory`] fails with `CapacityExceeded`.
/// - **Cleanup** (`CLN-3`): created inside a tokio runtime, a background task removes
///   expired items every `cleanup_interval` and ends when the last clone is dropped;
///   created outside one, only [`cleanup_expired`](AuthStorage::cleanup_expired) does.
///
/// Clones share the same data: a clone is a second handle.
#[derive(Clone)]
pub struct UnifiedStorage {
    core: Arc<Core>,
    // Dropped with the last clone, which stops the cleanup task.
    task: Arc<Option<CleanupTask>>,
    config: Arc<UnifiedStorageConfig>,
}

impl Default for UnifiedStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl UnifiedStorage {
    /// The timing profile (SPEC.md `TIME-3`): the application clock, kept to the
    /// microsecond, with a 1 ms margin and no skew.
    pub const TIMING: TimingProfile = TimingProfile::IN_PROCESS;

    /// An empty storage with the default [`UnifiedStorageConfig`].
    pub fn new() -> Self {
        Self::with_config(UnifiedStorageConfig::default())
    }

    /// An empty storage with `config`. Inside a tokio runtime this spawns the cleanup
    /// task (see the type's docs).
    pub fn with_config(config: UnifiedStorageConfig) -> Self {
        let core = Arc::new(Core::new(
            config.initial_capacity.min(MAX_INITIAL_CAPACITY),
            config.max_memory,
        ));
        let task = cleanup::spawn(&core, config.cleanup_interval, Core::cleanup);
        Self {
            core,
            task: Arc::new(task),
            config: Arc::new(config),
        }
    }

    /// The current counters.
    pub fn get_stats(&self) -> UnifiedStats {
        UnifiedStats {
            hits: self.core.hits.get(),
            misses: self.core.misses.get(),
            entries: self.core.entries(),
            memory_bytes: self.core.budget.used(),
        }
    }
}

impl UnifiedStorage {
    /// Runs `write`; if the memory limit refused it, removes every expired item (their
    /// charges with them) and runs it once more, so expired data never takes the place
    /// of live data (SPEC.md `CAP-1`). A refused write charged and changed nothing, so
    /// running it again is safe. The cleanup costs a pass over the maps, paid only when
    /// the store is full.
    fn with_room<T>(&self, write: impl Fn() -> Result<T>) -> Result<T> {
        match write() {
            Err(StorageError::CapacityExceeded(_)) => {
                self.core.cleanup();
                write()
            }
            other => other,
        }
    }
}

impl fmt::Debug for UnifiedStorage {
    // Counters only: the data holds secrets (access tokens) that must not reach logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnifiedStorage")
            .field("config", &self.config)
            .field("stats", &self.get_stats())
            .field("cleanup_task", &self.task.is_some())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl AuthStorage for UnifiedStorage {
    async fn store_token(&self, token: &AuthToken) -> Result<()> {
        validate::token(token)?;
        self.with_room(|| self.core.put_token(token, false))
    }

    async fn get_token(&self, token_id: &str) -> Result<Option<AuthToken>> {
        validate::id("token id", token_id)?;
        Ok(self.core.get_token(token_id))
    }

    async fn get_token_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>> {
        validate::secret("access token", access_token)?;
        Ok(self.core.get_token_by_access_token(access_token))
    }

    async fn update_token(&self, token: &AuthToken) -> Result<()> {
        validate::token(token)?;
        self.with_room(|| self.core.put_token(token, true))
    }

    async fn delete_token(&self, token_id: &str) -> Result<()> {
        validate::id("token id", token_id)?;
        self.core.delete_token(token_id);
        Ok(())
    }

    async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<AuthToken>> {
        validate::id("user id", user_id)?;
        Ok(self.core.list_user_tokens(user_id))
    }

    async fn store_session(&self, session_id: &str, data: &SessionData) -> Result<()> {
        validate::session(session_id, data)?;
        self.with_room(|| self.core.put_session(data))
    }

    async fn get_session(&self, session_id: &str) -> Result<Option<SessionData>> {
        validate::id("session id", session_id)?;
        Ok(self.core.get_session(session_id))
    }

    async fn delete_session(&self, session_id: &str) -> Result<()> {
        validate::id("session id", session_id)?;
        self.core.delete_session(session_id);
        Ok(())
    }

    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionData>> {
        validate::id("user id", user_id)?;
        Ok(self.core.list_user_sessions(user_id))
    }

    async fn count_active_sessions(&self) -> Result<u64> {
        Ok(self.core.count_active_sessions())
    }

    async fn store_kv(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        validate::key(key)?;
        let now = Utc::now();
        let expires_at = kv_expiry(now, Some(ttl.unwrap_or(self.config.default_ttl)));
        self.with_room(|| self.core.put_kv(key, value, expires_at, now))
    }

    async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
        validate::key(key)?;
        Ok(self.core.get_kv(key))
    }

    async fn delete_kv(&self, key: &str) -> Result<()> {
        validate::key(key)?;
        self.core.delete_kv(key);
        Ok(())
    }

    async fn list_kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        validate::prefix(prefix)?;
        Ok(self.core.list_kv_keys(prefix))
    }

    async fn cleanup_expired(&self) -> Result<()> {
        self.core.cleanup();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
