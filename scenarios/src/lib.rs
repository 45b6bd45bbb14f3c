//! `authstore-scenarios`: the conformance catalogue for [`AuthStorage`] backends.
//!
//! Each [`Scenario`] is an async check over a fresh storage handle ([`Ctx`]) with an id,
//! the SPEC.md clauses it checks, and the [`Capabilities`] it needs. [`catalogue()`]
//! lists them all; `authstore-conformance` runs them.
//!
//! [`AuthStorage`]: authstore_spec::AuthStorage
//! [`Capabilities`]: authstore_spec::Capabilities

mod areas;
pub mod check;
mod context;
mod scenario;
mod tasks;
pub mod timing;

pub use check::{Check, Failure, Outcome};
pub use context::{Ctx, DefaultTtlFactory, NamespaceFactory, StoredItemsProbe};
pub use scenario::{Area, Scenario, ScenarioFn};

/// Every scenario, grouped by area, in a stable order.
pub fn catalogue() -> Vec<Scenario> {
    areas::all()
}

/// The scenario with this id, if the catalogue has one.
pub fn find(id: &str) -> Option<Scenario> {
    catalogue().into_iter().find(|s| s.id == id)
}
