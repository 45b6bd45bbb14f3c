//! [`RedisStorage`]: the Redis backend, on a single node or a Redis Cluster.

mod connection;
mod error;
mod keys;
mod listing;
mod scripts;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use ::redis::{ErrorKind as RedisErrorKind, FromRedisValue, RedisResult};
use authstore_spec::time::NO_EXPIRY_THRESHOLD;
use authstore_spec::{
    AuthStorage, AuthToken, Result, SessionData, StorageError, TimingProfile, async_trait, validate,
};
use serde::de::DeserializeOwned;

use self::connection::{Connection, Target};
use self::error::{storage_error, timed_out};
use self::keys::{Namespace, access_digest, kv_ttl_arg, last_visible_ms, lex_range};
use self::listing::{OWNED_BATCH, OwnedListing};
pub(crate) use self::scripts::Lua;
use self::scripts::SCRIPTS;

/// Largest kv value [`RedisStorage`] accepts, in bytes (SPEC.md `KV-5`): 64 MiB, well
/// under Redis's own 512 MB, so one value never stalls the server for long. Larger values
/// fail with [`StorageError::CapacityExceeded`].
const MAX_VALUE_BYTES: usize = 64 << 20;

/// Index entries one `cleanup_expired` script call removes at most, so a cleanup of a
/// million expired items never holds the server for long (1.6 ms per call on average,
/// 8.2 ms at the longest, on a loaded 2-core machine: benches/PROFILE.md); the calls
/// repeat until done.
const CLEANUP_BATCH: u64 = 500;

/// Index members one `list_kv_keys` script call reads at most (each an `EXISTS`); the
/// calls repeat, each from where the last stopped, until the range is exhausted.
const LIST_BATCH: u64 = 1000;

/// How long an operation may wait for Redis unless configured otherwise.
const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of a [`RedisStorage`]; [`connect`](Self::connect) makes the storage.
///
/// ```no_run
/// use std::time::Duration;
/// use authstore_backends::RedisConfig;
///
/// # async fn demo() -> authstore_spec::Result<()> {
/// let single = RedisConfig::new("redis://127.0.0.1:6379")
///     .with_prefix("myapp:")
///     .with_default_ttl(Duration::from_secs(3600))
///     .connect()
///     .await?;
/// let cluster = RedisConfig::cluster(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])
///     .with_prefix("tenant-42:")
///     .with_operation_timeout(Duration::from_secs(2))
///     .connect()
///     .await?;
/// # drop((single, cluster));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    target: Target,
    prefix: String,
    default_ttl: Option<Duration>,
    operation_timeout: Duration,
    /// PEM certificates trusted for `rediss://` instead of the system's roots.
    root_certificates: Option<Vec<u8>>,
}

