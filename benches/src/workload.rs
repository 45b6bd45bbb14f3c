//! What one benchmark iteration does: the calls (one, or 16 concurrent tasks), which
//! items they touch, and the untimed work that keeps the dataset's size unchanged.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use authstore_spec::AuthStorage;
use futures::future::{BoxFuture, join_all};

use crate::dataset::{
    Dataset, ITEMS_PER_USER, KEYS_PER_GROUP, TTL, access_token, kv_group_prefix, kv_key, kv_value,
    scatter, session, session_id, token, token_id, user,
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
                let s = store.clone();
                let r = store.clone();
                let site: Site = format!("memory/test/c{concurrency}").into();
                let restore_site = site.clone();
                measure(
                    5,
                    concurrency,
                    &next,
                    move |n, k| call(op, site.clone(), s.clone(), ds, n, k),
                    redo_of(op).map(|redo| {
                        move |n, k| call(redo, restore_site.clone(), r.clone(), ds, n, k)
                    }),
                    batches_per_restore(ds, concurrency),
                )
                .await;
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
