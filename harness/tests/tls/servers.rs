//! TLS-only servers this test starts as host processes, each in its own temporary
//! directory, on a free loopback port, with the certificate of a [`Pki`]; a [`Server`]
//! kills its process when dropped, however the test ends.
//!
//! A missing server binary is an error saying which Debian package provides it: the test
//! fails, it is never skipped.

use std::fs::{self, File};
use std::future::Future;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::pki::Pki;

/// How long a server may take to start (initdb and mariadb-install-db included) on a
/// loaded 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How often readiness is probed while a server starts.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// A running server process, killed (and reaped) on drop.
#[derive(Debug)]
pub(crate) struct Server {
    name: &'static str,
    child: Child,
    log: PathBuf,
    /// The loopback port it accepts TLS connections on.
    pub(crate) port: u16,
}

impl Server {
    /// The end of the server's log, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Calls `probe` until it succeeds, failing if the process exits or
    /// [`START_TIMEOUT`] passes first.
    async fn wait_ready<F, Fut>(&mut self, mut probe: F) -> Result<(), String>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let started = Instant::now();
        loop {
            let last = match probe().await {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited during start-up ({status}); its log ends:\n{}",
                    self.name,
                    self.log_tail()
                ));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(format!(
                    "{} was not ready within {START_TIMEOUT:?} ({last}); its log ends:\n{}",
                    self.name,
                    self.log_tail()
                ));
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Already exited is fine; nothing else can be done about a failure here.
        let _killed = self.child.kill();
        let _reaped = self.child.wait();
    }
}

/// `redis-server` with TLS on a free port and the plain port disabled.
pub(crate) async fn redis(dir: &Path, pki: &Pki) -> Result<Server, String> {
    let binary = find_binary("redis-server", &[], "redis-server")?;
    let port = free_port()?;
    let log = dir.join("redis.log");
    let mut command = Command::new(binary);
    command
        .current_dir(dir)
        .args([
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--tls-port")
        .arg(port.to_string())
        .arg("--tls-cert-file")
        .arg(&pki.cert)
        .arg("--tls-key-file")
        .arg(&pki.key)
        .arg("--tls-ca-cert-file")
        .arg(&pki.ca)
        .args(["--tls-auth-clients", "no", "--logfile"])
        .arg(&log);
    let mut server = spawn("redis-server", command, &log, port)?;
    // Redis listens only once it serves.
    server
        .wait_ready(|| async move {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .map(drop)
                .map_err(|err| err.to_string())
        })
        .await?;
    Ok(server)
}

/// A fresh PostgreSQL cluster (user `postgres`, trusted) whose `pg_hba.conf` accepts
/// TCP only over TLS (`hostssl`) and rejects it without (`hostnossl ... reject`).
/// `ready` is a probe that connects over TLS.
pub(crate) async fn postgres<F, Fut>(dir: &Path, pki: &Pki, ready: F) -> Result<Server, String>
where
    F: FnMut(u16) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let bin = postgres_bin_dir()?;
    let data = dir.join("pgdata");
    let owner = ServiceUser::for_service("postgres", dir)?;
    let mut initdb = Command::new(bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]);
    run_to_end("initdb", owner.apply(initdb))?;
    fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\n\
         hostssl all all 127.0.0.1/32 trust\n\
         hostnossl all all 127.0.0.1/32 reject\n",
    )
    .map_err(|err| format!("writing pg_hba.conf: {err}"))?;
    let port = free_port()?;
    let log = dir.join("postgres.log");
    let mut command = Command::new(bin.join("postgres"));
    command
        .arg("-D")
        .arg(&data)
        .arg("-p")
        .arg(port.to_string())
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "ssl=on",
            "-c",
            "fsync=off",
        ])
        .arg("-c")
        .arg(format!("unix_socket_directories={}", dir.display()))
        .arg("-c")
        .arg(format!("ssl_cert_file={}", pki.cert.display()))
        .arg("-c")
        .arg(format!("ssl_key_file={}", pki.key.display()));
    let mut server = spawn("postgres", owner.apply(command), &log, port)?;
    let mut ready = ready;
    server.wait_ready(|| ready(port)).await?;
    Ok(server)
}

