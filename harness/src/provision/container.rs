//! Servers in containers, started with `testcontainers`: one [`ServiceContainer`] per
//! service, from the image [`Service::image`] names, ready only once a real client has
//! connected and queried it, and removed when the process ends however it ends.
//!
//! Removal: every container is labelled `org.authstore.conformance` and its id handed to a
//! small reaper process (`sh` + the `docker` CLI) that this process starts once and that
//! waits for the end of its stdin. Whenever this process exits — normally, after failed
//! tests, on a signal or killed — the pipe closes and the reaper removes the containers.
//! (A test binary cannot drop statics, and `testcontainers`' own drop needs a runtime.)

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use testcontainers::bollard::errors::Error as EngineError;
use testcontainers::core::IntoContainerPort;
use testcontainers::core::error::ClientError;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt, TestcontainersError};

use super::{ContainerLayout, ProvisionError, Service, probe};

/// The label every container started here carries (value `true`), for leak checks.
pub const LABEL: &str = "org.authstore.conformance";

/// How long a container may take from the start request to a successful query (an image
/// pull counts), unless `AUTHSTORE_CONTAINER_TIMEOUT` (seconds) says otherwise.
const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(180);

/// Pause between readiness attempts.
const PROBE_INTERVAL: Duration = Duration::from_millis(200);

/// Tries with fresh host ports when the ones picked were taken before Docker bound them.
const START_ATTEMPTS: usize = 3;

/// Extra settings for one container.
#[derive(Debug, Clone, Default)]
pub struct ContainerOptions {
    /// Arguments appended to the server's command line (e.g. `--appendonly yes` for
    /// Redis, `-c fsync=off` for PostgreSQL).
    pub server_args: Vec<String>,
}

/// A running server in its own container, ready when returned.
#[derive(Debug)]
pub struct ServiceContainer {
    service: Service,
    image: String,
    container: ContainerAsync<GenericImage>,
    url: String,
    server: String,
    startup: Duration,
}

impl ServiceContainer {
    /// Starts a container for `service` from [`Service::image`] and waits until a client
    /// has connected and queried the server. The host ports are fixed at start, so the
    /// URL stays valid across [`kill`](Self::kill) and [`restart`](Self::restart).
    pub async fn start(
        service: Service,
        options: &ContainerOptions,
    ) -> Result<Self, ProvisionError> {
        let image = service.image();
        let began = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let ports = free_ports(service, service.server().host_ports())?;
            let layout = service.server().container(&ports, &options.server_args);
            let request = request(service, &image, &layout)?;
            let err = match request.start().await {
                Ok(container) => {
                    reap_at_exit(container.id());
                    let server = wait_ready(service, &layout.url, &container, began).await?;
                    return Ok(ServiceContainer {
                        service,
                        image,
                        container,
                        url: layout.url,
                        server,
                        startup: began.elapsed(),
                    });
                }
                Err(err) => err,
            };
            match classify(service, &image, err) {
                StartFailure::PortTaken(_) if attempts < START_ATTEMPTS => continue,
                StartFailure::PortTaken(reason) => {
                    return Err(ProvisionError::Container {
                        service,
                        action: format!("starting a container from image {image}"),
                        reason,
                    });
                }
                StartFailure::Other(err) => return Err(err),
            }
        }
    }

    /// The service this container serves.
    pub fn service(&self) -> Service {
        self.service
    }

    /// The image it was started from.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// The Docker container id.
    pub fn id(&self) -> &str {
        self.container.id()
    }

    /// The URL a backend connects with (for the cluster: node URLs, comma-separated).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's own name and version, as it reported them when it became ready.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// From the start request (image pull included) to the first successful query.
    pub fn startup(&self) -> Duration {
        self.startup
    }

    /// Freezes every process of the container (`docker pause`): connections stay open
    /// and nothing answers.
    pub async fn pause(&self) -> Result<(), ProvisionError> {
        self.container
            .pause()
            .await
            .map_err(|err| self.failed("docker pause", err.to_string()))
    }

    /// Thaws a paused container.
    pub async fn unpause(&self) -> Result<(), ProvisionError> {
        self.container
            .unpause()
            .await
            .map_err(|err| self.failed("docker unpause", err.to_string()))
    }

    /// Kills the server with SIGKILL (`docker kill`): no shutdown, no final flush.
    pub async fn kill(&self) -> Result<(), ProvisionError> {
        let output = tokio::process::Command::new("docker")
            .args(["kill", "--signal=KILL", self.id()])
            .output()
            .await
            .map_err(|err| self.failed("docker kill", format!("cannot run `docker`: {err}")))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(self.failed(
                "docker kill",
                String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            ))
        }
    }

    /// Starts the stopped or killed container again (its filesystem, and so the
    /// server's data, kept) and waits until it answers; returns how long that took.
    pub async fn restart(&self) -> Result<Duration, ProvisionError> {
        let began = Instant::now();
        self.container
            .start()
            .await
            .map_err(|err| self.failed("docker start", err.to_string()))?;
        wait_ready(self.service, &self.url, &self.container, began).await?;
        Ok(began.elapsed())
    }

    /// Stops and removes the container now.
    pub async fn remove(self) -> Result<(), ProvisionError> {
        let failed = self.failed("docker rm", String::new());
        self.container.rm().await.map_err(|err| match failed {
            ProvisionError::Container {
                service, action, ..
            } => ProvisionError::Container {
                service,
                action,
                reason: err.to_string(),
            },
            other => other,
        })
    }

    /// [`ProvisionError::Container`] for `command` on this container.
    fn failed(&self, command: &str, reason: String) -> ProvisionError {
        ProvisionError::Container {
            service: self.service,
            action: format!("{command} {}", self.id()),
            reason,
        }
    }
}

