//! What one benchmark iteration does: the calls (one, or 16 concurrent tasks), which
//! items they touch, and the untimed work that keeps the dataset's size unchanged.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use authstore_spec::AuthStorage;
use futures::future::{BoxFuture, join_all};

use crate::dataset::{
    Dataset, ITEMS_PER_USER, KEYS_PER_GROUP, TTL, VALUE_BYTES, access_token, kv_group_prefix,
    kv_key, kv_value, scatter, session, session_id, token, token_id, user,
};
use crate::setup::engine::Engine;

/// Item `k` of batch `n`: batches start at scattered places, and the calls of one batch
/// touch distinct, neighbouring items.
fn pick(n: u64, k: usize, len: usize) -> usize {
    (scatter(n, len) + k) % len
}

/// Where a call runs, for failure messages: the benchmark (backend or engine, dataset,
/// concurrency) and whether the call is the untimed restore of another operation.
pub type Site = Arc<str>;

/// Panics naming the operation and the benchmark: a failed call must stop the benchmark,
/// never be timed as if it had worked.
fn check<T, E: std::fmt::Display>(op: &str, site: &str, result: Result<T, E>) -> T {
    result.unwrap_or_else(|err| panic!("{op} failed in benchmark {site}: {err}"))
}

/// Call `k` of batch `n` of the trait method `op` on a store filled with `ds`. Reads
/// assert they found the item, listings and counts that they saw the whole result.
pub fn call(
    op: &'static str,
    site: Site,
    store: Arc<dyn AuthStorage>,
    ds: Dataset,
    n: u64,
    k: usize,
) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let (tokens, sessions, kvs) = (ds.tokens(), ds.sessions(), ds.kv_entries());
        match op {
            "store_token" => check(
                op,
                &site,
                store.store_token(&token(pick(n, k, tokens))).await,
            ),
            "get_token" => {
                let found = check(
                    op,
                    &site,
                    store.get_token(&token_id(pick(n, k, tokens))).await,
                );
                assert!(found.is_some(), "get_token missed in benchmark {site}");
            }
            "get_token_by_access_token" => {
                let at = access_token(pick(n, k, tokens));
                let found = check(op, &site, store.get_token_by_access_token(&at).await);
                assert!(
                    found.is_some(),
                    "get_token_by_access_token missed in benchmark {site}"
                );
            }
            "update_token" => check(
                op,
                &site,
                store.update_token(&token(pick(n, k, tokens))).await,
            ),
            "delete_token" => check(
                op,
                &site,
                store.delete_token(&token_id(pick(n, k, tokens))).await,
            ),
            "list_user_tokens" => {
                let listed = check(
                    op,
                    &site,
                    store
                        .list_user_tokens(&user(pick(n, k, ds.full_users())))
                        .await,
                );
                assert_eq!(
                    listed.len(),
                    ITEMS_PER_USER,
                    "list_user_tokens in benchmark {site}"
                );
            }
            "store_session" => {
                let i = pick(n, k, sessions);
                check(
                    op,
                    &site,
                    store.store_session(&session_id(i), &session(i)).await,
                )
            }
            "get_session" => {
                let found = check(
                    op,
                    &site,
                    store.get_session(&session_id(pick(n, k, sessions))).await,
                );
                assert!(found.is_some(), "get_session missed in benchmark {site}");
            }
            "delete_session" => check(
                op,
                &site,
                store
                    .delete_session(&session_id(pick(n, k, sessions)))
                    .await,
            ),
            "list_user_sessions" => {
                let listed = check(
                    op,
                    &site,
                    store
                        .list_user_sessions(&user(pick(n, k, ds.full_users())))
                        .await,
                );
                assert_eq!(
                    listed.len(),
                    ITEMS_PER_USER,
                    "list_user_sessions in benchmark {site}"
                );
            }
            "count_active_sessions" => {
                let count = check(op, &site, store.count_active_sessions().await);
                assert_eq!(
                    count, sessions as u64,
                    "count_active_sessions in benchmark {site}"
                );
            }
            "store_kv" => {
                let i = pick(n, k, kvs);
                check(
                    op,
                    &site,
                    store.store_kv(&kv_key(i), &kv_value(i), Some(TTL)).await,
                )
            }
            "get_kv" => {
                let found = check(op, &site, store.get_kv(&kv_key(pick(n, k, kvs))).await);
                assert!(found.is_some(), "get_kv missed in benchmark {site}");
            }
            "delete_kv" => check(op, &site, store.delete_kv(&kv_key(pick(n, k, kvs))).await),
            "list_kv_keys" => {
                let prefix = kv_group_prefix(pick(n, k, ds.full_groups()));
                let listed = check(op, &site, store.list_kv_keys(&prefix).await);
                assert_eq!(
                    listed.len(),
                    KEYS_PER_GROUP,
                    "list_kv_keys in benchmark {site}"
                );
            }
            "cleanup_expired" => check(op, &site, store.cleanup_expired().await),
            other => panic!("unknown operation {other} in benchmark {site}"),
        }
    })
}

