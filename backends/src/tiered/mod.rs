//! [`TieredStorage`]: PostgreSQL as the source of truth with a Redis cache in front of its
//! point reads, coherent across application nodes.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use authstore_spec::time::now_micros;
use authstore_spec::{
    AuthStorage, AuthToken, ErrorKind, Result, SessionData, StorageError, TimingProfile,
    async_trait, validate,
};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::postgres::PostgresStorage;
use crate::redis::{Lua, RedisStorage};

/// How long a cache entry lives at most unless configured otherwise.
const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

/// How often each node compares the PostgreSQL epoch with Redis's unless configured.
const DEFAULT_EPOCH_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How long a fill lease lasts: longer than any PostgreSQL read should take, short enough
/// that a crashed filler blocks filling of one key only briefly.
const LEASE_MS: &str = "5000";

/// How much longer than the call's deadline a write's fence lasts, and its wait for
/// PostgreSQL's answer: as long as a fill lease, for the round trips around the statement.
const FENCE_MARGIN: Duration = Duration::from_secs(5);

/// The end of the message of a write that missed its deadline.
const STILL_WRITING: &str = "; the write runs on and may still take effect";

/// The longest fence, whatever the deadline: its end must stay an instant Redis accepts.
const MAX_FENCE: Duration = Duration::from_secs(24 * 60 * 60);

/// The cache's scripts.
struct Scripts {
    read: Lua,
    fill: Lua,
    fence: Lua,
    settle: Lua,
    check_epoch: Lua,
    read_access: Lua,
}

static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    read: Lua::new(concat!("#!lua\n", include_str!("lua/read.lua"))),
    fill: Lua::new(concat!("#!lua\n", include_str!("lua/fill.lua"))),
    fence: Lua::new(concat!("#!lua\n", include_str!("lua/fence.lua"))),
    settle: Lua::new(concat!("#!lua\n", include_str!("lua/settle.lua"))),
    check_epoch: Lua::new(concat!("#!lua\n", include_str!("lua/check_epoch.lua"))),
    read_access: Lua::new(concat!("#!lua\n", include_str!("lua/read_access.lua"))),
});

/// Lease ids handed out by this process, to make them unique even without randomness.
static LEASES: AtomicU64 = AtomicU64::new(0);

