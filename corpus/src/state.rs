//! [`State`]: the data every handle of one store shares, with its indexes. Every method
//! runs under the store's lock; the index upkeep lives here so each write is one call.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use authstore_spec::{AuthToken, Result, SessionData, StorageError};
use chrono::{DateTime, Utc};

use crate::bug::Bug;
use crate::expiry::is_expired;
use crate::listing;

/// What an index entry or an expiry-index entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    Token,
    Session,
    Kv,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::Token => "token",
            Kind::Session => "session",
            Kind::Kv => "kv",
        }
    }
}

/// Why a record is being removed; some index upkeep differs by cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// Replaced by `store_token`, `store_session` or `store_kv`.
    Store,
    /// Replaced by `update_token`.
    Update,
    /// `delete_*`.
    Delete,
    /// `cleanup_expired`.
    Cleanup,
    /// A read met it expired.
    ExpiredRead,
}

/// A kv value and its expiry instant, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KvEntry {
    pub(crate) value: Vec<u8>,
    pub(crate) expires_at: Option<DateTime<Utc>>,
}

/// What one `cleanup_expired` removes: token ids and expiry-index entries.
#[derive(Debug)]
pub(crate) struct Due {
    tokens: Vec<String>,
    pub(crate) entries: Vec<(DateTime<Utc>, Kind, String)>,
}

/// One store's data.
#[derive(Debug)]
pub(crate) struct State {
    bug: Option<Bug>,
    /// Bumped by every write; handles compare it with their caches.
    pub(crate) generation: u64,
    /// token id -> token.
    tokens: HashMap<String, AuthToken>,
    /// access token -> id of the token holding it.
    by_access: HashMap<String, String>,
    /// `kind:user` -> ids of the user's tokens or sessions.
    owners: HashMap<String, Vec<String>>,
    /// session id -> session.
    sessions: HashMap<String, SessionData>,
    /// Sessions and kv entries by expiry instant, for counting and cleanup.
    expiries: BTreeSet<(DateTime<Utc>, Kind, String)>,
    /// kv key -> entry, in byte order for listing.
    kv: BTreeMap<String, KvEntry>,
    /// The most kv bytes (keys and values) the store holds, if bounded.
    pub(crate) capacity: Option<u64>,
    /// The kv bytes (keys and values) charged against `capacity`.
    pub(crate) kv_bytes: u64,
    /// The token and session bytes (ids and JSON records) charged against `capacity`.
    pub(crate) record_bytes: u64,
    /// The TTL of kv entries stored without one, if configured.
    pub(crate) default_ttl: Option<std::time::Duration>,
}

/// What a token or session is charged against the capacity: its id and JSON bytes.
pub(crate) fn record_charge(id: &str, record: &impl serde::Serialize) -> u64 {
    /// Counts the JSON bytes without keeping them.
    struct Counter(u64);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(id.len() as u64);
    // A record that cannot be encoded is charged its id alone.
    let _ = serde_json::to_writer(&mut counter, record);
    counter.0
}

/// What a kv entry is charged against the capacity: its key and value bytes.
pub(crate) fn kv_charge(key: &str, value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64
}

impl State {
    pub(crate) fn new(bug: Option<Bug>) -> Self {
        Self {
            bug,
            generation: 0,
            tokens: HashMap::new(),
            by_access: HashMap::new(),
            owners: HashMap::new(),
            sessions: HashMap::new(),
            expiries: BTreeSet::new(),
            kv: BTreeMap::new(),
            capacity: None,
            kv_bytes: 0,
            record_bytes: 0,
            default_ttl: None,
        }
    }

    /// How many tokens, sessions and kv entries are stored, expired ones included.
    pub(crate) fn stored_items(&self) -> usize {
        self.tokens.len() + self.sessions.len() + self.kv.len()
    }

    /// The charge of the entry stored under `key`, expired or not (0 if none).
    pub(crate) fn kv_charged(&self, key: &str) -> u64 {
        let key = self.kv_key(key);
        self.kv
            .get(key.as_ref())
            .map_or(0, |entry| kv_charge(&key, &entry.value))
    }

    fn is(&self, bug: Bug) -> bool {
        self.bug == Some(bug)
    }

