//! A scenario's own namespace — schema, database or key prefix — on a server from a
//! source: named uniquely across processes and runs, created by the server's
//! [`super::Server`], dropped by [`Namespace::drop`].

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Endpoint, ProvisionError, Service, Source, endpoint_from};

/// Namespaces made by this process so far, for unique names.
static NAMESPACES: AtomicU64 = AtomicU64::new(0);

/// A fresh, empty namespace on a ready server.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// The server it lives on.
    pub endpoint: Endpoint,
    /// Its name, in the server's form ([`super::Server::namespace_name`]).
    pub name: String,
}

impl Namespace {
    /// Creates a fresh namespace on the `service` server from `source`.
    pub async fn fresh(service: Service, source: Source) -> Result<Namespace, ProvisionError> {
        Namespace::fresh_on(endpoint_from(service, source).await?).await
    }

    /// Creates a fresh namespace on the server at `endpoint`.
    pub async fn fresh_on(endpoint: Endpoint) -> Result<Namespace, ProvisionError> {
        let server = endpoint.service.server();
        let name = server.namespace_name(&unique());
        server.create_namespace(&endpoint, &name).await?;
        Ok(Namespace { endpoint, name })
    }

    /// The service it lives on.
    pub fn service(&self) -> Service {
        self.endpoint.service
    }

    /// Drops the namespace and everything in it.
    pub async fn drop(self) -> Result<(), ProvisionError> {
        self.service()
            .server()
            .drop_namespace(&self.endpoint, &self.name)
            .await
    }
}

/// `<pid>_<counter>_<random>`: unique across processes and runs, made of characters no
/// server needs quoted.
fn unique() -> String {
    let counter = NAMESPACES.fetch_add(1, Ordering::Relaxed);
    let random = RandomState::new().hash_one(counter);
    format!("{}_{counter}_{:08x}", std::process::id(), random as u32)
}