/// Why a start request failed.
#[derive(Debug)]
enum StartFailure {
    /// A host port picked free was taken before Docker bound it: worth another try.
    PortTaken(String),
    /// Anything else, classified.
    Other(ProvisionError),
}

/// Sorts a failed start request by what the caller can do about it.
fn classify(service: Service, image: &str, err: TestcontainersError) -> StartFailure {
    let reason = err.to_string();
    let failure = match err {
        TestcontainersError::Client(
            ClientError::Init(_)
            | ClientError::Configuration(_)
            | ClientError::InvalidDockerHost(_),
        ) => ProvisionError::NoContainerEngine { service, reason },
        TestcontainersError::Client(
            ClientError::CreateContainer(engine) | ClientError::StartContainer(engine),
        ) if engine_unreachable(&engine) => ProvisionError::NoContainerEngine { service, reason },
        TestcontainersError::Client(ClientError::PullImage { err, .. }) => {
            if engine_unreachable(&err) {
                ProvisionError::NoContainerEngine { service, reason }
            } else {
                ProvisionError::ImageUnavailable {
                    service,
                    image: image.to_owned(),
                    var: service.image_var(),
                    reason,
                }
            }
        }
        TestcontainersError::Client(ClientError::StartContainer(
            EngineError::DockerResponseServerError { message, .. },
        )) if port_taken(&message) => return StartFailure::PortTaken(reason),
        _ => ProvisionError::Container {
            service,
            action: format!("starting a container from image {image}"),
            reason,
        },
    };
    StartFailure::Other(failure)
}

/// The engine client could not reach the engine at all (no socket, refused, timed out).
fn engine_unreachable(err: &EngineError) -> bool {
    matches!(
        err,
        EngineError::SocketNotFoundError(_)
            | EngineError::HyperLegacyError { .. }
            | EngineError::IOError { .. }
            | EngineError::RequestTimeoutError
            | EngineError::UnsupportedURISchemeError { .. }
    )
}

/// Docker's refusal to bind a host port another process took. The engine reports it only
/// as text in a server error (no code of its own), so this is the one place that reads it.
fn port_taken(message: &str) -> bool {
    message.contains("port is already allocated") || message.contains("address already in use")
}