impl RedisConfig {
    /// A single Redis server at `url` (`redis://[user:password@]host[:port][/db]`, or
    /// `rediss://` for TLS), with the prefix `auth:`, no default TTL and a 5 s operation
    /// timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self::with_target(Target::Single(url.into()))
    }

    /// A Redis Cluster reached through any of `urls` (one reachable node is enough; the
    /// client discovers the rest), with the same defaults as [`new`](Self::new).
    pub fn cluster<I, S>(urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::with_target(Target::Cluster(urls.into_iter().map(Into::into).collect()))
    }

    fn with_target(target: Target) -> Self {
        Self {
            target,
            prefix: RedisStorage::DEFAULT_PREFIX.to_owned(),
            default_ttl: None,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            root_certificates: None,
        }
    }

    /// The prefix of every key, which is also their cluster hash tag (see
    /// [`RedisStorage`]). Non-empty, at most 255 bytes, without `{`, `}` or NUL;
    /// [`connect`](Self::connect) rejects others with
    /// [`InvalidInput`](StorageError::InvalidInput).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The TTL given to kv entries stored with `ttl: None` (SPEC.md `TTL-2`). A TTL of 100
    /// years or more (e.g. [`Duration::MAX`]) means no expiry; [`Duration::ZERO`] makes
    /// such writes invisible at once, as an explicit zero TTL does.
    pub fn with_default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = (ttl < NO_EXPIRY_THRESHOLD).then_some(ttl);
        self
    }

    /// How long one operation may take, reconnection included, before it fails with
    /// [`Unavailable`](StorageError::Unavailable) (SPEC.md `GEN-2`); also the connection
    /// and response timeout of the client. Default 5 s.
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Trust the CA certificates in `pem` (one or more PEM `CERTIFICATE` blocks, e.g. the
    /// contents of a private CA's `ca.pem`) for `rediss://` URLs, instead of the system's
    /// root certificates. The server's certificate must still name the URL's host. With a
    /// URL that is not `rediss://`, [`connect`](Self::connect) fails with
    /// [`InvalidInput`](StorageError::InvalidInput): trusted roots without TLS are a
    /// configuration mistake, not a reason to send tokens in the clear.
    pub fn with_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates = Some(pem.into());
        self
    }

    /// Connects and loads the backend's function library (or, where the server refuses
    /// it, its scripts). Fails with
    /// [`InvalidInput`](StorageError::InvalidInput) for a bad prefix or URL and with
    /// [`Unavailable`](StorageError::Unavailable) when no server answers within the
    /// operation timeout; never panics.
    pub async fn connect(self) -> Result<RedisStorage> {
        let ns = Namespace::new(&self.prefix)?;
        if self.root_certificates.is_some() {
            self.target.require_tls()?;
        }
        let timeout = self.operation_timeout;
        // One bound for the whole set-up: connecting (with its retries) and loading the
        // scripts, so that the first call of each method is already one `EVALSHA`.
        let target = &self.target;
        let roots = self.root_certificates.as_deref();
        let set_up = async {
            let conn = Connection::open(target, roots, timeout).await?;
            // The function library first: with it every call is an `FCALL`. A server
            // that refuses it (an ACL without `FUNCTION`, `maxmemory` reached) gets the
            // scripts instead, called with `EVALSHA`.
            let functions = conn.load_library(&SCRIPTS.library).await.is_ok();
            if !functions {
                for script in SCRIPTS.all() {
                    conn.load(script).await?;
                }
            }
            Ok((conn, functions))
        };
        let (conn, functions) = within(timeout, set_up).await.map_err(|err| match err {
            Failed::Redis(err) if err.kind() == RedisErrorKind::InvalidClientConfig => {
                StorageError::InvalidInput(format!("invalid Redis URL or settings: {err}"))
            }
            other => other.into_storage_error("connect", timeout),
        })?;
        Ok(RedisStorage {
            conn,
            functions,
            ns,
            default_ttl: self.default_ttl,
            timeout,
            target: self.target,
        })
    }
}

impl fmt::Debug for RedisConfig {
    // URLs may carry passwords: show only how many there are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("target", &TargetSummary(&self.target))
            .field("prefix", &self.prefix)
            .field("default_ttl", &self.default_ttl)
            .field("operation_timeout", &self.operation_timeout)
            .field("root_certificates", &self.root_certificates.is_some())
            .finish()
    }
}

struct TargetSummary<'a>(&'a Target);

impl fmt::Debug for TargetSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Target::Single(_) => f.write_str("single node"),
            Target::Cluster(urls) => write!(f, "cluster ({} seed nodes)", urls.len()),
        }
    }
}

/// Why a Redis call failed: the client's error, or no reply in time.
enum Failed {
    Redis(::redis::RedisError),
    TimedOut,
}

impl Failed {
    fn into_storage_error(self, operation: &str, timeout: Duration) -> StorageError {
        match self {
            Failed::Redis(err) => storage_error(operation, err),
            Failed::TimedOut => timed_out(operation, timeout),
        }
    }
}

/// `call`, abandoned after `timeout`.
async fn within<T>(
    timeout: Duration,
    call: impl Future<Output = RedisResult<T>>,
) -> std::result::Result<T, Failed> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(Failed::Redis(err)),
        Err(_) => Err(Failed::TimedOut),
    }
}