/// [`AuthStorage`] on PostgreSQL ([`PostgresStorage`], the source of truth) with a Redis
/// cache ([`RedisStorage`]'s connection and key prefix) in front of the point reads.
///
/// ```no_run
/// use std::time::Duration;
/// use authstore_backends::{PostgresStorage, RedisStorage, TieredStorage};
///
/// # async fn demo(pool: sqlx::PgPool) -> authstore_spec::Result<()> {
/// let cache = RedisStorage::new("redis://127.0.0.1:6379").await?;
/// let storage = TieredStorage::new(cache, PostgresStorage::new(pool))
///     .with_cache_ttl(Duration::from_secs(30));
/// storage.migrate().await?; // PostgreSQL tables and the cache-epoch table
/// # Ok(())
/// # }
/// ```
///
/// # What is cached
/// Only point reads: `get_token`, `get_token_by_access_token`, `get_session`, `get_kv`.
/// Listings, counting and cleanup always ask PostgreSQL, so they are exactly
/// [`PostgresStorage`]'s. Every write fences the cache entry it will make stale, goes to
/// PostgreSQL (its result is the call's result), then settles the entry (see *Writes*
/// below). Cache keys live under the Redis storage's prefix, in their own namespace
/// (`{prefix}cache:t:<hex token id>`, `cache:a:<sha256 of the access token>` holding
/// only a token id, `cache:s:<hex id>`, `cache:k:<hex key>`, each with a `:lease` and a
/// `:writes` companion, `cache:epoch`, and `cache:owner`, the `run_id` of the Redis
/// process the entries belong to), so the same prefix may also serve a [`RedisStorage`].
///
/// # Coherence across nodes
/// Two `TieredStorage` values built independently over the same Redis and PostgreSQL are
/// two nodes. With Redis reachable, no node serves a version older than the last write
/// that committed in PostgreSQL (whether or not its caller still waited; see *Writes*
/// for the limits):
/// - a write deletes the cache entry and its **fill lease** before and after its
///   statement; a reader that misses takes the lease atomically with the miss, reads
///   PostgreSQL, and stores what it read only if its lease is still current, so a fill
///   that read before a write can never land after that write's invalidation. A reader
///   that misses while another holds the lease, or while a write on the key is in
///   flight, reads PostgreSQL and does not fill.
/// - the access-token entry maps to a token id only; the token is then read through its
///   own (invalidated) entry and its access token compared with the argument, so an old
///   access token stops resolving as soon as the token's update or delete returns.
/// - a cache entry expires at the earlier of the item's expiry and now + the cache TTL
///   (60 s by default), and a hit is also checked against the item's expiry, so no
///   item outlives its expiry.
///
/// # Writes: cancellation and deadlines
/// Each call has one deadline for all its round trips to Redis and PostgreSQL together,
/// the [`operation_timeout`](Self::with_operation_timeout) (by default the
/// [`PostgresStorage`]'s), after which it returns [`StorageError::Unavailable`]. A write
/// whose caller stops waiting, its future dropped or its deadline passed, may still
/// commit (PostgreSQL runs a statement it has received to its end), so a write does not
/// depend on its caller's future:
/// 1. **Fence.** Before the statement is sent, one script deletes the entry and its
///    lease and records the write in the key's `:writes` set, for the **fence lifetime**
///    (the deadline plus 5 s, at most a day). While a write is recorded, no reader takes the lease, so
///    none fills: what PostgreSQL answers then may be replaced by the commit.
/// 2. **Statement.** It runs in a task of its own (a `tokio` task on the current
///    runtime), which waits for PostgreSQL's answer up to the fence lifetime, however
///    long before that the caller stopped waiting.
/// 3. **Settle.** When the statement has ended, the task deletes entry and lease again
///    and removes its write from the set; if that fails (or this node is avoiding Redis
///    after an error, in which case it did not fence either), it raises the epoch as
///    below.
///
/// **Guarantee.** Once a write has committed, no node serves the version it replaced,
/// provided the writing node reached Redis and the write committed within its fence
/// lifetime, even if the writing process stopped meanwhile; with Redis unreachable from the writing node, the bound is
/// that of a failed invalidation below, counted from the settle. A statement that
/// PostgreSQL ends after the fence lifetime (a lock held for longer) and that commits
/// then may leave the replaced version cached until the cache TTL, if a node filled the
/// key between the settle and the commit.
///
/// # When Redis is unreachable
/// Every cache error is logged (`tracing::warn!`) and the call is answered from
/// PostgreSQL alone, without filling; for `epoch_check_interval` after an error the node
/// does not try Redis at all. A write whose invalidation (its settle) fails raises a
/// **cache epoch** kept in PostgreSQL before it returns, or, if its caller stopped
/// waiting, once its statement has ended. Cache entries are stamped with Redis's copy of
/// the epoch, and only entries stamped with the current one are served. Each node copies
/// the PostgreSQL epoch into Redis (if greater) before it uses the cache after a Redis
/// error it saw, and otherwise at most every `epoch_check_interval` (1 s by default);
/// raising it retires every older entry at once.
///
/// **Guarantee.** Let a write (update or delete) settle while its invalidation failed.
/// The node that made it never serves the older version from the cache afterwards (it
/// compares epochs before its next cache use). Any other node serves it at most until
/// `epoch_check_interval` after the write settled (for a caller that waited, when the
/// call returned): its next epoch check reads
/// PostgreSQL after the raise, and checks are timed from when they start. The bound is
/// not zero because a node that could reach Redis all along learns of another node's
/// failed invalidation only by asking PostgreSQL, which it does once per interval rather
/// than per cache hit. If raising the PostgreSQL epoch itself fails (PostgreSQL lost
/// right after the write), the stale entry may live until the cache TTL ends; this is
/// logged at `error` level.
///
/// # When Redis restarts
/// A Redis that restarts and loads an RDB snapshot or an AOF, or a replica that takes
/// over, may bring back entries that a later write had invalidated on the old process.
/// Each epoch check therefore also compares the serving process's `run_id` (from `INFO`)
/// with `cache:owner`; when they differ, the entries are another process's, and the node
/// retires them all as after a failed invalidation (raises the PostgreSQL epoch, then
/// Redis's) before it uses the cache, and records the new owner. A hit is also dropped
/// (read from PostgreSQL instead) when Redis failed on this node while the lookup was
/// under way, as the connection may have been re-established to a restarted server.
///
/// **Guarantee.** A node that used Redis across the restart (so saw its connection
/// fail) and a node built after it never serve a restored entry: both check before
/// their next cache use. Once any node has checked, no node serves one. A node that saw
/// no error serves one at most until `epoch_check_interval` after the restarted server
/// first answered. (With the plain RESP2 connection used here, a node's first command
/// after a restart fails, so a node sees no error only if another user of the same
/// connection, e.g. a clone of its [`RedisStorage`], absorbed it.) A Redis without
/// persistence restarts empty: nothing to retire, and no epoch is raised.
///
/// # Timing, errors, handles
/// Time is PostgreSQL's (see [`TIMING`](Self::TIMING)); cache entries never extend it.
/// Errors are [`PostgresStorage`]'s, and `Unavailable` for a missed deadline: Redis
/// errors never fail a call: a Redis that hangs costs a call one [`RedisStorage`]
/// operation timeout, after which the node leaves Redis alone and answers from
/// PostgreSQL (the default deadline allows for both; keep the Redis timeout well below
/// any deadline you set). Call
/// [`migrate`](Self::migrate) once before use. Clones share connections and the epoch
/// state; `Debug` shows settings, no data or URLs.
#[derive(Clone)]
pub struct TieredStorage {
    cache: RedisStorage,
    store: PostgresStorage,
    cache_ttl: Duration,
    epoch_check_interval: Duration,
    operation_timeout: Duration,
    state: Arc<Mutex<EpochState>>,
}

