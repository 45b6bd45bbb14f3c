//! `list_user_tokens` and `list_user_sessions` in bounded script calls: each call of
//! `lua/list_owned.lua` reads at most [`OWNED_BATCH`] members of the user's index, from a
//! cursor where the previous call stopped, so a user with a million items never holds
//! the server for long.
//!
//! The cursor is the (score, id) of the last member read, not a rank: ranks shift when
//! members before the cursor are removed (an item deleted meanwhile would make the next
//! batch skip a live one). The script finds the first member after the cursor in the
//! index's own order (score, then id bytes) whether or not the cursor's member is still
//! there, with a binary search among the members that share its score (bulk-created items
//! share `expires_at`), so ties cost O(log n) per call, never a skip over them. An item
//! whose score changed during the listing (re-stored with another expiry) may be read
//! twice; records are de-duplicated by id, the later read kept.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use authstore_spec::Result;

use super::{RedisStorage, SCRIPTS};

/// Index members one `list_user_tokens` / `list_user_sessions` script call reads at most
/// (each one `HMGET`); the same bound applies to the expired members and to the members of
/// gone or re-owned items one call removes. The calls repeat, each after where the last
/// stopped, until the index is exhausted. One user with a million tokens: 1.2 ms per call
/// at the median, 5.9 ms at p99 on a loaded 2-core machine (benches/PROFILE.md); 500 per
/// call took twice as long.
pub(super) const OWNED_BATCH: u64 = 250;

/// One listing of a user's tokens or sessions, advanced one script call at a time.
pub(super) struct OwnedListing<'a> {
    operation: &'static str,
    index: String,
    user_id: &'a str,
    kind: &'static str,
    limit: String,
    /// (score, id) of the last member read; `None` before the first call.
    cursor: Option<(Vec<u8>, Vec<u8>)>,
    done: bool,
    /// Position in `records` of each id returned so far.
    positions: HashMap<Vec<u8>, usize>,
    records: Vec<Vec<u8>>,
}

impl<'a> OwnedListing<'a> {
    /// A listing of the items of `kind` (`"token"` or `"session"`) indexed at `index` for
    /// `user_id`, reading at most `batch` members per script call.
    pub(super) fn new(
        operation: &'static str,
        index: String,
        user_id: &'a str,
        kind: &'static str,
        batch: u64,
    ) -> Self {
        Self {
            operation,
            index,
            user_id,
            kind,
            limit: batch.max(1).to_string(),
            cursor: None,
            done: false,
            positions: HashMap::new(),
            records: Vec::new(),
        }
    }

    /// Whether the index has been read to its end.
    pub(super) fn is_done(&self) -> bool {
        self.done
    }

    /// Runs the next script call; returns how many records it returned.
    pub(super) async fn step(&mut self, storage: &RedisStorage) -> Result<usize> {
        let (score, id) = self
            .cursor
            .as_ref()
            .map_or((&[][..], &[][..]), |(s, i)| (s.as_slice(), i.as_slice()));
        let reply: Vec<Vec<u8>> = storage
            .eval(
                self.operation,
                &SCRIPTS.list_owned,
                &self.index,
                &[
                    self.user_id.as_bytes(),
                    self.kind.as_bytes(),
                    self.limit.as_bytes(),
                    score,
                    id,
                ],
            )
            .await?;
        let mut reply = reply.into_iter();
        let score = reply.next().unwrap_or_default();
        let id = reply.next().unwrap_or_default();
        let mut returned = 0;
        while let (Some(id), Some(record)) = (reply.next(), reply.next()) {
            returned += 1;
            match self.positions.entry(id) {
                Entry::Occupied(seen) => self.records[*seen.get()] = record,
                Entry::Vacant(new) => {
                    new.insert(self.records.len());
                    self.records.push(record);
                }
            }
        }
        if score.is_empty() {
            self.done = true;
        } else {
            self.cursor = Some((score, id));
        }
        Ok(returned)
    }

    /// The records listed so far, each item once, in the order first read.
    #[cfg(test)]
    pub(super) fn records(&self) -> &[Vec<u8>] {
        &self.records
    }

    /// The records listed, each item once.
    pub(super) fn into_records(self) -> Vec<Vec<u8>> {
        self.records
    }
}
