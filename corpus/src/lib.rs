//! `authstore-corpus`: a corpus of known-broken backends, to measure the conformance
//! catalogue's own power.
//!
//! [`BrokenStorage`] is a small but realistic in-process [`AuthStorage`] backend, written
//! from scratch: one lock over a token map, an access-token index, per-user indexes, a
//! session map, an expiry index and a kv `BTreeMap`, and a read cache per handle. Built
//! with `None` it is correct and passes the whole catalogue with every capability
//! claimed. Built with `Some(bug)` it carries exactly one [`Bug`]: a one-point deviation
//! from the correct code that a real implementer plausibly writes. The crate's test runs
//! the catalogue against every bug and fails if one goes uncaught.
//!
//! Not a public API and not a backend to use: nothing in the workspace depends on it.
//!
//! [`AuthStorage`]: authstore_spec::AuthStorage

mod bug;
mod cache;
mod expiry;
mod input;
mod listing;
mod record;
mod state;
mod storage;

pub use bug::{Bug, BugClass};
pub use storage::{BrokenStorage, MAX_VALUE_BYTES, TIMING};