/// The container request: image, environment, fixed port mappings, labels, command.
fn request(
    service: Service,
    image: &str,
    layout: &ContainerLayout,
) -> Result<testcontainers::ContainerRequest<GenericImage>, ProvisionError> {
    let (name, tag) = split_image(image).ok_or_else(|| ProvisionError::ImageUnavailable {
        service,
        image: image.to_owned(),
        var: service.image_var(),
        reason: "empty image name".to_owned(),
    })?;
    let mut generic = GenericImage::new(name, tag);
    if let Some(entrypoint) = layout.entrypoint {
        generic = generic.with_entrypoint(entrypoint);
    }
    let mut request = generic
        .with_label(LABEL, "true")
        .with_label("org.authstore.service", service.name())
        .with_label("org.authstore.pid", std::process::id().to_string());
    for &(host, inner) in &layout.ports {
        request = request.with_mapped_port(host, inner.tcp());
    }
    for &(name, value) in &layout.env {
        request = request.with_env_var(name, value);
    }
    Ok(request
        .with_cmd(layout.cmd.clone())
        .with_startup_timeout(startup_timeout()))
}

/// `name:tag` (the registry part may itself hold a `:port`); no tag means `latest`;
/// `None` for an empty name.
fn split_image(image: &str) -> Option<(String, String)> {
    let image = image.trim();
    if image.is_empty() {
        return None;
    }
    let name_start = image.rfind('/').map_or(0, |slash| slash + 1);
    Some(match image[name_start..].rfind(':') {
        Some(colon) => (
            image[..name_start + colon].to_owned(),
            image[name_start + colon + 1..].to_owned(),
        ),
        None => (image.to_owned(), "latest".to_owned()),
    })
}

/// `count` distinct free TCP ports on the host (free when asked; see the retry in
/// [`ServiceContainer::start`]).
fn free_ports(service: Service, count: usize) -> Result<Vec<u16>, ProvisionError> {
    let no_port = |err: std::io::Error| ProvisionError::Container {
        service,
        action: "finding a free host port".to_owned(),
        reason: err.to_string(),
    };
    let mut listeners = Vec::with_capacity(count);
    while listeners.len() < count {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(no_port)?;
        let port = listener.local_addr().map_err(no_port)?.port();
        listeners.push((port, listener));
    }
    Ok(listeners.into_iter().map(|(port, _)| port).collect())
}

fn startup_timeout() -> Duration {
    std::env::var("AUTHSTORE_CONTAINER_TIMEOUT")
        .ok()
        .and_then(|secs| secs.trim().parse::<u64>().ok())
        .map_or(DEFAULT_STARTUP_TIMEOUT, Duration::from_secs)
}

