//! [`ProvisionError`]: why a server, a container or a fresh namespace could not be had,
//! as variants a caller can match on (the matrix and `run` tell "cannot be had here"
//! from "configured but broken" by variant). Each message says how to get a server.

use std::time::Duration;

use super::Service;

/// Why provisioning failed. Cloneable: one server's outcome is shared by every scenario
/// of a run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProvisionError {
    /// A source name that is not `url`, `container` or `auto`.
    #[error("unknown source {text:?}: expected url, container or auto")]
    UnknownSource {
        /// The text given.
        text: String,
    },
    /// The URL source was asked for and the service's URL variable is unset or blank.
    #[error("{var} is not set: {}, or use the container source", .service.advice())]
    NotConfigured {
        /// The service asked for.
        service: Service,
        /// The variable that should name its server.
        var: &'static str,
    },
    /// No container engine answers (no Docker socket, `DOCKER_HOST` names nothing).
    #[error(
        "no container engine to start a {service} container ({reason}); start Docker, or \
         {}",
        .service.advice()
    )]
    NoContainerEngine {
        /// The service whose container was asked for.
        service: Service,
        /// The engine client's own words.
        reason: String,
    },
    /// The image is neither present on this machine nor pullable.
    #[error(
        "cannot start a {service} container from image {image}: it is neither present here \
         nor pullable ({reason}); set {var} to another image, e.g. one built by \
         `ci/images/build`, or {}",
        .service.advice()
    )]
    ImageUnavailable {
        /// The service whose container was asked for.
        service: Service,
        /// The image that could not be had.
        image: String,
        /// The variable choosing another image.
        var: &'static str,
        /// The engine's own words.
        reason: String,
    },
    /// The container engine refused or failed an operation on a container.
    #[error("{action} failed for the {service} container: {reason}")]
    Container {
        /// The service the container serves.
        service: Service,
        /// What was attempted, e.g. `docker pause 3f2a…`.
        action: String,
        /// The engine's own words.
        reason: String,
    },
    /// The server exists (a URL, a started container) but did not answer a real query
    /// in time, or its container exited.
    #[error(
        "the {service} server ({origin}) did not answer a query within {waited:.1?}; last \
         attempt: {last_error}{}",
        if .log.is_empty() { String::new() } else { format!("\n--- container log (end) ---\n{}", .log) }
    )]
    NotReady {
        /// The service.
        service: Service,
        /// Where it came from: the URL variable, or `container <id> (exited)`.
        origin: String,
        /// How long it was given.
        waited: Duration,
        /// The last readiness attempt's error.
        last_error: String,
        /// The end of the container's log; empty for a server given by URL.
        log: String,
    },
    /// The server's URL does not parse.
    #[error("{origin} is not a valid {service} URL ({reason}): {}", .service.advice())]
    InvalidUrl {
        /// The service.
        service: Service,
        /// Where the URL came from.
        origin: String,
        /// The parser's words.
        reason: String,
    },
    /// A ready server refused a connection or a pool (e.g. too many clients).
    #[error("cannot connect to {service} at {server} ({reason}): {advice}")]
    Connect {
        /// The service.
        service: Service,
        /// `user@host:port/database` or the origin, without a password.
        server: String,
        /// The client's words.
        reason: String,
        /// What to check.
        advice: &'static str,
    },
    /// Creating, migrating, counting or dropping a scenario's namespace (schema,
    /// database, key prefix) failed.
    #[error("{action} failed on {service}: {reason}")]
    Namespace {
        /// The service.
        service: Service,
        /// What was attempted, e.g. `` `CREATE SCHEMA authstore_…` `` or `migrating schema …`.
        action: String,
        /// The server's or storage's words.
        reason: String,
    },
    /// The provisioning runtime could not start, or a provisioning task panicked.
    #[error("provisioning runtime: {reason}")]
    Runtime {
        /// What went wrong.
        reason: String,
    },
    /// Several failures, e.g. a setup error and the cleanup after it.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n(and also) "))]
    Several(Vec<ProvisionError>),
}

impl ProvisionError {
    /// `first`, or both when the cleanup after it failed too.
    pub(crate) fn with_cleanup(self, cleanup: Result<(), ProvisionError>) -> ProvisionError {
        match cleanup {
            Ok(()) => self,
            Err(cleanup) => ProvisionError::Several(vec![self, cleanup]),
        }
    }

    /// All of `errors`: `Ok` when there are none, the one, or [`ProvisionError::Several`].
    pub(crate) fn all(mut errors: Vec<ProvisionError>) -> Result<(), ProvisionError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(ProvisionError::Several(errors)),
        }
    }
}
