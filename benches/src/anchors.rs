//! External anchors: the servers' own benchmark tools (`pgbench`, `redis-benchmark`,
//! `mysqlslap`), one client each, run by the matrix benchmark right before an engine's
//! baselines so their figures come from the same run. A tool that is not installed or
//! fails is recorded as not measured, with the reason; no figure is ever made up.

use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::setup::{MYSQL_URL_VAR, POSTGRES_URL_VAR, REDIS_URL_VAR};

/// Calls per `redis-benchmark` test and per `mysqlslap` query.
const CALLS: usize = 20_000;

/// Seconds `pgbench` runs for.
const PGBENCH_SECONDS: u32 = 5;

/// One tool's figure for one operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Anchor {
    /// The tool, e.g. `pgbench`.
    pub tool: String,
    /// The best-client engine it anchors, e.g. `best-postgres`.
    pub engine: String,
    /// What it measured, e.g. `point read (pgbench -S)`.
    pub operation: String,
    /// The command run (password left out).
    pub command: String,
    /// Mean latency per call, ns; `None` when not measured.
    pub latency_ns: Option<f64>,
    /// Why it was not measured.
    pub note: Option<String>,
}

impl Anchor {
    fn new(tool: &str, engine: &str, operation: &str, command: String) -> Self {
        Self {
            tool: tool.into(),
            engine: engine.into(),
            operation: operation.into(),
            command,
            latency_ns: None,
            note: None,
        }
    }

    fn with(mut self, result: Result<f64, String>) -> Self {
        match result {
            Ok(ns) => self.latency_ns = Some(ns),
            Err(why) => self.note = Some(why),
        }
        self
    }
}

/// Runs the tools that anchor `engine` (one of `best-postgres`, `best-redis`,
/// `best-mysql`; none for others). Blocking: call it outside any timed section.
pub fn measure(engine: &str, rt: &tokio::runtime::Runtime) -> Vec<Anchor> {
    let url = |var: &str| std::env::var(var).ok().filter(|v| !v.trim().is_empty());
    match engine {
        "best-postgres" => match url(POSTGRES_URL_VAR) {
            Some(url) => vec![pgbench(&url, rt)],
            None => Vec::new(),
        },
        "best-redis" => match url(REDIS_URL_VAR) {
            Some(url) => redis_benchmark(&url),
            None => Vec::new(),
        },
        "best-mysql" => match url(MYSQL_URL_VAR) {
            Some(url) => mysqlslap(&url, rt),
            None => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Host, port, user and password of a server URL.
struct Server {
    host: String,
    port: Option<u16>,
    user: String,
    password: Option<String>,
}

fn server(url: &str) -> Result<Server, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("server URL: {e}"))?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map_or_else(String::new, |(_, v)| v.into_owned())
    };
    Ok(Server {
        host: parsed.host_str().unwrap_or("localhost").to_owned(),
        port: parsed.port(),
        user: decode(parsed.username()),
        password: parsed.password().map(decode),
    })
}

/// Runs `cmd`; its standard output, or why it failed (missing tool included).
fn run(mut cmd: Command) -> Result<String, String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{program} is not installed"),
        _ => format!("{program}: {e}"),
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{program} failed ({}): {}",
            out.status,
            stderr.lines().last().unwrap_or("").trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `pgbench -S -M prepared -c 1` (primary-key reads of `pgbench_accounts`, scale 1) on a
/// database of its own, dropped afterwards.
fn pgbench(url: &str, rt: &tokio::runtime::Runtime) -> Anchor {
    let args = format!("-S -M prepared -c 1 -n -T {PGBENCH_SECONDS}");
    let anchor = Anchor::new(
        "pgbench",
        "best-postgres",
        "point read (SELECT by primary key)",
        format!("pgbench -i -s 1 -q; pgbench {args}"),
    );
    let result = (|| {
        let srv = server(url)?;
        let database = crate::setup::servers::unique_name();
        let admin = |sql: String| {
            rt.block_on(async {
                use sqlx::{ConnectOptions, Connection, Executor};
                let options: sqlx::postgres::PgConnectOptions =
                    url.parse().map_err(|e| format!("{e}"))?;
                let mut conn = options.connect().await.map_err(|e| e.to_string())?;
                let done = conn
                    .execute(sqlx::AssertSqlSafe(sql))
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string());
                let _closed = conn.close().await;
                done
            })
        };
        admin(format!("CREATE DATABASE {database}"))?;
        let pg = |extra: &str| {
            let mut cmd = Command::new("pgbench");
            cmd.args(extra.split(' '))
                .arg(&database)
                .env("PGHOST", &srv.host)
                .env("PGUSER", &srv.user);
            if let Some(port) = srv.port {
                cmd.env("PGPORT", port.to_string());
            }
            if let Some(password) = &srv.password {
                cmd.env("PGPASSWORD", password);
            }
            run(cmd)
        };
        let measured = pg("-i -s 1 -q").and_then(|_| pg(&args));
        let dropped = admin(format!("DROP DATABASE {database} WITH (FORCE)"));
        let out = measured?;
        dropped?;
        // "latency average = 0.130 ms"
        out.lines()
            .find_map(|l| l.strip_prefix("latency average = "))
            .and_then(|v| v.strip_suffix(" ms"))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|ms| ms * 1e6)
            .ok_or_else(|| format!("no `latency average` in pgbench's output: {out}"))
    })();
    anchor.with(result)
}