/// A fresh MariaDB server requiring secure transport, with the user `tls` (password
/// `tls`, all privileges) allowed from 127.0.0.1 over TLS only (`REQUIRE SSL`).
pub(crate) async fn mariadb(dir: &Path, pki: &Pki) -> Result<Server, String> {
    const PACKAGE: &str = "mariadb-server";
    let server_binary = find_binary("mariadbd", &["/usr/sbin"], PACKAGE)?;
    let install_db = find_binary("mariadb-install-db", &[], PACKAGE)?;
    let client = find_binary("mariadb", &[], "mariadb-client")?;
    let data = dir.join("mariadb");
    let socket = dir.join("mariadb.sock");
    let owner = ServiceUser::for_service("mysql", dir)?;
    let mut install = Command::new(install_db);
    install
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
    run_to_end("mariadb-install-db", owner.apply(install))?;
    let port = free_port()?;
    let log = dir.join("mariadb.log");
    let mut command = Command::new(server_binary);
    command
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", socket.display()))
        .arg(format!("--port={port}"))
        .arg(format!("--pid-file={}", dir.join("mariadb.pid").display()))
        .arg(format!("--ssl-cert={}", pki.cert.display()))
        .arg(format!("--ssl-key={}", pki.key.display()))
        .arg(format!("--ssl-ca={}", pki.ca.display()))
        .args([
            "--bind-address=127.0.0.1",
            "--require-secure-transport=ON",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=16M",
            "--innodb-flush-log-at-trx-commit=0",
        ]);
    // No --log-error: the server, not root, would have to create that file; its stderr
    // goes to `log`.
    let mut server = spawn("mariadbd", owner.apply(command), &log, port)?;
    let as_root = |sql: &'static str| {
        let mut command = Command::new(&client);
        command
            .arg(format!("--socket={}", socket.display()))
            .args(["-uroot", "-e", sql]);
        run_to_end("mariadb", command)
    };
    server.wait_ready(|| async { as_root("SELECT 1") }).await?;
    as_root(
        "CREATE USER 'tls'@'127.0.0.1' IDENTIFIED BY 'tls' REQUIRE SSL; \
         GRANT ALL PRIVILEGES ON *.* TO 'tls'@'127.0.0.1'",
    )?;
    Ok(server)
}

/// The system user a server must run as when this test runs as root (PostgreSQL refuses
/// to run as root; MariaDB would need `--user=root`), owning the server's directory.
struct ServiceUser {
    ids: Option<(u32, u32)>,
}

impl ServiceUser {
    /// `name`'s ids if this process is root (after giving it `dir`), else no change.
    fn for_service(name: &str, dir: &Path) -> Result<Self, String> {
        // /proc/self belongs to the process's effective user.
        let euid = fs::metadata("/proc/self")
            .map_err(|err| format!("reading /proc/self: {err}"))?
            .uid();
        if euid != 0 {
            return Ok(Self { ids: None });
        }
        let uid = id_of(name, "-u")?;
        let gid = id_of(name, "-g")?;
        chown_tree(dir, uid, gid)?;
        Ok(Self {
            ids: Some((uid, gid)),
        })
    }

    fn apply(&self, mut command: Command) -> Command {
        if let Some((uid, gid)) = self.ids {
            command.uid(uid).gid(gid);
        }
        command
    }
}

fn id_of(user: &str, flag: &str) -> Result<u32, String> {
    let out = Command::new("id")
        .args([flag, user])
        .output()
        .map_err(|err| format!("running `id {flag} {user}`: {err}"))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| {
            format!(
                "the system user `{user}` is missing (running as root, the server must run as \
             it): install the server's Debian package, which creates it"
            )
        })
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<(), String> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .map_err(|err| format!("chown {}: {err}", path.display()))?;
    if path.is_dir() {
        let entries = fs::read_dir(path).map_err(|err| format!("{}: {err}", path.display()))?;
        for entry in entries {
            let entry = entry.map_err(|err| format!("{}: {err}", path.display()))?;
            chown_tree(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `postgres` and `initdb`.
fn postgres_bin_dir() -> Result<PathBuf, String> {
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("postgres").is_file() && bin.join("initdb").is_file())
                .then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        "no PostgreSQL server under /usr/lib/postgresql/*/bin: install it \
         (`apt-get install postgresql`, or `bash ci/start-postgres`)"
            .to_owned()
    })
}

/// `name` on `PATH` or in `extra_dirs`, else an error naming the Debian package.
fn find_binary(name: &str, extra_dirs: &[&str], package: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra_dirs.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            format!(
                "`{name}` not found: install it (`apt-get install {package}`) to run the TLS tests"
            )
        })
}

/// A port nobody listens on now (the OS's choice for an ephemeral bind).
fn free_port() -> Result<u16, String> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|err| format!("finding a free port: {err}"))
}

fn spawn(
    name: &'static str,
    mut command: Command,
    log: &Path,
    port: u16,
) -> Result<Server, String> {
    let output = File::create(log).map_err(|err| format!("creating {}: {err}", log.display()))?;
    let errors = output
        .try_clone()
        .map_err(|err| format!("{}: {err}", log.display()))?;
    let child = command
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(errors)
        .spawn()
        .map_err(|err| format!("starting {name}: {err}"))?;
    Ok(Server {
        name,
        child,
        log: log.to_owned(),
        port,
    })
}

/// Runs `command` to completion; its output is the error when it fails.
fn run_to_end(name: &str, mut command: Command) -> Result<(), String> {
    let out = command
        .output()
        .map_err(|err| format!("running {name}: {err}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{name} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
