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
//! Tokens and sessions are kept packed (`crate::packed`: one allocation for a record's
//! strings); every map hashes with foldhash under a random seed per map, as ids are
//! chosen by callers.
//!
//! A [`DashMap`] reference locks its shard: no method holds one while it calls another
//! method of the same map.

use std::collections::BTreeSet;
use std::ops::Bound;

use authstore_spec::{AuthToken, Result, SessionData, StorageError};
use chrono::{DateTime, Utc};
use crossbeam_skiplist::SkipSet;
use dashmap::mapref::entry::Entry;
use foldhash::HashSet;
use foldhash::fast::RandomState;
use parking_lot::Mutex;

use super::accounting::{MemoryBudget, kv_bytes, session_bytes, token_bytes};
use super::counter::StripedCounter;
use crate::packed::{PackedSession, PackedToken};

/// A concurrent map hashed by foldhash with a random seed.
pub(super) type DashMap<K, V> = dashmap::DashMap<K, V, RandomState>;

fn map<K: Eq + std::hash::Hash, V>(capacity: usize) -> DashMap<K, V> {
    DashMap::with_capacity_and_hasher(capacity, RandomState::default())
}

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

/// What a token write needs to know about the record it replaces: its access token and
/// user where they differ from the new record's (their index entries go), whether it
/// is live, and its charge.
struct OldToken {
    other_access_token: Option<String>,
    other_user_id: Option<String>,
    live: bool,
    bytes: usize,
}

