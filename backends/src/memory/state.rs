//! The data of a [`MemoryStorage`](super::MemoryStorage) and its indexes, with every
//! operation as a plain synchronous method run under the storage's lock. Each method
//! takes `now` so one call sees one instant.

use std::collections::BTreeSet;
use std::sync::Arc;

use authstore_spec::{AuthToken, Result, SessionData, StorageError};
use chrono::{DateTime, Utc};
use foldhash::{HashMap, HashSet};

use crate::packed::{PackedSession, PackedToken};

/// A kv value and the instant it expires at (`None`: never).
#[derive(Debug, Clone)]
pub(super) struct KvEntry {
    pub(super) value: Vec<u8>,
    pub(super) expires_at: Option<DateTime<Utc>>,
}

impl KvEntry {
    fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

/// Every item and index. Tokens and sessions are kept packed (one allocation for their
/// strings, see `crate::packed`); the hash maps use foldhash with a random seed per map
/// (ids are chosen by callers, so the seed must not be guessable).
///
/// Invariants (kept by every method, checked by `check_invariants` in tests):
/// - `access_index[t.access_token] == t.token_id` and `t.token_id ∈ user_tokens[t.user_id]`
///   for every stored token `t`, and nothing else is in those indexes;
/// - `s.session_id ∈ user_sessions[s.user_id]` and `(s.expires_at, s.session_id) ∈
///   session_expiry` for every stored session `s`, and nothing else;
/// - no empty set is kept in `user_tokens` / `user_sessions`;
/// - `kv_keys` holds exactly the keys of `kv` (the same allocations).
#[derive(Default)]
pub(super) struct State {
    tokens: HashMap<String, PackedToken>,
    access_index: HashMap<String, String>,
    user_tokens: HashMap<String, HashSet<String>>,
    sessions: HashMap<String, PackedSession>,
    user_sessions: HashMap<String, HashSet<String>>,
    session_expiry: BTreeSet<(DateTime<Utc>, String)>,
    /// Kv entries by key, for point operations at hash-map cost.
    kv: HashMap<Arc<str>, KvEntry>,
    /// The same keys in byte order, for prefix listings.
    kv_keys: BTreeSet<Arc<str>>,
}

/// Adds `id` to `owner`'s set in `index`.
fn index_insert(index: &mut HashMap<String, HashSet<String>>, owner: &str, id: &str) {
    index
        .entry(owner.to_owned())
        .or_default()
        .insert(id.to_owned());
}

/// Removes `id` from `owner`'s set in `index`, dropping the set when it empties so
/// users with nothing left cost nothing.
fn index_remove(index: &mut HashMap<String, HashSet<String>>, owner: &str, id: &str) {
    if let Some(ids) = index.get_mut(owner) {
        ids.remove(id);
        if ids.is_empty() {
            index.remove(owner);
        }
    }
}

impl State {
    // ---- tokens ----

    pub(super) fn get_token(&self, token_id: &str, now: DateTime<Utc>) -> Option<AuthToken> {
        self.live_token(token_id, now).map(PackedToken::unpack)
    }

    /// The stored token `token_id` if it is live, still packed.
    fn live_token(&self, token_id: &str, now: DateTime<Utc>) -> Option<&PackedToken> {
        self.tokens.get(token_id).filter(|t| !t.is_expired_at(now))
    }

    pub(super) fn get_token_by_access_token(
        &self,
        access_token: &str,
        now: DateTime<Utc>,
    ) -> Option<AuthToken> {
        let id = self.access_index.get(access_token)?;
        self.tokens
            .get(id)
            .filter(|t| t.access_token() == access_token && !t.is_expired_at(now))
            .map(PackedToken::unpack)
    }

