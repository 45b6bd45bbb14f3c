//! How many commands each write sends to the server from inside its script, counted with
//! `MONITOR`. Every command a script calls costs about 1.5 µs of server time on top of the
//! script's own (benches/PROFILE.md), so the counts are part of the backend's speed. Only
//! commands on this test's keys are counted (`TIME` names no key), so other clients of
//! the server do not disturb the counts.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

use ::redis::{ConnectionAddr, IntoConnectionInfo};
use authstore_spec::{AuthStorage, AuthToken, SessionData};

use super::super::{RedisConfig, RedisStorage, SCRIPTS};
use super::url;

/// Held for writing by the test that deletes the function library from the server, and
/// for reading by those that count `FCALL`s, which the deletion would double (a call that
/// misses the library loads it and calls again).
static LIBRARY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A `MONITOR` connection read by a thread of its own, line by line.
struct Monitor {
    lines: mpsc::Receiver<String>,
}

impl Monitor {
    /// Starts monitoring the server at [`url`] (plain TCP; with its password, if any).
    fn start() -> Self {
        let info = url().into_connection_info().expect("AUTHSTORE_REDIS_URL");
        let (host, port) = match info.addr() {
            ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
            other => panic!("the MONITOR test needs a plain TCP Redis URL, not {other:?}"),
        };
        let mut stream = TcpStream::connect((host.as_str(), port)).expect("connect for MONITOR");
        let redis = info.redis_settings();
        if let Some(password) = redis.password() {
            let user = redis.username().unwrap_or("default");
            write!(stream, "AUTH {user} {password}\r\n").expect("AUTH");
        }
        stream.write_all(b"MONITOR\r\n").expect("MONITOR");
        let mut reader = BufReader::new(stream);
        // Commands sent after the reply (+OK, after the AUTH reply if any) are monitored.
        let replies = if redis.password().is_some() { 2 } else { 1 };
        for _ in 0..replies {
            let mut reply = String::new();
            reader.read_line(&mut reply).expect("MONITOR reply");
            assert!(reply.starts_with('+'), "MONITOR refused: {reply}");
        }
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self { lines }
    }

    /// The commands run inside scripts on keys containing `base` until the line carrying
    /// `marker` arrives: each as its name, e.g. `"HSET"`.
    fn script_commands_until(&self, base: &str, marker: &str) -> Vec<String> {
        self.commands_until(base, marker)
            .into_iter()
            .filter_map(|(in_script, name)| in_script.then_some(name))
            .collect()
    }

    /// The commands naming `base` until the line carrying `marker` arrives: each as
    /// whether a script ran it, and its name.
    fn commands_until(&self, base: &str, marker: &str) -> Vec<(bool, String)> {
        let mut commands = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(10))
                .expect("MONITOR line");
            if line.contains(marker) {
                return commands;
            }
            // `+<time> [<db> <client address, or lua>] "CMD" "arg"...`.
            if line.contains(base) {
                let name = line.split("] \"").nth(1).unwrap_or_default();
                let name = name.split('"').next().unwrap_or_default().to_owned();
                commands.push((line.contains(" lua] "), name));
            }
        }
    }
}

/// A storage under a prefix of its own, and its key base.
async fn storage(name: &str) -> (RedisStorage, String) {
    let prefix = format!("{name}-commands-{}:", std::process::id());
    let storage = RedisConfig::new(url())
        .with_prefix(&prefix)
        .connect()
        .await
        .expect("connect");
    storage.purge().await.expect("purge");
    (storage, format!("{{{prefix}}}"))
}

/// Sends `ECHO marker` through `storage`'s own connection, after which the monitor has
/// seen every command of the calls before.
async fn echo(storage: &RedisStorage, marker: &str) {
    let mut echo = ::redis::cmd("ECHO");
    echo.arg(marker);
    let _: String = storage
        .run("echo", storage.conn.query(&echo))
        .await
        .expect("ECHO");
}

