//! [`MemoryStorage`]: the reference in-process backend.
//!
//! All data sits behind one [`parking_lot::RwLock`], so every method is trivially atomic
//! (SPEC.md `CON-*`): reads share the lock, writes hold it exclusively for a few map
//! operations. Indexes make point operations O(1), user listings O(the user's items),
//! session counting O(expired-but-not-cleaned sessions) and key listing a range scan.

pub(crate) mod cleanup;
mod state;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use authstore_spec::time::kv_expiry;
use authstore_spec::{
    AuthStorage, AuthToken, Result, SessionData, StorageError, TimingProfile, async_trait, validate,
};
use chrono::Utc;
use parking_lot::RwLock;

use self::cleanup::CleanupTask;
use self::state::State;
use crate::packed::{PackedSession, PackedToken};

/// Largest kv value [`MemoryStorage`] accepts, in bytes (SPEC.md `KV-5`): 64 MiB. Larger
/// values are rejected with [`StorageError::CapacityExceeded`].
const MAX_VALUE_BYTES: usize = 64 << 20;

/// Settings of a [`MemoryStorage`]; [`build`](Self::build) makes the storage.
///
/// ```
/// use std::time::Duration;
/// use authstore_backends::InMemoryConfig;
///
/// let storage = InMemoryConfig::new()
///     .with_cleanup_interval(Duration::from_secs(60))
///     .with_default_ttl(Duration::from_secs(1800))
///     .build();
/// # drop(storage);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InMemoryConfig {
    cleanup_interval: Duration,
    default_ttl: Option<Duration>,
}

impl Default for InMemoryConfig {
    fn default() -> Self {
        Self {
            cleanup_interval: Duration::from_secs(5 * 60),
            default_ttl: Some(Duration::from_secs(3600)),
        }
    }
}

impl InMemoryConfig {
    /// The defaults: cleanup every 5 minutes, kv entries stored without a TTL expire after
    /// 1 hour.
    pub fn new() -> Self {
        Self::default()
    }

    /// How often the background task removes expired items. [`Duration::ZERO`] disables
    /// the task; expired items then stay (invisible) until
    /// [`cleanup_expired`](AuthStorage::cleanup_expired) is called.
    pub fn with_cleanup_interval(mut self, interval: Duration) -> Self {
        self.cleanup_interval = interval;
        self
    }

    /// The TTL given to kv entries stored with `ttl: None` (SPEC.md `TTL-2`). A TTL of
    /// 100 years or more (e.g. [`Duration::MAX`]) means no expiry.
    pub fn with_default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = Some(ttl);
        self
    }

    /// No default TTL: kv entries stored with `ttl: None` never expire.
    pub fn without_default_ttl(mut self) -> Self {
        self.default_ttl = None;
        self
    }

    /// A new, empty storage with these settings.
    ///
    /// Called inside a tokio runtime, it spawns the background cleanup task on that
    /// runtime; the task ends when the last clone of the storage is dropped. Called outside
    /// a runtime, no task is spawned and expired items are removed only by
    /// [`cleanup_expired`](AuthStorage::cleanup_expired) (they are invisible either way).
    /// The task needs the runtime's time driver (`enable_time`, on by default with
    /// `#[tokio::main]`).
    pub fn build(self) -> MemoryStorage {
        let inner = Arc::new(Inner {
            state: RwLock::new(State::default()),
            default_ttl: self.default_ttl,
        });
        let task = cleanup::spawn(&inner, self.cleanup_interval, |inner: &Inner| {
            inner.state.write().cleanup(Utc::now());
        });
        MemoryStorage {
            inner,
            task: Arc::new(task),
            config: Arc::new(self),
        }
    }
}

struct Inner {
    state: RwLock<State>,
    default_ttl: Option<Duration>,
}

