//! One round of all 16 `AuthStorage` operations, each timed and bounded, run concurrently
//! (they are independent of each other), checking the data written before the fault.

use std::time::{Duration, Instant};

use authstore_spec::{AuthStorage, AuthToken, ErrorKind, SessionData, StorageError};
use futures::future::join_all;

use super::support::HANG;

const HOUR: Duration = Duration::from_secs(3600);

/// The operations, in trait order.
pub(crate) const OPS: [&str; 16] = authstore_spec::METHOD_NAMES;

/// Whether an operation only reads one item (what `TieredStorage` may serve from its
/// cache).
pub(crate) fn is_point_read(op: &str) -> bool {
    matches!(
        op,
        "get_token" | "get_token_by_access_token" | "get_session" | "get_kv"
    )
}

/// Data written before the fault, which every later round expects to find.
#[derive(Debug, Clone)]
pub(crate) struct Seed {
    token: AuthToken,
    session: SessionData,
    kv_key: String,
    kv_value: Vec<u8>,
}

impl Seed {
    /// A token, a session and a kv entry of user `seed-user`, living an hour.
    pub(crate) fn new() -> Self {
        Seed {
            token: AuthToken::new("seed-token", "seed-user", "seed-access-secret", HOUR),
            session: SessionData::new("seed-session", "seed-user", HOUR),
            kv_key: "seed:kv".to_owned(),
            kv_value: b"seed value \x00\xff".to_vec(),
        }
    }

    /// Writes the seed; panics if the healthy storage refuses.
    pub(crate) async fn write(&self, storage: &dyn AuthStorage) {
        storage.store_token(&self.token).await.expect("seed token");
        storage
            .store_session(&self.session.session_id, &self.session)
            .await
            .expect("seed session");
        storage
            .store_kv(&self.kv_key, &self.kv_value, None)
            .await
            .expect("seed kv");
    }
}

/// How one call ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// `Ok`, and what it returned agrees with the seed.
    Correct,
    /// `Ok`, but the data is not what was written: the message says how.
    Wrong(String),
    /// An error.
    Failed(StorageError),
    /// No answer within [`HANG`].
    Hung,
}

/// One timed call.
#[derive(Debug)]
pub(crate) struct Call {
    /// The operation.
    pub(crate) op: &'static str,
    /// How it ended.
    pub(crate) outcome: Outcome,
    /// How long it took (at most [`HANG`]).
    pub(crate) elapsed: Duration,
}

impl Call {
    /// The error's kind, if it failed.
    pub(crate) fn error_kind(&self) -> Option<ErrorKind> {
        match &self.outcome {
            Outcome::Failed(err) => Some(err.kind()),
            _ => None,
        }
    }
}

/// Every operation once, concurrently; `round` makes the ids of new items unique.
pub(crate) async fn round(storage: &dyn AuthStorage, seed: &Seed, round: u32) -> Vec<Call> {
    join_all(OPS.iter().map(|op| async move {
        let began = Instant::now();
        let outcome = match tokio::time::timeout(HANG, call(storage, op, seed, round)).await {
            Ok(Ok(Ok(()))) => Outcome::Correct,
            Ok(Ok(Err(wrong))) => Outcome::Wrong(wrong),
            Ok(Err(err)) => Outcome::Failed(err),
            Err(_) => Outcome::Hung,
        };
        Call {
            op,
            outcome,
            elapsed: began.elapsed(),
        }
    }))
    .await
}