/// Checks, untimed, that call `k` of batch `n` of `op` works on a store filled with `ds`:
/// runs exactly that [`call`] (its error, a miss or a wrong count is the failure), then
/// reads back what it should have read or changed and compares it with the dataset:
/// the record's fields but its timestamps (the store sets or rounds them), the exact set
/// of ids a listing returns (no duplicate, nothing missing or foreign; order not
/// checked), the value's bytes. A removal is undone afterwards with [`redo_of`]. `Err`
/// says what went wrong: a benchmark must not time such an operation as if it worked.
///
/// Call it inside the runtime that drives `store`.
pub async fn verify(
    op: &'static str,
    store: Arc<dyn AuthStorage>,
    ds: Dataset,
    n: u64,
    k: usize,
) -> Result<(), String> {
    run_caught(call(op, "probe".into(), store.clone(), ds, n, k)).await?;
    let (tokens, sessions, kvs) = (ds.tokens(), ds.sessions(), ds.kv_entries());
    let checked = async {
        match op {
            "get_token" | "store_token" | "update_token" => {
                let i = pick(n, k, tokens);
                same_token(&store, i).await?;
                let by_access = read(store.get_token_by_access_token(&access_token(i)).await)?;
                match by_access {
                    Some(t) if t.token_id == token_id(i) => {}
                    other => {
                        return Err(format!(
                            "get_token_by_access_token({}) then gives {:?}",
                            access_token(i),
                            other.map(|t| t.token_id)
                        ));
                    }
                }
                if op != "get_token" {
                    user_tokens_exact(&store, ds, i / ITEMS_PER_USER, None).await?;
                }
            }
            "get_token_by_access_token" => {
                let i = pick(n, k, tokens);
                let found = read(store.get_token_by_access_token(&access_token(i)).await)?;
                if found.as_ref().map(|t| t.token_id.as_str()) != Some(token_id(i).as_str()) {
                    return Err(format!(
                        "get_token_by_access_token({}) gives {:?}, expected {}",
                        access_token(i),
                        found.map(|t| t.token_id),
                        token_id(i)
                    ));
                }
            }
            "list_user_tokens" => {
                user_tokens_exact(&store, ds, pick(n, k, ds.full_users()), None).await?
            }
            "get_session" | "store_session" => {
                let i = pick(n, k, sessions);
                let found = read(store.get_session(&session_id(i)).await)?
                    .ok_or_else(|| format!("get_session({}) misses", session_id(i)))?;
                let want = session(i);
                let got = (
                    &found.session_id,
                    &found.user_id,
                    &found.ip_address,
                    &found.user_agent,
                    &found.data,
                );
                if got
                    != (
                        &want.session_id,
                        &want.user_id,
                        &want.ip_address,
                        &want.user_agent,
                        &want.data,
                    )
                {
                    return Err(format!("get_session({}) gives {found:?}", session_id(i)));
                }
                if op == "store_session" {
                    user_sessions_exact(&store, ds, i / ITEMS_PER_USER, None).await?;
                }
            }
            "list_user_sessions" => {
                user_sessions_exact(&store, ds, pick(n, k, ds.full_users()), None).await?
            }
            "count_active_sessions" | "cleanup_expired" => {
                let count = read(store.count_active_sessions().await)?;
                if count != sessions as u64 {
                    return Err(format!(
                        "count_active_sessions gives {count}, expected {sessions}"
                    ));
                }
                let keys = read(store.list_kv_keys("kv:").await)?.len();
                if keys != kvs {
                    return Err(format!(
                        "list_kv_keys(\"kv:\") lists {keys} keys, expected {kvs}"
                    ));
                }
            }
            "get_kv" | "store_kv" => {
                let i = pick(n, k, kvs);
                let found = read(store.get_kv(&kv_key(i)).await)?;
                if found.as_deref() != Some(kv_value(i).as_slice()) {
                    return Err(format!(
                        "get_kv({}) gives {:?}, expected the {VALUE_BYTES} bytes stored",
                        kv_key(i),
                        found.map(|v| v.len())
                    ));
                }
                if op == "store_kv" {
                    kv_group_exact(&store, ds, i / KEYS_PER_GROUP, None).await?;
                }
            }
            "list_kv_keys" => {
                kv_group_exact(&store, ds, pick(n, k, ds.full_groups()), None).await?
            }
            "delete_token" => {
                let i = pick(n, k, tokens);
                if let Some(t) = read(store.get_token(&token_id(i)).await)? {
                    return Err(format!(
                        "get_token({}) after the delete gives {t:?}",
                        t.token_id
                    ));
                }
                if let Some(t) = read(store.get_token_by_access_token(&access_token(i)).await)? {
                    return Err(format!(
                        "get_token_by_access_token({}) after deleting {} gives {}",
                        access_token(i),
                        token_id(i),
                        t.token_id
                    ));
                }
                user_tokens_exact(&store, ds, i / ITEMS_PER_USER, Some(i)).await?;
            }
            "delete_session" => {
                let i = pick(n, k, sessions);
                if read(store.get_session(&session_id(i)).await)?.is_some() {
                    return Err(format!(
                        "get_session({}) after the delete finds it",
                        session_id(i)
                    ));
                }
                user_sessions_exact(&store, ds, i / ITEMS_PER_USER, Some(i)).await?;
                let count = read(store.count_active_sessions().await)?;
                if count + 1 != sessions as u64 {
                    return Err(format!(
                        "count_active_sessions after one delete gives {count}, expected {}",
                        sessions - 1
                    ));
                }
            }
            "delete_kv" => {
                let i = pick(n, k, kvs);
                if read(store.get_kv(&kv_key(i)).await)?.is_some() {
                    return Err(format!("get_kv({}) after the delete finds it", kv_key(i)));
                }
                kv_group_exact(&store, ds, i / KEYS_PER_GROUP, Some(i)).await?;
            }
            other => return Err(format!("unknown operation {other}")),
        }
        Ok(())
    }
    .await;
    // A removal is undone even if the check failed, so the dataset keeps its size.
    if let Some(redo) = redo_of(op) {
        run_caught(call(
            redo,
            "probe (restore)".into(),
            store.clone(),
            ds,
            n,
            k,
        ))
        .await?;
    }
    checked.map_err(|why| format!("{op}: {why}"))
}

