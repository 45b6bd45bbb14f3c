//! Ids used again after their item was deleted, expired, expired and read, or expired
//! and cleaned up: stored again by the same user, by another user, with another access
//! token, and already expired. After every step the item is exactly the last version,
//! its old access tokens resolve to nothing, and every user's list and the session count
//! are exact (`TOK-12`, `SES-7`).
//!
//! These catch the index hygiene bugs that only show once an id comes back: an expired
//! record dropped from the main map on read while its access-token or user index entry
//! stays, a cleanup that removes records but not their index entries, a list that
//! resolves a stale index entry to whatever record now has that id.

use std::collections::BTreeSet;
use std::time::Duration;

use authstore_spec::{
    AuthStorage, AuthToken, Capabilities, Capability, SessionData, TimingProfile,
};
use chrono::Utc;

use crate::check::{Check, Failure, Outcome, expect_eq};
use crate::timing::{Attempt, ExpiryWindow, with_growing_ttl};
use crate::{Ctx, Scenario, scenario};

const HOUR: Duration = Duration::from_secs(3600);

/// How an id is freed before it is used again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freed {
    /// `delete_token` / `delete_session`.
    Deleted,
    /// Expired, then read by every read method (a backend may drop it on read).
    ExpiredAndRead,
    /// Expired, never read, no cleanup.
    Expired,
    /// Expired, then `cleanup_expired`.
    ExpiredAndCleaned,
}

const FREED: [Freed; 4] = [
    Freed::Deleted,
    Freed::ExpiredAndRead,
    Freed::Expired,
    Freed::ExpiredAndCleaned,
];

impl Freed {
    fn name(self) -> &'static str {
        match self {
            Freed::Deleted => "deleted",
            Freed::ExpiredAndRead => "expired-read",
            Freed::Expired => "expired",
            Freed::ExpiredAndCleaned => "expired-cleaned",
        }
    }
}

pub(crate) fn scenarios() -> Vec<Scenario> {
    let expiry = Capabilities::NONE.with(Capability::Expiry);
    vec![
        scenario!(
            tokens_id_reuse_leaves_no_stale_index,
            Tokens,
            [
                "TOK-12", "TOK-3", "TOK-4", "TOK-5", "TOK-10", "ACC-3", "ACC-4", "CLN-1"
            ],
            expiry,
            "a token id freed by delete, expiry, expiry and a read, or expiry and cleanup is \
             stored again for another user, back for the first, with other access tokens and \
             already expired: lookups, lists and the freed access token follow exactly",
            token_id_reuse
        ),
        scenario!(
            sessions_id_reuse_keeps_lists_and_count_exact,
            Sessions,
            [
                "SES-7", "SES-2", "SES-5", "SES-6", "CNT-1", "CNT-2", "CLN-1"
            ],
            expiry,
            "a session id freed by delete, expiry, expiry and a read, or expiry and cleanup is \
             stored again for another user, back for the first and already expired: reads, \
             both users' lists and the count follow exactly",
            session_id_reuse
        ),
    ]
}

/// The token state expected after a step: `current` is what the id holds (or nothing);
/// every access token in `accesses` resolves to `current` if it holds it, else nothing;
/// each of `users` lists exactly `current` if it is theirs.
async fn expect_token_state(
    s: &dyn AuthStorage,
    id: &str,
    current: Option<&AuthToken>,
    accesses: &[&str],
    users: &[&str],
    step: &str,
) -> Outcome {
    let got = s
        .get_token(id)
        .await
        .check(&format!("get_token({id}) {step}"))?;
    expect_eq(&got.as_ref(), &current, &format!("get_token({id}) {step}"))?;
    for access in accesses {
        let got = s
            .get_token_by_access_token(access)
            .await
            .check(&format!("get_token_by_access_token({access}) {step}"))?;
        let expected = current.filter(|t| t.access_token == *access);
        expect_eq(
            &got.as_ref(),
            &expected,
            &format!("get_token_by_access_token({access}) {step}"),
        )?;
    }
    for user in users {
        let listed = s
            .list_user_tokens(user)
            .await
            .check(&format!("list_user_tokens({user}) {step}"))?;
        let expected: Vec<AuthToken> = current
            .filter(|t| t.user_id == *user)
            .cloned()
            .into_iter()
            .collect();
        expect_eq(
            &listed,
            &expected,
            &format!("list_user_tokens({user}) {step}"),
        )?;
    }
    Ok(())
}