/// [`AuthStorage`] on Redis: a single server, or a Redis Cluster.
///
/// ```no_run
/// use std::time::Duration;
/// use authstore_backends::RedisStorage;
///
/// # async fn demo() -> authstore_spec::Result<()> {
/// // Prefix `auth:`, kv entries without a TTL never expire.
/// let storage = RedisStorage::new("redis://localhost:6379").await?;
/// // Prefix `myapp:`, kv entries stored without a TTL expire after an hour.
/// let storage = RedisStorage::with_config(
///     "redis://localhost:6379",
///     "myapp:",
///     Duration::from_secs(3600),
/// )
/// .await?;
/// # drop(storage);
/// # Ok(())
/// # }
/// ```
/// A cluster, or other settings (operation timeout, a private CA): [`RedisConfig`].
///
/// # TLS
/// Without TLS, tokens, session data and kv values cross the network in the clear. Use
/// a `rediss://` URL (the `redis-storage` feature builds rustls in): the server's
/// certificate must chain to the system's root certificates and name the URL's host, or
/// to the CA given to [`RedisConfig::with_root_certificates`]. A certificate that does not
/// verify fails the connection with [`Unavailable`](StorageError::Unavailable) (the
/// message says why, e.g. `invalid peer certificate: UnknownIssuer`).
///
/// # Data layout
/// Every key starts with `{prefix}` (`{auth:}` by default), so the prefix is the keys'
/// hash tag:
/// ```text
/// {auth:}token:<token_id>          hash: record (AuthToken JSON), user, access (digest)
/// {auth:}access:<sha256 hex>       string: token id; keyed by a hash of the access token
/// {auth:}user:<user_id>:tokens     sorted set: token ids by expiry
/// {auth:}session:<session_id>      hash: record (SessionData JSON), user
/// {auth:}user:<user_id>:sessions   sorted set: session ids by expiry
/// {auth:}kv:<key>                  string: the value, raw bytes
/// {auth:}index:tokens              sorted set: user\0token id by expiry (for cleanup)
/// {auth:}index:sessions            sorted set: user\0session id by expiry (for counting)
/// {auth:}index:kv                  sorted set: kv keys in byte order (for listing)
/// {auth:}index:kv-expiry           sorted set: kv keys by expiry (for cleanup)
/// ```
/// Compared with the original layout, the access index is keyed by the SHA-256 of the
/// access token, never the token itself (SPEC.md `ACC-5`); records are hashes with their
/// owner (and access digest) beside the JSON, so a script can move index entries without
/// parsing JSON; and four indexes serve counting, listing and cleanup without scanning
/// the keyspace. Ids and keys are used verbatim and cannot alias one another (`NS-2`).
///
/// # Operations
/// Every method but four is one round trip: a plain `GET`/`HGET` for point reads,
/// otherwise one call of Lua code (`FCALL` of the backend's function library, or
/// `EVALSHA` of the same code as a script), which Redis runs atomically, so each index
/// change is all or nothing and no reader sees a token without its access index entry or
/// an entry that points at another token (`CON-*`). The four are `list_kv_keys`,
/// `list_user_tokens`, `list_user_sessions` and `cleanup_expired`, whose work grows with
/// the data: they run their script in batches (1000 listed kv keys, 250 members of the
/// user's index, 500 removed index entries per call), each call starting after where the
/// last stopped, so no call holds the server for long (a cleanup of a million expired
/// items, and a listing of one user's million tokens: longest call in
/// benches/PROFILE.md). A listing of fewer items than one batch is one call. Each batch
/// is atomic; a listing as a whole is not a snapshot: an item (or key) live and unchanged
/// throughout it is returned exactly once (kv keys in byte order, a user's items in any
/// order, `TOK-10`, `SES-5`), while one written, re-stored or deleted during it may or may
/// not be, and is never returned twice; every item returned was live and the user's when
/// its batch was read. A cleanup removes the index entries of what had expired when it
/// began. The function library (named after a hash of its code, so builds with other
/// code keep their own) is loaded on every master when the storage connects; a node
/// that lacks it (added later, `FUNCTION FLUSH`, restarted without persistence) gets it
/// from the first call that misses it. Where it cannot be loaded (an ACL without
/// `FUNCTION`, `maxmemory` reached at connect) the storage uses scripts, loaded when it
/// connects and sent whole, once, by the first call after the server lost them.
/// Costs: point operations O(1) (plus O(log n) index updates), `count_active_sessions`
/// one `ZCOUNT`, user listings one call per 250 of the user's index members (each
/// O(log n) to find its place, even among members of one score), `list_kv_keys` one
/// `ZRANGEBYLEX` per 1000 keys plus the keys returned (`TOK-11`, `CNT-3`, `LST-7`).
///
/// # Time and expiry
/// - **Clock** (SPEC.md `TIME-3`): the Redis server's. Tokens and sessions get
///   `PEXPIREAT` at the last millisecond before their `expires_at`, so they vanish at most
///   1 ms early and never late by that clock; kv TTLs are counted by the server from the
///   write, at most 2 ms early. Scripts read the clock with `TIME`. An item already
///   expired when written is not written, and its earlier version is removed.
///   [`RedisStorage::TIMING`]: 1 ms granularity, 50 ms allowed skew between the
///   application's and the server's clocks (keep both NTP-synchronised).
/// - **Default TTL** (`TTL-2`): none with [`new`](Self::new); with
///   [`with_config`](Self::with_config) or [`RedisConfig::with_default_ttl`] kv entries
///   stored with `ttl: None` get the default (100 years or more, e.g.
///   [`Duration::MAX`], means none).
/// - **Cleanup** (`CLN-3`): Redis deletes expired items itself. Index entries of expired
///   items are dropped when a listing meets them, a few by every write of an item that
///   expires (permanent kv writes skip it: they leave no garbage), and all by
///   [`cleanup_expired`](AuthStorage::cleanup_expired) (O(expired entries), in batches of
///   500).
///
/// # Limits and visibility
/// - **Value limit** (`KV-5`): 64 MiB per kv value; larger values fail with
///   [`StorageError::CapacityExceeded`].
/// - **Operation timeout** (`GEN-2`): 5 s by default; a call that gets no reply in time
///   fails with [`StorageError::Unavailable`], and its command may still have run.
/// - **What Redis readers see**: everything, including access and refresh tokens inside
///   the token records (only key names and indexes are free of them). Wrap the storage
///   in [`EncryptedStorage`](crate::EncryptedStorage) to keep secrets out of Redis.
/// - **A full server** (`maxmemory` reached) refuses writes with
///   [`StorageError::CapacityExceeded`] before they change anything; reads, deletes,
///   listings and cleanup still work.
///
/// # Server requirements
/// Redis 7.0 or later (functions, script flags, `PEXPIRETIME`), with `maxmemory-policy noeviction`
/// (the default): an evicted key would leave indexes that disagree with the items, e.g.
/// an evicted session still counted. Nothing else may write keys under the prefix; a
/// key of the wrong type there makes scripts fail, possibly after part of their work.
///
/// # Redis Cluster
/// The prefix is the hash tag, so all of one storage's keys live in one slot, served by
/// one master: every script touches one node and every guarantee above (atomic index
/// changes, the exact global session count, access-token uniqueness across handles)
/// holds on a cluster exactly as on one server. The cost is that one storage's data and
/// load sit on one master; to spread over the cluster, use several storages with
/// different prefixes (e.g. one per tenant). Nothing here relies on cross-slot commands.
///
/// Clones share the connection; a second handle on the same data is another storage with
/// the same prefix on the same server or cluster.
#[derive(Clone)]
pub struct RedisStorage {
    conn: Connection,
    /// Whether the function library loaded when the storage connected: operations are
    /// then `FCALL`s, else `EVALSHA`s of the same code.
    functions: bool,
    ns: Namespace,
    default_ttl: Option<Duration>,
    timeout: Duration,
    target: Target,
}