pub(super) struct Core {
    pub(super) tokens: DashMap<String, Charged<PackedToken>>,
    pub(super) access_index: DashMap<String, String>,
    pub(super) user_tokens: DashMap<String, HashSet<String>>,
    token_lock: Mutex<()>,
    pub(super) sessions: DashMap<String, Charged<PackedSession>>,
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
            tokens: map(initial_capacity),
            access_index: map(initial_capacity),
            user_tokens: map(0),
            token_lock: Mutex::new(()),
            sessions: map(initial_capacity),
            user_sessions: map(0),
            session_expiry: Mutex::new(BTreeSet::new()),
            kv: map(initial_capacity),
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
            .map(|t| t.record.unpack())
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
                .filter(|t| t.record.access_token() == access_token && !t.record.is_expired_at(now))
                .map(|t| t.record.unpack())
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
        // Packed before the lock; the replaced record is freed after it is released.
        let packed = PackedToken::new(token);
        let writer = self.token_lock.lock();
        let now = Utc::now();
        let id = &token.token_id;
        let old = self.tokens.get(id).map(|t| OldToken {
            other_access_token: (t.record.access_token() != token.access_token)
                .then(|| t.record.access_token().to_owned()),
            other_user_id: (t.record.user_id() != token.user_id)
                .then(|| t.record.user_id().to_owned()),
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
        // A stored token (live or not) already has the index entries of its own access
        // token and user: those are added only where they change.
        let (new_access, new_user) = old.as_ref().map_or((true, true), |o| {
            (o.other_access_token.is_some(), o.other_user_id.is_some())
        });
        let replaced = if live {
            if new_access {
                self.access_index
                    .insert(token.access_token.clone(), id.clone());
            }
            if new_user {
                index_insert(&self.user_tokens, &token.user_id, id);
            }
            let record = Charged {
                record: packed,
                bytes: new_bytes,
            };
            match self.tokens.get_mut(id) {
                Some(mut stored) => Some(std::mem::replace(&mut *stored, record)),
                None => self.tokens.insert(id.clone(), record),
            }
        } else {
            self.tokens.remove(id).map(|(_, old)| old)
        };
        if let Some(old) = old {
            let access = match old.other_access_token {
                Some(other) => Some(other),
                None => (!live).then(|| token.access_token.clone()),
            };
            if let Some(access) = access {
                self.access_index
                    .remove_if(&access, |_, holder| holder == id);
            }
            let user = match old.other_user_id {
                Some(other) => Some(other),
                None => (!live).then(|| token.user_id.clone()),
            };
            if let Some(user) = user {
                index_remove(&self.user_tokens, &user, id);
            }
        }
        drop(writer);
        drop(replaced);
        Ok(())
    }

    pub(super) fn delete_token(&self, token_id: &str) {
        let writer = self.token_lock.lock();
        let removed = self.unlink_token(token_id);
        if let Some(old) = &removed {
            self.budget.release(old.bytes);
        }
        // The record is freed after the lock is released.
        drop(writer);
        drop(removed);
    }

    /// Removes a token and its index entries without touching the budget; returns it
    /// with its charge. The caller holds `token_lock`.
    fn unlink_token(&self, token_id: &str) -> Option<Charged<PackedToken>> {
        let (_, old) = self.tokens.remove(token_id)?;
        self.access_index
            .remove_if(old.record.access_token(), |_, holder| holder == token_id);
        index_remove(&self.user_tokens, old.record.user_id(), token_id);
        Some(old)
    }

    // ---- sessions ----

    fn live_session(&self, session_id: &str, now: DateTime<Utc>) -> Option<SessionData> {
        self.sessions
            .get(session_id)
            .filter(|s| !s.record.is_expired_at(now))
            .map(|s| s.record.unpack())
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
        let packed = PackedSession::new(data);
        let mut expiry = self.session_expiry.lock();
        let now = Utc::now();
        let id = &data.session_id;
        // The old owner only where it differs from the new one (its index entry goes).
        let old = self.sessions.get(id).map(|s| {
            let other_user =
                (s.record.user_id() != data.user_id).then(|| s.record.user_id().to_owned());
            (other_user, s.record.expires_at, s.bytes)
        });
        let live = !data.is_expired_at(now);
        self.budget.replace(
            old.as_ref().map_or(0, |(_, _, bytes)| *bytes),
            if live { new_bytes } else { 0 },
            &format!("session {id:?}"),
        )?;
        let new_user = old.as_ref().is_none_or(|(other, _, _)| other.is_some());
        let replaced = if live {
            if new_user {
                index_insert(&self.user_sessions, &data.user_id, id);
            }
            expiry.insert((data.expires_at, id.clone()));
            let record = Charged {
                record: packed,
                bytes: new_bytes,
            };
            match self.sessions.get_mut(id) {
                Some(mut stored) => Some(std::mem::replace(&mut *stored, record)),
                None => self.sessions.insert(id.clone(), record),
            }
        } else {
            self.sessions.remove(id).map(|(_, old)| old)
        };
        if let Some((other_user, old_expiry, _)) = old {
            if !live || old_expiry != data.expires_at {
                expiry.remove(&(old_expiry, id.clone()));
            }
            let user = match other_user {
                Some(other) => Some(other),
                None => (!live).then(|| data.user_id.clone()),
            };
            if let Some(user) = user {
                index_remove(&self.user_sessions, &user, id);
            }
        }
        // The replaced record is freed after the lock is released.
        drop(expiry);
        drop(replaced);
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
            index_remove(&self.user_sessions, old.record.user_id(), session_id);
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
        // Overwriting a live entry with a live one: the key index already has the key,
        // and no key copy is needed to find it.
        if live && let Some(mut stored) = self.kv.get_mut(key) {
            self.budget.replace(stored.bytes, new_bytes, &what())?;
            *stored = entry;
            return Ok(());
        }
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
        // The key index entry goes while the shard is locked (the closure runs under
        // it), so a concurrent `put_kv` of the key cannot fall in between.
        let removed = self.kv.remove_if(key, |_, _| {
            self.kv_keys.remove(key);
            true
        });
        if let Some((_, entry)) = removed {
            self.budget.release(entry.bytes);
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
                if let Some(old) = self.unlink_token(&id) {
                    self.budget.release(old.bytes);
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
