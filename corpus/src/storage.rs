//! [`BrokenStorage`]: the backend, correct unless built with a [`Bug`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use authstore_spec::{
    AuthStorage, AuthToken, ErrorKind, Result, SessionData, StorageError, TimingProfile,
    async_trait,
};
use chrono::Utc;
use parking_lot::Mutex;

use crate::bug::Bug;
use crate::cache::{HandleCache, MAX_CACHED_VALUE};
use crate::expiry::kv_expires_at;
use crate::input::Rules;
use crate::record;
use crate::state::{Cause, Kind, KvEntry, State, kv_charge};

/// The largest kv value accepted, in bytes (SPEC.md `KV-5`): 8 MiB. Larger values are
/// rejected with [`StorageError::CapacityExceeded`].
pub const MAX_VALUE_BYTES: usize = 8 << 20;

/// The timing [`BrokenStorage`] declares: the caller's clock, `chrono::Utc::now()`.
pub const TIMING: TimingProfile = TimingProfile::IN_PROCESS;

/// How long a write that releases its lock half-way waits before going on: long enough
/// for concurrent calls to run in between.
const RACE_WINDOW: Duration = Duration::from_millis(1);

/// The most items a user list returns under [`Bug::UserListsCappedAt1000`].
const USER_LIST_CAP: usize = 1000;

/// Keys per page under [`Bug::ListingPagedByOffset`].
const LISTING_PAGE: usize = 8;

/// How often [`Bug::WaitsForHeldAccessToken`] looks again at a held access token.
const RETRY_INTERVAL: Duration = Duration::from_millis(5);

/// An in-process [`AuthStorage`]: one [`parking_lot::Mutex`] over the shared [`State`]
/// (token map, access-token index, per-user indexes, session map, an expiry index for
/// sessions and kv entries, a kv `BTreeMap`), and a per-handle read cache.
///
/// Built with `None` it is a correct backend: it passes the whole catalogue claiming
/// every capability. Built with `Some(bug)` it has exactly that defect. No default kv TTL
/// unless configured ([`with_default_ttl`](Self::with_default_ttl)); values up to
/// [`MAX_VALUE_BYTES`]; timing [`TIMING`]. Expired items stay in memory
/// until `cleanup_expired`.
pub struct BrokenStorage {
    bug: Option<Bug>,
    shared: Arc<Mutex<State>>,
    cache: Mutex<HandleCache>,
}

impl BrokenStorage {
    /// An empty store with `bug` (`None`: correct).
    pub fn new(bug: Option<Bug>) -> Self {
        Self {
            bug,
            shared: Arc::new(Mutex::new(State::new(bug))),
            cache: Mutex::new(HandleCache::default()),
        }
    }

    /// Another handle on the same data, with a cache of its own: a second node.
    pub fn second_handle(&self) -> Self {
        Self {
            bug: self.bug,
            shared: Arc::clone(&self.shared),
            cache: Mutex::new(HandleCache::default()),
        }
    }

    /// This store bounded to `bytes` of kv keys and values: a write that would take the
    /// live entries past it is refused with `CapacityExceeded`, after expired entries
    /// were removed to make room (SPEC.md `CAP-1`, `CAP-2`).
    pub fn with_capacity(self, bytes: u64) -> Self {
        self.shared.lock().capacity = Some(bytes);
        self
    }

    /// A store under another namespace of the same "server" (as another schema or key
    /// prefix would be): empty and independent, with the same bug and capacity. Under
    /// [`Bug::NamespaceIgnored`] it shares this store's data, as a backend that hard-codes
    /// its namespace somewhere would.
    pub fn other_namespace(&self) -> Self {
        if self.is(Bug::NamespaceIgnored) {
            return self.second_handle();
        }
        let other = Self::new(self.bug);
        other.shared.lock().capacity = self.shared.lock().capacity;
        other
    }

    /// This store giving kv entries stored without a TTL the TTL `ttl` (SPEC.md `TTL-2`).
    pub fn with_default_ttl(self, ttl: Duration) -> Self {
        self.shared.lock().default_ttl = Some(ttl);
        self
    }

