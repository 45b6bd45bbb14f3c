//! An `AuthStorage` backend written the way an author outside this workspace would: one
//! `Mutex` over a few maps, depending only on `authstore-spec`. Its test,
//! `tests/conformance.rs`, is the single line that runs the whole conformance catalogue:
//!
//! ```ignore
//! authstore_conformance::conformance_suite!(third_party, async { MyStore::new() });
//! ```
//!
//! It claims the default capabilities (expiry, concurrency, large values) and not
//! `multi-handle`: each `MyStore` owns its data.
//!
//! Documented as SPEC.md asks: the caller's system clock, to the microsecond for tokens
//! and sessions ([`TimingProfile::IN_PROCESS`](authstore_spec::TimingProfile::IN_PROCESS));
//! no default kv TTL; kv values up to [`MAX_VALUE_BYTES`]. Expired items stay in memory
//! until read past or until `cleanup_expired`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use authstore_spec::time::{NO_EXPIRY_THRESHOLD, now_micros};
use authstore_spec::{
    AuthStorage, AuthToken, Result, SessionData, StorageError, async_trait, validate,
};

/// The largest kv value this store accepts, in bytes (SPEC.md `KV-5`).
pub const MAX_VALUE_BYTES: usize = 16 << 20;

/// A kv value and the instant it expires at, if any.
#[derive(Debug)]
struct KvEntry {
    value: Vec<u8>,
    expires_at: Option<SystemTime>,
}

impl KvEntry {
    fn is_live(&self, now: SystemTime) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

#[derive(Debug, Default)]
struct State {
    tokens: HashMap<String, AuthToken>,
    /// access token -> token id, for the current access token of each stored token.
    by_access: HashMap<String, String>,
    /// user id -> ids of the user's stored tokens.
    user_tokens: HashMap<String, BTreeSet<String>>,
    sessions: HashMap<String, SessionData>,
    /// user id -> ids of the user's stored sessions.
    user_sessions: HashMap<String, BTreeSet<String>>,
    /// Sorted, so listing by prefix is a range scan in byte order.
    kv: BTreeMap<String, KvEntry>,
}

impl State {
    fn live_token(&self, token_id: &str) -> Option<&AuthToken> {
        let now = now_micros();
        self.tokens.get(token_id).filter(|t| !t.is_expired_at(now))
    }

    /// `Conflict` if a live token other than `token` holds its access token (`ACC-2`).
    fn check_access_token_free(&self, token: &AuthToken) -> Result<()> {
        let Some(holder) = self.by_access.get(&token.access_token) else {
            return Ok(());
        };
        if *holder != token.token_id && self.live_token(holder).is_some() {
            return Err(StorageError::Conflict(format!(
                "the access token of token {:?} is held by live token {holder:?}",
                token.token_id
            )));
        }
        Ok(())
    }

    fn remove_token(&mut self, token_id: &str) {
        let Some(old) = self.tokens.remove(token_id) else {
            return;
        };
        if self
            .by_access
            .get(&old.access_token)
            .is_some_and(|id| id == token_id)
        {
            self.by_access.remove(&old.access_token);
        }
        remove_from_index(&mut self.user_tokens, &old.user_id, token_id);
    }

    fn put_token(&mut self, token: &AuthToken) {
        self.remove_token(&token.token_id);
        self.by_access
            .insert(token.access_token.clone(), token.token_id.clone());
        self.user_tokens
            .entry(token.user_id.clone())
            .or_default()
            .insert(token.token_id.clone());
        self.tokens.insert(token.token_id.clone(), token.clone());
    }

    fn remove_session(&mut self, session_id: &str) {
        if let Some(old) = self.sessions.remove(session_id) {
            remove_from_index(&mut self.user_sessions, &old.user_id, session_id);
        }
    }
}

fn remove_from_index(index: &mut HashMap<String, BTreeSet<String>>, user_id: &str, id: &str) {
    if let Some(ids) = index.get_mut(user_id) {
        ids.remove(id);
        if ids.is_empty() {
            index.remove(user_id);
        }
    }
}

/// An in-memory `AuthStorage`: every call takes one lock, so each is atomic.
#[derive(Debug, Default)]
pub struct MyStore {
    state: Mutex<State>,
}

impl MyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock, so a poisoned lock still holds
        // consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl AuthStorage for MyStore {
    async fn store_token(&self, token: &AuthToken) -> Result<()> {
        validate::token(token)?;
        let mut state = self.state();
        state.check_access_token_free(token)?;
        state.put_token(token);
        Ok(())
    }

    async fn get_token(&self, token_id: &str) -> Result<Option<AuthToken>> {
        validate::id("token id", token_id)?;
        Ok(self.state().live_token(token_id).cloned())
    }

