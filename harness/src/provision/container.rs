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

use testcontainers::core::{ContainerPort, IntoContainerPort};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::Service;
use super::probe;

/// The label every container started here carries (value `true`), for leak checks.
pub const LABEL: &str = "org.authstore.conformance";

/// How long a container may take from the start request to a successful query (an image
/// pull counts), unless `AUTHSTORE_CONTAINER_TIMEOUT` (seconds) says otherwise.
const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(180);

/// Pause between readiness attempts.
const PROBE_INTERVAL: Duration = Duration::from_millis(200);

/// Password of the `postgres` and MySQL/MariaDB `root` users in every container.
const PASSWORD: &str = "authstore";

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
    pub async fn start(service: Service, options: &ContainerOptions) -> Result<Self, String> {
        let image = service.image();
        let began = Instant::now();
        let mut last_error = String::new();
        // A host port picked free can be taken before Docker binds it: try fresh ones.
        for _attempt in 0..3 {
            let ports = free_ports(service_ports(service))?;
            let request = request(service, &image, &ports, options)?;
            match request.start().await {
                Ok(container) => {
                    reap_at_exit(container.id());
                    let url = url(service, &ports);
                    let server = wait_ready(service, &url, &container, began).await?;
                    return Ok(ServiceContainer {
                        service,
                        image,
                        container,
                        url,
                        server,
                        startup: began.elapsed(),
                    });
                }
                Err(err) => {
                    last_error = err.to_string();
                    if !last_error.contains("port is already allocated")
                        && !last_error.contains("address already in use")
                    {
                        break;
                    }
                }
            }
        }
        Err(format!(
            "cannot start a {service} container from image {image} ({last_error}); the image \
             must exist locally or be pullable (set {} to another image, e.g. one built by \
             `ci/images/build`), or {}",
            service.image_var(),
            service.advice()
        ))
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
    pub async fn pause(&self) -> Result<(), String> {
        self.container
            .pause()
            .await
            .map_err(|err| format!("docker pause {}: {err}", self.id()))
    }

    /// Thaws a paused container.
    pub async fn unpause(&self) -> Result<(), String> {
        self.container
            .unpause()
            .await
            .map_err(|err| format!("docker unpause {}: {err}", self.id()))
    }

    /// Kills the server with SIGKILL (`docker kill`): no shutdown, no final flush.
    pub async fn kill(&self) -> Result<(), String> {
        let output = tokio::process::Command::new("docker")
            .args(["kill", "--signal=KILL", self.id()])
            .output()
            .await
            .map_err(|err| format!("cannot run `docker kill`: {err}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "docker kill {}: {}",
                self.id(),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// Starts the stopped or killed container again (its filesystem, and so the
    /// server's data, kept) and waits until it answers; returns how long that took.
    pub async fn restart(&self) -> Result<Duration, String> {
        let began = Instant::now();
        self.container
            .start()
            .await
            .map_err(|err| format!("docker start {}: {err}", self.id()))?;
        wait_ready(self.service, &self.url, &self.container, began).await?;
        Ok(began.elapsed())
    }

    /// Stops and removes the container now.
    pub async fn remove(self) -> Result<(), String> {
        let id = self.id().to_owned();
        self.container
            .rm()
            .await
            .map_err(|err| format!("docker rm {id}: {err}"))
    }
}

/// Container ports: one server port, or the cluster's three node ports.
fn service_ports(service: Service) -> usize {
    match service {
        Service::RedisCluster => 3,
        _ => 1,
    }
}

/// The port the server listens on inside the container (for the cluster: the nodes
/// listen on the host ports themselves, so redirects name reachable addresses).
fn inner_port(service: Service) -> u16 {
    match service {
        Service::Postgres => 5432,
        Service::MySql | Service::MariaDb => 3306,
        Service::Redis | Service::RedisCluster => 6379,
    }
}

/// The container request: image, environment, fixed port mappings, labels, command.
fn request(
    service: Service,
    image: &str,
    ports: &[u16],
    options: &ContainerOptions,
) -> Result<testcontainers::ContainerRequest<GenericImage>, String> {
    let (name, tag) = split_image(image)?;
    let mut generic = GenericImage::new(name, tag);
    if service == Service::RedisCluster {
        generic = generic.with_entrypoint("sh");
    }
    let mut request = generic
        .with_label(LABEL, "true")
        .with_label("org.authstore.service", service.name())
        .with_label("org.authstore.pid", std::process::id().to_string());
    match service {
        Service::RedisCluster => {
            for &port in ports {
                request = request.with_mapped_port(port, port.tcp());
            }
            request = request.with_cmd(["-c".to_owned(), cluster_script(ports, options)]);
        }
        _ => {
            let inner: ContainerPort = inner_port(service).tcp();
            request = request.with_mapped_port(ports[0], inner);
            for (name, value) in environment(service) {
                request = request.with_env_var(name, value);
            }
            request = request.with_cmd(options.server_args.clone());
        }
    }
    let timeout = startup_timeout();
    Ok(request.with_startup_timeout(timeout))
}

/// `name:tag` (the registry part may itself hold a `:port`); no tag means `latest`.
fn split_image(image: &str) -> Result<(String, String), String> {
    let image = image.trim();
    if image.is_empty() {
        return Err("empty image name".to_owned());
    }
    let name_start = image.rfind('/').map_or(0, |slash| slash + 1);
    Ok(match image[name_start..].rfind(':') {
        Some(colon) => (
            image[..name_start + colon].to_owned(),
            image[name_start + colon + 1..].to_owned(),
        ),
        None => (image.to_owned(), "latest".to_owned()),
    })
}

/// The variables both the official images and the offline ones (`ci/images`) read.
fn environment(service: Service) -> Vec<(&'static str, &'static str)> {
    match service {
        Service::Postgres => vec![("POSTGRES_PASSWORD", PASSWORD)],
        Service::MySql | Service::MariaDb => vec![
            ("MYSQL_ROOT_PASSWORD", PASSWORD),
            ("MARIADB_ROOT_PASSWORD", PASSWORD),
            ("MYSQL_DATABASE", "authstore"),
            ("MARIADB_DATABASE", "authstore"),
        ],
        Service::Redis | Service::RedisCluster => Vec::new(),
    }
}

/// Three cluster-enabled nodes on the given ports announcing 127.0.0.1 (the host side of
/// the port mappings), joined into one cluster; the shell then waits forever.
fn cluster_script(ports: &[u16], options: &ContainerOptions) -> String {
    let extra = options
        .server_args
        .iter()
        .map(|arg| format!("'{}'", arg.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let list = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    let nodes = ports
        .iter()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect::<Vec<_>>()
        .join(" ");
    // Bus ports live only inside the container; 17000 + i is below the host's ephemeral
    // range the client ports come from, so they cannot clash.
    let starts = ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "mkdir -p /tmp/node-{p}\n\
                 redis-server --port {p} --bind 0.0.0.0 --protected-mode no --daemonize yes \
                 --cluster-enabled yes --cluster-config-file /tmp/node-{p}/nodes.conf \
                 --cluster-port {bus} --cluster-announce-ip 127.0.0.1 --dir /tmp/node-{p} \
                 --save '' --appendonly no {extra}\n",
                bus = 17000 + i
            )
        })
        .collect::<String>();
    format!(
        "set -e\n{starts}\
         for p in {list}; do until redis-cli -p $p ping >/dev/null 2>&1; do sleep 0.1; done; done\n\
         redis-cli --cluster create {nodes} --cluster-replicas 0 --cluster-yes\n\
         exec sleep infinity\n"
    )
}

/// `count` distinct free TCP ports on the host (free when asked; see the retry in
/// [`ServiceContainer::start`]).
fn free_ports(count: usize) -> Result<Vec<u16>, String> {
    let mut listeners = Vec::with_capacity(count);
    while listeners.len() < count {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|err| format!("cannot find a free port: {err}"))?;
        let port = listener
            .local_addr()
            .map_err(|err| format!("cannot find a free port: {err}"))?
            .port();
        listeners.push((port, listener));
    }
    Ok(listeners.into_iter().map(|(port, _)| port).collect())
}

/// The URL the backends connect with.
fn url(service: Service, ports: &[u16]) -> String {
    match service {
        Service::Postgres => format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/postgres",
            ports[0]
        ),
        Service::MySql | Service::MariaDb => {
            format!("mysql://root:{PASSWORD}@127.0.0.1:{}/authstore", ports[0])
        }
        Service::Redis => format!("redis://127.0.0.1:{}", ports[0]),
        Service::RedisCluster => ports
            .iter()
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(","),
    }
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
) -> Result<String, String> {
    let deadline = began + startup_timeout();
    loop {
        let error = match probe::probe(service, url).await {
            Ok(server) => return Ok(server),
            Err(err) => err,
        };
        let running = container.is_running().await.unwrap_or(true);
        if !running || Instant::now() >= deadline {
            let log = log_tail(container).await;
            let why = if running {
                format!("not ready after {:?}", startup_timeout())
            } else {
                "exited".to_owned()
            };
            return Err(format!(
                "the {service} container {} {why}; last probe: {error}\n--- container log \
                 (end) ---\n{log}",
                container.id()
            ));
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
        assert!(split_image(" ").is_err());
    }

    #[test]
    fn free_ports_are_distinct() {
        let ports = free_ports(3).unwrap();
        assert_eq!(ports.len(), 3);
        assert!(ports[0] != ports[1] && ports[1] != ports[2] && ports[0] != ports[2]);
    }
}
