//! [`EncryptedStorage`]: AES-256-GCM-SIV encryption at rest over any [`AuthStorage`].

mod envelope;
mod key;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use authstore_spec::{
    AuthStorage, AuthToken, Result, SessionData, StorageError, async_trait, validate,
};
use chrono::Utc;

use self::envelope::{SessionQuery, TokenQuery};
pub use self::key::{EncryptionKey, KeyError, Keyring};

/// A wrapper that keeps every secret out of the inner storage: the inner store holds
/// ciphertexts, keyed hashes and the few plaintext columns it needs to index and expire
/// records.
///
/// ```
/// use authstore_backends::{EncryptedStorage, EncryptionKey, MemoryStorage};
///
/// # fn main() -> Result<(), authstore_backends::KeyError> {
/// let key = EncryptionKey::generate(1)?; // keep key.to_base64() in a secrets manager
/// let storage = EncryptedStorage::new(MemoryStorage::new(), key);
/// # drop(storage);
/// # Ok(())
/// # }
/// ```
///
/// # What the inner store sees
/// Whoever can read the inner storage learns exactly this, and nothing else:
/// - **Tokens**: `token_id`, `user_id`, `issued_at`, `expires_at` (for lookups, listing
///   and expiry), and in place of `access_token` the lowercase hex HMAC-SHA256 of it
///   under a key derived from the encryption key (so the inner store can index access
///   tokens and enforce their uniqueness without seeing one). `refresh_token` and
///   `token_type` read as `None` and `scopes` as empty; `metadata` holds the envelope
///   `{"v": 2, "kid": <key id>, "ct": "<base64 of nonce || ciphertext || tag>"}`, whose
///   ciphertext is the whole token as JSON.
/// - **Sessions**: `session_id`, `user_id`, `created_at`, `expires_at`, `last_activity`;
///   `ip_address` and `user_agent` read as `None`, and `data` holds the same kind of
///   envelope over the whole session as JSON.
/// - **Kv entries**: keys (for prefix listing) and expiry instants in the clear; values as
///   `version (1 byte) || key id (4 bytes, big-endian) || nonce (12) || ciphertext ||
///   tag (16)`, so the length of a value shows (plus 33 bytes).
/// - In all cases: how many items there are, which key id wrote each, and when they are
///   written and read. Ciphertext lengths reveal plaintext lengths.
///
/// # Guarantees
/// - Every write is sealed with AES-256-GCM-SIV (RFC 8452, envelope version 2) under a
///   fresh random 96-bit nonce. Unlike AES-GCM, whose random nonces allow about 2^32
///   encryptions per key (NIST SP 800-38D), GCM-SIV derives a key per nonce, which puts
///   its per-key limits far beyond any store's write count (RFC 8452 section 9), and a
///   repeated nonce reveals only whether two records (same id, same content) are equal,
///   not the key stream; so no write is counted or refused. It costs about 0.5 us more
///   per 300-byte record sealed and opened (`benches/benches/aead.rs`: 2.5 us against
///   1.9 us for AES-256-GCM on the 2-core reference machine), far below one round trip
///   to a server. Records of envelope version 1 (AES-256-GCM, written before) are still
///   read, never written: each moves to version 2 when it is next written.
/// - Key material is zeroed on drop: [`EncryptionKey`], the derived keys, and the
///   ciphers' key schedules (the `zeroize` features of `aes-gcm`, `aes-gcm-siv` and
///   `hmac`); `Debug` shows key ids only.
/// - Each ciphertext is bound (as associated data) to its kind of record, its id or key,
///   the format version and its key id: a ciphertext altered, or moved to another record,
///   fails with [`StorageError::Integrity`] naming the record. A token or session whose
///   plaintext columns (ids, timestamps, lookup hash) disagree with its encrypted copy
///   also fails with `Integrity`, as does a record whose key id the [`Keyring`] lacks.
///   A listing that meets such a record fails as a whole rather than dropping it.
/// - Every answer is bound to the request, checked on the decrypted record, not on the
///   inner store's columns: `get_token(id)`, `get_session(id)` and `get_kv(key)`
///   authenticate under the id or key asked for, so another record's row copied under it
///   fails; every record of `list_user_tokens(u)` / `list_user_sessions(u)` has user `u`;
///   `get_token_by_access_token(a)` answers only with a token whose access token is `a`.
///   Anything else is `Integrity`.
/// - Expiry is decided on the encrypted `expires_at` too: a token or session is
///   invisible once the host's clock reaches it (`TIME-1`), whatever its expiry column
///   says, so an expired record whose column was stretched, or an inner store serving
///   expired records, stays invisible. A live record whose column was altered is
///   `Integrity`.
/// - Inputs are validated (SPEC.md section 10) on the values given, before anything is
///   encrypted: the inner store sees hashes and envelopes, so it cannot check them.
///
/// Not bound, because the inner store answers them from its plaintext columns and
/// nothing authenticated comes back: [`count_active_sessions`](AuthStorage::count_active_sessions)
/// (a stretched expiry column counts an expired session), [`list_kv_keys`](AuthStorage::list_kv_keys)
/// (keys can be added, hidden or kept past expiry), whether a record exists for
/// [`update_token`](AuthStorage::update_token) (`NotFound`) and whether an access token
/// is held for `store_token`/`update_token` (`Conflict`). Also not protected: the inner
/// store can delete records, serve an older version of a record (a replay of an earlier
/// write of the same id), or change a kv entry's expiry, which is not encrypted.
///
/// # Key rotation
/// New writes use the keyring's current key; records written with an old key stay
/// readable and [`get_token_by_access_token`](AuthStorage::get_token_by_access_token)
/// tries the current key's lookup hash, then each old key's. A record is re-encrypted
/// with the current key when it is next written. To keep access tokens unique across
/// keys (`ACC-2`), a token write first checks that no other live token holds the access
/// token under an old key's hash. That check and the write are two inner operations, so
/// two handles writing the same access token at the same instant, under different
/// current keys, can both succeed; following the rollout order in [`Keyring`] (new key
/// known everywhere as old before it becomes current) leaves only that concurrent window.
///
/// # Backend documentation (SPEC.md)
/// - **Clock and timing** (`TIME-3`): the inner store's, and the host's: a token or
///   session is visible only while both read before its expiry, so use the inner store's
///   [`TimingProfile`](authstore_spec::TimingProfile) widened by the skew between the
///   host's clock and the inner store's. Kv expiry is the inner store's alone.
/// - **Default TTL** (`TTL-2`): the inner store's.
/// - **Value limit** (`KV-5`): the inner store's limit minus 33 bytes of envelope.
/// - **Atomicity**: each method makes one inner call, except token writes under a keyring
///   with old keys (see above) and access-token lookups that fall back to old keys.
/// - **Scheduling**: each call that encrypts or decrypts spends one unit of tokio's
///   cooperative budget ([`tokio::task::consume_budget`]), so a task looping over calls
///   yields to its worker's other tasks even when the inner store never waits.
///
/// `Debug` shows the inner store's `Debug` and the key ids, never key material. Clones
/// share the inner store (if its clones do) and the keyring.
#[derive(Clone)]
pub struct EncryptedStorage<S> {
    inner: S,
    keys: Arc<Keyring>,
}

