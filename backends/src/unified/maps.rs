//! The data of a [`UnifiedStorage`](super::UnifiedStorage) and its operations.
//!
//! Concurrency design:
//! - Point reads touch only [`DashMap`] shards, never a global lock.
//! - Token writes (and token cleanup) are serialized by `token_lock`, so the checks of a
//!   write (live holder of the access token, existence for `update_token`) and its index
//!   changes cannot interleave with another token write. Readers never take it: they
//!   follow an index to a record and then verify the record (its access token, its user,
//!   its expiry), so an index entry that is momentarily ahead of or behind its record
//!   never shows a wrong item (SPEC.md `ACC-4`). A write adds new index entries, then
//!   replaces the record (the instant the write takes effect), then removes old entries.
//! - Session writes are serialized by the mutex around the session expiry index, which
//!   `count_active_sessions` also takes so its count is exact.
//! - A kv write holds its key's shard lock (DashMap entry) while it updates the map, the
//!   ordered key index and the memory budget, so the three never disagree on a key;
//!   listings read the key index and confirm each key in the map.
//!
//! A [`DashMap`] reference locks its shard: no method holds one while it calls another
//! method of the same map.

use std::collections::{BTreeSet, HashSet};
use std::ops::Bound;

use authstore_spec::{AuthToken, Result, SessionData, StorageError};
use chrono::{DateTime, Utc};
use crossbeam_skiplist::SkipSet;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use parking_lot::Mutex;

use super::accounting::{MemoryBudget, kv_bytes, session_bytes, token_bytes};
use super::counter::StripedCounter;

/// A stored record with its memory charge.
#[derive(Debug, Clone)]
pub(super) struct Charged<T> {
    pub(super) record: T,
    pub(super) bytes: usize,
}

/// A kv value and the instant it expires at (`None`: never).
#[derive(Debug)]
pub(super) struct KvEntry {
    pub(super) value: Vec<u8>,
    pub(super) expires_at: Option<DateTime<Utc>>,
    pub(super) bytes: usize,
}

impl KvEntry {
    fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

/// What a token write needs to know about the record it replaces.
struct OldToken {
    access_token: String,
    user_id: String,
    live: bool,
    bytes: usize,
}

pub(super) struct Core {
    pub(super) tokens: DashMap<String, Charged<AuthToken>>,
    pub(super) access_index: DashMap<String, String>,
    pub(super) user_tokens: DashMap<String, HashSet<String>>,
    token_lock: Mutex<()>,
    pub(super) sessions: DashMap<String, Charged<SessionData>>,
    pub(super) user_sessions: DashMap<String, HashSet<String>>,
    /// `(expires_at, session_id)` of every stored session; its mutex serializes session
    /// writes.
    pub(super) session_expiry: Mutex<BTreeSet<(DateTime<Utc>, String)>>,
    pub(super) kv: DashMap<String, KvEntry>,
    pub(super) kv_keys: SkipSet<String>,
    pub(super) budget: MemoryBudget,
    pub(super) hits: StripedCounter,
    pub(super) misses: StripedCounter,
}

fn index_insert(index: &DashMap<String, HashSet<String>>, owner: &str, id: &str) {
    index
        .entry(owner.to_owned())
        .or_default()
        .insert(id.to_owned());
}

/// Removes `id` from `owner`'s set, dropping the set once empty. Callers hold the write
/// lock of the item kind, so no insert into this set races with the emptiness check.
fn index_remove(index: &DashMap<String, HashSet<String>>, owner: &str, id: &str) {
    if let Some(mut ids) = index.get_mut(owner) {
        ids.remove(id);
    }
    index.remove_if(owner, |_, ids| ids.is_empty());
}

impl Core {
    pub(super) fn new(initial_capacity: usize, max_memory: usize) -> Self {
        Self {
            tokens: DashMap::with_capacity(initial_capacity),
            access_index: DashMap::with_capacity(initial_capacity),
            user_tokens: DashMap::new(),
            token_lock: Mutex::new(()),
            sessions: DashMap::with_capacity(initial_capacity),
            user_sessions: DashMap::new(),
            session_expiry: Mutex::new(BTreeSet::new()),
            kv: DashMap::with_capacity(initial_capacity),
            kv_keys: SkipSet::new(),
            budget: MemoryBudget::new(max_memory),
            hits: StripedCounter::default(),
            misses: StripedCounter::default(),
        }
    }

