//! Service provisioning for the server backends. Each service's server comes from one of
//! two sources ([`Source`]): a URL from the environment, or a container this process
//! starts with `testcontainers` (official image by default, overridable per service).
//! Every scenario then gets a fresh namespace on it — schema, database or key prefix —
//! dropped afterwards.

mod container;
pub mod in_process;
mod probe;
mod service;
mod source;

pub mod mysql;
pub mod postgres;
pub mod redis;
pub mod tiered;

pub use container::{ContainerOptions, LABEL as CONTAINER_LABEL, ServiceContainer};
pub use probe::probe;
pub use service::Service;
pub use source::{Endpoint, SOURCE_VAR, Source, endpoint, endpoint_from, remove_shared_containers};