/// Runs `call` in its own task: its panic (a failed or missed call) becomes an `Err`.
async fn run_caught(call: BoxFuture<'static, ()>) -> Result<(), String> {
    tokio::spawn(call)
        .await
        .map_err(|err| match err.try_into_panic() {
            Ok(panic) => panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "the call panicked".to_owned()),
            Err(err) => format!("the call was cancelled: {err}"),
        })
}

/// A read's result, its error as text.
fn read<T>(result: Result<T, authstore_spec::StorageError>) -> Result<T, String> {
    result.map_err(|e| format!("reading back: {e}"))
}

/// Token `i` reads back with the dataset's fields (timestamps aside) and a future expiry.
async fn same_token(store: &Arc<dyn AuthStorage>, i: usize) -> Result<(), String> {
    let found = read(store.get_token(&token_id(i)).await)?
        .ok_or_else(|| format!("get_token({}) misses", token_id(i)))?;
    let want = token(i);
    let fields = |t: &authstore_spec::AuthToken| {
        (
            t.token_id.clone(),
            t.user_id.clone(),
            t.access_token.clone(),
            t.refresh_token.clone(),
            t.token_type.clone(),
            t.scopes.clone(),
            t.metadata.clone(),
        )
    };
    if fields(&found) != fields(&want) || found.expires_at <= chrono::Utc::now() {
        return Err(format!("get_token({}) gives {found:?}", token_id(i)));
    }
    Ok(())
}

