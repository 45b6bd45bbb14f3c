//! Races whose outcome is checked for linearizability, not only for "no error": each
//! pair of calls is released together at a barrier, many times, and the end state must
//! be one that some order of the acknowledged calls explains.
//!
//! - `update_token` against `delete_token` of one id: whichever order, the token is
//!   absent afterwards (an update after the delete returns `NotFound`), so a deleted
//!   token never comes back.
//! - `cleanup_expired` against a live re-store of an expired id: the live version
//!   survives.
//! - Concurrent `cleanup_expired` calls: the count and the lists stay exact.
//! - Listings during kv churn always include the keys nobody touches.
//!
//! Rounds are sized so that a check-then-act window of about 100 µs in a backend is hit
//! in every run on a loaded 2-core machine.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use authstore_spec::{
    AuthStorage, AuthToken, Capabilities, Capability, ErrorKind, SessionData, StorageError,
};
use chrono::Utc;
use tokio::sync::Barrier;
use tokio::task::JoinHandle;

use crate::check::{Check, Failure, Outcome, ensure, expect_eq};
use crate::tasks::join_tasks;
use crate::timing::{ExpiryWindow, sleep_until};
use crate::{Ctx, Scenario, scenario};

const HOUR: Duration = Duration::from_secs(3600);
/// Rounds of each race.
const ROUNDS: usize = 40;
/// Ids raced in parallel within one round (each by its own pair of tasks).
const PAIRS: usize = 6;

pub(crate) fn scenarios() -> Vec<Scenario> {
    let concurrent = Capabilities::NONE.with(Capability::Concurrency);
    vec![
        scenario!(
            concurrency_update_delete_race_never_resurrects,
            Concurrency,
            ["CON-5", "TOK-7", "TOK-9", "CON-3"],
            concurrent,
            "update_token and delete_token of one live token released together: whatever \
             they return, the token is absent afterwards, by id, access token and user list",
            update_delete_race_never_resurrects
        ),
        scenario!(
            concurrency_cleanup_spares_live_restores,
            Concurrency,
            ["CON-5", "CLN-1", "TOK-12", "SES-7"],
            concurrent,
            "cleanup_expired released together with live re-stores of expired tokens, \
             sessions and kv keys: every re-stored item survives, whole, in its indexes",
            cleanup_spares_live_restores
        ),
        scenario!(
            concurrency_concurrent_cleanups_keep_indexes_exact,
            Concurrency,
            ["CON-3", "CLN-1", "CLN-2", "CNT-1"],
            concurrent,
            "several cleanup_expired calls at once over many expired items leave the live \
             items, the session count and every list exact",
            concurrent_cleanups_keep_indexes_exact
        ),
        scenario!(
            concurrency_listing_during_churn_keeps_untouched_keys,
            Concurrency,
            ["CON-1", "CON-3", "LST-1"],
            concurrent,
            "every listing taken while neighbouring keys are stored and deleted includes \
             every key nobody touches, and nothing else under the prefix but churned keys",
            listing_during_churn_keeps_untouched_keys
        ),
    ]
}

/// Runs `calls` released together at one barrier and returns their results in order.
async fn release_together<T, F>(what: &str, calls: Vec<F>) -> Result<Vec<T>, Failure>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(calls.len()));
    let tasks: Vec<JoinHandle<Result<T, Failure>>> = calls
        .into_iter()
        .map(|call| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                Ok(call.await)
            })
        })
        .collect();
    join_tasks(what, tasks).await
}

type Call = futures::future::BoxFuture<'static, Result<(), StorageError>>;