/// What a node knows about its view of the cache epoch.
#[derive(Debug, Default)]
struct EpochState {
    /// When the last successful epoch check started.
    checked: Option<Instant>,
    /// Redis failed since then: check before the next cache use.
    must_check: bool,
    /// Do not try Redis before this instant (after an error).
    quiet_until: Option<Instant>,
    /// Redis failures seen so far: a hit is served only if none was seen since its
    /// lookup began, since the connection may have been re-established meanwhile to a
    /// restarted server not yet checked.
    failures: u64,
}

/// The outcome of an epoch check.
enum Checked {
    /// Redis's epoch is at least PostgreSQL's, and the cache is this Redis process's.
    Current,
    /// The cache holds data of another Redis process (this one's run_id): not usable
    /// before the PostgreSQL epoch has been raised for it.
    Restored(String),
}

/// The outcome of a cache lookup.
enum Lookup {
    /// An entry stamped with the current epoch.
    Hit(Vec<u8>),
    /// A miss; this caller holds the lease `id`, taken in `epoch`.
    Lease { id: String, epoch: Vec<u8> },
    /// A miss while another caller fills, or the cache is not usable now.
    Skip,
}

impl TieredStorage {
    /// The timing profile: PostgreSQL's, the source of truth ([`PostgresStorage::TIMING`]).
    pub const TIMING: TimingProfile = PostgresStorage::TIMING;

    /// A tiered storage caching `store`'s point reads in `cache`'s Redis, under `cache`'s
    /// prefix; cache TTL 60 s, epoch check every second, each call bounded by `store`'s
    /// operation timeout plus `cache`'s (see [`with_operation_timeout`](Self::with_operation_timeout)).
    pub fn new(cache: RedisStorage, store: PostgresStorage) -> Self {
        Self {
            // A hung Redis costs a call at most one Redis timeout (the node then leaves
            // Redis alone), after which PostgreSQL must still have its own to answer.
            operation_timeout: store
                .operation_timeout()
                .saturating_add(cache.operation_timeout()),
            cache,
            store,
            cache_ttl: DEFAULT_CACHE_TTL,
            epoch_check_interval: DEFAULT_EPOCH_CHECK_INTERVAL,
            state: Arc::new(Mutex::new(EpochState::default())),
        }
    }

    /// The longest a cache entry lives (it also never outlives its item).
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How often this node compares the PostgreSQL cache epoch with Redis's: the bound
    /// on serving a version whose invalidation failed (see the type's docs).
    pub fn with_epoch_check_interval(mut self, interval: Duration) -> Self {
        self.epoch_check_interval = interval;
        self
    }

    /// The deadline of each call, all its round trips to Redis and PostgreSQL together,
    /// after which it returns [`StorageError::Unavailable`] (SPEC.md `GEN-2`); by default
    /// the [`PostgresStorage`]'s operation timeout plus the [`RedisStorage`]'s, so that a
    /// call meeting a hung Redis still answers from PostgreSQL. A write that misses it
    /// still runs to its end (see the type's docs).
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// The configured deadline of each call.
    pub fn operation_timeout(&self) -> Duration {
        self.operation_timeout
    }

    /// The configured epoch check interval.
    pub fn epoch_check_interval(&self) -> Duration {
        self.epoch_check_interval
    }

    /// The timing profile of the underlying [`PostgresStorage`].
    pub fn timing(&self) -> TimingProfile {
        self.store.timing()
    }

    /// Migrates PostgreSQL ([`PostgresStorage::migrate`]) and creates the cache-epoch
    /// table (`authstore_cache_epoch`) if missing. Idempotent, safe from several nodes.
    pub async fn migrate(&self) -> Result<()> {
        self.store.migrate().await?;
        self.store.migrate_cache_epoch().await
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{}", self.key_prefix(kind), hex(id.as_bytes()))
    }

    /// The start of every cache key of `kind`: the key without its hex id.
    fn key_prefix(&self, kind: &str) -> String {
        format!("{}cache:{kind}:", self.cache.key_base())
    }

    fn epoch_key(&self) -> String {
        format!("{}cache:epoch", self.cache.key_base())
    }

    fn owner_key(&self) -> String {
        format!("{}cache:owner", self.cache.key_base())
    }