/// `redis-benchmark -c 1` of `SET` and `GET` on a 256-byte value under a key of its own,
/// deleted afterwards.
fn redis_benchmark(url: &str) -> Vec<Anchor> {
    let key = format!("{}anchor", crate::setup::servers::redis_prefix());
    let value = "v".repeat(crate::dataset::VALUE_BYTES);
    let tests = [("SET", "upsert (SET)"), ("GET", "point read (GET)")];
    let srv = server(url);
    let bench = |command: &str| -> Result<f64, String> {
        let srv = srv.as_ref().map_err(Clone::clone)?;
        let mut cmd = Command::new("redis-benchmark");
        cmd.args(["-h", &srv.host])
            .args(["-p", &srv.port.unwrap_or(6379).to_string()])
            .args(["-c", "1", "-n", &CALLS.to_string(), "--csv"]);
        if !srv.user.is_empty() {
            cmd.args(["--user", &srv.user]);
        }
        if let Some(password) = &srv.password {
            cmd.env("REDISCLI_AUTH", password);
        }
        cmd.arg(command).arg(&key);
        if command == "SET" {
            cmd.arg(&value);
        }
        let out = run(cmd)?;
        // "test","rps","avg_latency_ms",... then one row per test.
        out.lines()
            .nth(1)
            .and_then(|row| row.split(',').nth(2))
            .and_then(|v| v.trim_matches('"').parse::<f64>().ok())
            .map(|ms| ms * 1e6)
            .ok_or_else(|| format!("no average latency in redis-benchmark's output: {out}"))
    };
    let anchors = tests
        .iter()
        .map(|(command, operation)| {
            Anchor::new(
                "redis-benchmark",
                "best-redis",
                operation,
                format!(
                    "redis-benchmark -c 1 -n {CALLS} --csv {command} <key>{}",
                    if *command == "SET" {
                        " <256 bytes>"
                    } else {
                        ""
                    }
                ),
            )
            .with(bench(command))
        })
        .collect();
    if let Ok(srv) = &srv {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-h", &srv.host])
            .args(["-p", &srv.port.unwrap_or(6379).to_string()])
            .args(["DEL", &key]);
        if let Some(password) = &srv.password {
            cmd.env("REDISCLI_AUTH", password);
        }
        let _deleted = run(cmd);
    }
    anchors
}

/// `mysqlslap --concurrency=1` of a primary-key read and of an upsert that changes the
/// row, on a one-row table in a database of its own, dropped afterwards.
fn mysqlslap(url: &str, rt: &tokio::runtime::Runtime) -> Vec<Anchor> {
    let database = crate::setup::servers::unique_name();
    let queries = [
        (
            "point read (SELECT by primary key)",
            "SELECT value FROM slap WHERE id = 'k'".to_owned(),
        ),
        (
            "upsert (INSERT ... ON DUPLICATE KEY UPDATE)",
            "INSERT INTO slap (id, value) VALUES ('k', RAND()) ON DUPLICATE KEY UPDATE value = VALUES(value)"
                .to_owned(),
        ),
    ];
    let admin = |sql: &str| {
        rt.block_on(async {
            use sqlx::{ConnectOptions, Connection, Executor};
            let options: sqlx::mysql::MySqlConnectOptions =
                url.parse().map_err(|e| format!("{e}"))?;
            let mut conn = options.connect().await.map_err(|e| e.to_string())?;
            let done = conn
                .execute(sqlx::AssertSqlSafe(sql.to_owned()))
                .await
                .map(drop)
                .map_err(|e| e.to_string());
            let _closed = conn.close().await;
            done
        })
    };
    let srv = server(url);
    let made = srv
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|_| admin(&format!("CREATE DATABASE `{database}`")));
    let database_made = made.is_ok();
    let created = srv.and_then(|srv| {
        made?;
        admin(&format!(
            "CREATE TABLE `{database}`.slap (id VARBINARY(255) PRIMARY KEY, value LONGBLOB NOT NULL) ENGINE = InnoDB"
        ))?;
        admin(&format!(
            "INSERT INTO `{database}`.slap VALUES ('k', REPEAT('v', 256))"
        ))?;
        Ok(srv)
    });
    let anchors = queries
        .iter()
        .map(|(operation, query)| {
            let anchor = Anchor::new(
                "mysqlslap",
                "best-mysql",
                operation,
                format!(
                    "mysqlslap --concurrency=1 --iterations=1 --number-of-queries={CALLS} --query=\"{query}\""
                ),
            );
            let result = created.as_ref().map_err(Clone::clone).and_then(|srv| {
                let mut cmd = Command::new("mysqlslap");
                cmd.args(["-h", &srv.host])
                    .args(["-P", &srv.port.unwrap_or(3306).to_string()])
                    .args(["-u", &srv.user])
                    .arg(format!("--create-schema={database}"))
                    .args(["--no-drop", "--concurrency=1", "--iterations=1"])
                    .arg(format!("--number-of-queries={CALLS}"))
                    .arg(format!("--query={query}"));
                if let Some(password) = &srv.password {
                    cmd.env("MYSQL_PWD", password);
                }
                let out = run(cmd)?;
                // "Average number of seconds to run all queries: 1.234 seconds"
                out.lines()
                    .find_map(|l| {
                        l.trim()
                            .strip_prefix("Average number of seconds to run all queries:")
                    })
                    .and_then(|v| v.trim().trim_end_matches("seconds").trim().parse::<f64>().ok())
                    .map(|s| Duration::from_secs_f64(s).as_nanos() as f64 / CALLS as f64)
                    .ok_or_else(|| format!("no average in mysqlslap's output: {out}"))
            });
            anchor.with(result)
        })
        .collect();
    if database_made {
        let _dropped = admin(&format!("DROP DATABASE `{database}`"));
    }
    anchors
}