/// Runs `op`: `Err` for a storage error, `Ok(Err)` for wrong data. Writes touch only new
/// ids or rewrite the seed unchanged, so rounds can run concurrently and repeatedly.
async fn call(
    storage: &dyn AuthStorage,
    op: &str,
    seed: &Seed,
    round: u32,
) -> Result<Result<(), String>, StorageError> {
    let fresh = |kind: &str| format!("fresh-{kind}-{round}");
    let expect = |ok: bool, what: String| if ok { Ok(()) } else { Err(what) };
    Ok(match op {
        "store_token" => {
            let token = AuthToken::new(fresh("token"), "fresh-user", fresh("access"), HOUR);
            storage.store_token(&token).await?;
            Ok(())
        }
        "get_token" => {
            let found = storage.get_token(&seed.token.token_id).await?;
            expect(
                found.as_ref() == Some(&seed.token),
                format!(
                    "get_token: the seed token came back as {:?}",
                    found.map(|t| t.token_id)
                ),
            )
        }
        "get_token_by_access_token" => {
            let found = storage
                .get_token_by_access_token(&seed.token.access_token)
                .await?;
            expect(
                found.as_ref() == Some(&seed.token),
                "get_token_by_access_token: the seed token is not found by its access token"
                    .to_owned(),
            )
        }
        // Replaces the seed token with itself: a real update that changes nothing.
        "update_token" => {
            storage.update_token(&seed.token).await?;
            Ok(())
        }
        // Deleting an absent token is `Ok` (TOK-9) and still asks the server.
        "delete_token" => {
            storage.delete_token(&fresh("absent-token")).await?;
            Ok(())
        }
        "list_user_tokens" => {
            let tokens = storage.list_user_tokens(&seed.token.user_id).await?;
            expect(
                tokens == [seed.token.clone()],
                format!(
                    "list_user_tokens: {} tokens instead of the seed",
                    tokens.len()
                ),
            )
        }
        "store_session" => {
            let session = SessionData::new(fresh("session"), "fresh-user", HOUR);
            storage.store_session(&session.session_id, &session).await?;
            Ok(())
        }
        "get_session" => {
            let found = storage.get_session(&seed.session.session_id).await?;
            expect(
                found.as_ref() == Some(&seed.session),
                "get_session: the seed session is missing or changed".to_owned(),
            )
        }
        "delete_session" => {
            storage.delete_session(&fresh("absent-session")).await?;
            Ok(())
        }
        "list_user_sessions" => {
            let sessions = storage.list_user_sessions(&seed.session.user_id).await?;
            expect(
                sessions == [seed.session.clone()],
                format!(
                    "list_user_sessions: {} sessions instead of the seed",
                    sessions.len()
                ),
            )
        }
        "count_active_sessions" => {
            let count = storage.count_active_sessions().await?;
            expect(
                count >= 1,
                "count_active_sessions: 0, the seed session is not counted".to_owned(),
            )
        }
        "store_kv" => {
            storage.store_kv(&fresh("kv"), b"fresh", Some(HOUR)).await?;
            Ok(())
        }
        "get_kv" => {
            let found = storage.get_kv(&seed.kv_key).await?;
            expect(
                found.as_deref() == Some(seed.kv_value.as_slice()),
                "get_kv: the seed value is missing or changed".to_owned(),
            )
        }
        "delete_kv" => {
            storage.delete_kv(&fresh("absent-kv")).await?;
            Ok(())
        }
        "list_kv_keys" => {
            let keys = storage.list_kv_keys("seed:").await?;
            expect(
                keys == [seed.kv_key.clone()],
                format!("list_kv_keys: {keys:?} instead of the seed key"),
            )
        }
        "cleanup_expired" => {
            storage.cleanup_expired().await?;
            Ok(())
        }
        other => unreachable!("unknown operation {other}"),
    })
}

/// `op: outcome (ms)` for each call, one per line, for failure messages.
pub(crate) fn describe(calls: &[Call]) -> String {
    calls
        .iter()
        .map(|call| {
            let outcome = match &call.outcome {
                Outcome::Correct => "ok".to_owned(),
                Outcome::Wrong(why) => format!("WRONG DATA: {why}"),
                Outcome::Failed(err) => format!("{:?}: {err}", err.kind()),
                Outcome::Hung => format!("HUNG (no answer within {HANG:?})"),
            };
            format!(
                "  {} after {} ms: {outcome}",
                call.op,
                call.elapsed.as_millis()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