    /// Notes a Redis failure: logged, no Redis for a while, an epoch check before the
    /// next cache use.
    fn cache_failed(&self, what: &str, err: &StorageError) {
        tracing::warn!(error = %err, "TieredStorage: Redis failed ({what}); using PostgreSQL only");
        let mut state = self.state.lock();
        state.must_check = true;
        state.quiet_until = Some(Instant::now() + self.epoch_check_interval);
        state.failures += 1;
    }

    /// Makes Redis's epoch at least PostgreSQL's when due; `None` if the cache must not
    /// be used now, else the count of Redis failures seen (see [`EpochState::failures`]).
    /// Fails when PostgreSQL cannot be reached for the epoch: the caller would ask it
    /// next anyway, and should not wait a second operation timeout to learn the same.
    async fn cache_usable(&self) -> Result<Option<u64>> {
        let started = Instant::now();
        let failures = {
            let state = self.state.lock();
            if state.quiet_until.is_some_and(|until| started < until) {
                return Ok(None);
            }
            let due = state.must_check
                || state
                    .checked
                    .is_none_or(|at| started.duration_since(at) >= self.epoch_check_interval);
            if !due {
                return Ok(Some(state.failures));
            }
            state.failures
        };
        let epoch = match self.store.cache_epoch().await {
            Ok(epoch) => epoch,
            Err(err) if err.kind() == ErrorKind::Unavailable => return Err(err),
            Err(err) => {
                tracing::warn!(error = %err, "TieredStorage: cannot read the cache epoch; bypassing the cache");
                return Ok(None);
            }
        };
        let checked = match self.check_epoch(epoch, None).await {
            Ok(Checked::Current) => Ok(Checked::Current),
            Ok(Checked::Restored(run_id)) => self.retire_restored(&run_id).await,
            Err(err) => Err(err),
        };
        match checked {
            Ok(Checked::Current) => {
                let mut state = self.state.lock();
                state.must_check = false;
                state.quiet_until = None;
                // Keep the latest start if a concurrent check finished first.
                if state.checked.is_none_or(|at| at < started) {
                    state.checked = Some(started);
                }
                Ok(Some(failures))
            }
            // Not settled (PostgreSQL failed, or Redis restarted again): check next time.
            Ok(Checked::Restored(_)) => {
                self.state.lock().must_check = true;
                Ok(None)
            }
            Err(err) => {
                self.cache_failed("epoch check", &err);
                Ok(None)
            }
        }
    }

    /// Runs the epoch check script: records this Redis process as the cache's owner and
    /// raises Redis's epoch to `epoch`, unless the cache holds another process's data
    /// (and `adopt` is not that process's run_id).
    async fn check_epoch(&self, epoch: i64, adopt: Option<&str>) -> Result<Checked> {
        let epoch_key = self.epoch_key();
        let owner_key = self.owner_key();
        let epoch_arg = epoch.to_string();
        let (current, detail): (i64, String) = self
            .cache
            .run_script(
                "check the cache epoch",
                &SCRIPTS.check_epoch,
                &[epoch_key.as_bytes(), owner_key.as_bytes()],
                &[epoch_arg.as_bytes(), adopt.unwrap_or("-").as_bytes()],
            )
            .await?;
        Ok(if current == 1 {
            Checked::Current
        } else {
            Checked::Restored(detail)
        })
    }

    /// The cache's data came from another Redis process than the one now serving it (a
    /// restart that loaded a snapshot or AOF, or a failover): its entries may predate
    /// invalidations that only the old process saw, so they are all retired as after a
    /// failed invalidation, by raising the PostgreSQL epoch, before the cache is used.
    async fn retire_restored(&self, run_id: &str) -> Result<Checked> {
        tracing::warn!(
            run_id,
            "TieredStorage: Redis holds data of another server process (restart or failover); \
             retiring every cache entry"
        );
        match self.store.bump_cache_epoch().await {
            Ok(raised) => self.check_epoch(raised, Some(run_id)).await,
            Err(err) => {
                tracing::error!(
                    error = %err,
                    "TieredStorage: cannot raise the cache epoch after a Redis restart; \
                     bypassing the cache until it can"
                );
                Ok(Checked::Restored(run_id.to_owned()))
            }
        }
    }