    /// How many tokens, sessions and kv entries the store holds, expired ones not yet
    /// removed included.
    pub fn stored_items(&self) -> usize {
        self.shared.lock().stored_items()
    }

    /// The TTL a kv write with `ttl` gets: the default for `None` (`TTL-2`, `TTL-6`).
    fn with_default_ttl_applied(&self, ttl: Option<Duration>) -> Option<Duration> {
        let Some(default) = self.shared.lock().default_ttl else {
            return ttl;
        };
        match (self.bug, ttl) {
            (Some(Bug::DefaultTtlIgnored), ttl) => ttl,
            (Some(Bug::DefaultTtlCapsExplicitTtls), Some(ttl)) => Some(ttl.min(default)),
            (Some(Bug::DefaultTtlReplacesExplicitTtls), Some(_)) => Some(default),
            (_, None) => Some(default),
            (_, Some(ttl)) => Some(ttl),
        }
    }

    /// The defect this storage was built with.
    pub fn bug(&self) -> Option<Bug> {
        self.bug
    }

    fn is(&self, bug: Bug) -> bool {
        self.bug == Some(bug)
    }

    /// The most items `list_user_tokens` and `list_user_sessions` return: no limit.
    fn user_list_limit(&self) -> usize {
        if self.is(Bug::UserListsCappedAt1000) {
            USER_LIST_CAP
        } else {
            usize::MAX
        }
    }

    fn rules(&self) -> Rules {
        Rules::new(self.bug)
    }

    /// Runs a write under the lock: the generation moves on and this handle's cache is
    /// dropped, whatever the result.
    fn write<T>(&self, op: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let mut state = self.shared.lock();
        let result = op(&mut state);
        state.generation += 1;
        self.cache.lock().clear();
        result
    }

    /// Runs a read under the lock, with this handle's cache brought up to date.
    fn read<T>(&self, op: impl FnOnce(&mut State, &mut HandleCache) -> T) -> T {
        let mut state = self.shared.lock();
        let mut cache = self.cache.lock();
        cache.sync(self.bug, state.generation);
        op(&mut state, &mut cache)
    }
}

impl fmt::Debug for BrokenStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokenStorage")
            .field("bug", &self.bug)
            .finish_non_exhaustive()
    }
}

async fn race_window() {
    tokio::time::sleep(RACE_WINDOW).await;
}

#[async_trait]
impl AuthStorage for BrokenStorage {
    async fn store_token(&self, token: &AuthToken) -> Result<()> {
        self.rules().token(token)?;
        let default_ttl = self.shared.lock().default_ttl;
        let capped;
        let token = match default_ttl {
            Some(ttl) if self.is(Bug::DefaultTtlAppliesToTokens) => {
                let latest = authstore_spec::time::add_duration(Utc::now(), ttl);
                capped = token.clone().with_expires_at(token.expires_at.min(latest));
                &capped
            }
            _ => token,
        };
        let record = record::token(self.bug, token);
        match self.bug {
            Some(Bug::StoreExpiredTokenIsSkipped)
                if self.shared.lock().expired(token.expires_at, Utc::now()) =>
            {
                Ok(())
            }
            Some(Bug::AccessTokenCheckThenAct) => {
                self.shared.lock().check_access_free(&record, Utc::now())?;
                race_window().await;
                self.write(|s| {
                    s.replace_token(record, Cause::Store);
                    Ok(())
                })
            }
            Some(Bug::TokenIndexesWrittenSeparately) => {
                self.write(|s| {
                    s.check_access_free(&record, Utc::now())?;
                    s.remove_token_for(&record.token_id, Cause::Store, Some(&record.user_id));
                    s.insert_token_record(record.clone());
                    Ok(())
                })?;
                race_window().await;
                self.write(|s| {
                    s.index_token(&record);
                    Ok(())
                })
            }
            Some(Bug::TokenReplacedByDeleteThenInsert) => {
                self.write(|s| {
                    s.check_access_free(&record, Utc::now())?;
                    s.remove_token(&record.token_id, Cause::Store);
                    Ok(())
                })?;
                race_window().await;
                self.write(|s| {
                    s.insert_token(record);
                    Ok(())
                })
            }
            Some(Bug::WaitsForHeldAccessToken) => loop {
                let attempt = self.write(|s| {
                    s.check_access_free(&record, Utc::now())?;
                    s.replace_token(record.clone(), Cause::Store);
                    Ok(())
                });
                match attempt {
                    Err(err) if err.kind() == ErrorKind::Conflict => {
                        tokio::time::sleep(RETRY_INTERVAL).await;
                    }
                    other => return other,
                }
            },
            Some(Bug::ConflictAfterRemovingOldVersion) => self.write(|s| {
                s.remove_token(&record.token_id, Cause::Store);
                s.check_access_free(&record, Utc::now())?;
                s.insert_token(record);
                Ok(())
            }),
            _ => self.write(|s| {
                s.check_access_free(&record, Utc::now())?;
                s.check_token_room(&record)?;
                s.replace_token(record, Cause::Store);
                Ok(())
            }),
        }
    }