impl<S: AuthStorage> EncryptedStorage<S> {
    /// What the envelope adds to a kv value, in bytes: the largest value accepted is the
    /// inner store's limit minus this (SPEC.md `KV-5`).
    pub const KV_VALUE_OVERHEAD: usize = envelope::KV_OVERHEAD;

    /// `inner` encrypted with `key` alone.
    pub fn new(inner: S, key: EncryptionKey) -> Self {
        Self::with_keyring(inner, Keyring::new(key))
    }

    /// `inner` encrypted with `keyring`'s current key, reading records of its old keys too.
    pub fn with_keyring(inner: S, keyring: Keyring) -> Self {
        Self {
            inner,
            keys: Arc::new(keyring),
        }
    }

    /// The inner store, which holds only what the type docs list.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Fails with `Conflict` if a live token other than `token` holds its access token
    /// under an old key's lookup hash (`ACC-2` across keys); the inner store enforces the
    /// current key's.
    async fn check_old_key_holders(&self, token: &AuthToken) -> Result<()> {
        for old in self.keys.old() {
            let hash = old.lookup_hash(&token.access_token);
            if let Some(holder) = self.inner.get_token_by_access_token(&hash).await?
                && holder.token_id != token.token_id
            {
                return Err(StorageError::Conflict(format!(
                    "access token of token {:?} is held by another live token (written with \
                     key id {})",
                    token.token_id, old.id
                )));
            }
        }
        Ok(())
    }
}

/// A yield point for the CPU-bound crypto of each call: it returns to the tokio scheduler
/// only once the task's cooperative budget is spent, so a task looping over encrypted
/// calls (which may never wait on I/O, e.g. over an in-memory store) cannot starve the
/// other tasks of its worker thread. Outside a tokio runtime it does nothing.
async fn cooperate() {
    tokio::task::consume_budget().await;
}