    /// Counts a point read as a hit or a miss.
    fn count<T>(&self, found: Option<T>) -> Option<T> {
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.increment();
        found
    }

    // ---- tokens ----

    fn live_token(&self, token_id: &str, now: DateTime<Utc>) -> Option<AuthToken> {
        self.tokens
            .get(token_id)
            .filter(|t| !t.record.is_expired_at(now))
            .map(|t| t.record.clone())
    }

    pub(super) fn get_token(&self, token_id: &str) -> Option<AuthToken> {
        self.count(self.live_token(token_id, Utc::now()))
    }

    pub(super) fn get_token_by_access_token(&self, access_token: &str) -> Option<AuthToken> {
        let now = Utc::now();
        let id = self.access_index.get(access_token).map(|id| id.clone());
        let found = id.and_then(|id| {
            self.tokens
                .get(&id)
                .filter(|t| t.record.access_token == access_token && !t.record.is_expired_at(now))
                .map(|t| t.record.clone())
        });
        self.count(found)
    }

    pub(super) fn list_user_tokens(&self, user_id: &str) -> Vec<AuthToken> {
        let now = Utc::now();
        let ids: Vec<String> = self
            .user_tokens
            .get(user_id)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default();
        ids.iter()
            .filter_map(|id| self.live_token(id, now))
            .filter(|t| t.user_id == user_id)
            .collect()
    }

    /// Stores `token` (already validated); with `must_exist` it is `update_token`.
    pub(super) fn put_token(&self, token: &AuthToken, must_exist: bool) -> Result<()> {
        let new_bytes = token_bytes(token)?;
        let _writer = self.token_lock.lock();
        let now = Utc::now();
        let id = &token.token_id;
        let old = self.tokens.get(id).map(|t| OldToken {
            access_token: t.record.access_token.clone(),
            user_id: t.record.user_id.clone(),
            live: !t.record.is_expired_at(now),
            bytes: t.bytes,
        });
        if must_exist && !old.as_ref().is_some_and(|o| o.live) {
            return Err(StorageError::NotFound(format!(
                "update_token: no live token with id {id:?}"
            )));
        }
        // ACC-2: another holder of the access token blocks only while it is live; an
        // expired one is removed below, as if cleanup had run.
        let holder = self
            .access_index
            .get(&token.access_token)
            .map(|h| h.clone())
            .filter(|h| h != id);
        let mut stale_holder = None;
        if let Some(holder) = holder {
            let holder_state = self
                .tokens
                .get(&holder)
                .map(|t| (!t.record.is_expired_at(now), t.bytes));
            match holder_state {
                Some((true, _)) => {
                    return Err(StorageError::Conflict(format!(
                        "the access token of token {id:?} is held by another live token"
                    )));
                }
                Some((false, bytes)) => stale_holder = Some((holder, bytes)),
                None => {}
            }
        }
        let live = !token.is_expired_at(now);
        let old_bytes = old
            .as_ref()
            .map_or(0, |o| o.bytes)
            .saturating_add(stale_holder.as_ref().map_or(0, |(_, bytes)| *bytes));
        self.budget.replace(
            old_bytes,
            if live { new_bytes } else { 0 },
            &format!("token {id:?}"),
        )?;
        // Checks done and memory charged: nothing below fails.
        if let Some((holder, _)) = stale_holder {
            self.unlink_token(&holder);
        }
        if live {
            self.access_index
                .insert(token.access_token.clone(), id.clone());
            index_insert(&self.user_tokens, &token.user_id, id);
            self.tokens.insert(
                id.clone(),
                Charged {
                    record: token.clone(),
                    bytes: new_bytes,
                },
            );
        } else {
            self.tokens.remove(id);
        }
        if let Some(old) = old {
            if !live || old.access_token != token.access_token {
                self.access_index
                    .remove_if(&old.access_token, |_, holder| holder == id);
            }
            if !live || old.user_id != token.user_id {
                index_remove(&self.user_tokens, &old.user_id, id);
            }
        }
        Ok(())
    }