async fn update_delete_race_never_resurrects(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    for round in 0..ROUNDS {
        let tokens: Vec<AuthToken> = (0..PAIRS)
            .map(|p| {
                AuthToken::new(
                    format!("ud-{round}-{p}"),
                    "ud-user",
                    format!("ud-acc-{round}-{p}"),
                    HOUR,
                )
            })
            .collect();
        for token in &tokens {
            s.store_token(token)
                .await
                .check(&format!("store_token({})", token.token_id))?;
        }
        let mut calls: Vec<Call> = Vec::new();
        for token in &tokens {
            let updated = token
                .clone()
                .with_access_token(format!("{}-updated", token.access_token))
                .with_scopes(["updated"]);
            let (a, b, id) = (s.clone(), s.clone(), token.token_id.clone());
            calls.push(Box::pin(async move { a.update_token(&updated).await }));
            calls.push(Box::pin(async move { b.delete_token(&id).await }));
        }
        let results = release_together("update_token against delete_token", calls).await?;
        for (p, token) in tokens.iter().enumerate() {
            let id = &token.token_id;
            match &results[2 * p] {
                Ok(()) => {}
                Err(err) if err.kind() == ErrorKind::NotFound => {}
                Err(err) => {
                    return Err(Failure::new(format!(
                        "round {round}: update_token({id}) racing delete_token({id}): expected \
                         Ok or NotFound, got error {:?}: {err}",
                        err.kind()
                    )));
                }
            }
            results[2 * p + 1]
                .as_ref()
                .map_err(|err| {
                    Failure::new(format!(
                        "round {round}: delete_token({id}) racing update_token({id}): expected \
                         Ok, got error {:?}: {err}",
                        err.kind()
                    ))
                })
                .map(drop)?;
            let update = if results[2 * p].is_ok() {
                "Ok"
            } else {
                "NotFound"
            };
            let context = format!(
                "round {round}, after update_token ({update}) raced an acknowledged delete_token: \
                 in either order the token is gone"
            );
            let got = s.get_token(id).await.check(&format!("get_token({id})"))?;
            expect_eq(&got, &None, &format!("get_token({id}) {context}"))?;
            for access in [
                token.access_token.clone(),
                format!("{}-updated", token.access_token),
            ] {
                let got = s
                    .get_token_by_access_token(&access)
                    .await
                    .check(&format!("get_token_by_access_token({access})"))?;
                expect_eq(
                    &got,
                    &None,
                    &format!("get_token_by_access_token({access}) {context}"),
                )?;
            }
        }
        let listed = s
            .list_user_tokens("ud-user")
            .await
            .check("list_user_tokens(ud-user)")?;
        expect_eq(
            &listed,
            &Vec::new(),
            &format!("list_user_tokens(ud-user) after round {round}: every token was deleted"),
        )?;
    }
    Ok(())
}

async fn cleanup_spares_live_restores(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let mut live_sessions = 0u64;
    for round in 0..ROUNDS {
        let past = super::tokens::surely_past(ctx.timing());
        let ids: Vec<String> = (0..PAIRS).map(|p| format!("cr-{round}-{p}")).collect();
        // The expired versions, stored so a backend that keeps expired data until
        // cleanup has something to remove.
        for id in &ids {
            let token =
                AuthToken::new(id, "cr-old", format!("{id}-acc"), HOUR).with_expires_at(past);
            s.store_token(&token)
                .await
                .check(&format!("store_token({id}) expired"))?;
            let data = SessionData::new(id, "cr-old", HOUR).with_expires_at(past);
            s.store_session(id, &data)
                .await
                .check(&format!("store_session({id}) expired"))?;
            s.store_kv(id, b"expired", Some(Duration::from_nanos(1)))
                .await
                .check(&format!("store_kv({id}) with a 1 ns TTL"))?;
        }
        let tokens: Vec<AuthToken> = ids
            .iter()
            .map(|id| AuthToken::new(id, "cr-new", format!("{id}-acc"), HOUR))
            .collect();
        let sessions: Vec<SessionData> = ids
            .iter()
            .map(|id| SessionData::new(id, "cr-new", HOUR))
            .collect();
        let mut calls: Vec<Call> = Vec::new();
        for (p, id) in ids.iter().enumerate() {
            let (a, b, c) = (s.clone(), s.clone(), s.clone());
            let (token, data, id) = (tokens[p].clone(), sessions[p].clone(), id.clone());
            calls.push(Box::pin(async move { a.store_token(&token).await }));
            calls.push(Box::pin(async move {
                b.store_session(&data.session_id, &data).await
            }));
            calls.push(Box::pin(
                async move { c.store_kv(&id, b"live", None).await },
            ));
            if p % 2 == 0 {
                let cleaner = s.clone();
                calls.push(Box::pin(async move { cleaner.cleanup_expired().await }));
            }
        }
        let results = release_together("cleanup_expired against live re-stores", calls).await?;
        for result in results {
            result.check(&format!(
                "round {round}: a re-store or cleanup racing cleanup"
            ))?;
        }
        live_sessions += PAIRS as u64;
        let context = format!("round {round}, after cleanup_expired raced its live re-store");
        for (p, id) in ids.iter().enumerate() {
            let got = s.get_token(id).await.check(&format!("get_token({id})"))?;
            expect_eq(
                &got.as_ref(),
                &Some(&tokens[p]),
                &format!("get_token({id}) {context}"),
            )?;
            let access = &tokens[p].access_token;
            let got = s
                .get_token_by_access_token(access)
                .await
                .check(&format!("get_token_by_access_token({access})"))?;
            expect_eq(
                &got.as_ref(),
                &Some(&tokens[p]),
                &format!("get_token_by_access_token({access}) {context}"),
            )?;
            let got = s
                .get_session(id)
                .await
                .check(&format!("get_session({id})"))?;
            expect_eq(
                &got.as_ref(),
                &Some(&sessions[p]),
                &format!("get_session({id}) {context}"),
            )?;
            let got = s.get_kv(id).await.check(&format!("get_kv({id})"))?;
            expect_eq(
                &got.as_deref(),
                &Some(&b"live"[..]),
                &format!("get_kv({id}) {context}"),
            )?;
        }
        // The expired versions belonged to cr-old: nothing of theirs may be listed.
        let stale = s
            .list_user_tokens("cr-old")
            .await
            .check("list_user_tokens(cr-old)")?;
        expect_eq(
            &stale,
            &Vec::new(),
            &format!("list_user_tokens(cr-old) {context}"),
        )?;
        let stale = s
            .list_user_sessions("cr-old")
            .await
            .check("list_user_sessions(cr-old)")?;
        expect_eq(
            &stale,
            &Vec::new(),
            &format!("list_user_sessions(cr-old) {context}"),
        )?;
        let listed = s
            .list_user_tokens("cr-new")
            .await
            .check("list_user_tokens(cr-new)")?;
        let ids: BTreeSet<&str> = listed.iter().map(|t| t.token_id.as_str()).collect();
        ensure(
            ids.len() == listed.len() && tokens.iter().all(|t| ids.contains(t.token_id.as_str())),
            || {
                format!(
                    "list_user_tokens(cr-new) {context}: expected each re-stored token once, got {ids:?}"
                )
            },
        )?;
        expect_eq(
            &(listed.len() as u64),
            &live_sessions,
            &format!("list_user_tokens(cr-new): number of tokens, {context}"),
        )?;
        let listed = s
            .list_user_sessions("cr-new")
            .await
            .check("list_user_sessions(cr-new)")?;
        expect_eq(
            &(listed.len() as u64),
            &live_sessions,
            &format!("list_user_sessions(cr-new): number of sessions, {context}"),
        )?;
        let count = s
            .count_active_sessions()
            .await
            .check("count_active_sessions()")?;
        expect_eq(
            &count,
            &live_sessions,
            &format!("count_active_sessions() {context}"),
        )?;
        let keys = s.list_kv_keys("cr-").await.check("list_kv_keys(cr-)")?;
        expect_eq(
            &(keys.len() as u64),
            &live_sessions,
            &format!("list_kv_keys(cr-): number of keys, {context}"),
        )?;
    }
    Ok(())
}