    async fn get_token(&self, token_id: &str) -> Result<Option<AuthToken>> {
        if !self.is(Bug::GetTokenSkipsValidation) {
            self.rules().id("token id", token_id)?;
        }
        Ok(self.read(|s, cache| {
            let now = Utc::now();
            let key = s.id_key(token_id).to_string();
            if let Some(cached) = cache.tokens.get(&key) {
                return cached.clone().filter(|t| !s.expired(t.expires_at, now));
            }
            let found = match s.token(&key) {
                Some(token) if s.expired(token.expires_at, now) => {
                    if self.is(Bug::ExpiredReadDropsRecordKeepsIndexes) {
                        s.remove_token(&key, Cause::ExpiredRead);
                    }
                    None
                }
                other => other.cloned(),
            };
            cache.tokens.insert(key, found.clone());
            found
        }))
    }

    async fn get_token_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>> {
        self.rules().secret("access token", access_token)?;
        let access = if self.is(Bug::LookupTrimsArgument) {
            access_token.trim()
        } else {
            access_token
        };
        let check_expiry = !self.is(Bug::LookupIgnoresExpiry);
        Ok(self.read(|s, cache| {
            let now = Utc::now();
            let key = s.access_key(access);
            if let Some(cached) = cache.access.get(&key) {
                return cached
                    .clone()
                    .filter(|t| !check_expiry || !s.expired(t.expires_at, now));
            }
            let mut holder = s.access_holder(access).cloned();
            if holder.is_none()
                && self.is(Bug::LookupFallsBackToTokenId)
                && s.token(access).is_some()
            {
                holder = Some(access.to_string());
            }
            let found = match holder.as_deref().and_then(|id| s.token(id)) {
                Some(token) if check_expiry && s.expired(token.expires_at, now) => {
                    if self.is(Bug::ExpiredReadDropsRecordKeepsIndexes) {
                        let id = token.token_id.clone();
                        s.remove_token(&id, Cause::ExpiredRead);
                    }
                    None
                }
                other => other.cloned(),
            };
            cache.access.insert(key, found.clone());
            found
        }))
    }

    async fn update_token(&self, token: &AuthToken) -> Result<()> {
        self.rules().token(token)?;
        let record = record::token(self.bug, token);
        let check = |s: &State| {
            let now = Utc::now();
            let exists = match self.bug {
                Some(Bug::UpdateOfAbsentTokenUpserts) => true,
                Some(Bug::UpdateOfExpiredTokenSucceeds) => s.token(&record.token_id).is_some(),
                _ => s.live_token(&record.token_id, now).is_some(),
            };
            if !exists {
                return Err(StorageError::NotFound(format!(
                    "update_token: no live token {:?}",
                    record.token_id
                )));
            }
            if !self.is(Bug::UpdateSkipsConflictCheck) {
                s.check_access_free(&record, now)?;
            }
            Ok(())
        };
        if self.is(Bug::UpdateCheckThenAct) {
            check(&self.shared.lock())?;
            race_window().await;
            return self.write(|s| {
                s.replace_token(record.clone(), Cause::Update);
                Ok(())
            });
        }
        self.write(|s| {
            check(s)?;
            s.check_token_room(&record)?;
            s.replace_token(record.clone(), Cause::Update);
            Ok(())
        })
    }

