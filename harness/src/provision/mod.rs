//! Service provisioning for the server backends. Each server is known by one [`Server`]
//! implementation in its own module (`postgres`, `mysql` for MySQL and MariaDB, `redis`,
//! `redis_cluster`); [`Service`] names them. Each service's server comes from one of two
//! sources ([`Source`]): a URL from the environment, or a container this process starts
//! with `testcontainers` (official image by default, overridable per service). Every
//! scenario then gets a fresh [`Namespace`] on it — schema, database or key prefix —
//! dropped afterwards. Failures are [`ProvisionError`]s.

mod container;
mod error;
pub mod in_process;
mod namespace;
mod probe;
mod server;
mod service;
mod source;

pub mod mysql;
pub mod postgres;
pub mod redis;
pub mod redis_cluster;
pub mod tiered;

pub use container::{ContainerOptions, LABEL as CONTAINER_LABEL, ServiceContainer};
pub use error::ProvisionError;
pub use namespace::Namespace;
pub use probe::probe;
pub use server::{ContainerLayout, Server};
pub use service::Service;
pub use source::{Endpoint, SOURCE_VAR, Source, endpoint, endpoint_from, remove_shared_containers};