    /// The cache's answer for `key`; fails only when PostgreSQL cannot be reached (see
    /// [`cache_usable`](Self::cache_usable)).
    async fn lookup(&self, key: &str) -> Result<Lookup> {
        let Some(failures) = self.cache_usable().await? else {
            return Ok(Lookup::Skip);
        };
        let lease = lease_id();
        let lease_key = lease_of(key);
        let epoch_key = self.epoch_key();
        let writes_key = writes_of(key);
        let found: Result<(i64, Vec<u8>)> = self
            .cache
            .run_script(
                "cache read",
                &SCRIPTS.read,
                &[
                    key.as_bytes(),
                    lease_key.as_bytes(),
                    epoch_key.as_bytes(),
                    writes_key.as_bytes(),
                ],
                &[lease.as_bytes(), LEASE_MS.as_bytes()],
            )
            .await;
        Ok(match found {
            Ok((1, payload)) if self.state.lock().failures == failures => Lookup::Hit(payload),
            // Redis failed meanwhile: this read may have reached a restarted server.
            Ok((1, _)) => Lookup::Skip,
            Ok((2, epoch)) => Lookup::Lease { id: lease, epoch },
            Ok(_) => Lookup::Skip,
            Err(err) => {
                self.cache_failed("cache read", &err);
                Lookup::Skip
            }
        })
    }

    /// Stores `entry` (payload, expiry instant) under `key` if the lease is still
    /// current; with `None`, only releases the lease.
    async fn fill(
        &self,
        key: &str,
        lease: &str,
        epoch: &[u8],
        entry: Option<(Vec<u8>, Option<DateTime<Utc>>)>,
    ) {
        let (payload, pxat) = match entry {
            Some((payload, expires_at)) => {
                let pxat = self.cache_until(expires_at);
                (payload, pxat.max(1).to_string())
            }
            None => (Vec::new(), "0".to_owned()),
        };
        let lease_key = lease_of(key);
        let epoch_key = self.epoch_key();
        let filled: Result<i64> = self
            .cache
            .run_script(
                "cache fill",
                &SCRIPTS.fill,
                &[key.as_bytes(), lease_key.as_bytes(), epoch_key.as_bytes()],
                &[lease.as_bytes(), epoch, pxat.as_bytes(), &payload],
            )
            .await;
        if let Err(err) = filled {
            self.cache_failed("cache fill", &err);
        }
    }

    /// The `PXAT` instant of an entry for an item expiring at `expires_at`: the earlier
    /// of its last visible millisecond and now + the cache TTL.
    fn cache_until(&self, expires_at: Option<DateTime<Utc>>) -> i64 {
        let ttl_ms = i64::try_from(self.cache_ttl.as_millis()).unwrap_or(i64::MAX);
        let limit = now_micros().timestamp_millis().saturating_add(ttl_ms);
        match expires_at {
            Some(at) => limit.min(at.timestamp_micros().div_euclid(1000) - 1),
            None => limit,
        }
    }

    /// A point read through the cache: a hit that `from_cache` accepts (decoded and
    /// live), else `from_store`, whose `(value, payload, expiry)` fills the cache when
    /// this caller holds the lease.
    async fn read_through<T, F>(
        &self,
        key: &str,
        from_cache: impl Fn(&[u8]) -> Option<T>,
        from_store: F,
    ) -> Result<Option<T>>
    where
        F: Future<Output = Result<Option<(T, Vec<u8>, Option<DateTime<Utc>>)>>>,
    {
        let lookup = self.lookup(key).await?;
        if let Lookup::Hit(payload) = &lookup
            && let Some(value) = from_cache(payload)
        {
            return Ok(Some(value));
        }
        let found = from_store.await?;
        let (value, entry) = match found {
            Some((value, payload, expires_at)) => (Some(value), Some((payload, expires_at))),
            None => (None, None),
        };
        if let Lookup::Lease { id, epoch } = lookup {
            self.fill(key, &id, &epoch, entry).await;
        }
        Ok(value)
    }

