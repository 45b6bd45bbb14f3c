//! `authstore-harness`: what this repository's CI and maintainers need beyond the
//! backend author's library (`authstore-conformance`): the `authstore-conformance`
//! command line (`list`, `run`, `matrix`), the provisioning of real servers (by URL or in
//! a container, a fresh namespace per scenario) for the built-in server backends, and the
//! fault tests under `tests/`.
//!
//! Not published: a backend author never needs it.

pub mod provision;