/// The ids `listed` must be `expected` (distinct ids), each once, in any order. The
/// error names only what differs: ids listed more than once, missing, or not expected.
fn exact(what: String, listed: Vec<String>, expected: Vec<String>) -> Result<(), String> {
    let mut times: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &listed {
        *times.entry(id).or_default() += 1;
    }
    let mut wrong = Vec::new();
    for id in &expected {
        match times.remove(id.as_str()).unwrap_or(0) {
            1 => {}
            0 => wrong.push(format!("{id} missing")),
            n => wrong.push(format!("{id} {n} times")),
        }
    }
    wrong.extend(times.into_iter().map(|(id, n)| match n {
        1 => format!("{id} not expected"),
        n => format!("{id} not expected, {n} times"),
    }));
    if wrong.is_empty() {
        return Ok(());
    }
    const SHOWN: usize = 4;
    let more = wrong.len().saturating_sub(SHOWN);
    wrong.truncate(SHOWN);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    Err(format!(
        "{what} lists {} ids, expected {}: {}{more}",
        listed.len(),
        expected.len(),
        wrong.join(", ")
    ))
}

/// The ids of the [`ITEMS_PER_USER`] items of user `u`, but `without`.
fn owned_by(ds: Dataset, u: usize, without: Option<usize>, id: fn(usize) -> String) -> Vec<String> {
    (u * ITEMS_PER_USER..(u + 1) * ITEMS_PER_USER)
        .filter(|&i| i < ds.tokens() && Some(i) != without)
        .map(id)
        .collect()
}

async fn user_tokens_exact(
    store: &Arc<dyn AuthStorage>,
    ds: Dataset,
    u: usize,
    without: Option<usize>,
) -> Result<(), String> {
    let listed = read(store.list_user_tokens(&user(u)).await)?;
    let ids = listed.iter().map(|t| t.token_id.clone()).collect();
    exact(
        format!("list_user_tokens({})", user(u)),
        ids,
        owned_by(ds, u, without, token_id),
    )
}

async fn user_sessions_exact(
    store: &Arc<dyn AuthStorage>,
    ds: Dataset,
    u: usize,
    without: Option<usize>,
) -> Result<(), String> {
    let listed = read(store.list_user_sessions(&user(u)).await)?;
    let ids = listed.iter().map(|s| s.session_id.clone()).collect();
    exact(
        format!("list_user_sessions({})", user(u)),
        ids,
        owned_by(ds, u, without, session_id),
    )
}

async fn kv_group_exact(
    store: &Arc<dyn AuthStorage>,
    ds: Dataset,
    g: usize,
    without: Option<usize>,
) -> Result<(), String> {
    let listed = read(store.list_kv_keys(&kv_group_prefix(g)).await)?;
    let expected = (g * KEYS_PER_GROUP..(g + 1) * KEYS_PER_GROUP)
        .filter(|&i| i < ds.kv_entries() && Some(i) != without)
        .map(kv_key)
        .collect();
    exact(
        format!("list_kv_keys({})", kv_group_prefix(g)),
        listed,
        expected,
    )
}

/// The operation that puts back what `op` removes, if `op` removes anything: the
/// benchmarks call it untimed with the same arguments, so the dataset keeps its size.
pub fn redo_of(op: &str) -> Option<&'static str> {
    match op {
        "delete_token" => Some("store_token"),
        "delete_session" => Some("store_session"),
        "delete_kv" => Some("store_kv"),
        _ => None,
    }
}