    /// `call` under the call's deadline: its answer, or `Unavailable` once the deadline
    /// has passed (`after` completes the message).
    async fn within<T>(
        &self,
        op: &str,
        after: &str,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.operation_timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(StorageError::Unavailable {
                message: format!(
                    "{op}: no answer within the operation timeout of {:?}{after}",
                    self.operation_timeout
                ),
                source: None,
            }),
        }
    }

    /// A call that changes no cached item (a read, a listing, the cleanup of expired
    /// items) under the call's deadline.
    async fn bounded<T>(&self, op: &str, call: impl Future<Output = Result<T>>) -> Result<T> {
        self.within(op, "", call).await
    }

    /// A write: `put` run on PostgreSQL with the cache entry `key` fenced around it (see
    /// [`fenced_write`](Self::fenced_write)), in a task of its own so that it runs to its
    /// end, cache settled, whether or not the caller still waits; the caller waits at
    /// most the call's deadline.
    async fn write<F, Fut>(&self, op: &'static str, key: String, put: F) -> Result<()>
    where
        F: FnOnce(PostgresStorage) -> Fut + Send + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let node = self.clone();
        let (started, statement_started) = tokio::sync::oneshot::channel();
        let work = async move { node.fenced_write(&key, started, put).await };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to hand the write to: it runs, fenced, in the caller's future.
            return self.within(op, STILL_WRITING, work).await;
        };
        let mut task = runtime.spawn(work);
        // Once the statement is sent, the caller waits for it no longer than PostgreSQL's
        // own operation timeout: the deadline's share for a hung Redis is not PostgreSQL's.
        let store_timeout = self.store.operation_timeout();
        let statement_bound = async {
            if statement_started.await.is_ok() {
                tokio::time::sleep(store_timeout).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        self.within(op, STILL_WRITING, async {
            tokio::select! {
                joined = &mut task => joined.unwrap_or_else(|err| {
                    Err(StorageError::backend(
                        format!("{op}: the write's task ended abnormally"),
                        err,
                    ))
                }),
                () = statement_bound => Err(StorageError::Unavailable {
                    message: format!(
                        "{op}: no answer from PostgreSQL within the operation timeout of \
                         {store_timeout:?}{STILL_WRITING}"
                    ),
                    source: None,
                }),
            }
        })
        .await
    }

    /// Fences `key` (drops its entry and fill lease, and bars fills while the write may
    /// commit), runs `put` on PostgreSQL, waiting for its answer at most as long as the
    /// fence lasts, then settles the key (drops entry and lease again, ends the fence).
    async fn fenced_write<Fut>(
        &self,
        key: &str,
        started: tokio::sync::oneshot::Sender<()>,
        put: impl FnOnce(PostgresStorage) -> Fut,
    ) -> Result<()>
    where
        Fut: Future<Output = Result<()>>,
    {
        let write_id = lease_id();
        let fence = self.fence_lifetime();
        let fence_ms = fence.as_millis().to_string();
        if !self.quiet()
            && let Err(err) = self
                .run_write_script(
                    "cache fence",
                    &SCRIPTS.fence,
                    key,
                    &write_id,
                    Some(&fence_ms),
                )
                .await
        {
            // Settling (or the epoch raise it falls back to) retires the entry after the
            // write instead.
            self.cache_failed("cache fence", &err);
        }
        // Waiting for PostgreSQL past the caller's deadline, so that the cache is settled
        // when the statement has really ended, not while it may still commit.
        // The caller may have stopped waiting: then nobody listens, which is fine.
        let _ = started.send(());
        let result = put(self.store.clone().with_operation_timeout(fence)).await;
        self.settle(key, &write_id, &result).await;
        result
    }

    /// How long a write's fence lasts: the call's deadline and a margin, at most a day.
    fn fence_lifetime(&self) -> Duration {
        self.operation_timeout
            .saturating_add(FENCE_MARGIN)
            .min(MAX_FENCE)
    }

    /// Runs the fence or settle script on `key` and its companions for write `write_id`.
    async fn run_write_script(
        &self,
        what: &str,
        script: &Lua,
        key: &str,
        write_id: &str,
        fence_ms: Option<&str>,
    ) -> Result<i64> {
        let lease_key = lease_of(key);
        let writes_key = writes_of(key);
        let mut args = vec![write_id.as_bytes()];
        args.extend(fence_ms.map(str::as_bytes));
        self.cache
            .run_script(
                what,
                script,
                &[key.as_bytes(), lease_key.as_bytes(), writes_key.as_bytes()],
                &args,
            )
            .await
    }

    /// After a write with this `result` ended: drops the entry and its lease and ends the
    /// write's fence. When that fails and the write may have changed the item, raises the
    /// PostgreSQL epoch so that every node retires what it may hold.
    async fn settle(&self, key: &str, write_id: &str, result: &Result<()>) {
        let may_have_written = match result {
            Ok(()) => true,
            Err(err) => !matches!(
                err.kind(),
                ErrorKind::InvalidInput | ErrorKind::NotFound | ErrorKind::Conflict
            ),
        };
        // While quiet (a recent error), Redis is not tried: the entries may be stale.
        let settled = if self.quiet() {
            Err(None)
        } else {
            self.run_write_script("cache invalidation", &SCRIPTS.settle, key, write_id, None)
                .await
                .map_err(Some)
        };
        let Err(err) = settled else {
            return;
        };
        if let Some(err) = err {
            self.cache_failed("cache invalidation", &err);
        }
        if !may_have_written {
            // Nothing to retire; the fence ends by itself.
            return;
        }
        match self.store.bump_cache_epoch().await {
            Ok(epoch) => {
                tracing::warn!(epoch, "TieredStorage: raised the cache epoch in PostgreSQL");
            }
            Err(err) => tracing::error!(
                error = %err,
                "TieredStorage: cannot raise the cache epoch; stale cache entries may be \
                 served until the cache TTL ends"
            ),
        }
    }

    /// Whether this node is not trying Redis now (after an error).
    fn quiet(&self) -> bool {
        self.state
            .lock()
            .quiet_until
            .is_some_and(|until| Instant::now() < until)
    }

    async fn cached_token(&self, token_id: &str) -> Result<Option<AuthToken>> {
        let key = self.key("t", token_id);
        self.read_through(&key, live_token, async {
            let token = self.store.get_token(token_id).await?;
            Ok(match token {
                Some(token) => {
                    let payload = serde_json::to_vec(&token)?;
                    let expires_at = token.expires_at;
                    Some((token, payload, Some(expires_at)))
                }
                None => None,
            })
        })
        .await
    }

    async fn cached_session(&self, session_id: &str) -> Result<Option<SessionData>> {
        let key = self.key("s", session_id);
        self.read_through(&key, live_session, async {
            let session = self.store.get_session(session_id).await?;
            Ok(match session {
                Some(session) => {
                    let payload = serde_json::to_vec(&session)?;
                    let expires_at = session.expires_at;
                    Some((session, payload, Some(expires_at)))
                }
                None => None,
            })
        })
        .await
    }

    async fn cached_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let cache_key = self.key("k", key);
        self.read_through(&cache_key, live_kv, async {
            let found = self.store.get_kv_with_expiry(key).await?;
            Ok(found.map(|(value, expires_at)| {
                let payload = kv_payload(&value, expires_at);
                (value, payload, expires_at)
            }))
        })
        .await
    }

    /// `get_token_by_access_token` through the cache (the access mapping, then the
    /// token's own entry).
    async fn cached_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>> {
        let map_key = self.key("a", &hex(&Sha256::digest(access_token.as_bytes())));
        let failures = self.cache_usable().await?;
        let mut usable = failures.is_some();
        if usable {
            let entry_base = self.key_prefix("t");
            let epoch_key = self.epoch_key();
            // The mapping and, on a hit, the token's entry in one round trip; anything
            // else takes the token's usual read path.
            let read: Result<(i64, Vec<u8>, String)> = self
                .cache
                .run_script(
                    "cache read",
                    &SCRIPTS.read_access,
                    &[map_key.as_bytes(), epoch_key.as_bytes()],
                    &[entry_base.as_bytes()],
                )
                .await;
            match read {
                Ok((status, payload, token_id)) if status != 0 => {
                    // A hit counts only if Redis did not fail meanwhile (see `lookup`).
                    let hit = (status == 1 && failures == Some(self.state.lock().failures))
                        .then(|| live_token(&payload))
                        .flatten()
                        .filter(|t| t.token_id == token_id && t.access_token == access_token);
                    if hit.is_some() {
                        return Ok(hit);
                    }
                    if validate::id("token id", &token_id).is_ok()
                        && let Some(token) = self.cached_token(&token_id).await?
                        && token.access_token == access_token
                    {
                        return Ok(Some(token));
                    }
                    // A stale mapping: the token is gone or holds another access token.
                    let mut del = ::redis::cmd("DEL");
                    del.arg(&map_key);
                    if let Err(err) = self.cache.run_command::<i64>("cache cleanup", &del).await {
                        self.cache_failed("cache cleanup", &err);
                        usable = false;
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    self.cache_failed("cache read", &err);
                    usable = false;
                }
            }
        }
        let found = self.store.get_token_by_access_token(access_token).await?;
        if let (true, Some(token)) = (usable, &found) {
            // Only a pointer, checked against the token's own entry when used, so this
            // needs no lease: a stale mapping is never believed.
            let mut set = ::redis::cmd("SET");
            set.arg(&map_key)
                .arg(&token.token_id)
                .arg("PXAT")
                .arg(self.cache_until(Some(token.expires_at)).max(1));
            if let Err(err) = self.cache.run_command::<()>("cache fill", &set).await {
                self.cache_failed("cache fill", &err);
            }
        }
        Ok(found)
    }
}