async fn token_id_reuse(ctx: Ctx) -> Outcome {
    with_growing_ttl(ctx.timing(), |ttl| {
        let ctx = ctx.clone();
        async move { token_id_reuse_attempt(&ctx, ttl).await }
    })
    .await
}

async fn token_id_reuse_attempt(ctx: &Ctx, ttl: Duration) -> Result<Attempt, Failure> {
    let s = &**ctx.storage();
    // Names unique per attempt: an inconclusive attempt leaves its items behind.
    let n = ttl.as_millis();
    let name = |what: &str, freed: Freed| format!("{what}-{}-{n}", freed.name());
    // One expiry instant for every expiring token, so one wait covers them all.
    let expires_at = authstore_spec::time::add_duration(Utc::now(), ttl);
    let first: Vec<AuthToken> = FREED
        .iter()
        .map(|&freed| {
            let token = AuthToken::new(
                name("reuse", freed),
                name("old", freed),
                name("acc1", freed),
                HOUR,
            )
            .with_scopes(["first"]);
            if freed == Freed::Deleted {
                token
            } else {
                token.with_expires_at(expires_at)
            }
        })
        .collect();
    let window = ExpiryWindow::at(expires_at, ctx.timing());
    for token in &first {
        s.store_token(token)
            .await
            .check(&format!("store_token({})", token.token_id))?;
    }
    // Read everything once while live, so caches and lazily built indexes hold it. A
    // read that ended too close to the expiry proves nothing: the attempt is then
    // inconclusive, not failed.
    let live_reads = async {
        for token in &first {
            let accesses = [token.access_token.as_str()];
            let users = [token.user_id.as_str()];
            expect_token_state(
                s,
                &token.token_id,
                Some(token),
                &accesses,
                &users,
                "while live",
            )
            .await?;
        }
        Ok::<(), Failure>(())
    }
    .await;
    if !window.surely_live_at(Utc::now()) {
        return Ok(Attempt::TooSlow);
    }
    live_reads?;
    s.delete_token(&first[0].token_id)
        .await
        .check(&format!("delete_token({})", first[0].token_id))?;
    window.wait_until_expired().await;
    // The expired-and-read one: every read, which is where a backend may drop it.
    let read = &first[1];
    expect_token_state(
        s,
        &read.token_id,
        None,
        &[read.access_token.as_str()],
        &[read.user_id.as_str()],
        "once expired",
    )
    .await?;
    for (token, freed) in first.iter().zip(FREED) {
        if freed == Freed::ExpiredAndCleaned {
            continue;
        }
        reuse_token_id(s, token, freed, n, ctx.timing()).await?;
    }
    // Cleanup now must leave the re-used ids as they are, and free the last one.
    s.cleanup_expired().await.check("cleanup_expired()")?;
    for (token, freed) in first.iter().zip(FREED) {
        if freed == Freed::ExpiredAndCleaned {
            reuse_token_id(s, token, freed, n, ctx.timing()).await?;
        } else {
            let accesses = [
                name("acc1", freed),
                name("acc2", freed),
                name("acc3", freed),
            ];
            let accesses: Vec<&str> = accesses.iter().map(String::as_str).collect();
            let users = [name("old", freed), name("new", freed)];
            let users: Vec<&str> = users.iter().map(String::as_str).collect();
            expect_token_state(
                s,
                &token.token_id,
                None,
                &accesses,
                &users,
                &format!(
                    "({}) after the re-use steps and cleanup_expired",
                    freed.name()
                ),
            )
            .await?;
        }
    }
    Ok(Attempt::Conclusive)
}