async fn concurrent_cleanups_keep_indexes_exact(ctx: Ctx) -> Outcome {
    const CLEANERS: usize = 4;
    const ITEMS: usize = 24;
    let s = ctx.storage();
    for round in 0..ROUNDS / 4 {
        let past = super::tokens::surely_past(ctx.timing());
        // Half the items expired, half live, in one user's lists.
        let user = format!("cc-{round}");
        let started = Utc::now();
        let mut live_tokens = Vec::new();
        let mut live_sessions = Vec::new();
        for i in 0..ITEMS {
            let id = format!("cc-{round}-{i}");
            let mut token = AuthToken::new(&id, &user, format!("{id}-acc"), HOUR);
            let mut data = SessionData::new(&id, &user, HOUR);
            if i % 2 == 0 {
                token = token.with_expires_at(past);
                data = data.with_expires_at(past);
            }
            s.store_token(&token)
                .await
                .check(&format!("store_token({id})"))?;
            s.store_session(&id, &data)
                .await
                .check(&format!("store_session({id})"))?;
            let ttl = (i % 2 == 0).then_some(Duration::from_nanos(1));
            s.store_kv(&id, id.as_bytes(), ttl)
                .await
                .check(&format!("store_kv({id})"))?;
            if i % 2 == 1 {
                live_tokens.push(token);
                live_sessions.push(data);
            }
        }
        // The 1 ns kv entries are expired only once the margin has passed too.
        sleep_until(
            ExpiryWindow::after_ttl(started, Utc::now(), Duration::from_nanos(1), ctx.timing())
                .surely_expired_from(),
        )
        .await;
        let calls: Vec<Call> = (0..CLEANERS)
            .map(|_| {
                let s = s.clone();
                Box::pin(async move { s.cleanup_expired().await }) as Call
            })
            .collect();
        for result in release_together("concurrent cleanup_expired calls", calls).await? {
            result.check(&format!(
                "round {round}: cleanup_expired() racing other cleanups"
            ))?;
        }
        let context = format!("round {round}, after {CLEANERS} concurrent cleanups");
        let mut listed = s
            .list_user_tokens(&user)
            .await
            .check(&format!("list_user_tokens({user})"))?;
        listed.sort_by(|a, b| a.token_id.cmp(&b.token_id));
        live_tokens.sort_by(|a, b| a.token_id.cmp(&b.token_id));
        expect_eq(
            &listed,
            &live_tokens,
            &format!("list_user_tokens({user}) {context}"),
        )?;
        let mut listed = s
            .list_user_sessions(&user)
            .await
            .check(&format!("list_user_sessions({user})"))?;
        listed.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        live_sessions.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        expect_eq(
            &listed,
            &live_sessions,
            &format!("list_user_sessions({user}) {context}"),
        )?;
        let count = s
            .count_active_sessions()
            .await
            .check("count_active_sessions()")?;
        expect_eq(
            &count,
            &(((round + 1) * ITEMS / 2) as u64),
            &format!("count_active_sessions() {context}"),
        )?;
        let keys = s
            .list_kv_keys(&format!("cc-{round}-"))
            .await
            .check("list_kv_keys")?;
        let mut expected: Vec<String> = live_tokens.iter().map(|t| t.token_id.clone()).collect();
        expected.sort();
        expect_eq(
            &keys,
            &expected,
            &format!("list_kv_keys(cc-{round}-) {context}"),
        )?;
        for token in &live_tokens {
            let access = &token.access_token;
            let got = s
                .get_token_by_access_token(access)
                .await
                .check(&format!("get_token_by_access_token({access})"))?;
            expect_eq(
                &got.as_ref(),
                &Some(token),
                &format!("get_token_by_access_token({access}) {context}"),
            )?;
        }
    }
    Ok(())
}