/// The token in a cached payload, if it decodes and is live.
fn live_token(raw: &[u8]) -> Option<AuthToken> {
    let token: AuthToken = serde_json::from_slice(raw).ok()?;
    (token.expires_at > now_micros()).then_some(token)
}

/// The session in a cached payload, if it decodes and is live.
fn live_session(raw: &[u8]) -> Option<SessionData> {
    let session: SessionData = serde_json::from_slice(raw).ok()?;
    (session.expires_at > now_micros()).then_some(session)
}

/// A cached kv payload: the expiry in µs since the epoch (big-endian, `i64::MAX` for
/// none), then the value.
fn kv_payload(value: &[u8], expires_at: Option<DateTime<Utc>>) -> Vec<u8> {
    let expiry = expires_at.map_or(i64::MAX, |at| at.timestamp_micros());
    let mut payload = Vec::with_capacity(8 + value.len());
    payload.extend_from_slice(&expiry.to_be_bytes());
    payload.extend_from_slice(value);
    payload
}

/// The value in a cached kv payload, if it is live.
fn live_kv(raw: &[u8]) -> Option<Vec<u8>> {
    let (expiry, value) = raw.split_first_chunk::<8>()?;
    (i64::from_be_bytes(*expiry) > now_micros().timestamp_micros()).then(|| value.to_vec())
}