impl<S: fmt::Debug> fmt::Debug for EncryptedStorage<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedStorage")
            .field("inner", &self.inner)
            .field("current_key_id", &self.keys.current_key_id())
            .field("old_key_ids", &self.keys.old_key_ids())
            .finish()
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: AuthStorage> AuthStorage for EncryptedStorage<S> {
    async fn store_token(&self, token: &AuthToken) -> Result<()> {
        cooperate().await;
        validate::token(token)?;
        let sealed = envelope::seal_token(self.keys.current(), token)?;
        self.check_old_key_holders(token).await?;
        self.inner.store_token(&sealed).await
    }

    async fn get_token(&self, token_id: &str) -> Result<Option<AuthToken>> {
        cooperate().await;
        validate::id("token id", token_id)?;
        match self.inner.get_token(token_id).await? {
            Some(stored) => {
                envelope::open_token(&self.keys, &stored, TokenQuery::Id(token_id), Utc::now())
            }
            None => Ok(None),
        }
    }

    async fn get_token_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>> {
        cooperate().await;
        validate::secret("access token", access_token)?;
        let keys = std::iter::once(self.keys.current()).chain(self.keys.old());
        for key in keys {
            let hash = key.lookup_hash(access_token);
            if let Some(stored) = self.inner.get_token_by_access_token(&hash).await? {
                let query = TokenQuery::AccessToken(access_token);
                // An expired holder under this key's hash leaves the access token free for
                // a token under another key's (ACC-2).
                if let Some(token) = envelope::open_token(&self.keys, &stored, query, Utc::now())? {
                    return Ok(Some(token));
                }
            }
        }
        Ok(None)
    }

    async fn update_token(&self, token: &AuthToken) -> Result<()> {
        cooperate().await;
        validate::token(token)?;
        let sealed = envelope::seal_token(self.keys.current(), token)?;
        if let Err(conflict) = self.check_old_key_holders(token).await {
            // TOK-7 first: updating an absent token is NotFound whatever else holds.
            if self.inner.get_token(&token.token_id).await?.is_none() {
                return Err(StorageError::NotFound(format!(
                    "update_token: no live token with id {:?}",
                    token.token_id
                )));
            }
            return Err(conflict);
        }
        self.inner.update_token(&sealed).await
    }

    async fn delete_token(&self, token_id: &str) -> Result<()> {
        validate::id("token id", token_id)?;
        self.inner.delete_token(token_id).await
    }

    async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<AuthToken>> {
        cooperate().await;
        validate::id("user id", user_id)?;
        let stored = self.inner.list_user_tokens(user_id).await?;
        let now = Utc::now();
        let query = TokenQuery::User(user_id);
        let opened = stored
            .iter()
            .map(|t| envelope::open_token(&self.keys, t, query, now));
        opened.filter_map(Result::transpose).collect()
    }

    async fn store_session(&self, session_id: &str, data: &SessionData) -> Result<()> {
        cooperate().await;
        validate::session(session_id, data)?;
        let sealed = envelope::seal_session(self.keys.current(), data)?;
        self.inner.store_session(session_id, &sealed).await
    }

    async fn get_session(&self, session_id: &str) -> Result<Option<SessionData>> {
        cooperate().await;
        validate::id("session id", session_id)?;
        match self.inner.get_session(session_id).await? {
            Some(stored) => envelope::open_session(
                &self.keys,
                &stored,
                SessionQuery::Id(session_id),
                Utc::now(),
            ),
            None => Ok(None),
        }
    }

    async fn delete_session(&self, session_id: &str) -> Result<()> {
        validate::id("session id", session_id)?;
        self.inner.delete_session(session_id).await
    }

    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionData>> {
        cooperate().await;
        validate::id("user id", user_id)?;
        let stored = self.inner.list_user_sessions(user_id).await?;
        let now = Utc::now();
        let query = SessionQuery::User(user_id);
        let opened = stored
            .iter()
            .map(|s| envelope::open_session(&self.keys, s, query, now));
        opened.filter_map(Result::transpose).collect()
    }

    async fn count_active_sessions(&self) -> Result<u64> {
        self.inner.count_active_sessions().await
    }

    async fn store_kv(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        cooperate().await;
        validate::key(key)?;
        let sealed = envelope::seal_kv(self.keys.current(), key, value)?;
        self.inner.store_kv(key, &sealed, ttl).await
    }

    async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
        cooperate().await;
        validate::key(key)?;
        match self.inner.get_kv(key).await? {
            Some(stored) => envelope::open_kv(&self.keys, key, &stored).map(Some),
            None => Ok(None),
        }
    }

    async fn delete_kv(&self, key: &str) -> Result<()> {
        validate::key(key)?;
        self.inner.delete_kv(key).await
    }

    async fn list_kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        validate::prefix(prefix)?;
        self.inner.list_kv_keys(prefix).await
    }

    async fn cleanup_expired(&self) -> Result<()> {
        self.inner.cleanup_expired().await
    }
}