impl RedisStorage {
    /// The timing profile (SPEC.md `TIME-3`): the server's clock, kept to the millisecond,
    /// with 50 ms allowed between it and the application's clock.
    pub const TIMING: TimingProfile =
        TimingProfile::new(Duration::from_millis(1), Duration::from_millis(50));

    /// The largest kv value accepted, in bytes (SPEC.md `KV-5`): 64 MiB.
    pub const MAX_VALUE_BYTES: usize = MAX_VALUE_BYTES;

    /// The key prefix used unless configured otherwise.
    pub const DEFAULT_PREFIX: &'static str = "auth:";

    /// A storage on the server at `url` with prefix `auth:` and no default TTL; see
    /// [`RedisConfig::connect`] for the errors.
    pub async fn new(url: &str) -> Result<Self> {
        RedisConfig::new(url).connect().await
    }

    /// A storage on the server at `url` with this key prefix, whose kv entries stored
    /// with `ttl: None` expire after `default_ttl` (100 years or more: never); see
    /// [`RedisConfig::connect`] for the errors.
    pub async fn with_config(url: &str, prefix: &str, default_ttl: Duration) -> Result<Self> {
        RedisConfig::new(url)
            .with_prefix(prefix)
            .with_default_ttl(default_ttl)
            .connect()
            .await
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        self.ns.prefix()
    }