fn lease_of(key: &str) -> String {
    format!("{key}:lease")
}

/// The sorted set of the writes in flight on `key` (see `lua/fence.lua`).
fn writes_of(key: &str) -> String {
    format!("{key}:writes")
}

fn lease_id() -> String {
    let counter = LEASES.fetch_add(1, Ordering::Relaxed);
    let random = getrandom::u64().unwrap_or(0);
    format!("{:016x}{counter:x}-{}", random, std::process::id())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

impl fmt::Debug for TieredStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredStorage")
            .field("cache", &self.cache)
            .field("store", &self.store)
            .field("cache_ttl", &self.cache_ttl)
            .field("epoch_check_interval", &self.epoch_check_interval)
            .field("operation_timeout", &self.operation_timeout)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl AuthStorage for TieredStorage {
    async fn store_token(&self, token: &AuthToken) -> Result<()> {
        validate::token(token)?;
        let token = token.clone();
        let key = self.key("t", &token.token_id);
        self.write("store_token", key, move |store| async move {
            store.store_token(&token).await
        })
        .await
    }

    async fn get_token(&self, token_id: &str) -> Result<Option<AuthToken>> {
        validate::id("token id", token_id)?;
        self.bounded("get_token", self.cached_token(token_id)).await
    }

    async fn get_token_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>> {
        validate::secret("access token", access_token)?;
        self.bounded(
            "get_token_by_access_token",
            self.cached_by_access_token(access_token),
        )
        .await
    }

    async fn update_token(&self, token: &AuthToken) -> Result<()> {
        validate::token(token)?;
        let token = token.clone();
        let key = self.key("t", &token.token_id);
        self.write("update_token", key, move |store| async move {
            store.update_token(&token).await
        })
        .await
    }

    async fn delete_token(&self, token_id: &str) -> Result<()> {
        validate::id("token id", token_id)?;
        let token_id = token_id.to_owned();
        let key = self.key("t", &token_id);
        self.write("delete_token", key, move |store| async move {
            store.delete_token(&token_id).await
        })
        .await
    }

    async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<AuthToken>> {
        self.bounded("list_user_tokens", self.store.list_user_tokens(user_id))
            .await
    }

    async fn store_session(&self, session_id: &str, data: &SessionData) -> Result<()> {
        validate::session(session_id, data)?;
        let (session_id, data) = (session_id.to_owned(), data.clone());
        let key = self.key("s", &session_id);
        self.write("store_session", key, move |store| async move {
            store.store_session(&session_id, &data).await
        })
        .await
    }

    async fn get_session(&self, session_id: &str) -> Result<Option<SessionData>> {
        validate::id("session id", session_id)?;
        self.bounded("get_session", self.cached_session(session_id))
            .await
    }

    async fn delete_session(&self, session_id: &str) -> Result<()> {
        validate::id("session id", session_id)?;
        let session_id = session_id.to_owned();
        let key = self.key("s", &session_id);
        self.write("delete_session", key, move |store| async move {
            store.delete_session(&session_id).await
        })
        .await
    }

    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionData>> {
        self.bounded("list_user_sessions", self.store.list_user_sessions(user_id))
            .await
    }

    async fn count_active_sessions(&self) -> Result<u64> {
        self.bounded("count_active_sessions", self.store.count_active_sessions())
            .await
    }

    async fn store_kv(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        validate::key(key)?;
        if value.len() > PostgresStorage::MAX_VALUE_BYTES {
            // Refused before anything is sent, or copied for the write's task.
            return self.store.store_kv(key, value, ttl).await;
        }
        let (kv_key, value) = (key.to_owned(), value.to_vec());
        let cache_key = self.key("k", key);
        self.write("store_kv", cache_key, move |store| async move {
            store.store_kv(&kv_key, &value, ttl).await
        })
        .await
    }

    async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
        validate::key(key)?;
        self.bounded("get_kv", self.cached_kv(key)).await
    }

    async fn delete_kv(&self, key: &str) -> Result<()> {
        validate::key(key)?;
        let kv_key = key.to_owned();
        let cache_key = self.key("k", key);
        self.write("delete_kv", cache_key, move |store| async move {
            store.delete_kv(&kv_key).await
        })
        .await
    }

    async fn list_kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        self.bounded("list_kv_keys", self.store.list_kv_keys(prefix))
            .await
    }

    async fn cleanup_expired(&self) -> Result<()> {
        self.bounded("cleanup_expired", self.store.cleanup_expired())
            .await
    }
}

#[cfg(test)]
mod tests;