    async fn get_token_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>> {
        validate::secret("access token", access_token)?;
        let state = self.state();
        Ok(state
            .by_access
            .get(access_token)
            .and_then(|id| state.live_token(id))
            .filter(|t| t.access_token == access_token)
            .cloned())
    }

    async fn update_token(&self, token: &AuthToken) -> Result<()> {
        validate::token(token)?;
        let mut state = self.state();
        if state.live_token(&token.token_id).is_none() {
            return Err(StorageError::NotFound(format!(
                "no live token with id {:?} to update",
                token.token_id
            )));
        }
        state.check_access_token_free(token)?;
        state.put_token(token);
        Ok(())
    }

    async fn delete_token(&self, token_id: &str) -> Result<()> {
        validate::id("token id", token_id)?;
        self.state().remove_token(token_id);
        Ok(())
    }

    async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<AuthToken>> {
        validate::id("user id", user_id)?;
        let state = self.state();
        let Some(ids) = state.user_tokens.get(user_id) else {
            return Ok(Vec::new());
        };
        Ok(ids
            .iter()
            .filter_map(|id| state.live_token(id))
            .cloned()
            .collect())
    }

    async fn store_session(&self, session_id: &str, data: &SessionData) -> Result<()> {
        validate::session(session_id, data)?;
        let mut state = self.state();
        state.remove_session(session_id);
        state
            .user_sessions
            .entry(data.user_id.clone())
            .or_default()
            .insert(session_id.to_string());
        state.sessions.insert(session_id.to_string(), data.clone());
        Ok(())
    }

    async fn get_session(&self, session_id: &str) -> Result<Option<SessionData>> {
        validate::id("session id", session_id)?;
        let now = now_micros();
        Ok(self
            .state()
            .sessions
            .get(session_id)
            .filter(|s| !s.is_expired_at(now))
            .cloned())
    }

    async fn delete_session(&self, session_id: &str) -> Result<()> {
        validate::id("session id", session_id)?;
        self.state().remove_session(session_id);
        Ok(())
    }

    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionData>> {
        validate::id("user id", user_id)?;
        let now = now_micros();
        let state = self.state();
        let Some(ids) = state.user_sessions.get(user_id) else {
            return Ok(Vec::new());
        };
        Ok(ids
            .iter()
            .filter_map(|id| state.sessions.get(id))
            .filter(|s| !s.is_expired_at(now))
            .cloned()
            .collect())
    }

    async fn count_active_sessions(&self) -> Result<u64> {
        let now = now_micros();
        let live = self
            .state()
            .sessions
            .values()
            .filter(|s| !s.is_expired_at(now))
            .count();
        Ok(u64::try_from(live).unwrap_or(u64::MAX))
    }

    async fn store_kv(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        validate::key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(StorageError::CapacityExceeded(format!(
                "kv value for key {key:?} is {} bytes; the limit is {MAX_VALUE_BYTES} bytes",
                value.len()
            )));
        }
        let expires_at = match ttl {
            // An instant past what SystemTime can hold is as good as never.
            Some(ttl) if ttl < NO_EXPIRY_THRESHOLD => SystemTime::now().checked_add(ttl),
            _ => None,
        };
        self.state().kv.insert(
            key.to_string(),
            KvEntry {
                value: value.to_vec(),
                expires_at,
            },
        );
        Ok(())
    }

    async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
        validate::key(key)?;
        let now = SystemTime::now();
        Ok(self
            .state()
            .kv
            .get(key)
            .filter(|e| e.is_live(now))
            .map(|e| e.value.clone()))
    }

    async fn delete_kv(&self, key: &str) -> Result<()> {
        validate::key(key)?;
        self.state().kv.remove(key);
        Ok(())
    }

    async fn list_kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        validate::prefix(prefix)?;
        let now = SystemTime::now();
        // `String` orders by UTF-8 bytes, so this range is byte order from `prefix` on.
        Ok(self
            .state()
            .kv
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(key, _)| key.starts_with(prefix))
            .filter(|(_, entry)| entry.is_live(now))
            .map(|(key, _)| key.clone())
            .collect())
    }

    async fn cleanup_expired(&self) -> Result<()> {
        let now = now_micros();
        let mut state = self.state();
        let expired_tokens: Vec<String> = state
            .tokens
            .values()
            .filter(|t| t.is_expired_at(now))
            .map(|t| t.token_id.clone())
            .collect();
        for id in expired_tokens {
            state.remove_token(&id);
        }
        let expired_sessions: Vec<String> = state
            .sessions
            .values()
            .filter(|s| s.is_expired_at(now))
            .map(|s| s.session_id.clone())
            .collect();
        for id in expired_sessions {
            state.remove_session(&id);
        }
        let now = SystemTime::now();
        state.kv.retain(|_, entry| entry.is_live(now));
        Ok(())
    }
}