    async fn delete_token(&self, token_id: &str) -> Result<()> {
        self.rules().id("token id", token_id)?;
        self.write(|s| {
            s.remove_token(token_id, Cause::Delete);
            Ok(())
        })
    }

    async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<AuthToken>> {
        self.rules().id("user id", user_id)?;
        let state = self.shared.lock();
        let now = Utc::now();
        Ok(state
            .owned(Kind::Token, user_id)
            .iter()
            .filter_map(|id| state.token(id))
            .filter(|t| self.is(Bug::ListTokensIgnoresExpiry) || !state.expired(t.expires_at, now))
            .take(self.user_list_limit())
            .cloned()
            .collect())
    }

    async fn store_session(&self, session_id: &str, data: &SessionData) -> Result<()> {
        let rules = self.rules();
        if self.is(Bug::SessionValidatedAfterRemoval) {
            rules.session_id(session_id, data)?;
            let record = record::session(self.bug, data);
            return self.write(|s| {
                s.remove_session(session_id, Cause::Store);
                rules.session_body(session_id, data)?;
                s.insert_session(session_id, record);
                Ok(())
            });
        }
        rules.session(session_id, data)?;
        let record = record::session(self.bug, data);
        match self.bug {
            Some(Bug::StoreExpiredSessionIsSkipped)
                if self.shared.lock().expired(data.expires_at, Utc::now()) =>
            {
                Ok(())
            }
            Some(Bug::SessionIndexesWrittenSeparately) => {
                self.write(|s| {
                    s.remove_session(session_id, Cause::Store);
                    s.insert_session_record(session_id, record.clone());
                    Ok(())
                })?;
                race_window().await;
                self.write(|s| {
                    s.index_session(session_id, &record);
                    Ok(())
                })
            }
            _ => self.write(|s| {
                s.check_session_room(session_id, &record)?;
                s.remove_session(session_id, Cause::Store);
                s.insert_session(session_id, record);
                Ok(())
            }),
        }
    }

    async fn get_session(&self, session_id: &str) -> Result<Option<SessionData>> {
        self.rules().id("session id", session_id)?;
        let mut state = self.shared.lock();
        let now = Utc::now();
        Ok(match state.session(session_id) {
            Some(session)
                if state.expired(session.expires_at, now)
                    && !self.is(Bug::GetSessionIgnoresExpiry) =>
            {
                if self.is(Bug::ExpiredReadDropsRecordKeepsIndexes) {
                    state.remove_session(session_id, Cause::ExpiredRead);
                }
                None
            }
            other => other.cloned(),
        })
    }

    async fn delete_session(&self, session_id: &str) -> Result<()> {
        self.rules().id("session id", session_id)?;
        self.write(|s| {
            s.remove_session(session_id, Cause::Delete);
            if self.is(Bug::DeleteSessionAlsoDeletesToken) {
                s.remove_token(session_id, Cause::Delete);
            }
            Ok(())
        })
    }

    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionData>> {
        self.rules().id("user id", user_id)?;
        let state = self.shared.lock();
        let now = Utc::now();
        Ok(state
            .owned(Kind::Session, user_id)
            .iter()
            .filter_map(|id| state.session(id))
            .filter(|d| !state.expired(d.expires_at, now))
            .take(self.user_list_limit())
            .cloned()
            .collect())
    }

    async fn count_active_sessions(&self) -> Result<u64> {
        let state = self.shared.lock();
        Ok(state.count_sessions(Utc::now()))
    }