    pub(super) fn delete_token(&self, token_id: &str) {
        let _writer = self.token_lock.lock();
        if let Some(bytes) = self.unlink_token(token_id) {
            self.budget.release(bytes);
        }
    }

    /// Removes a token and its index entries without touching the budget; returns its
    /// charge. The caller holds `token_lock`.
    fn unlink_token(&self, token_id: &str) -> Option<usize> {
        let (_, old) = self.tokens.remove(token_id)?;
        self.access_index
            .remove_if(&old.record.access_token, |_, holder| holder == token_id);
        index_remove(&self.user_tokens, &old.record.user_id, token_id);
        Some(old.bytes)
    }

    // ---- sessions ----

    fn live_session(&self, session_id: &str, now: DateTime<Utc>) -> Option<SessionData> {
        self.sessions
            .get(session_id)
            .filter(|s| !s.record.is_expired_at(now))
            .map(|s| s.record.clone())
    }

    pub(super) fn get_session(&self, session_id: &str) -> Option<SessionData> {
        self.count(self.live_session(session_id, Utc::now()))
    }

    pub(super) fn list_user_sessions(&self, user_id: &str) -> Vec<SessionData> {
        let now = Utc::now();
        let ids: Vec<String> = self
            .user_sessions
            .get(user_id)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default();
        ids.iter()
            .filter_map(|id| self.live_session(id, now))
            .filter(|s| s.user_id == user_id)
            .collect()
    }

    /// Upserts a session (already validated); an expired one only hides the earlier
    /// version (SES-6).
    pub(super) fn put_session(&self, data: &SessionData) -> Result<()> {
        let new_bytes = session_bytes(data)?;
        let mut expiry = self.session_expiry.lock();
        let now = Utc::now();
        let id = &data.session_id;
        let old = self
            .sessions
            .get(id)
            .map(|s| (s.record.user_id.clone(), s.record.expires_at, s.bytes));
        let live = !data.is_expired_at(now);
        self.budget.replace(
            old.as_ref().map_or(0, |(_, _, bytes)| *bytes),
            if live { new_bytes } else { 0 },
            &format!("session {id:?}"),
        )?;
        if live {
            index_insert(&self.user_sessions, &data.user_id, id);
            expiry.insert((data.expires_at, id.clone()));
            self.sessions.insert(
                id.clone(),
                Charged {
                    record: data.clone(),
                    bytes: new_bytes,
                },
            );
        } else {
            self.sessions.remove(id);
        }
        if let Some((old_user, old_expiry, _)) = old {
            if !live || old_expiry != data.expires_at {
                expiry.remove(&(old_expiry, id.clone()));
            }
            if !live || old_user != data.user_id {
                index_remove(&self.user_sessions, &old_user, id);
            }
        }
        Ok(())
    }

    pub(super) fn delete_session(&self, session_id: &str) {
        let mut expiry = self.session_expiry.lock();
        self.unlink_session(&mut expiry, session_id);
    }

    /// Removes a session, its index entries and its charge. The caller holds the expiry
    /// index lock and passes it in.
    fn unlink_session(&self, expiry: &mut BTreeSet<(DateTime<Utc>, String)>, session_id: &str) {
        if let Some((id, old)) = self.sessions.remove(session_id) {
            expiry.remove(&(old.record.expires_at, id));
            index_remove(&self.user_sessions, &old.record.user_id, session_id);
            self.budget.release(old.bytes);
        }
    }

    /// Stored sessions minus the expired ones at the front of the expiry index (CNT-3);
    /// the cost is proportional to expired sessions not yet cleaned up.
    pub(super) fn count_active_sessions(&self) -> u64 {
        let expiry = self.session_expiry.lock();
        let now = Utc::now();
        let expired = expiry.iter().take_while(|(at, _)| *at <= now).count();
        (expiry.len() - expired) as u64
    }