/// Probes until the server answers a real query; fails early when the container exits,
/// with the end of its log.
async fn wait_ready(
    service: Service,
    url: &str,
    container: &ContainerAsync<GenericImage>,
    began: Instant,
) -> Result<String, ProvisionError> {
    let deadline = began + startup_timeout();
    loop {
        let last_error = match probe::attempt(service, url).await {
            Ok(server) => return Ok(server),
            Err(err) => err,
        };
        let running = container.is_running().await.unwrap_or(true);
        if !running || Instant::now() >= deadline {
            let state = if running { "" } else { ", exited" };
            return Err(ProvisionError::NotReady {
                service,
                origin: format!("container {}{state}", container.id()),
                waited: began.elapsed(),
                last_error,
                log: log_tail(container).await,
            });
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// The last lines of the container's stdout and stderr.
async fn log_tail(container: &ContainerAsync<GenericImage>) -> String {
    let mut text = String::new();
    for bytes in [
        container.stdout_to_vec().await,
        container.stderr_to_vec().await,
    ]
    .into_iter()
    .flatten()
    {
        text.push_str(&String::from_utf8_lossy(&bytes));
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The reaper's stdin; `None` once starting it failed (then containers are removed only
/// by [`ServiceContainer::remove`] and `ci/` leak checks).
static REAPER: LazyLock<Mutex<Option<ChildStdin>>> = LazyLock::new(|| Mutex::new(start_reaper()));

/// A shell that collects container ids from stdin and removes them all at end of input,
/// in its own process group so a Ctrl-C to the test run does not stop it first.
fn start_reaper() -> Option<ChildStdin> {
    let script = "ids=''; while read -r id; do ids=\"$ids $id\"; done; \
                  [ -z \"$ids\" ] || docker rm --force --volumes $ids >/dev/null 2>&1; exit 0";
    let child = Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    match child {
        Ok(mut child) => child.stdin.take(),
        Err(err) => {
            eprintln!(
                "warning: cannot start the container reaper ({err}); containers of this run may be left behind"
            );
            None
        }
    }
}

/// Hands `id` to the reaper, which removes it when this process ends.
fn reap_at_exit(id: &str) {
    let mut reaper = REAPER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(stdin) = reaper.as_mut()
        && writeln!(stdin, "{id}").is_err()
    {
        *reaper = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_split_at_the_tag_not_the_registry_port() {
        let split = |image: &str| split_image(image).unwrap();
        assert_eq!(split("postgres:17"), ("postgres".into(), "17".into()));
        assert_eq!(split("redis"), ("redis".into(), "latest".into()));
        assert_eq!(
            split("localhost:5000/authstore/redis:7.0-bookworm"),
            (
                "localhost:5000/authstore/redis".into(),
                "7.0-bookworm".into()
            )
        );
        assert_eq!(
            split("localhost:5000/redis"),
            ("localhost:5000/redis".into(), "latest".into())
        );
        assert!(split_image(" ").is_none());
    }

    #[test]
    fn free_ports_are_distinct() {
        let ports = free_ports(Service::RedisCluster, 3).unwrap();
        assert_eq!(ports.len(), 3);
        assert!(ports[0] != ports[1] && ports[1] != ports[2] && ports[0] != ports[2]);
    }

    fn classified(err: ClientError) -> StartFailure {
        classify(
            Service::Postgres,
            "postgres:17",
            TestcontainersError::Client(err),
        )
    }

    fn server_error(status_code: u16, message: &str) -> EngineError {
        EngineError::DockerResponseServerError {
            status_code,
            message: message.to_owned(),
        }
    }

    #[test]
    fn a_missing_docker_socket_means_no_container_engine() {
        let failure = classified(ClientError::Init(EngineError::SocketNotFoundError(
            "/nonexistent/docker.sock".to_owned(),
        )));
        assert!(
            matches!(
                failure,
                StartFailure::Other(ProvisionError::NoContainerEngine {
                    service: Service::Postgres,
                    ..
                })
            ),
            "{failure:?}"
        );
    }

    #[test]
    fn an_image_that_cannot_be_pulled_is_unavailable_and_names_its_variable() {
        let failure = classified(ClientError::PullImage {
            descriptor: "postgres:17".to_owned(),
            err: server_error(404, "pull access denied for postgres"),
        });
        let StartFailure::Other(err) = failure else {
            panic!("expected a classified error, got {failure:?}");
        };
        assert!(
            matches!(
                &err,
                ProvisionError::ImageUnavailable { image, var: "AUTHSTORE_POSTGRES_IMAGE", .. }
                    if image == "postgres:17"
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("ci/start-postgres"), "{err}");
    }

    #[test]
    fn a_taken_port_is_retried_and_other_engine_refusals_are_container_errors() {
        let taken = classified(ClientError::StartContainer(server_error(
            500,
            "driver failed programming external connectivity: Bind for 0.0.0.0:5432 failed: \
             port is already allocated",
        )));
        assert!(matches!(taken, StartFailure::PortTaken(_)), "{taken:?}");
        let refused = classified(ClientError::CreateContainer(server_error(
            400,
            "invalid reference format",
        )));
        assert!(
            matches!(
                refused,
                StartFailure::Other(ProvisionError::Container { .. })
            ),
            "{refused:?}"
        );
    }
}