    async fn store_kv(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.rules().key(key)?;
        let at_limit_refused = self.is(Bug::ValueLimitOffByOne) && value.len() == MAX_VALUE_BYTES;
        let value = if value.len() <= MAX_VALUE_BYTES && !at_limit_refused {
            value
        } else if self.is(Bug::OversizedValueTruncated) {
            &value[..MAX_VALUE_BYTES]
        } else {
            return Err(StorageError::CapacityExceeded(format!(
                "kv value for key {key:?} is {} bytes; the limit is {MAX_VALUE_BYTES} bytes",
                value.len()
            )));
        };
        let expires_at = kv_expires_at(self.bug, Utc::now(), self.with_default_ttl_applied(ttl));
        let entry = KvEntry {
            value: value.to_vec(),
            expires_at,
        };
        if self.is(Bug::KvReplacedByDeleteThenInsert) {
            self.write(|s| {
                s.remove_kv(key, Cause::Store);
                Ok(())
            })?;
            race_window().await;
            return self.write(|s| {
                s.insert_kv(key, entry);
                Ok(())
            });
        }
        self.write(|s| {
            let mut entry = entry;
            if let Some(capacity) = s.capacity {
                let charge = kv_charge(key, &entry.value);
                let needed = |s: &State| s.kv_bytes + s.record_bytes - s.kv_charged(key) + charge;
                if needed(s) > capacity && !self.is(Bug::ExpiredCountsAgainstCapacity) {
                    s.cleanup(Utc::now());
                }
                if needed(s) > capacity {
                    if self.is(Bug::OverCapacityWriteRemovesOldValue) {
                        s.remove_kv(key, Cause::Delete);
                    }
                    return Err(StorageError::CapacityExceeded(format!(
                        "kv key {key:?} needs {charge} bytes; {} of the capacity of {capacity} \
                         bytes are in use",
                        s.kv_bytes
                    )));
                }
            }
            if let Some(old) = s.remove_kv(key, Cause::Store) {
                match self.bug {
                    Some(Bug::RestoreKeepsTtlWhenNoneGiven) if ttl.is_none() => {
                        entry.expires_at = old.expires_at;
                    }
                    Some(Bug::RestoreNeverShortensTtl) => {
                        entry.expires_at =
                            old.expires_at.zip(entry.expires_at).map(|(a, b)| a.max(b));
                    }
                    _ => {}
                }
            }
            s.insert_kv(key, entry);
            Ok(())
        })
    }

    async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.rules().key(key)?;
        let value = self.read(|s, cache| {
            let now = Utc::now();
            if let Some(cached) = cache.kv.get(key) {
                return cached
                    .as_ref()
                    .filter(|entry| s.kv_live(entry, now))
                    .map(|entry| entry.value.clone());
            }
            let found = s
                .kv_entry(key)
                .filter(|entry| s.kv_live(entry, now))
                .cloned();
            if found
                .as_ref()
                .is_none_or(|entry| entry.value.len() <= MAX_CACHED_VALUE)
            {
                cache.kv.insert(key.to_string(), found.clone());
            }
            found.map(|entry| entry.value)
        });
        Ok(value.filter(|v| !(v.is_empty() && self.is(Bug::EmptyValueReadsAsAbsent))))
    }

    async fn delete_kv(&self, key: &str) -> Result<()> {
        self.rules().key(key)?;
        self.write(|s| {
            s.remove_kv(key, Cause::Delete);
            Ok(())
        })
    }

    async fn list_kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        self.rules().prefix(prefix)?;
        if self.is(Bug::ListingPagedByOffset) {
            let mut keys = Vec::new();
            loop {
                let page: Vec<String> = {
                    let state = self.shared.lock();
                    let listed = state.list_keys(prefix, Utc::now());
                    listed
                        .into_iter()
                        .skip(keys.len())
                        .take(LISTING_PAGE)
                        .collect()
                };
                let last = page.len() < LISTING_PAGE;
                keys.extend(page);
                if last {
                    return Ok(keys);
                }
                tokio::task::yield_now().await;
            }
        }
        let state = self.shared.lock();
        Ok(state.list_keys(prefix, Utc::now()))
    }

    async fn cleanup_expired(&self) -> Result<()> {
        match self.bug {
            Some(Bug::CleanupRemovesNothing) => return Ok(()),
            Some(Bug::CleanupSkipsKv) => {
                return self.write(|s| {
                    let mut due = s.due(Utc::now());
                    due.entries.retain(|(_, kind, _)| *kind != Kind::Kv);
                    s.remove_due(due);
                    Ok(())
                });
            }
            _ => {}
        }
        if self.is(Bug::CleanupCheckThenAct) {
            let due = self.shared.lock().due(Utc::now());
            race_window().await;
            return self.write(|s| {
                s.remove_due(due);
                Ok(())
            });
        }
        self.write(|s| {
            s.cleanup(Utc::now());
            Ok(())
        })
    }
}