    // ---- kv ----

    /// Stores a value expiring at `expires_at`; an instant at or before now (TTL ZERO)
    /// only removes the earlier value (TTL-3). The key's shard stays locked throughout.
    pub(super) fn put_kv(
        &self,
        key: &str,
        value: &[u8],
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let entry = KvEntry {
            value: value.to_vec(),
            expires_at,
            bytes: kv_bytes(key, value),
        };
        let live = entry.is_live(now);
        let new_bytes = if live { entry.bytes } else { 0 };
        let what = || format!("kv key {key:?}");
        match self.kv.entry(key.to_owned()) {
            Entry::Occupied(mut occupied) => {
                self.budget
                    .replace(occupied.get().bytes, new_bytes, &what())?;
                if live {
                    occupied.insert(entry);
                } else {
                    self.kv_keys.remove(key);
                    occupied.remove();
                }
            }
            Entry::Vacant(vacant) => {
                if live {
                    self.budget.replace(0, new_bytes, &what())?;
                    // `insert` gives back the guard of the shard: the key index is
                    // updated before it drops, or a `delete_kv` in between would remove
                    // the entry and leave this index entry behind for good.
                    let _shard = vacant.insert(entry);
                    self.kv_keys.get_or_insert(key.to_owned());
                }
            }
        }
        Ok(())
    }

    pub(super) fn get_kv(&self, key: &str) -> Option<Vec<u8>> {
        let now = Utc::now();
        let found = self
            .kv
            .get(key)
            .filter(|e| e.is_live(now))
            .map(|e| e.value.clone());
        self.count(found)
    }

    pub(super) fn delete_kv(&self, key: &str) {
        if let Entry::Occupied(occupied) = self.kv.entry(key.to_owned()) {
            self.kv_keys.remove(key);
            self.budget.release(occupied.remove().bytes);
        }
    }

    /// Live keys with `prefix`, ascending by bytes: a range scan of the key index from
    /// `prefix` to the first key without it (LST-7), each confirmed live in the map.
    pub(super) fn list_kv_keys(&self, prefix: &str) -> Vec<String> {
        let now = Utc::now();
        self.kv_keys
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|k| k.value().as_bytes().starts_with(prefix.as_bytes()))
            .filter(|k| {
                self.kv
                    .get(k.value().as_str())
                    .is_some_and(|e| e.is_live(now))
            })
            .map(|k| k.value().clone())
            .collect()
    }

    // ---- cleanup ----

    /// Removes every expired item, its index entries and its charge (CLN-1).
    pub(super) fn cleanup(&self) {
        {
            let _writer = self.token_lock.lock();
            let now = Utc::now();
            let expired: Vec<String> = self
                .tokens
                .iter()
                .filter(|t| t.record.is_expired_at(now))
                .map(|t| t.key().clone())
                .collect();
            for id in expired {
                if let Some(bytes) = self.unlink_token(&id) {
                    self.budget.release(bytes);
                }
            }
        }
        {
            let mut expiry = self.session_expiry.lock();
            let now = Utc::now();
            while let Some((at, id)) = expiry.first().cloned() {
                if at > now {
                    break;
                }
                self.unlink_session(&mut expiry, &id);
            }
        }
        let now = Utc::now();
        let expired: Vec<String> = self
            .kv
            .iter()
            .filter(|e| !e.is_live(now))
            .map(|e| e.key().clone())
            .collect();
        for key in expired {
            // Re-checked under the shard lock: the key may have been rewritten since.
            if let Entry::Occupied(occupied) = self.kv.entry(key)
                && !occupied.get().is_live(now)
            {
                self.kv_keys.remove(occupied.key().as_str());
                self.budget.release(occupied.remove().bytes);
            }
        }
    }

    /// Stored items (tokens + sessions + kv), expired-but-not-cleaned included.
    pub(super) fn entries(&self) -> usize {
        self.tokens.len() + self.sessions.len() + self.kv.len()
    }
}