/// The reference in-process [`AuthStorage`]: everything in process memory, lost on drop.
///
/// - **Clock** (SPEC.md `TIME-3`): the application's, [`Utc::now`], compared at full
///   precision; see [`MemoryStorage::TIMING`].
/// - **Default TTL** (`TTL-2`): kv entries stored with `ttl: None` expire after the
///   configured default, 1 hour unless changed with
///   [`InMemoryConfig::with_default_ttl`] or removed with
///   [`InMemoryConfig::without_default_ttl`].
/// - **Value limit** (`KV-5`): 64 MiB per kv value; larger values fail with
///   [`StorageError::CapacityExceeded`]. No limit on the number of items.
/// - **Cleanup** (`CLN-3`): a background task (see [`InMemoryConfig::build`]) removes
///   expired items every `cleanup_interval` (5 minutes by default).
///
/// Clones share the same data, like an [`Arc`]: a clone is a second handle.
#[derive(Clone)]
pub struct MemoryStorage {
    inner: Arc<Inner>,
    // Dropped with the last clone, which stops the cleanup task.
    task: Arc<Option<CleanupTask>>,
    config: Arc<InMemoryConfig>,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStorage {
    /// The timing profile (SPEC.md `TIME-3`): the application clock, kept to the
    /// microsecond, with a 1 ms margin and no skew.
    pub const TIMING: TimingProfile = TimingProfile::IN_PROCESS;

    /// The largest kv value accepted, in bytes (SPEC.md `KV-5`): 64 MiB.
    pub const MAX_VALUE_BYTES: usize = MAX_VALUE_BYTES;

    /// How many items (tokens, sessions, kv entries) the store holds, expired ones not yet
    /// removed included: what a cleanup has left, for monitoring and for the
    /// conformance suite's `introspection` checks.
    pub fn stored_items(&self) -> usize {
        let (tokens, sessions, kv) = self.inner.state.read().stored_counts();
        tokens + sessions + kv
    }

    /// An empty storage with the default [`InMemoryConfig`] (see
    /// [`InMemoryConfig::build`] for when the cleanup task runs).
    pub fn new() -> Self {
        InMemoryConfig::new().build()
    }

    #[cfg(test)]
    fn take_cleanup_handle(&self) -> Option<tokio::task::JoinHandle<()>> {
        self.task
            .as_ref()
            .as_ref()
            .and_then(CleanupTask::take_handle)
    }
}

impl fmt::Debug for MemoryStorage {
    // Counts only: the data holds secrets (access tokens) that must not reach logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStorage")
            .field("config", &self.config)
            .field("cleanup_task", &self.task.is_some())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl AuthStorage for MemoryStorage {
    async fn store_token(&self, token: &AuthToken) -> Result<()> {
        validate::token(token)?;
        // Packing before the lock and freeing the old record after it keeps the
        // exclusive section to the map updates.
        let packed = PackedToken::new(token);
        let replaced = self
            .inner
            .state
            .write()
            .put_token(token, packed, false, Utc::now())?;
        drop(replaced);
        Ok(())
    }

    async fn get_token(&self, token_id: &str) -> Result<Option<AuthToken>> {
        validate::id("token id", token_id)?;
        Ok(self.inner.state.read().get_token(token_id, Utc::now()))
    }

    async fn get_token_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>> {
        validate::secret("access token", access_token)?;
        Ok(self
            .inner
            .state
            .read()
            .get_token_by_access_token(access_token, Utc::now()))
    }

    async fn update_token(&self, token: &AuthToken) -> Result<()> {
        validate::token(token)?;
        let packed = PackedToken::new(token);
        let replaced = self
            .inner
            .state
            .write()
            .put_token(token, packed, true, Utc::now())?;
        drop(replaced);
        Ok(())
    }

    async fn delete_token(&self, token_id: &str) -> Result<()> {
        validate::id("token id", token_id)?;
        let removed = self.inner.state.write().remove_token(token_id);
        drop(removed);
        Ok(())
    }

    async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<AuthToken>> {
        validate::id("user id", user_id)?;
        Ok(self
            .inner
            .state
            .read()
            .list_user_tokens(user_id, Utc::now()))
    }

    async fn store_session(&self, session_id: &str, data: &SessionData) -> Result<()> {
        validate::session(session_id, data)?;
        let packed = PackedSession::new(data);
        let replaced = self
            .inner
            .state
            .write()
            .put_session(data, packed, Utc::now());
        drop(replaced);
        Ok(())
    }

    async fn get_session(&self, session_id: &str) -> Result<Option<SessionData>> {
        validate::id("session id", session_id)?;
        Ok(self.inner.state.read().get_session(session_id, Utc::now()))
    }

    async fn delete_session(&self, session_id: &str) -> Result<()> {
        validate::id("session id", session_id)?;
        let removed = self.inner.state.write().remove_session(session_id);
        drop(removed);
        Ok(())
    }

    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionData>> {
        validate::id("user id", user_id)?;
        Ok(self
            .inner
            .state
            .read()
            .list_user_sessions(user_id, Utc::now()))
    }

    async fn count_active_sessions(&self) -> Result<u64> {
        Ok(self.inner.state.read().count_active_sessions(Utc::now()))
    }

    async fn store_kv(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        validate::key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(StorageError::CapacityExceeded(format!(
                "kv value for key {key:?} is {} bytes; the limit is {MAX_VALUE_BYTES} bytes",
                value.len()
            )));
        }
        let value = value.to_vec();
        let replaced = {
            let mut state = self.inner.state.write();
            let now = Utc::now();
            let expires_at = kv_expiry(now, ttl.or(self.inner.default_ttl));
            state.put_kv(key, value, expires_at, now)
        };
        drop(replaced);
        Ok(())
    }

    async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
        validate::key(key)?;
        Ok(self.inner.state.read().get_kv(key, Utc::now()))
    }

    async fn delete_kv(&self, key: &str) -> Result<()> {
        validate::key(key)?;
        let removed = self.inner.state.write().remove_kv(key);
        drop(removed);
        Ok(())
    }

    async fn list_kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        validate::prefix(prefix)?;
        Ok(self.inner.state.read().list_kv_keys(prefix, Utc::now()))
    }

    async fn cleanup_expired(&self) -> Result<()> {
        self.inner.state.write().cleanup(Utc::now());
        Ok(())
    }
}

#[cfg(test)]
mod tests;