    /// Stores `token` (already validated, packed by the caller outside the lock). With
    /// `must_exist`, it is `update_token`: the id must name a live token. Returns the
    /// record it replaced, for the caller to free after releasing the lock.
    pub(super) fn put_token(
        &mut self,
        token: &AuthToken,
        packed: PackedToken,
        must_exist: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<PackedToken>> {
        if must_exist && self.live_token(&token.token_id, now).is_none() {
            return Err(StorageError::NotFound(format!(
                "update_token: no live token with id {:?}",
                token.token_id
            )));
        }
        // ACC-2: the access token may be held only by this id or by an expired token.
        let stale_holder = match self.access_index.get(&token.access_token) {
            Some(holder) if *holder != token.token_id => {
                if self.live_token(holder, now).is_some() {
                    return Err(StorageError::Conflict(format!(
                        "access token of token {:?} is held by another live token",
                        token.token_id
                    )));
                }
                Some(holder.clone())
            }
            _ => None,
        };
        // Checks done: from here on nothing fails.
        let stale = stale_holder.and_then(|holder| self.remove_token(&holder));
        // A live rewrite under the same access token and user (a refresh, an update)
        // replaces the record in place: its index entries are already right.
        if !token.is_expired_at(now)
            && let Some(old) = self.tokens.get_mut(&token.token_id)
            && old.access_token() == token.access_token
            && old.user_id() == token.user_id
        {
            return Ok(Some(std::mem::replace(old, packed)));
        }
        let replaced = self.remove_token(&token.token_id).or(stale);
        // TOK-5: an already-expired token only hides the earlier version.
        if !token.is_expired_at(now) {
            self.access_index
                .insert(token.access_token.clone(), token.token_id.clone());
            index_insert(&mut self.user_tokens, &token.user_id, &token.token_id);
            self.tokens.insert(token.token_id.clone(), packed);
        }
        Ok(replaced)
    }

    /// Removes the token and its index entries, and returns it; absent is a no-op.
    pub(super) fn remove_token(&mut self, token_id: &str) -> Option<PackedToken> {
        let old = self.tokens.remove(token_id)?;
        // One lookup: the entry is this token's (the invariant), put back if it is not.
        if let Some(holder) = self.access_index.remove(old.access_token())
            && holder != token_id
        {
            self.access_index
                .insert(old.access_token().to_owned(), holder);
        }
        index_remove(&mut self.user_tokens, old.user_id(), token_id);
        Some(old)
    }

    pub(super) fn list_user_tokens(&self, user_id: &str, now: DateTime<Utc>) -> Vec<AuthToken> {
        self.user_tokens
            .get(user_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.get_token(id, now))
            .collect()
    }

    // ---- sessions ----

    pub(super) fn get_session(&self, session_id: &str, now: DateTime<Utc>) -> Option<SessionData> {
        self.sessions
            .get(session_id)
            .filter(|s| !s.is_expired_at(now))
            .map(PackedSession::unpack)
    }

    /// Upserts a session (already validated, packed by the caller outside the lock); an
    /// expired one only hides the earlier version (SES-6). Returns the record it
    /// replaced, for the caller to free after releasing the lock.
    pub(super) fn put_session(
        &mut self,
        data: &SessionData,
        packed: PackedSession,
        now: DateTime<Utc>,
    ) -> Option<PackedSession> {
        // A live rewrite for the same user replaces the record in place and moves only
        // its expiry entry.
        if !data.is_expired_at(now)
            && let Some(old) = self.sessions.get_mut(&data.session_id)
            && old.user_id() == data.user_id
        {
            let old = std::mem::replace(old, packed);
            if old.expires_at != data.expires_at {
                self.session_expiry
                    .remove(&(old.expires_at, data.session_id.clone()));
                self.session_expiry
                    .insert((data.expires_at, data.session_id.clone()));
            }
            return Some(old);
        }
        let replaced = self.remove_session(&data.session_id);
        if !data.is_expired_at(now) {
            index_insert(&mut self.user_sessions, &data.user_id, &data.session_id);
            self.session_expiry
                .insert((data.expires_at, data.session_id.clone()));
            self.sessions.insert(data.session_id.clone(), packed);
        }
        replaced
    }

    /// Removes the session and its index entries, and returns it; absent is a no-op.
    pub(super) fn remove_session(&mut self, session_id: &str) -> Option<PackedSession> {
        let old = self.sessions.remove(session_id)?;
        index_remove(&mut self.user_sessions, old.user_id(), session_id);
        self.session_expiry
            .remove(&(old.expires_at, session_id.to_owned()));
        Some(old)
    }

    pub(super) fn list_user_sessions(&self, user_id: &str, now: DateTime<Utc>) -> Vec<SessionData> {
        self.user_sessions
            .get(user_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.get_session(id, now))
            .collect()
    }

    /// Live sessions: all stored ones minus the expired ones at the front of the expiry
    /// index (CNT-3). The cost is proportional to the expired sessions not yet cleaned up,
    /// which the cleanup task bounds.
    pub(super) fn count_active_sessions(&self, now: DateTime<Utc>) -> u64 {
        let expired = self
            .session_expiry
            .iter()
            .take_while(|(at, _)| *at <= now)
            .count();
        (self.session_expiry.len() - expired) as u64
    }

    // ---- kv ----

    /// Stores a value (copied by the caller outside the lock) expiring at `expires_at`;
    /// an instant at or before `now` (TTL ZERO) only removes the earlier value (TTL-3).
    /// Returns the entry it replaced, for the caller to free after releasing the lock.
    pub(super) fn put_kv(
        &mut self,
        key: &str,
        value: Vec<u8>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<KvEntry> {
        let entry = KvEntry { value, expires_at };
        if !entry.is_live(now) {
            self.remove_kv(key)
        } else if let Some(stored) = self.kv.get_mut(key) {
            Some(std::mem::replace(stored, entry))
        } else {
            let key: Arc<str> = Arc::from(key);
            self.kv_keys.insert(key.clone());
            self.kv.insert(key, entry);
            None
        }
    }

    pub(super) fn get_kv(&self, key: &str, now: DateTime<Utc>) -> Option<Vec<u8>> {
        self.kv
            .get(key)
            .filter(|e| e.is_live(now))
            .map(|e| e.value.clone())
    }

    /// Removes the entry and returns it; absent is a no-op.
    pub(super) fn remove_kv(&mut self, key: &str) -> Option<KvEntry> {
        let (key, entry) = self.kv.remove_entry(key)?;
        self.kv_keys.remove(&key);
        Some(entry)
    }

    /// Live keys starting with `prefix`, by bytes, ascending: a range scan from `prefix`
    /// that stops at the first key not starting with it (LST-7). `str`'s order is the
    /// byte order of its UTF-8 (LST-4), and every key with the prefix sorts at or after it
    /// and before any key without it that sorts after it.
    pub(super) fn list_kv_keys(&self, prefix: &str, now: DateTime<Utc>) -> Vec<String> {
        self.kv_keys
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|k| k.as_bytes().starts_with(prefix.as_bytes()))
            .filter(|k| self.kv.get(&***k).is_some_and(|e| e.is_live(now)))
            .map(|k| String::from(&**k))
            .collect()
    }

    // ---- cleanup ----

    /// Removes every expired item and its index entries (CLN-1).
    pub(super) fn cleanup(&mut self, now: DateTime<Utc>) {
        let expired_tokens: Vec<String> = self
            .tokens
            .values()
            .filter(|t| t.is_expired_at(now))
            .map(|t| t.token_id().to_owned())
            .collect();
        for id in expired_tokens {
            self.remove_token(&id);
        }
        while let Some((at, id)) = self.session_expiry.first().cloned() {
            if at > now {
                break;
            }
            self.remove_session(&id);
        }
        let keys = &mut self.kv_keys;
        self.kv.retain(|key, e| {
            let live = e.is_live(now);
            if !live {
                keys.remove(key);
            }
            live
        });
    }

    /// Stored item counts (tokens, sessions, kv), expired-but-not-cleaned included.
    pub(super) fn stored_counts(&self) -> (usize, usize, usize) {
        (self.tokens.len(), self.sessions.len(), self.kv.len())
    }

    /// Panics if an index disagrees with the items (test-only).
    #[cfg(test)]
    pub(super) fn check_invariants(&self) {
        assert_eq!(self.access_index.len(), self.tokens.len());
        for (id, t) in &self.tokens {
            assert_eq!(t.token_id(), id);
            assert_eq!(self.access_index.get(t.access_token()), Some(id));
            assert!(self.user_tokens[t.user_id()].contains(id));
        }
        let indexed: usize = self.user_tokens.values().map(HashSet::len).sum();
        assert_eq!(indexed, self.tokens.len());
        assert_eq!(self.session_expiry.len(), self.sessions.len());
        for (id, s) in &self.sessions {
            assert_eq!(s.session_id(), id);
            assert!(self.user_sessions[s.user_id()].contains(id));
            assert!(self.session_expiry.contains(&(s.expires_at, id.clone())));
        }
        let indexed: usize = self.user_sessions.values().map(HashSet::len).sum();
        assert_eq!(indexed, self.sessions.len());
        assert_eq!(self.kv_keys.len(), self.kv.len());
        assert!(self.kv_keys.iter().all(|k| self.kv.contains_key(k)));
        assert!(self.user_tokens.values().all(|s| !s.is_empty()));
        assert!(self.user_sessions.values().all(|s| !s.is_empty()));
    }
}
