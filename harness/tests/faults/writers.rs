//! Concurrent writers through a server fault: every write has a unique id, every `Ok` is
//! remembered with its content and when it returned, and afterwards every acknowledged
//! write is read back and the indexes are compared with the records.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use authstore_spec::{AuthStorage, AuthToken, SessionData};
use futures::future::join_all;

use super::support::HANG;

const HOUR: Duration = Duration::from_secs(3600);

/// Concurrent writer tasks.
pub(crate) const WRITERS: usize = 8;

/// How long writers keep going after the server is back.
const AFTER_RESTART: Duration = Duration::from_secs(2);

/// Pause after a failed write, so writers facing a dead server do not spin.
const BACKOFF: Duration = Duration::from_millis(20);

/// One write's content.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    /// A token.
    Token(AuthToken),
    /// A session.
    Session(SessionData),
    /// A kv entry: key, value.
    Kv(String, Vec<u8>),
}

impl Item {
    /// The `n`th write of writer `w`: token, session and kv in turn, ids unique.
    fn new(w: usize, n: u64) -> Item {
        let user = user(w);
        match n % 3 {
            0 => Item::Token(AuthToken::new(
                format!("w{w}-t{n}"),
                user,
                format!("access-w{w}-n{n}"),
                HOUR,
            )),
            1 => Item::Session(SessionData::new(format!("w{w}-s{n}"), user, HOUR)),
            _ => Item::Kv(format!("w{w}-k{n}"), format!("value {w} {n}").into_bytes()),
        }
    }

    /// The item's id (or key).
    pub(crate) fn id(&self) -> &str {
        match self {
            Item::Token(token) => &token.token_id,
            Item::Session(session) => &session.session_id,
            Item::Kv(key, _) => key,
        }
    }

    async fn write(&self, storage: &dyn AuthStorage) -> authstore_spec::Result<()> {
        match self {
            Item::Token(token) => storage.store_token(token).await,
            Item::Session(session) => storage.store_session(&session.session_id, session).await,
            Item::Kv(key, value) => storage.store_kv(key, value, Some(HOUR)).await,
        }
    }

    /// `Ok(true)` if the storage holds exactly this item, `Ok(false)` if it holds none
    /// under its id, `Err` with a description if it holds something else.
    async fn read_back(
        &self,
        storage: &dyn AuthStorage,
    ) -> authstore_spec::Result<Result<bool, String>> {
        let differs = |what: &str| Err(format!("{what} {} came back different", self.id()));
        Ok(match self {
            Item::Token(token) => match storage.get_token(&token.token_id).await? {
                None => Ok(false),
                Some(found) if &found == token => Ok(true),
                Some(_) => differs("token"),
            },
            Item::Session(session) => match storage.get_session(&session.session_id).await? {
                None => Ok(false),
                Some(found) if &found == session => Ok(true),
                Some(_) => differs("session"),
            },
            Item::Kv(key, value) => match storage.get_kv(key).await? {
                None => Ok(false),
                Some(found) if &found == value => Ok(true),
                Some(_) => differs("kv entry"),
            },
        })
    }
}

fn user(w: usize) -> String {
    format!("writer-{w}")
}

/// One writer's record.
#[derive(Debug, Default)]
struct Log {
    attempted: u64,
    /// Acknowledged writes and when their call returned.
    acked: Vec<(Item, Instant)>,
    /// Ids of writes that returned an error (they may or may not have happened).
    errored: BTreeSet<String>,
    longest: Duration,
}

/// When the fault happened, as the fault driver reports it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FaultTimes {
    /// When the restart was requested: the old server was dead by then.
    pub(crate) restart_requested: Instant,
    /// When the server answered again.
    pub(crate) restarted: Instant,
}

/// Everything the writers saw, merged.
#[derive(Debug, Default)]
pub(crate) struct WriteRun {
    /// Calls made.
    pub(crate) attempted: u64,
    /// Acknowledged writes and when they returned.
    pub(crate) acked: Vec<(Item, Instant)>,
    /// Ids of failed writes.
    pub(crate) errored: BTreeSet<String>,
    /// The longest single call.
    pub(crate) longest_stall: Duration,
}

impl WriteRun {
    /// From the restart request to the first write acknowledged after it.
    pub(crate) fn first_ack_after(&self, times: &FaultTimes) -> Option<Duration> {
        self.acked
            .iter()
            .filter(|(_, at)| *at >= times.restart_requested)
            .map(|(_, at)| at.duration_since(times.restart_requested))
            .min()
    }
}

/// Runs [`WRITERS`] writers on `storage` while `fault` runs, and [`AFTER_RESTART`] more.
pub(crate) async fn write_through<F>(
    storage: Arc<dyn AuthStorage>,
    fault: F,
) -> (WriteRun, FaultTimes)
where
    F: Future<Output = FaultTimes>,
{
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let storage = Arc::clone(&storage);
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut log = Log::default();
                let mut n: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    let item = Item::new(w, n);
                    n += 1;
                    log.attempted += 1;
                    let began = Instant::now();
                    let result = tokio::time::timeout(HANG, item.write(storage.as_ref())).await;
                    let returned = Instant::now();
                    log.longest = log.longest.max(returned - began);
                    match result {
                        Ok(Ok(())) => log.acked.push((item, returned)),
                        Ok(Err(_)) | Err(_) => {
                            log.errored.insert(item.id().to_owned());
                            tokio::time::sleep(BACKOFF).await;
                        }
                    }
                }
                log
            })
        })
        .collect();
    let times = fault.await;
    tokio::time::sleep(AFTER_RESTART).await;
    stop.store(true, Ordering::Relaxed);
    let mut run = WriteRun::default();
    for log in join_all(tasks).await {
        let log = log.expect("a writer task panicked");
        run.attempted += log.attempted;
        run.acked.extend(log.acked);
        run.errored.extend(log.errored);
        run.longest_stall = run.longest_stall.max(log.longest);
    }
    (run, times)
}