/// Stores `first`'s id again after it was freed: for another user with another access
/// token, back for the first user with the first access token, then already expired;
/// finally another id takes the first access token.
async fn reuse_token_id(
    s: &dyn AuthStorage,
    first: &AuthToken,
    freed: Freed,
    n: u128,
    timing: TimingProfile,
) -> Outcome {
    let id = first.token_id.as_str();
    let name = |what: &str| format!("{what}-{}-{n}", freed.name());
    let (old_user, new_user) = (first.user_id.clone(), name("new"));
    let (acc1, acc2, acc3) = (first.access_token.clone(), name("acc2"), name("acc3"));
    let accesses = [acc1.as_str(), acc2.as_str(), acc3.as_str()];
    let users = [old_user.as_str(), new_user.as_str()];
    let context = |step: &str| format!("({}) {step}", freed.name());

    let moved = AuthToken::new(id, &new_user, &acc2, HOUR).with_scopes(["second"]);
    s.store_token(&moved).await.check(&format!(
        "store_token({id}) for {new_user} {}",
        context("after it was freed")
    ))?;
    let step = context("stored again for another user with another access token");
    expect_token_state(s, id, Some(&moved), &accesses, &users, &step).await?;

    let back = AuthToken::new(id, &old_user, &acc1, HOUR).with_scopes(["third"]);
    s.store_token(&back)
        .await
        .check(&format!("store_token({id}) back for {old_user}"))?;
    let step = context("stored again for the first user with the first access token");
    expect_token_state(s, id, Some(&back), &accesses, &users, &step).await?;

    let past = super::tokens::surely_past(timing);
    let expired = AuthToken::new(id, &new_user, &acc3, HOUR).with_expires_at(past);
    s.store_token(&expired)
        .await
        .check(&format!("store_token({id}) already expired"))?;
    let step = context("stored again already expired");
    expect_token_state(s, id, None, &accesses, &users, &step).await?;

    // The first access token is free: another id may take it, and only that id has it.
    let other_id = name("other");
    let other = AuthToken::new(&other_id, &old_user, &acc1, HOUR);
    s.store_token(&other).await.check(&format!(
        "store_token({other_id}) with {acc1}, whose holder {id} was re-stored expired"
    ))?;
    let step = context("after another id took the first access token");
    expect_token_state(s, &other_id, Some(&other), &accesses, &users, &step).await?;
    expect_token_state(s, id, None, &[], &[], &step).await?;
    s.delete_token(&other_id)
        .await
        .check(&format!("delete_token({other_id})"))?;
    Ok(())
}

/// The session state expected after a step (see [`expect_token_state`]), and the count:
/// `live` is every session id of the scenario expected live.
async fn expect_session_state(
    s: &dyn AuthStorage,
    id: &str,
    current: Option<&SessionData>,
    users: &[&str],
    live: &BTreeSet<String>,
    step: &str,
) -> Outcome {
    let got = s
        .get_session(id)
        .await
        .check(&format!("get_session({id}) {step}"))?;
    expect_eq(
        &got.as_ref(),
        &current,
        &format!("get_session({id}) {step}"),
    )?;
    for user in users {
        let listed = s
            .list_user_sessions(user)
            .await
            .check(&format!("list_user_sessions({user}) {step}"))?;
        let expected: Vec<SessionData> = current
            .filter(|d| d.user_id == *user)
            .cloned()
            .into_iter()
            .collect();
        expect_eq(
            &listed,
            &expected,
            &format!("list_user_sessions({user}) {step}"),
        )?;
    }
    let count = s
        .count_active_sessions()
        .await
        .check(&format!("count_active_sessions() {step}"))?;
    expect_eq(
        &count,
        &(live.len() as u64),
        &format!("count_active_sessions() {step} (live: {live:?})"),
    )
}

async fn session_id_reuse(ctx: Ctx) -> Outcome {
    with_growing_ttl(ctx.timing(), |ttl| {
        let ctx = ctx.clone();
        async move { session_id_reuse_attempt(&ctx, ttl).await }
    })
    .await
}