/// Call `k` of batch `n` of a baseline operation on a filled engine.
pub fn call_engine(
    op: &'static str,
    site: Site,
    engine: Arc<Engine>,
    ds: Dataset,
    n: u64,
    k: usize,
) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        match op {
            "engine_read_kv" => {
                let found = check(op, &site, engine.read_kv(pick(n, k, ds.kv_entries())).await);
                assert!(
                    std::hint::black_box(found).is_some(),
                    "engine_read_kv missed in benchmark {site}"
                );
            }
            "engine_write_kv" => check(
                op,
                &site,
                engine.write_kv(pick(n, k, ds.kv_entries())).await,
            ),
            "engine_read_record" => {
                let found = check(op, &site, engine.read_record(pick(n, k, ds.tokens())).await);
                assert!(found, "engine_read_record missed in benchmark {site}");
            }
            "engine_write_record" => check(
                op,
                &site,
                engine.write_record(pick(n, k, ds.tokens())).await,
            ),
            other => panic!("unknown baseline operation {other}"),
        }
    })
}

/// One criterion sample of the trait method `op` on `store` (filled with `ds`): `iters`
/// batches of `concurrency` calls timed, and what removals took away restored untimed,
/// so the dataset keeps its size. `bench` (the benchmark's function id) names the sample
/// in failure messages; `next` numbers the batches across the benchmark's samples.
pub fn sample<'a>(
    op: &'static str,
    bench: &str,
    store: Arc<dyn AuthStorage>,
    ds: Dataset,
    concurrency: usize,
    next: &'a AtomicU64,
    iters: u64,
) -> impl Future<Output = Duration> + use<'a> {
    let site: Site = format!("{op}/{bench}").into();
    let restore_site: Site = format!("{op}/{bench} (untimed restore)").into();
    let caller = store.clone();
    measure(
        iters,
        concurrency,
        next,
        move |n, k| call(op, site.clone(), caller.clone(), ds, n, k),
        // Only removals are undone; without them the tasks run the whole sample in one go.
        redo_of(op)
            .map(|redo| move |n, k| call(redo, restore_site.clone(), store.clone(), ds, n, k)),
        batches_per_restore(ds, concurrency),
    )
}

