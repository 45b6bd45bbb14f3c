//! [`HandleCache`]: each handle's cache of point reads, as a node keeps in front of a
//! shared store. An entry is served only while the store's generation is the one the
//! cache was filled at (`MH-1`, `MH-2`); the handle's own writes clear it too.

use std::collections::HashMap;

use authstore_spec::AuthToken;

use crate::bug::Bug;
use crate::state::KvEntry;

/// kv values larger than this are not cached.
pub(crate) const MAX_CACHED_VALUE: usize = 64 << 10;

/// One handle's cached reads; `None` entries are cached misses.
#[derive(Debug, Default)]
pub(crate) struct HandleCache {
    /// The store generation the entries were read at.
    seen: u64,
    /// `get_token` results by token id.
    pub(crate) tokens: HashMap<String, Option<AuthToken>>,
    /// `get_token_by_access_token` results by access token.
    pub(crate) access: HashMap<String, Option<AuthToken>>,
    /// `get_kv` results by key.
    pub(crate) kv: HashMap<String, Option<KvEntry>>,
}

impl HandleCache {
    /// Drops what may be stale once the store has moved past the generation the cache
    /// was filled at.
    pub(crate) fn sync(&mut self, bug: Option<Bug>, generation: u64) {
        if self.seen == generation {
            return;
        }
        self.seen = generation;
        match bug {
            Some(Bug::StaleTokenCache) => {
                self.access.clear();
                self.kv.clear();
            }
            Some(Bug::StaleNegativeTokenCache) => {
                self.tokens.retain(|_, cached| cached.is_none());
                self.access.clear();
                self.kv.clear();
            }
            Some(Bug::StaleNegativeAccessCache) => {
                self.tokens.clear();
                self.access.retain(|_, cached| cached.is_none());
                self.kv.clear();
            }
            Some(Bug::StaleKvCache) => {
                self.tokens.clear();
                self.access.clear();
            }
            _ => self.clear(),
        }
    }

    /// Drops every entry: the handle itself wrote.
    pub(crate) fn clear(&mut self) {
        self.tokens.clear();
        self.access.clear();
        self.kv.clear();
    }
}