async fn session_id_reuse_attempt(ctx: &Ctx, ttl: Duration) -> Result<Attempt, Failure> {
    let s = &**ctx.storage();
    let n = ttl.as_millis();
    let name = |what: &str, freed: Freed| format!("{what}-{}-{n}", freed.name());
    // An inconclusive attempt deletes what it stored, so the count starts at zero.
    let mut live = BTreeSet::new();
    let expires_at = authstore_spec::time::add_duration(Utc::now(), ttl);
    let first: Vec<SessionData> = FREED
        .iter()
        .map(|&freed| {
            let data = SessionData::new(name("reuse", freed), name("old", freed), HOUR)
                .with_data("version", serde_json::json!(1));
            if freed == Freed::Deleted {
                data
            } else {
                data.with_expires_at(expires_at)
            }
        })
        .collect();
    let window = ExpiryWindow::at(expires_at, ctx.timing());
    for data in &first {
        s.store_session(&data.session_id, data)
            .await
            .check(&format!("store_session({})", data.session_id))?;
        live.insert(data.session_id.clone());
    }
    let live_reads = async {
        for data in &first {
            let users = [data.user_id.as_str()];
            expect_session_state(s, &data.session_id, Some(data), &users, &live, "while live")
                .await?;
        }
        Ok::<(), Failure>(())
    }
    .await;
    if !window.surely_live_at(Utc::now()) {
        for data in &first {
            s.delete_session(&data.session_id).await.check(&format!(
                "delete_session({}) after a too slow attempt",
                data.session_id
            ))?;
        }
        return Ok(Attempt::TooSlow);
    }
    live_reads?;
    s.delete_session(&first[0].session_id)
        .await
        .check(&format!("delete_session({})", first[0].session_id))?;
    window.wait_until_expired().await;
    for data in &first {
        live.remove(&data.session_id);
    }
    let read = &first[1];
    expect_session_state(
        s,
        &read.session_id,
        None,
        &[read.user_id.as_str()],
        &live,
        "once expired",
    )
    .await?;
    for (data, freed) in first.iter().zip(FREED) {
        if freed != Freed::ExpiredAndCleaned {
            reuse_session_id(s, data, freed, n, &mut live, ctx.timing()).await?;
        }
    }
    s.cleanup_expired().await.check("cleanup_expired()")?;
    for (data, freed) in first.iter().zip(FREED) {
        if freed == Freed::ExpiredAndCleaned {
            reuse_session_id(s, data, freed, n, &mut live, ctx.timing()).await?;
        } else {
            let users = [name("old", freed), name("new", freed)];
            let users: Vec<&str> = users.iter().map(String::as_str).collect();
            let step = format!(
                "({}) after the re-use steps and cleanup_expired",
                freed.name()
            );
            expect_session_state(s, &data.session_id, None, &users, &live, &step).await?;
        }
    }
    Ok(Attempt::Conclusive)
}

/// Stores `first`'s id again after it was freed: for another user, back for the first,
/// then already expired.
async fn reuse_session_id(
    s: &dyn AuthStorage,
    first: &SessionData,
    freed: Freed,
    n: u128,
    live: &mut BTreeSet<String>,
    timing: TimingProfile,
) -> Outcome {
    let id = first.session_id.as_str();
    let (old_user, new_user) = (first.user_id.clone(), format!("new-{}-{n}", freed.name()));
    let users = [old_user.as_str(), new_user.as_str()];
    let context = |step: &str| format!("({}) {step}", freed.name());

    let moved = SessionData::new(id, &new_user, HOUR).with_data("version", serde_json::json!(2));
    s.store_session(id, &moved).await.check(&format!(
        "store_session({id}) for {new_user} {}",
        context("after it was freed")
    ))?;
    live.insert(id.to_string());
    let step = context("stored again for another user");
    expect_session_state(s, id, Some(&moved), &users, live, &step).await?;

    let back = SessionData::new(id, &old_user, HOUR).with_data("version", serde_json::json!(3));
    s.store_session(id, &back)
        .await
        .check(&format!("store_session({id}) back for {old_user}"))?;
    let step = context("stored again for the first user");
    expect_session_state(s, id, Some(&back), &users, live, &step).await?;

    let past = super::tokens::surely_past(timing);
    let expired = SessionData::new(id, &new_user, HOUR).with_expires_at(past);
    s.store_session(id, &expired)
        .await
        .check(&format!("store_session({id}) already expired"))?;
    live.remove(id);
    let step = context("stored again already expired");
    expect_session_state(s, id, None, &users, live, &step).await
}