    /// The map key of kv key `key`: itself, except under [`Bug::KvKeysLineBreaksReplaced`]
    /// (CR and LF replaced by spaces, as a line-based protocol client might).
    fn kv_key<'a>(&self, key: &'a str) -> std::borrow::Cow<'a, str> {
        if self.is(Bug::KvKeysLineBreaksReplaced) && key.contains(['\r', '\n']) {
            std::borrow::Cow::Owned(key.replace(['\r', '\n'], " "))
        } else {
            std::borrow::Cow::Borrowed(key)
        }
    }

    /// Whether something expiring at `at` is expired at `now` (`TIME-1`).
    pub(crate) fn expired(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        is_expired(self.bug, at, now)
    }

    /// The map key of a token or session id (`VAL-1`: the id as given).
    pub(crate) fn id_key<'a>(&self, id: &'a str) -> &'a str {
        if self.is(Bug::IdsTrimmed) {
            id.trim()
        } else {
            id
        }
    }

    /// The index key of an access token (`ACC-6`: as given, case-sensitive).
    pub(crate) fn access_key(&self, access: &str) -> String {
        if self.is(Bug::AccessTokensCaseFolded) {
            access.to_lowercase()
        } else {
            access.to_string()
        }
    }

    /// The key of a user's index of tokens or sessions (`NS-1`, `NS-3`).
    fn owner_key(&self, kind: Kind, user: &str) -> String {
        let user = self.id_key(user);
        let user = if self.is(Bug::UserIdsCaseFolded) {
            user.to_lowercase()
        } else if self.is(Bug::UserIdsPadSpace) {
            // As a PAD SPACE collation compares: trailing spaces do not count.
            user.trim_end_matches(' ').to_string()
        } else if self.is(Bug::UserIdsCompatibilityFolded) {
            compatibility_fold(user)
        } else {
            user.to_string()
        };
        if self.is(Bug::UserIndexSharedByTokensAndSessions) {
            user
        } else {
            format!("{}:{user}", kind.tag())
        }
    }

    fn index_owner(&mut self, kind: Kind, user: &str, id: &str) {
        let dedupe = !(kind == Kind::Token && self.is(Bug::UserTokenIndexIsAList));
        let ids = self.owners.entry(self.owner_key(kind, user)).or_default();
        if !dedupe || !ids.iter().any(|known| known == id) {
            ids.push(id.to_string());
        }
    }

    fn unindex_owner(&mut self, kind: Kind, user: &str, id: &str) {
        let key = self.owner_key(kind, user);
        if let Some(ids) = self.owners.get_mut(&key) {
            ids.retain(|known| known != id);
            if ids.is_empty() {
                self.owners.remove(&key);
            }
        }
    }

    /// The ids in a user's index of tokens or sessions.
    pub(crate) fn owned(&self, kind: Kind, user: &str) -> &[String] {
        self.owners
            .get(&self.owner_key(kind, user))
            .map_or(&[], Vec::as_slice)
    }

    // --- tokens -------------------------------------------------------------------------

    /// The stored token with this id, live or not.
    pub(crate) fn token(&self, id: &str) -> Option<&AuthToken> {
        self.tokens.get(self.id_key(id))
    }

    /// The live token with this id.
    pub(crate) fn live_token(&self, id: &str, now: DateTime<Utc>) -> Option<&AuthToken> {
        self.token(id).filter(|t| !self.expired(t.expires_at, now))
    }

    /// The id of the token the access-token index names for `access`, if any.
    pub(crate) fn access_holder(&self, access: &str) -> Option<&String> {
        self.by_access.get(&self.access_key(access))
    }

    /// `Conflict` unless the access token of `token` is free or held by `token` itself
    /// (`ACC-2`).
    pub(crate) fn check_access_free(&self, token: &AuthToken, now: DateTime<Utc>) -> Result<()> {
        let Some(holder) = self.access_holder(&token.access_token) else {
            return Ok(());
        };
        let own = holder == self.id_key(&token.token_id);
        if own && !self.is(Bug::ConflictWithOwnAccessToken) {
            return Ok(());
        }
        let held = if self.is(Bug::ConflictIgnoresHolderExpiry) {
            self.token(holder).is_some()
        } else {
            self.live_token(holder, now).is_some()
        };
        if held {
            return Err(StorageError::Conflict(format!(
                "the access token of token {:?} is held by live token {holder:?}",
                token.token_id
            )));
        }
        Ok(())
    }

    /// Removes the token with this id and the index entries that point to it.
    pub(crate) fn remove_token(&mut self, id: &str, cause: Cause) -> Option<AuthToken> {
        self.remove_token_for(id, cause, None)
    }

    /// Replaces the token with `record.token_id` by `record` and its index entries.
    pub(crate) fn replace_token(&mut self, record: AuthToken, cause: Cause) {
        self.remove_token_for(&record.token_id, cause, Some(&record.user_id));
        self.insert_token(record);
    }

    /// Removes the token with this id and its index entries, except the user-index entry
    /// when `next_user` (the user of the version about to be stored) is its user: that
    /// entry stays right as it is.
    pub(crate) fn remove_token_for(
        &mut self,
        id: &str,
        cause: Cause,
        next_user: Option<&str>,
    ) -> Option<AuthToken> {
        let key = self.id_key(id).to_string();
        let old = self.tokens.remove(&key)?;
        self.record_bytes -= record_charge(&old.token_id, &old);
        let keep_access = match cause {
            Cause::Store => self.is(Bug::TokenRestoreKeepsOldAccessIndex),
            Cause::Update => self.is(Bug::UpdateKeepsOldAccessIndex),
            Cause::Delete => self.is(Bug::DeleteTokenKeepsAccessIndex),
            Cause::ExpiredRead => self.is(Bug::ExpiredReadDropsRecordKeepsIndexes),
            Cause::Cleanup => false,
        };
        if !keep_access {
            let access = self.access_key(&old.access_token);
            // Another token may have taken the access token since this one expired.
            if self.is(Bug::RemovalDropsReusedAccessIndex)
                || self.by_access.get(&access) == Some(&key)
            {
                self.by_access.remove(&access);
            }
        }
        let keep_owner = match cause {
            Cause::Store => self.is(Bug::TokenRestoreKeepsOldUserIndex),
            Cause::Update => self.is(Bug::UpdateKeepsOldUserIndex),
            Cause::Delete => self.is(Bug::DeleteTokenKeepsUserIndex),
            Cause::Cleanup => self.is(Bug::CleanupKeepsUserIndex),
            Cause::ExpiredRead => self.is(Bug::ExpiredReadDropsRecordKeepsIndexes),
        };
        let same_user = next_user.is_some_and(|user| {
            self.owner_key(Kind::Token, user) == self.owner_key(Kind::Token, &old.user_id)
        });
        if !keep_owner && !same_user {
            self.unindex_owner(Kind::Token, &old.user_id, &key);
        }
        Some(old)
    }

    /// Inserts a token record without its index entries.
    pub(crate) fn insert_token_record(&mut self, token: AuthToken) {
        let key = self.id_key(&token.token_id).to_string();
        self.record_bytes += record_charge(&token.token_id, &token);
        if let Some(old) = self.tokens.insert(key, token) {
            self.record_bytes -= record_charge(&old.token_id, &old);
        }
    }

    /// Adds the index entries of `token`.
    pub(crate) fn index_token(&mut self, token: &AuthToken) {
        let key = self.id_key(&token.token_id).to_string();
        self.by_access
            .insert(self.access_key(&token.access_token), key.clone());
        self.index_owner(Kind::Token, &token.user_id, &key);
    }

    /// Inserts a token and its index entries.
    pub(crate) fn insert_token(&mut self, token: AuthToken) {
        self.index_token(&token);
        self.insert_token_record(token);
    }

    /// Refuses with `CapacityExceeded` a record write that would take the live data
    /// past the capacity: `new` bytes replacing `old` (after removing expired items).
    pub(crate) fn check_record_room(&mut self, old: u64, new: u64, what: &str) -> Result<()> {
        let Some(capacity) = self.capacity else {
            return Ok(());
        };
        if self.is(Bug::RecordsNotChargedAgainstCapacity) {
            return Ok(());
        }
        let needed = |s: &State| (s.kv_bytes + s.record_bytes).saturating_sub(old) + new;
        if needed(self) > capacity {
            self.cleanup(Utc::now());
        }
        if needed(self) > capacity {
            return Err(StorageError::CapacityExceeded(format!(
                "{what} needs {new} bytes; {} of the capacity of {capacity} bytes are in use",
                self.kv_bytes + self.record_bytes
            )));
        }
        Ok(())
    }

    /// [`check_record_room`](Self::check_record_room) for storing `token`.
    pub(crate) fn check_token_room(&mut self, token: &AuthToken) -> Result<()> {
        let old = self
            .token(&token.token_id)
            .map_or(0, |old| record_charge(&old.token_id, old));
        let new = record_charge(&token.token_id, token);
        self.check_record_room(old, new, &format!("token {:?}", token.token_id))
    }

    /// [`check_record_room`](Self::check_record_room) for storing `session` under `id`.
    pub(crate) fn check_session_room(&mut self, id: &str, session: &SessionData) -> Result<()> {
        let old = self.session(id).map_or(0, |old| record_charge(id, old));
        let new = record_charge(id, session);
        self.check_record_room(old, new, &format!("session {id:?}"))
    }

    // --- sessions -----------------------------------------------------------------------

    /// The stored session with this id, live or not.
    pub(crate) fn session(&self, id: &str) -> Option<&SessionData> {
        self.sessions.get(self.id_key(id))
    }

    /// Removes the session stored under this id and its index entries.
    pub(crate) fn remove_session(&mut self, id: &str, cause: Cause) -> Option<SessionData> {
        let key = self.id_key(id).to_string();
        let old = self.sessions.remove(&key)?;
        self.record_bytes -= record_charge(id, &old);
        let keep_owner = match cause {
            Cause::Store | Cause::Update => self.is(Bug::SessionRestoreKeepsOldUserIndex),
            Cause::Delete => self.is(Bug::DeleteSessionKeepsUserIndex),
            Cause::Cleanup => self.is(Bug::CleanupKeepsUserIndex),
            Cause::ExpiredRead => self.is(Bug::ExpiredReadDropsRecordKeepsIndexes),
        };
        if !keep_owner {
            self.unindex_owner(Kind::Session, &old.user_id, &key);
        }
        let keep_expiry = match cause {
            Cause::Store | Cause::Update => self.is(Bug::SessionExpiryIndexNotUpdatedOnRestore),
            Cause::Cleanup => self.is(Bug::CleanupLeavesExpiryEntries),
            Cause::Delete | Cause::ExpiredRead => false,
        };
        if !keep_expiry {
            self.expiries.remove(&(old.expires_at, Kind::Session, key));
        }
        Some(old)
    }

    /// Inserts a session record under `id` without its index entries.
    pub(crate) fn insert_session_record(&mut self, id: &str, session: SessionData) {
        let key = self.id_key(id).to_string();
        self.record_bytes += record_charge(id, &session);
        if let Some(old) = self.sessions.insert(key, session) {
            self.record_bytes -= record_charge(id, &old);
        }
    }

    /// Adds the index entries of the session stored under `id`.
    pub(crate) fn index_session(&mut self, id: &str, session: &SessionData) {
        let key = self.id_key(id).to_string();
        self.index_owner(Kind::Session, &session.user_id, &key);
        self.expiries
            .insert((session.expires_at, Kind::Session, key));
    }

    /// Inserts a session under `id` and its index entries.
    pub(crate) fn insert_session(&mut self, id: &str, session: SessionData) {
        self.index_session(id, &session);
        self.insert_session_record(id, session);
    }

    /// The number of live sessions: the stored ones less those the expiry index shows
    /// expired (`CNT-1`, `CNT-3`).
    pub(crate) fn count_sessions(&self, now: DateTime<Utc>) -> u64 {
        let stored = self.sessions.len() as u64;
        if self.is(Bug::CountIncludesExpired) {
            return stored;
        }
        let expired = self
            .expiries
            .iter()
            .take_while(|(at, _, _)| self.expired(*at, now))
            .filter(|(_, kind, _)| *kind == Kind::Session || self.is(Bug::CountReadsKvExpiries))
            .count() as u64;
        stored.saturating_sub(expired)
    }

    // --- kv -----------------------------------------------------------------------------

    /// The stored entry under this key, live or not.
    pub(crate) fn kv_entry(&self, key: &str) -> Option<&KvEntry> {
        self.kv.get(self.kv_key(key).as_ref())
    }

    /// Whether a kv entry is live at `now`.
    pub(crate) fn kv_live(&self, entry: &KvEntry, now: DateTime<Utc>) -> bool {
        entry.expires_at.is_none_or(|at| !self.expired(at, now))
    }

    /// Removes the entry under this key and its expiry-index entry.
    pub(crate) fn remove_kv(&mut self, key: &str, cause: Cause) -> Option<KvEntry> {
        let key = &*self.kv_key(key).into_owned();
        let old = self.kv.remove(key)?;
        if !self.is(Bug::CapacityCounterNeverDecreases) {
            self.kv_bytes -= kv_charge(key, &old.value);
        }
        let keep_expiry = match cause {
            Cause::Store => self.is(Bug::KvRestoreLeavesOldExpiryEntry),
            _ => false,
        };
        if let Some(at) = old.expires_at
            && !keep_expiry
        {
            self.expiries.remove(&(at, Kind::Kv, key.to_string()));
        }
        Some(old)
    }

    /// Inserts an entry and its expiry-index entry.
    pub(crate) fn insert_kv(&mut self, key: &str, entry: KvEntry) {
        let key = &*self.kv_key(key).into_owned();
        self.kv_bytes += kv_charge(key, &entry.value);
        if let Some(at) = entry.expires_at {
            self.expiries.insert((at, Kind::Kv, key.to_string()));
        }
        self.kv.insert(key.to_string(), entry);
    }

    /// The live keys that start with `prefix`, in ascending byte order (`LST-*`).
    pub(crate) fn list_keys(&self, prefix: &str, now: DateTime<Utc>) -> Vec<String> {
        let prefix = &*self.kv_key(prefix);
        let live =
            |entry: &KvEntry| self.is(Bug::ListingIncludesExpired) || self.kv_live(entry, now);
        let keys: Vec<String> = if listing::needs_full_scan(self.bug) {
            self.kv
                .iter()
                .filter(|(key, entry)| listing::matches(self.bug, prefix, key) && live(entry))
                .map(|(key, _)| key.clone())
                .collect()
        } else {
            self.kv
                .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
                .take_while(|(key, _)| listing::matches(self.bug, prefix, key))
                .filter(|(_, entry)| live(entry))
                .map(|(key, _)| key.clone())
                .collect()
        };
        listing::finish(self.bug, prefix, keys)
    }

    // --- cleanup ------------------------------------------------------------------------

    /// Removes every expired item and its index entries (`CLN-1`, `CLN-2`).
    pub(crate) fn cleanup(&mut self, now: DateTime<Utc>) {
        let due = self.due(now);
        self.remove_due(due);
    }

    /// What `cleanup` removes at `now`: expired tokens (a scan of the token map), and
    /// the expiry-index entries of sessions and kv entries up to now.
    pub(crate) fn due(&self, now: DateTime<Utc>) -> Due {
        let tokens: Vec<String> = self
            .tokens
            .iter()
            .filter(|(_, token)| {
                let at = if self.is(Bug::CleanupComparesIssuedAt) {
                    token.issued_at
                } else {
                    token.expires_at
                };
                self.expired(at, now)
            })
            .map(|(id, _)| id.clone())
            .collect();
        let entries = if self.is(Bug::CleanupIgnoresExpiryInstant) {
            self.expiries.iter().cloned().collect()
        } else {
            self.expiries
                .iter()
                .take_while(|(at, _, _)| self.expired(*at, now))
                .cloned()
                .collect()
        };
        Due { tokens, entries }
    }

    /// Removes what [`due`](Self::due) found, with the index entries.
    pub(crate) fn remove_due(&mut self, due: Due) {
        for id in due.tokens {
            self.remove_token(&id, Cause::Cleanup);
        }
        for entry in due.entries {
            let (_, kind, key) = &entry;
            match kind {
                Kind::Session => {
                    self.remove_session(key, Cause::Cleanup);
                }
                Kind::Kv => {
                    self.remove_kv(key, Cause::Cleanup);
                }
                Kind::Token => {}
            }
            if !self.is(Bug::CleanupLeavesExpiryEntries) {
                self.expiries.remove(&entry);
            }
        }
    }
}

/// A hand-made "normalisation" of user names, as a sign-up form might apply: a few
/// compatibility and case folds (KELVIN SIGN, sharp s, the fi ligature, dotless and dotted
/// i, fullwidth Latin letters). Used by [`Bug::UserIdsCompatibilityFolded`].
fn compatibility_fold(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{212A}' => folded.push('K'),
            '\u{DF}' => folded.push_str("ss"),
            '\u{FB01}' => folded.push_str("fi"),
            '\u{131}' => folded.push('i'),
            '\u{130}' => folded.push('I'),
            '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => {
                folded.push(char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c));
            }
            other => folded.push(other),
        }
    }
    folded
}
