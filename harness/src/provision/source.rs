//! Where a service's server comes from: a URL from the environment, or a container this
//! process starts. [`endpoint`] resolves a service once per process and source, so every
//! scenario of a run shares one server (each still gets its own schema, database or key
//! prefix) and a broken source fails every scenario fast with the same message.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::OnceCell;

use super::container::{ContainerOptions, ServiceContainer};
use super::{ProvisionError, Service, probe};

/// The environment variable choosing the source for every service: `url`, `container`
/// or `auto` (the default: the URL when its variable is set, else a container).
pub const SOURCE_VAR: &str = "AUTHSTORE_SOURCE";

/// Where servers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The server named by the service's URL variable ([`Service::url_var`]); an unset
    /// variable is an error.
    Url,
    /// A container started by this process from [`Service::image`].
    Container,
    /// [`Source::Url`] when the URL variable is set, else [`Source::Container`].
    Auto,
}

impl Source {
    /// Every source, as named on the command line.
    pub const ALL: [Source; 3] = [Source::Url, Source::Container, Source::Auto];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Source::Url => "url",
            Source::Container => "container",
            Source::Auto => "auto",
        }
    }

    /// Parses a name from [`Source::name`].
    pub fn parse(text: &str) -> Result<Source, ProvisionError> {
        Source::ALL
            .into_iter()
            .find(|source| source.name() == text.trim())
            .ok_or_else(|| ProvisionError::UnknownSource {
                text: text.to_owned(),
            })
    }

    /// The source `AUTHSTORE_SOURCE` chooses (default [`Source::Auto`]).
    pub fn from_env() -> Result<Source, ProvisionError> {
        match std::env::var(SOURCE_VAR) {
            Ok(text) if !text.trim().is_empty() => Source::parse(&text),
            _ => Ok(Source::Auto),
        }
    }

    /// `Auto` decided for `service`: `Url` or `Container`.
    pub fn resolve(self, service: Service) -> Source {
        match self {
            Source::Auto if url_from_env(service).is_some() => Source::Url,
            Source::Auto => Source::Container,
            concrete => concrete,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A ready server.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The service it serves.
    pub service: Service,
    /// The URL to connect with; for the cluster, node URLs separated by commas.
    pub url: String,
    /// Where it came from: `AUTHSTORE_POSTGRES_URL`, or `container <image> (<id>)`.
    pub origin: String,
    /// The server's name and version as it reported them, e.g. `PostgreSQL 15.14`.
    pub server: String,
    /// For a container: from the start request to the first answered query.
    pub startup: Option<Duration>,
}

impl Endpoint {
    /// The URLs one by one (one, except for the cluster).
    pub fn urls(&self) -> Vec<String> {
        self.url
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// The server for `service` from the source `AUTHSTORE_SOURCE` chooses.
pub async fn endpoint(service: Service) -> Result<Endpoint, ProvisionError> {
    endpoint_from(service, Source::from_env()?).await
}

type Slot = Arc<OnceCell<Result<Endpoint, ProvisionError>>>;

/// One slot per (service, concrete source) for the life of the process.
static ENDPOINTS: LazyLock<Mutex<HashMap<(Service, Source), Slot>>> =
    LazyLock::new(Default::default);

/// Containers started for [`endpoint_from`], kept running until the process ends (the
/// reaper removes them then).
static SHARED_CONTAINERS: Mutex<Vec<ServiceContainer>> = Mutex::new(Vec::new());

/// A runtime of its own for provisioning: containers and probes outlive the per-test
/// runtimes of `#[tokio::test]`, which end with their test.
static RUNTIME: LazyLock<Result<tokio::runtime::Runtime, ProvisionError>> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("authstore-provision")
        .enable_all()
        .build()
        .map_err(|err| ProvisionError::Runtime {
            reason: format!("cannot start it: {err}"),
        })
});

/// The server for `service` from `source`, started or checked once per process.
pub async fn endpoint_from(service: Service, source: Source) -> Result<Endpoint, ProvisionError> {
    let source = source.resolve(service);
    let slot = ENDPOINTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry((service, source))
        .or_default()
        .clone();
    slot.get_or_init(|| async move {
        let runtime = RUNTIME.as_ref().map_err(Clone::clone)?;
        runtime
            .spawn(provide(service, source))
            .await
            .unwrap_or_else(|err| {
                Err(ProvisionError::Runtime {
                    reason: format!("provisioning {service} panicked: {err}"),
                })
            })
    })
    .await
    .clone()
}

/// Finds or starts the server, and checks that it answers.
async fn provide(service: Service, source: Source) -> Result<Endpoint, ProvisionError> {
    if source == Source::Url {
        let var = service.url_var();
        let url = url_from_env(service).ok_or(ProvisionError::NotConfigured { service, var })?;
        let server = probe::probe(service, &url, var).await?;
        return Ok(Endpoint {
            service,
            url,
            origin: var.to_owned(),
            server,
            startup: None,
        });
    }
    let container = ServiceContainer::start(service, &shared_options(service)).await?;
    let endpoint = Endpoint {
        service,
        url: container.url().to_owned(),
        origin: format!("container {} ({:.12})", container.image(), container.id()),
        server: container.server().to_owned(),
        startup: Some(container.startup()),
    };
    SHARED_CONTAINERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(container);
    Ok(endpoint)
}

/// Shared suite containers trade durability for speed: their data lives one run.
fn shared_options(service: Service) -> ContainerOptions {
    ContainerOptions {
        server_args: service
            .server()
            .suite_server_args()
            .iter()
            .map(|arg| (*arg).to_owned())
            .collect(),
    }
}

/// The service's URL variable, when set and not blank.
fn url_from_env(service: Service) -> Option<String> {
    configured_url(service, std::env::var(service.url_var()).ok()).ok()
}

/// The URL `value` (the URL variable's value, if set) gives `service`: unset or blank is
/// [`ProvisionError::NotConfigured`].
fn configured_url(service: Service, value: Option<String>) -> Result<String, ProvisionError> {
    value
        .filter(|url| !url.trim().is_empty())
        .ok_or(ProvisionError::NotConfigured {
            service,
            var: service.url_var(),
        })
}

/// Removes the containers [`endpoint_from`] started (the reaper would at exit); later
/// calls start new ones.
pub async fn remove_shared_containers() -> Result<(), ProvisionError> {
    let containers: Vec<ServiceContainer> = std::mem::take(
        &mut *SHARED_CONTAINERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    ENDPOINTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|(_, source), _| *source != Source::Container);
    let runtime = RUNTIME.as_ref().map_err(Clone::clone)?;
    // The containers' Docker client belongs to the provisioning runtime.
    let removed = runtime.spawn(async move {
        let mut errors = Vec::new();
        for container in containers {
            if let Err(err) = container.remove().await {
                errors.push(err);
            }
        }
        errors
    });
    let errors = removed.await.map_err(|err| ProvisionError::Runtime {
        reason: format!("removing containers panicked: {err}"),
    })?;
    ProvisionError::all(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unset_or_blank_url_variable_is_not_configured() {
        for value in [None, Some(String::new()), Some("  ".to_owned())] {
            let result = configured_url(Service::Redis, value.clone());
            assert!(
                matches!(
                    result,
                    Err(ProvisionError::NotConfigured {
                        service: Service::Redis,
                        var: "AUTHSTORE_REDIS_URL"
                    })
                ),
                "{value:?}: {result:?}"
            );
        }
        let url = configured_url(Service::Redis, Some("redis://127.0.0.1:6379".to_owned()));
        assert_eq!(url.ok().as_deref(), Some("redis://127.0.0.1:6379"));
    }

    #[test]
    fn an_unknown_source_name_is_a_typed_error() {
        assert_eq!(Source::parse(" container ").ok(), Some(Source::Container));
        let err = Source::parse("docker");
        assert!(
            matches!(&err, Err(ProvisionError::UnknownSource { text }) if text == "docker"),
            "{err:?}"
        );
    }
}