    /// The operation timeout: the longest one call waits for a reply.
    pub fn operation_timeout(&self) -> Duration {
        self.timeout
    }

    /// Deletes every key under this storage's prefix, live or expired, and returns how
    /// many there were: for tests, and for removing a tenant. Unlike the trait methods it
    /// walks the keyspace (`SCAN MATCH` on the one node that serves the prefix) in several
    /// round trips, and is not atomic with concurrent writers.
    pub async fn purge(&self) -> Result<u64> {
        let pattern = self.ns.scan_pattern();
        let mut cursor: u64 = 0;
        let mut removed: u64 = 0;
        loop {
            let mut scan = ::redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000);
            let (next, keys): (u64, Vec<Vec<u8>>) = self
                .run(
                    "purge (SCAN)",
                    self.conn.query_at(scan, self.ns.base().as_bytes()),
                )
                .await?;
            if !keys.is_empty() {
                let mut unlink = ::redis::cmd("UNLINK");
                unlink.arg(&keys);
                let count: u64 = self.run("purge (UNLINK)", self.conn.query(&unlink)).await?;
                removed += count;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    /// `{prefix}`, the start of every key name: `TieredStorage` puts its cache keys under
    /// it, in a namespace (`cache:`) no key of this storage starts with.
    #[cfg(feature = "tiered-storage")]
    pub(crate) fn key_base(&self) -> &str {
        self.ns.base()
    }

    /// Runs one of `TieredStorage`'s scripts on `keys` (all under [`key_base`](Self::key_base),
    /// so one slot) with `args`, under the operation timeout.
    #[cfg(feature = "tiered-storage")]
    pub(crate) async fn run_script<T: FromRedisValue>(
        &self,
        operation: &str,
        script: &Lua,
        keys: &[&[u8]],
        args: &[&[u8]],
    ) -> Result<T> {
        self.run(operation, self.conn.eval(script, keys, args))
            .await
    }

    /// Runs one plain command (its first key routes it on a cluster) under the operation
    /// timeout: `TieredStorage`'s `GET`s and `DEL`s.
    #[cfg(feature = "tiered-storage")]
    pub(crate) async fn run_command<T: FromRedisValue>(
        &self,
        operation: &str,
        cmd: &::redis::Cmd,
    ) -> Result<T> {
        self.run(operation, self.conn.query(cmd)).await
    }

    /// `call` with the operation timeout, its errors mapped.
    async fn run<T>(
        &self,
        operation: &str,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T> {
        within(self.timeout, call)
            .await
            .map_err(|err| err.into_storage_error(operation, self.timeout))
    }

    /// Runs `script` with `KEYS[1] = key` and `ARGV = [base, args...]`.
    async fn eval<T: FromRedisValue>(
        &self,
        operation: &str,
        script: &Lua,
        key: &str,
        args: &[&[u8]],
    ) -> Result<T> {
        let mut argv: Vec<&[u8]> = Vec::with_capacity(args.len() + 1);
        argv.push(self.ns.base().as_bytes());
        argv.extend_from_slice(args);
        let keys: &[&[u8]] = &[key.as_bytes()];
        if self.functions {
            self.run(
                operation,
                self.conn.fcall(script, &SCRIPTS.library, keys, &argv),
            )
            .await
        } else {
            self.run(operation, self.conn.eval(script, keys, &argv))
                .await
        }
    }

    /// The `record` field of the hash at `key`, decoded, or `None`.
    async fn get_record<T: DeserializeOwned>(
        &self,
        operation: &str,
        key: &str,
    ) -> Result<Option<T>> {
        let mut hget = ::redis::cmd("HGET");
        hget.arg(key).arg("record");
        let raw: Option<Vec<u8>> = self.run(operation, self.conn.query(&hget)).await?;
        raw.map(|raw| decode(&raw)).transpose()
    }

    async fn put_token(&self, token: &AuthToken, must_exist: bool) -> Result<()> {
        let operation = if must_exist {
            "update_token"
        } else {
            "store_token"
        };
        let record = serde_json::to_vec(token)?;
        let digest = access_digest(&token.access_token);
        let last = last_visible_ms(token.expires_at).to_string();
        let must_exist: &[u8] = if must_exist { b"1" } else { b"0" };
        let status: i64 = self
            .eval(
                operation,
                &SCRIPTS.store_token,
                &self.ns.token(&token.token_id),
                &[
                    token.token_id.as_bytes(),
                    token.user_id.as_bytes(),
                    digest.as_bytes(),
                    last.as_bytes(),
                    &record,
                    must_exist,
                ],
            )
            .await?;
        match status {
            0 => Ok(()),
            1 => Err(StorageError::NotFound(format!(
                "update_token: no live token with id {:?}",
                token.token_id
            ))),
            2 => Err(StorageError::Conflict(format!(
                "{operation}: the access token of token {:?} is held by another live token",
                token.token_id
            ))),
            other => Err(unexpected(operation, other)),
        }
    }

    /// Every live item of `kind` that `user_id` owns, read from `index` in script calls
    /// of at most [`OWNED_BATCH`] members each.
    async fn list_owned<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        index: String,
        user_id: &str,
        kind: &'static str,
    ) -> Result<Vec<T>> {
        let mut listing = OwnedListing::new(operation, index, user_id, kind, OWNED_BATCH);
        while !listing.is_done() {
            listing.step(self).await?;
        }
        listing
            .into_records()
            .iter()
            .map(|raw| decode(raw))
            .collect()
    }
}

fn decode<T: DeserializeOwned>(raw: &[u8]) -> Result<T> {
    Ok(serde_json::from_slice(raw)?)
}

fn unexpected(operation: &str, status: i64) -> StorageError {
    StorageError::Backend {
        message: format!("Redis script for {operation} returned the unknown status {status}"),
        source: None,
    }
}

impl fmt::Debug for RedisStorage {
    // No URLs (they may carry passwords) and no data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStorage")
            .field("target", &TargetSummary(&self.target))
            .field("prefix", &self.ns.prefix())
            .field("default_ttl", &self.default_ttl)
            .field("operation_timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl AuthStorage for RedisStorage {
    async fn store_token(&self, token: &AuthToken) -> Result<()> {
        validate::token(token)?;
        self.put_token(token, false).await
    }

    async fn get_token(&self, token_id: &str) -> Result<Option<AuthToken>> {
        validate::id("token id", token_id)?;
        self.get_record("get_token", &self.ns.token(token_id)).await
    }

    async fn get_token_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>> {
        validate::secret("access token", access_token)?;
        let digest = access_digest(access_token);
        let raw: Option<Vec<u8>> = self
            .eval(
                "get_token_by_access_token",
                &SCRIPTS.token_by_access,
                &self.ns.access(&digest),
                &[digest.as_bytes()],
            )
            .await?;
        let token: Option<AuthToken> = raw.map(|raw| decode(&raw)).transpose()?;
        // The digest matched; compare the tokens themselves too (ACC-1: byte for byte).
        Ok(token.filter(|t| t.access_token == access_token))
    }

    async fn update_token(&self, token: &AuthToken) -> Result<()> {
        validate::token(token)?;
        self.put_token(token, true).await
    }

    async fn delete_token(&self, token_id: &str) -> Result<()> {
        validate::id("token id", token_id)?;
        let status: i64 = self
            .eval(
                "delete_token",
                &SCRIPTS.delete_token,
                &self.ns.token(token_id),
                &[token_id.as_bytes()],
            )
            .await?;
        match status {
            0 => Ok(()),
            other => Err(unexpected("delete_token", other)),
        }
    }

    async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<AuthToken>> {
        validate::id("user id", user_id)?;
        self.list_owned(
            "list_user_tokens",
            self.ns.user_tokens(user_id),
            user_id,
            "token",
        )
        .await
    }

    async fn store_session(&self, session_id: &str, data: &SessionData) -> Result<()> {
        validate::session(session_id, data)?;
        let record = serde_json::to_vec(data)?;
        let last = last_visible_ms(data.expires_at).to_string();
        let status: i64 = self
            .eval(
                "store_session",
                &SCRIPTS.store_session,
                &self.ns.session(session_id),
                &[
                    session_id.as_bytes(),
                    data.user_id.as_bytes(),
                    last.as_bytes(),
                    &record,
                ],
            )
            .await?;
        match status {
            0 => Ok(()),
            other => Err(unexpected("store_session", other)),
        }
    }

    async fn get_session(&self, session_id: &str) -> Result<Option<SessionData>> {
        validate::id("session id", session_id)?;
        self.get_record("get_session", &self.ns.session(session_id))
            .await
    }

    async fn delete_session(&self, session_id: &str) -> Result<()> {
        validate::id("session id", session_id)?;
        let status: i64 = self
            .eval(
                "delete_session",
                &SCRIPTS.delete_session,
                &self.ns.session(session_id),
                &[session_id.as_bytes()],
            )
            .await?;
        match status {
            0 => Ok(()),
            other => Err(unexpected("delete_session", other)),
        }
    }

    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionData>> {
        validate::id("user id", user_id)?;
        self.list_owned(
            "list_user_sessions",
            self.ns.user_sessions(user_id),
            user_id,
            "session",
        )
        .await
    }

    async fn count_active_sessions(&self) -> Result<u64> {
        self.eval(
            "count_active_sessions",
            &SCRIPTS.count_sessions,
            &self.ns.sessions_index(),
            &[],
        )
        .await
    }

    async fn store_kv(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        validate::key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(StorageError::CapacityExceeded(format!(
                "kv value for key {key:?} is {} bytes; the limit is {MAX_VALUE_BYTES} bytes",
                value.len()
            )));
        }
        let ttl = kv_ttl_arg(ttl.or(self.default_ttl)).to_string();
        let status: i64 = self
            .eval(
                "store_kv",
                &SCRIPTS.store_kv,
                &self.ns.kv(key),
                &[key.as_bytes(), value, ttl.as_bytes()],
            )
            .await?;
        match status {
            0 => Ok(()),
            other => Err(unexpected("store_kv", other)),
        }
    }

    async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
        validate::key(key)?;
        let mut get = ::redis::cmd("GET");
        get.arg(self.ns.kv(key));
        self.run("get_kv", self.conn.query(&get)).await
    }

    async fn delete_kv(&self, key: &str) -> Result<()> {
        validate::key(key)?;
        let status: i64 = self
            .eval(
                "delete_kv",
                &SCRIPTS.delete_kv,
                &self.ns.kv(key),
                &[key.as_bytes()],
            )
            .await?;
        match status {
            0 => Ok(()),
            other => Err(unexpected("delete_kv", other)),
        }
    }

    async fn list_kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        validate::prefix(prefix)?;
        let (mut min, max) = lex_range(prefix);
        let limit = LIST_BATCH.to_string();
        let mut keys = Vec::new();
        loop {
            let batch: Vec<Vec<u8>> = self
                .eval(
                    "list_kv_keys",
                    &SCRIPTS.list_kv,
                    &self.ns.kv_index(),
                    &[&min, &max, limit.as_bytes()],
                )
                .await?;
            let mut batch = batch.into_iter();
            let cursor = batch.next().unwrap_or_default();
            for key in batch {
                keys.push(String::from_utf8(key).map_err(|err| {
                    StorageError::serialization("a kv key listed by Redis is not UTF-8", err)
                })?);
            }
            if cursor.is_empty() {
                return Ok(keys);
            }
            // The next batch starts after the last member read: each key once, in order.
            min = [b"(".as_slice(), &cursor].concat();
        }
    }

    async fn cleanup_expired(&self) -> Result<()> {
        let limit = CLEANUP_BATCH.to_string();
        let mut cutoff = String::new();
        loop {
            let (first_cutoff, removed): (String, u64) = self
                .eval(
                    "cleanup_expired",
                    &SCRIPTS.cleanup,
                    &self.ns.tokens_index(),
                    &[cutoff.as_bytes(), limit.as_bytes()],
                )
                .await?;
            if removed < CLEANUP_BATCH {
                return Ok(());
            }
            cutoff = first_cutoff;
        }
    }
}
