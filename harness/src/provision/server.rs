//! [`Server`]: everything the harness knows about one kind of server — its name, the
//! variables naming a running one or an image, how its container is laid out, how to
//! tell it is ready, how to make and drop a scenario's namespace on it. Implemented once
//! per server, each in its own module; the generic code (sources, containers, readiness,
//! namespaces) asks only this trait.

use futures::future::BoxFuture;

use super::{Endpoint, ProvisionError};

/// How a server's container is started, for the host ports picked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerLayout {
    /// Replaces the image's entrypoint, when set.
    pub entrypoint: Option<&'static str>,
    /// Environment variables, as both the official and the offline images read them.
    pub env: Vec<(&'static str, &'static str)>,
    /// `(host port, container port)` mappings.
    pub ports: Vec<(u16, u16)>,
    /// The command (arguments to the entrypoint).
    pub cmd: Vec<String>,
    /// The URL a backend connects with (for the cluster: node URLs, comma-separated).
    pub url: String,
}

/// One kind of server the built-in backends run against. Implementations are unit
/// structs in the server's own module; [`super::Service::server`] names them.
pub trait Server: Send + Sync + 'static {
    /// The lower-case name used in messages and container labels.
    fn name(&self) -> &'static str;

    /// The environment variable naming a running server: a URL, or for a cluster its
    /// node URLs separated by commas.
    fn url_var(&self) -> &'static str;

    /// The environment variable overriding the container image (`name:tag`).
    fn image_var(&self) -> &'static str;

    /// The official image used when no override is set; pinned so a run is repeatable.
    fn default_image(&self) -> &'static str;

    /// How to get a server without containers, for error messages.
    fn advice(&self) -> &'static str;

    /// How many host ports its container needs.
    fn host_ports(&self) -> usize {
        1
    }

    /// The container for the host ports `host_ports` (as many as [`Server::host_ports`]),
    /// with `server_args` appended to the server's command line.
    fn container(&self, host_ports: &[u16], server_args: &[String]) -> ContainerLayout;

    /// Server arguments for the containers a suite shares: speed over durability, as
    /// their data lives one run.
    fn suite_server_args(&self) -> &'static [&'static str];

    /// One readiness attempt: connects to `url` like a client and has a query answered;
    /// returns the server's name and version (e.g. `PostgreSQL 15.14`), or why not.
    fn probe<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<String, String>>;

    /// A namespace name for `unique` (made of `[a-z0-9_]`), in the form this server
    /// needs: a schema or database name, a key prefix.
    fn namespace_name(&self, unique: &str) -> String;

    /// Creates the namespace `name` on the server at `endpoint`, empty.
    fn create_namespace<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(), ProvisionError>>;

    /// Drops the namespace `name` and everything in it.
    fn drop_namespace<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(), ProvisionError>>;
}
