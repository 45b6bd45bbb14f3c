//! `authstore-spec`: the [`AuthStorage`] trait, its data types ([`AuthToken`],
//! [`SessionData`]), the error type ([`StorageError`]), capabilities, timing profiles and
//! the normative specification, `SPEC.md`, whose clauses ([`clauses()`]) every conformance
//! scenario cites.
//!
//! Backends implement [`AuthStorage`]; they validate input with [`validate`] and compute
//! expiry with [`time`] so that every backend draws the same lines.

mod capability;
mod clauses;
mod error;
mod session;
mod storage;
pub mod time;
mod timing;
mod token;
pub mod validate;

/// This crate's version, which versions SPEC.md with it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The normative specification, `SPEC.md`, as shipped with this crate: every clause
/// [`clauses()`] parses from it, rendered here.
#[doc = include_str!("../SPEC.md")]
pub mod specification {}

pub use capability::{Capabilities, Capability};
pub use clauses::{Clause, Level, SPEC_MD, clause, clauses};
pub use error::{BoxError, ErrorKind, Result, StorageError};
pub use session::SessionData;
pub use storage::{AuthStorage, METHOD_NAMES};
pub use timing::TimingProfile;
pub use token::{AuthToken, JsonMap};

/// Re-exported so implementors use the same `async_trait` as the trait.
pub use async_trait::async_trait;