/// What reading back found.
#[derive(Debug, Default)]
pub(crate) struct Verdict {
    /// Acknowledged writes found intact.
    pub(crate) present: u64,
    /// Acknowledged before the restart was requested and missing now.
    pub(crate) lost_before_restart: u64,
    /// Acknowledged before the restart was requested, in all.
    pub(crate) acked_before_restart: u64,
    /// Acknowledged after the restart was requested and missing now.
    pub(crate) lost_after_restart: u64,
    /// Items that came back different from what was written.
    pub(crate) corrupt: Vec<String>,
    /// Reads that failed three times.
    pub(crate) read_errors: Vec<String>,
    /// Listings or counts that disagree with the records.
    pub(crate) index_problems: Vec<String>,
}

impl Verdict {
    /// Acknowledged writes missing, in all.
    pub(crate) fn lost(&self) -> u64 {
        self.lost_before_restart + self.lost_after_restart
    }
}

/// Reads back every acknowledged write of `run` through `storage`, then checks that each
/// writer's token and session listings, the kv listing and the session count agree with
/// what is there.
pub(crate) async fn verify(
    storage: &dyn AuthStorage,
    run: &WriteRun,
    times: &FaultTimes,
) -> Verdict {
    let mut verdict = Verdict::default();
    let mut present_ids = BTreeSet::new();
    for (item, at) in &run.acked {
        let before = *at < times.restart_requested;
        if before {
            verdict.acked_before_restart += 1;
        }
        let mut found = None;
        let mut last_error = None;
        for _ in 0..3 {
            match tokio::time::timeout(HANG, item.read_back(storage)).await {
                Ok(Ok(answer)) => {
                    found = Some(answer);
                    break;
                }
                Ok(Err(err)) => last_error = Some(err.to_string()),
                Err(_) => last_error = Some(format!("no answer within {HANG:?}")),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        match found {
            Some(Ok(true)) => {
                verdict.present += 1;
                present_ids.insert(item.id().to_owned());
            }
            Some(Ok(false)) if before => verdict.lost_before_restart += 1,
            Some(Ok(false)) => verdict.lost_after_restart += 1,
            Some(Err(corrupt)) => verdict.corrupt.push(corrupt),
            None => verdict.read_errors.push(format!(
                "{}: {}",
                item.id(),
                last_error.unwrap_or_default()
            )),
        }
    }
    check_indexes(storage, run, &present_ids, &mut verdict).await;
    verdict
}

/// Every listed id must be one that was written (acknowledged or not), and every present
/// acknowledged id must be listed; the session count must equal the listed sessions.
async fn check_indexes(
    storage: &dyn AuthStorage,
    run: &WriteRun,
    present: &BTreeSet<String>,
    verdict: &mut Verdict,
) {
    let written: BTreeSet<&str> = run
        .acked
        .iter()
        .map(|(item, _)| item.id())
        .chain(run.errored.iter().map(String::as_str))
        .collect();
    let kind_of = |prefix: char| {
        move |id: &&String| {
            id.split('-')
                .nth(1)
                .is_some_and(|rest| rest.starts_with(prefix))
        }
    };
    let mut sessions_listed = 0u64;
    for w in 0..WRITERS {
        let mine = |id: &&String| id.starts_with(&format!("w{w}-"));
        let tokens = match storage.list_user_tokens(&user(w)).await {
            Ok(tokens) => tokens.into_iter().map(|t| t.token_id).collect(),
            Err(err) => {
                verdict.read_errors.push(format!("list_user_tokens: {err}"));
                continue;
            }
        };
        compare(
            verdict,
            &written,
            "list_user_tokens",
            tokens,
            present.iter().filter(mine).filter(kind_of('t')).collect(),
        );
        let sessions: BTreeSet<String> = match storage.list_user_sessions(&user(w)).await {
            Ok(sessions) => sessions.into_iter().map(|s| s.session_id).collect(),
            Err(err) => {
                verdict
                    .read_errors
                    .push(format!("list_user_sessions: {err}"));
                continue;
            }
        };
        sessions_listed += sessions.len() as u64;
        compare(
            verdict,
            &written,
            "list_user_sessions",
            sessions,
            present.iter().filter(mine).filter(kind_of('s')).collect(),
        );
    }
    match storage.list_kv_keys("w").await {
        Ok(keys) => compare(
            verdict,
            &written,
            "list_kv_keys",
            keys.into_iter().collect(),
            present.iter().filter(kind_of('k')).collect(),
        ),
        Err(err) => verdict.read_errors.push(format!("list_kv_keys: {err}")),
    }
    match storage.count_active_sessions().await {
        Ok(count) if count == sessions_listed => {}
        Ok(count) => verdict.index_problems.push(format!(
            "count_active_sessions says {count}, the listings hold {sessions_listed}"
        )),
        Err(err) => verdict
            .read_errors
            .push(format!("count_active_sessions: {err}")),
    }
}

/// Records in `verdict` every id `listed` that no writer wrote and every `expected` id
/// (present when read) that is not listed.
fn compare(
    verdict: &mut Verdict,
    written: &BTreeSet<&str>,
    what: &str,
    listed: BTreeSet<String>,
    expected: BTreeSet<&String>,
) {
    for id in &listed {
        if !written.contains(id.as_str()) {
            verdict
                .index_problems
                .push(format!("{what} lists {id}, which no writer wrote"));
        }
    }
    for id in expected {
        if !listed.contains(id) {
            verdict
                .index_problems
                .push(format!("{what} misses {id}, which get finds"));
        }
    }
}