/// Overwriting a token or session with the same owner and access token rewrites its
/// fields and index scores in place: no index entry is removed only to be added again.
#[tokio::test]
async fn overwrites_of_an_unchanged_owner_call_few_commands() {
    let (storage, base) = storage("overwrite").await;
    let token = AuthToken::new("t1", "u1", "access-1", Duration::from_secs(3600));
    let session = SessionData::new("s1", "u1", Duration::from_secs(3600));
    storage.store_token(&token).await.expect("store_token");
    storage
        .store_session("s1", &session)
        .await
        .expect("store_session");

    let monitor = Monitor::start();
    echo(&storage, &format!("{base}-start")).await;
    monitor.script_commands_until(&base, &format!("{base}-start"));

    let mut counts = Vec::new();
    for (step, call) in ["store_token", "update_token", "store_session"]
        .into_iter()
        .enumerate()
    {
        match call {
            "store_token" => storage.store_token(&token).await.expect("store_token"),
            "update_token" => storage.update_token(&token).await.expect("update_token"),
            _ => storage
                .store_session("s1", &session)
                .await
                .expect("store_session"),
        }
        let marker = format!("{base}-after-{step}");
        echo(&storage, &marker).await;
        let commands = monitor.script_commands_until(&base, &marker);
        counts.push((call, commands.len(), commands));
    }
    storage.purge().await.expect("purge");

    // Keyed commands: for a token HMGET, GET (the access entry's holder), HSET,
    // PEXPIREAT, SET (the access entry's expiry), ZADD (user), PEXPIRETIME (the user
    // index's expiry), ZADD (global), ZRANGEBYSCORE (CLN-3 pruning); a session has no
    // access entry (no GET, no SET).
    let limits = [
        ("store_token", 9),
        ("update_token", 9),
        ("store_session", 7),
    ];
    for ((call, count, commands), (_, limit)) in counts.iter().zip(limits) {
        assert!(
            *count <= limit,
            "{call} over an unchanged item ran {count} keyed commands, at most {limit} \
             expected: {commands:?}"
        );
    }
}

/// A permanent kv write is a SET and a ZADD (the key listing): no clock, no expiry index,
/// no prune; only writes with a TTL, the ones that leave index garbage, prune.
#[tokio::test]
async fn permanent_kv_writes_call_two_commands() {
    let (storage, base) = storage("permanent-kv").await;
    storage
        .store_kv("k", b"v", Some(Duration::from_secs(60)))
        .await
        .expect("store_kv with a TTL");
    let monitor = Monitor::start();
    echo(&storage, &format!("{base}-start")).await;
    monitor.script_commands_until(&base, &format!("{base}-start"));
    let mut counts = Vec::new();
    for (step, ttl) in [None, None, Some(Duration::from_secs(60))]
        .into_iter()
        .enumerate()
    {
        storage.store_kv("k", b"w", ttl).await.expect("store_kv");
        let marker = format!("{base}-after-{step}");
        echo(&storage, &marker).await;
        counts.push(monitor.script_commands_until(&base, &marker));
    }
    storage.purge().await.expect("purge");
    // Over an entry with a TTL and over a permanent one alike.
    assert_eq!(counts[0], ["SET", "ZADD"], "permanent over expiring");
    assert_eq!(counts[1], ["SET", "ZADD"], "permanent over permanent");
    // SET, ZADD (listing), ZADD (expiry index), ZRANGEBYSCORE (CLN-3 pruning).
    assert_eq!(
        counts[2],
        ["SET", "ZADD", "ZADD", "ZRANGEBYSCORE"],
        "expiring over permanent"
    );
}

/// Operations call the backend's function library (`FCALL`), which defines the shared
/// helpers once when it loads, rather than scripts (`EVALSHA`), which define them again
/// on every call.
#[tokio::test]
async fn operations_call_functions() {
    let _library = LIBRARY.read().await;
    let (storage, base) = storage("fcall").await;
    let monitor = Monitor::start();
    storage
        .store_kv("k", b"v", Some(Duration::from_secs(60)))
        .await
        .expect("store_kv");
    let marker = format!("{base}-end");
    echo(&storage, &marker).await;
    let sent: Vec<String> = monitor
        .commands_until(&base, &marker)
        .into_iter()
        .filter_map(|(in_script, name)| (!in_script).then_some(name))
        .collect();
    storage.purge().await.expect("purge");
    assert_eq!(sent, ["FCALL"], "store_kv sent {sent:?}");
}

/// A server that lost the library (`FUNCTION FLUSH`, a new node, a restart without
/// persistence) gets it again from the first call that misses it, which then succeeds.
#[tokio::test]
async fn a_lost_library_is_loaded_again() {
    let _library = LIBRARY.write().await;
    let (storage, _) = storage("reload").await;
    let library = &SCRIPTS.library.name;
    let mut delete = ::redis::cmd("FUNCTION");
    delete.arg("DELETE").arg(library);
    // Other tests of this process may have loaded it again already: either reply is fine.
    let _: ::redis::RedisResult<()> = storage.conn.query(&delete).await;
    storage
        .store_kv("k", b"v", Some(Duration::from_secs(60)))
        .await
        .expect("store_kv after FUNCTION DELETE");
    assert_eq!(
        storage.get_kv("k").await.expect("get_kv"),
        Some(b"v".to_vec())
    );
    let mut list = ::redis::cmd("FUNCTION");
    list.arg("LIST").arg("LIBRARYNAME").arg(library);
    let found: Vec<::redis::Value> = storage.conn.query(&list).await.expect("FUNCTION LIST");
    storage.purge().await.expect("purge");
    assert_eq!(found.len(), 1, "the library {library} is loaded again");
}