async fn listing_during_churn_keeps_untouched_keys(ctx: Ctx) -> Outcome {
    const STABLE: usize = 40;
    const CHURNERS: usize = 4;
    const LISTINGS: usize = 150;
    let s = ctx.storage();
    // Stable keys interleave with churned ones in byte order, so a listing that skips
    // or repeats around a concurrent insert or delete shows it.
    let stable: Vec<String> = (0..STABLE).map(|i| format!("lc/{i:03}/s")).collect();
    for key in &stable {
        s.store_kv(key, key.as_bytes(), None)
            .await
            .check(&format!("store_kv({key})"))?;
    }
    let churned = |i: usize| format!("lc/{i:03}/c");
    // The churners run until the listers are done (bounded), so every listing overlaps
    // writes however fast the backend lists.
    let done = Arc::new(AtomicBool::new(false));
    let churners: Vec<JoinHandle<Outcome>> = (0..CHURNERS)
        .map(|c| {
            let (s, done) = (s.clone(), done.clone());
            tokio::spawn(async move {
                let mut round = 0;
                while round < 20 || (!done.load(Ordering::Acquire) && round < 20_000) {
                    let key = churned((c * 11 + round * 7) % STABLE);
                    if round % 2 == 0 {
                        s.store_kv(&key, b"churn", None)
                            .await
                            .check(&format!("store_kv({key})"))?;
                    } else {
                        s.delete_kv(&key)
                            .await
                            .check(&format!("delete_kv({key})"))?;
                    }
                    round += 1;
                    // Let the listers in between writes on a current-thread runtime too.
                    tokio::task::yield_now().await;
                }
                Ok(())
            })
        })
        .collect();
    let listers: Vec<JoinHandle<Outcome>> = (0..2)
        .map(|_| {
            let (s, stable) = (s.clone(), stable.clone());
            tokio::spawn(async move {
                for _ in 0..LISTINGS {
                    let listed = s.list_kv_keys("lc/").await.check("list_kv_keys(lc/)")?;
                    let seen: BTreeSet<&String> = listed.iter().collect();
                    let missing: Vec<&String> =
                        stable.iter().filter(|k| !seen.contains(k)).collect();
                    ensure(missing.is_empty(), || {
                        format!(
                            "list_kv_keys(lc/) during churn of neighbouring keys: {} keys that \
                             nobody touched are missing, e.g. {:?}",
                            missing.len(),
                            &missing[..missing.len().min(3)]
                        )
                    })?;
                    ensure(listed.windows(2).all(|w| w[0] < w[1]), || {
                        "list_kv_keys(lc/) during churn: keys out of byte order or repeated"
                            .to_string()
                    })?;
                    ensure(
                        listed
                            .iter()
                            .all(|k| stable.contains(k) || (0..STABLE).any(|i| *k == churned(i))),
                        || {
                            format!(
                                "list_kv_keys(lc/) during churn: a key nobody wrote: {listed:?}"
                            )
                        },
                    )?;
                }
                Ok(())
            })
        })
        .collect();
    let lists = join_tasks("listings during churn", listers).await;
    done.store(true, Ordering::Release);
    let churn = join_tasks("kv churn next to untouched keys", churners).await;
    churn?;
    lists?;
    Ok(())
}