/// Runs `iters` batches of `concurrency` calls and returns the time spent in the calls.
///
/// At concurrency 1 each call is awaited inline. At higher concurrency `concurrency`
/// long-lived tasks each make one call of every batch, back to back, so the figure is
/// the store's throughput and not the runtime's cost of spawning a task per call.
/// `restore`, if any, puts back what the calls removed, untimed: after each call at
/// concurrency 1, and after every `batches_per_restore` batches otherwise (the tasks are
/// joined, the timer stopped, the removed items restored, and new tasks started).
pub async fn measure<C, R>(
    iters: u64,
    concurrency: usize,
    next: &AtomicU64,
    calls: C,
    restore: Option<R>,
    batches_per_restore: u64,
) -> Duration
where
    C: Fn(u64, usize) -> BoxFuture<'static, ()> + Send + Sync + 'static,
    R: Fn(u64, usize) -> BoxFuture<'static, ()>,
{
    let first = next.fetch_add(iters, Ordering::Relaxed);
    let mut timed = Duration::ZERO;
    if concurrency == 1 {
        for n in first..first + iters {
            let start = Instant::now();
            calls(n, 0).await;
            timed += start.elapsed();
            if let Some(restore) = &restore {
                restore(n, 0).await;
            }
        }
        return timed;
    }
    let calls = Arc::new(calls);
    let chunk = if restore.is_some() {
        batches_per_restore.max(1)
    } else {
        iters
    };
    let mut done = 0;
    while done < iters {
        let batches = chunk.min(iters - done);
        let from = first + done;
        let start = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|k| {
                let calls = calls.clone();
                tokio::spawn(async move {
                    for n in from..from + batches {
                        calls(n, k).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a benchmark call panicked");
        }
        timed += start.elapsed();
        if let Some(restore) = &restore {
            join_all(
                (from..from + batches)
                    .flat_map(|n| (0..concurrency).map(move |k| (n, k)))
                    .map(|(n, k)| restore(n, k)),
            )
            .await;
        }
        done += batches;
    }
    timed
}

/// How many batches of `concurrency` removals may run before they are restored: an
/// eighth of the dataset at most, so the store stays close to its size.
pub fn batches_per_restore(ds: Dataset, concurrency: usize) -> u64 {
    (ds.records / 8 / concurrency as u64).max(1)
}

/// Fills `store` with `ds` through its own API, `parallelism` tasks at a time.
pub async fn fill(
    store: &Arc<dyn AuthStorage>,
    ds: Dataset,
    parallelism: usize,
) -> Result<(), String> {
    for_each_parallel(ds, parallelism, store, move |store, i| async move {
        if i < ds.tokens() {
            store
                .store_token(&token(i))
                .await
                .map_err(|e| format!("store_token: {e}"))?;
        }
        if i < ds.sessions() {
            store
                .store_session(&session_id(i), &session(i))
                .await
                .map_err(|e| format!("store_session: {e}"))?;
        }
        if i < ds.kv_entries() {
            store
                .store_kv(&kv_key(i), &kv_value(i), Some(TTL))
                .await
                .map_err(|e| format!("store_kv: {e}"))?;
        }
        Ok(())
    })
    .await
}

/// Reads every item once, so a caching backend serves the read benchmarks from its cache.
pub async fn warm(
    store: &Arc<dyn AuthStorage>,
    ds: Dataset,
    parallelism: usize,
) -> Result<(), String> {
    for_each_parallel(ds, parallelism, store, move |store, i| async move {
        let fail = |e: authstore_spec::StorageError| format!("warming: {e}");
        if i < ds.tokens() {
            store.get_token(&token_id(i)).await.map_err(fail)?;
            store
                .get_token_by_access_token(&access_token(i))
                .await
                .map_err(fail)?;
        }
        if i < ds.sessions() {
            store.get_session(&session_id(i)).await.map_err(fail)?;
        }
        if i < ds.kv_entries() {
            store.get_kv(&kv_key(i)).await.map_err(fail)?;
        }
        Ok(())
    })
    .await
}

/// Runs `work(store, i)` for every item index of `ds` on `parallelism` tasks.
async fn for_each_parallel<W, F>(
    ds: Dataset,
    parallelism: usize,
    store: &Arc<dyn AuthStorage>,
    work: W,
) -> Result<(), String>
where
    W: Fn(Arc<dyn AuthStorage>, usize) -> F + Clone + Send + 'static,
    F: Future<Output = Result<(), String>> + Send,
{
    let items = ds.tokens().max(ds.kv_entries());
    let workers: Vec<_> = (0..parallelism)
        .map(|worker| {
            let (store, work) = (store.clone(), work.clone());
            tokio::spawn(async move {
                for i in (worker..items).step_by(parallelism) {
                    work(store.clone(), i).await?;
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    for worker in workers {
        worker
            .await
            .map_err(|e| format!("a filling task panicked: {e}"))??;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use authstore_backends::MemoryStorage;

    use super::*;
    use crate::ids::OPERATIONS;

    /// A wrong listing is described by what differs, not by both whole lists.
    #[test]
    fn a_wrong_listing_names_only_the_difference() {
        let ids = |ids: &[&str]| ids.iter().map(|id| id.to_string()).collect::<Vec<_>>();
        assert_eq!(
            exact("l".into(), ids(&["b", "a"]), ids(&["a", "b"])),
            Ok(())
        );
        assert_eq!(
            exact(
                "l".into(),
                ids(&["a", "b", "a", "c"]),
                ids(&["a", "b", "d"])
            ),
            Err("l lists 4 ids, expected 3: a 2 times, d missing, c not expected".into())
        );
        let many: Vec<String> = (0..9).map(|i| format!("x{i}")).collect();
        assert_eq!(
            exact("l".into(), many, Vec::new()),
            Err(
                "l lists 9 ids, expected 0: x0 not expected, x1 not expected, \
                 x2 not expected, x3 not expected and 5 more"
                    .into()
            )
        );
    }

    /// Every operation runs, at both concurrencies, against a filled store, and the
    /// dataset is the same size afterwards (deletes are restored).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_operation_runs_and_leaves_the_dataset_unchanged() {
        let ds = Dataset::new(300);
        let store: Arc<dyn AuthStorage> = Arc::new(MemoryStorage::new());
        fill(&store, ds, 4).await.unwrap();
        let next = AtomicU64::new(0);
        for op in OPERATIONS {
            for concurrency in [1, 16] {
                let bench = format!("memory/test/c{concurrency}");
                sample(op, &bench, store.clone(), ds, concurrency, &next, 5).await;
                assert_eq!(
                    store.count_active_sessions().await.unwrap(),
                    ds.sessions() as u64,
                    "{op}"
                );
                assert_eq!(
                    store.list_kv_keys("kv:").await.unwrap().len(),
                    ds.kv_entries(),
                    "{op}"
                );
                for i in 0..ds.tokens() {
                    assert!(
                        store.get_token(&token_id(i)).await.unwrap().is_some(),
                        "{op} lost token {i}"
                    );
                }
            }
        }
    }

    /// The probe accepts every operation on a correct, filled store, at both call
    /// positions, and leaves the dataset whole (removals are undone).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn verify_accepts_a_correct_store() {
        let ds = Dataset::new(300);
        let store: Arc<dyn AuthStorage> = Arc::new(MemoryStorage::new());
        fill(&store, ds, 4).await.unwrap();
        for op in OPERATIONS {
            for (n, k) in [(0, 0), (7, 15)] {
                verify(op, store.clone(), ds, n, k).await.unwrap();
            }
        }
        assert_eq!(
            store.list_kv_keys("kv:").await.unwrap().len(),
            ds.kv_entries()
        );
    }

    /// The probe reports a miss, a wrong value and a stale listing, naming the call.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn verify_reports_misses_and_wrong_results() {
        let ds = Dataset::new(300);
        let empty: Arc<dyn AuthStorage> = Arc::new(MemoryStorage::new());
        let missed = verify("get_token", empty, ds, 0, 0).await.unwrap_err();
        assert!(missed.contains("get_token missed"), "{missed}");

        let store: Arc<dyn AuthStorage> = Arc::new(MemoryStorage::new());
        fill(&store, ds, 4).await.unwrap();
        let i = pick(0, 0, ds.kv_entries());
        store.store_kv(&kv_key(i), b"other", None).await.unwrap();
        let wrong = verify("get_kv", store.clone(), ds, 0, 0).await.unwrap_err();
        assert!(wrong.starts_with("get_kv: get_kv("), "{wrong}");

        // A token moved to another user: its former owner's listing is one short.
        let t = pick(0, 0, ds.tokens());
        let mut moved = token(t);
        moved.user_id = user(ds.full_users() + 5);
        store.store_token(&moved).await.unwrap();
        let listing = verify("store_token", store.clone(), ds, 0, 0).await;
        assert_eq!(listing, Ok(()), "store_token puts the dataset's token back");
        store.store_token(&moved).await.unwrap();
        let stale = verify("list_user_tokens", store, ds, 0, 0)
            .await
            .unwrap_err();
        assert!(stale.contains("list_user_tokens"), "{stale}");
    }

    /// A read of an item the dataset does not hold fails the benchmark.
    #[tokio::test]
    #[should_panic(expected = "get_kv missed")]
    async fn a_missing_item_fails_the_call() {
        let store: Arc<dyn AuthStorage> = Arc::new(MemoryStorage::new());
        call(
            "get_kv",
            "memory/test/c1".into(),
            store,
            Dataset::new(300),
            0,
            0,
        )
        .await;
    }

    #[tokio::test]
    async fn engine_calls_find_what_fill_stored() {
        let ds = Dataset::new(300);
        let engine = Arc::new(Engine::DashMap {
            kv: Default::default(),
            records: Default::default(),
        });
        engine.fill(ds).await.unwrap();
        for op in crate::ids::BASELINE_OPERATIONS {
            for n in 0..50 {
                call_engine(op, "dashmap/test/c1".into(), engine.clone(), ds, n, 0).await;
            }
        }
    }
}
