//! Memory accounting of [`UnifiedStorage`](super::UnifiedStorage): the per-entry size
//! estimate and the budget that bounds their sum.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use authstore_spec::{AuthToken, Result, SessionData, StorageError};
use serde::Serialize;

/// Fixed cost charged per stored item for map slots, index entries and allocation
/// headers, on top of its key and content bytes.
pub(super) const ENTRY_OVERHEAD: usize = 64;

/// Counts the bytes written to it and discards them.
struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The length of `record`'s JSON encoding, computed without building it.
fn json_len(record: &impl Serialize) -> Result<usize> {
    let mut counter = ByteCounter(0);
    serde_json::to_writer(&mut counter, record)?;
    Ok(counter.0)
}

/// A token's charge: overhead + id bytes + its JSON record size.
pub(super) fn token_bytes(token: &AuthToken) -> Result<usize> {
    Ok(ENTRY_OVERHEAD
        .saturating_add(token.token_id.len())
        .saturating_add(json_len(token)?))
}

/// A session's charge: overhead + id bytes + its JSON record size.
pub(super) fn session_bytes(session: &SessionData) -> Result<usize> {
    Ok(ENTRY_OVERHEAD
        .saturating_add(session.session_id.len())
        .saturating_add(json_len(session)?))
}

/// A kv entry's charge: overhead + key bytes + value bytes.
pub(super) fn kv_bytes(key: &str, value: &[u8]) -> usize {
    ENTRY_OVERHEAD
        .saturating_add(key.len())
        .saturating_add(value.len())
}

/// The running total of charges, bounded by `max`.
#[derive(Debug)]
pub(super) struct MemoryBudget {
    used: AtomicUsize,
    max: usize,
}

impl MemoryBudget {
    pub(super) fn new(max: usize) -> Self {
        Self {
            used: AtomicUsize::new(0),
            max,
        }
    }

    pub(super) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Replaces a charge of `old` bytes by one of `new` bytes. Growth is reserved with a
    /// compare-and-swap so concurrent writers can never push the total past `max`
    /// together; if it would, nothing is charged and the write must not happen.
    pub(super) fn replace(&self, old: usize, new: usize, what: &str) -> Result<()> {
        if new <= old {
            self.used.fetch_sub(old - new, Ordering::AcqRel);
            return Ok(());
        }
        let grow = new - old;
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(grow).filter(|total| *total <= self.max)
            })
            .map(drop)
            .map_err(|used| {
                StorageError::CapacityExceeded(format!(
                    "{what} needs {grow} more bytes but {used} of the max_memory limit of {} \
                     bytes are in use",
                    self.max
                ))
            })
    }

    /// Releases a charge of `bytes`.
    pub(super) fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}
