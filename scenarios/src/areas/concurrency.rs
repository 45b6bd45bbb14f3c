//! Concurrent readers and writers: atomic operations, one surviving version, no dangling
//! index entry, one holder per access token (`CON-*`).
//!
//! Tasks run on the multi-threaded runtime; a panic in the backend surfaces as a
//! `JoinError` and fails the scenario. Task counts and iterations are bounded.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use authstore_spec::{AuthStorage, AuthToken, Capabilities, Capability, ErrorKind, SessionData};
use tokio::sync::Barrier;
use tokio::task::JoinHandle;

use crate::check::{Check, Failure, Outcome, ensure, expect_eq};
use crate::tasks::join_tasks;
use crate::{Ctx, Scenario, scenario};

const HOUR: Duration = Duration::from_secs(3600);
/// Tasks racing for one item.
const RACERS: usize = 32;
/// Iterations of each churning task.
const ROUNDS: usize = 20;
/// Reads of each reader in `concurrency_readers_see_whole_versions`, all taken while the
/// writers write.
const WHOLE_VERSION_READS: usize = 300;
/// On a slow server the readers stop after this long (with at least 10 reads each).
const READS_BUDGET: Duration = Duration::from_secs(30);

pub(crate) fn scenarios() -> Vec<Scenario> {
    let concurrent = Capabilities::NONE.with(Capability::Concurrency);
    vec![
        scenario!(
            concurrency_token_writers_leave_one_version,
            Concurrency,
            ["CON-2", "CON-3", "TOK-6"],
            concurrent,
            "32 concurrent store_token/update_token calls on one id leave exactly one written \
             version, found by its access token and in its user's list only",
            token_writers_leave_one_version
        ),
        scenario!(
            concurrency_readers_see_whole_versions,
            Concurrency,
            ["CON-1", "CNT-1"],
            concurrent,
            "readers racing writers that alternate two versions of a token, a session and a kv \
             entry see one whole version every time, never a mix or a gap",
            readers_see_whole_versions
        ),
        scenario!(
            concurrency_token_store_delete_leaves_consistent_indexes,
            Concurrency,
            ["CON-3", "TOK-9"],
            concurrent,
            "after racing store_token and delete_token of one id, the id, access-token index and \
             user lists agree",
            token_store_delete_leaves_consistent_indexes
        ),
        scenario!(
            concurrency_session_churn_keeps_count_exact,
            Concurrency,
            ["CON-3", "CNT-1", "SES-5"],
            concurrent,
            "after racing stores, moves and deletes of sessions, the count equals the live \
             sessions and every user's list holds exactly theirs",
            session_churn_keeps_count_exact
        ),
        scenario!(
            concurrency_kv_churn_keeps_listing_exact,
            Concurrency,
            ["CON-3", "LST-3", "LST-4"],
            concurrent,
            "listings taken while kv keys are stored and deleted are sorted and unique; \
             afterwards the listing is exactly the readable keys",
            kv_churn_keeps_listing_exact
        ),
        scenario!(
            concurrency_access_token_race_has_one_winner,
            Concurrency,
            ["CON-4", "ACC-2", "ERR-1"],
            concurrent,
            "32 tokens stored or updated at once with one access token: exactly one Ok, the \
             rest Conflict, and the losers unchanged",
            access_token_race_has_one_winner
        ),
        scenario!(
            concurrency_access_token_handoff_keeps_one_holder,
            Concurrency,
            ["CON-4", "ACC-4", "ACC-3"],
            concurrent,
            "tokens repeatedly taking and releasing one access token never leave two holders \
             or a lookup that returns a non-holder",
            access_token_handoff_keeps_one_holder
        ),
    ]
}

/// Version `i` of token `id`: every field says `i`, the user is one of four.
fn token_version(id: &str, i: usize) -> AuthToken {
    AuthToken::new(
        id,
        format!("user-{}", i % 4),
        format!("access-{id}-{i}"),
        HOUR,
    )
    .with_refresh_token(format!("refresh-{i}"))
    .with_token_type(format!("type-{i}"))
    .with_scopes([format!("scope-{i}"), format!("scope-{i}-b")])
    .with_metadata("version", serde_json::json!(i))
}

/// Checks that token `id` is either absent or exactly one of `versions`, and that the
/// access-token index and the user lists agree with that, with no leftover of any other
/// version (`CON-2`, `CON-3`).
async fn expect_one_token_state(
    s: &Arc<dyn AuthStorage>,
    id: &str,
    versions: &[AuthToken],
    context: &str,
) -> Result<Option<AuthToken>, Failure> {
    let current = s
        .get_token(id)
        .await
        .check(&format!("get_token({id}) {context}"))?;
    if let Some(token) = &current {
        ensure(versions.contains(token), || {
            format!(
                "get_token({id}) {context}: expected one of the {} written versions, got {token:?}",
                versions.len()
            )
        })?;
    }
    for version in versions {
        let access = &version.access_token;
        let got = s
            .get_token_by_access_token(access)
            .await
            .check(&format!("get_token_by_access_token({access}) {context}"))?;
        let expected = current.clone().filter(|t| t == version);
        expect_eq(
            &got,
            &expected,
            &format!(
                "get_token_by_access_token({access}) {context} (current version: {:?})",
                current.as_ref().map(|t| &t.scopes)
            ),
        )?;
    }
    let mut users: Vec<&str> = versions.iter().map(|t| t.user_id.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    for user in users {
        let listed = s
            .list_user_tokens(user)
            .await
            .check(&format!("list_user_tokens({user}) {context}"))?;
        let expected: Vec<AuthToken> = current
            .iter()
            .filter(|t| t.user_id == user)
            .cloned()
            .collect();
        expect_eq(
            &listed,
            &expected,
            &format!("list_user_tokens({user}) {context}"),
        )?;
    }
    Ok(current)
}

async fn token_writers_leave_one_version(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let first = token_version("raced", 0);
    s.store_token(&first).await.check("store_token(raced) v0")?;
    let versions: Vec<AuthToken> = (0..=RACERS).map(|i| token_version("raced", i)).collect();
    let tasks = (1..=RACERS)
        .map(|i| {
            let s = s.clone();
            let token = versions[i].clone();
            tokio::spawn(async move {
                // Half replace by store_token, half by update_token: both must succeed,
                // the token being live throughout.
                if i.is_multiple_of(2) {
                    s.store_token(&token)
                        .await
                        .check(&format!("store_token(raced) v{i}"))
                } else {
                    s.update_token(&token)
                        .await
                        .check(&format!("update_token(raced) v{i}"))
                }
            })
        })
        .collect();
    join_tasks("concurrent writers of one token", tasks).await?;
    let current = expect_one_token_state(s, "raced", &versions, "after the race").await?;
    match current {
        Some(token) if token != first => Ok(()),
        other => Err(Failure::new(format!(
            "get_token(raced) after 32 acknowledged writes: expected one of versions 1..=32, got {:?}",
            other.map(|t| t.scopes)
        ))),
    }
}

async fn readers_see_whole_versions(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let token = |v: &str| {
        AuthToken::new("whole", format!("user-{v}"), format!("access-{v}"), HOUR)
            .with_token_type(v.repeat(3))
            .with_scopes([v.repeat(2), v.repeat(4)])
            .with_metadata("v", serde_json::json!(v))
    };
    let session = |v: &str| {
        SessionData::new("whole", format!("user-{v}"), HOUR)
            .with_user_agent(v.repeat(5))
            .with_data("v", serde_json::json!(v))
    };
    let tokens = [token("a"), token("b")];
    let sessions = [session("a"), session("b")];
    // Different lengths, so a torn value shows in its length as well as its bytes.
    let values = [vec![b'a'; 4096], vec![b'b'; 3072]];
    s.store_token(&tokens[0])
        .await
        .check("store_token(whole) a")?;
    s.store_session("whole", &sessions[0])
        .await
        .check("store_session(whole) a")?;
    s.store_kv("whole", &values[0], None)
        .await
        .check("store_kv(whole) a")?;

    // The writers go on until the readers are done (bounded), so every read overlaps
    // writes however fast the backend is.
    let done = Arc::new(AtomicBool::new(false));
    let rounds_started = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..2usize {
        let (s, tokens, sessions, values, done, rounds_started) = (
            s.clone(),
            tokens.clone(),
            sessions.clone(),
            values.clone(),
            done.clone(),
            rounds_started.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut round = 0;
            while round < ROUNDS * 2 || (!done.load(Ordering::Acquire) && round < 20_000) {
                round += 1;
                rounds_started.fetch_add(1, Ordering::AcqRel);
                let v = (w + round) % 2;
                s.store_token(&tokens[v])
                    .await
                    .check(&format!("store_token(whole) version {v}"))?;
                s.store_session("whole", &sessions[v])
                    .await
                    .check(&format!("store_session(whole) version {v}"))?;
                s.store_kv("whole", &values[v], None)
                    .await
                    .check(&format!("store_kv(whole) version {v}"))?;
            }
            Ok(())
        }));
    }
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (s, tokens, sessions, values, rounds_started) = (
            s.clone(),
            tokens.clone(),
            sessions.clone(),
            values.clone(),
            rounds_started.clone(),
        );
        readers.push(tokio::spawn(async move {
            // Enough reads, spread over enough rounds of writes (bounded either way).
            let mut reads = 0;
            let started = std::time::Instant::now();
            while (reads < WHOLE_VERSION_READS
                || (rounds_started.load(Ordering::Acquire) < 4 * ROUNDS && reads < 20_000))
                && (reads < 10 || started.elapsed() < READS_BUDGET)
            {
                reads += 1;
                let got = s.get_token("whole").await.check("get_token(whole)")?;
                ensure(got.as_ref().is_some_and(|t| tokens.contains(t)), || {
                    format!(
                        "get_token(whole) during writes: expected exactly version a or b, got {got:?}"
                    )
                })?;
                let got = s
                    .get_token_by_access_token("access-a")
                    .await
                    .check("get_token_by_access_token(access-a)")?;
                ensure(got.is_none() || got.as_ref() == Some(&tokens[0]), || {
                    format!(
                        "get_token_by_access_token(access-a) during writes: expected None or \
                         version a, got {got:?}"
                    )
                })?;
                let got = s.get_session("whole").await.check("get_session(whole)")?;
                ensure(got.as_ref().is_some_and(|d| sessions.contains(d)), || {
                    format!(
                        "get_session(whole) during writes: expected exactly version a or b, got {got:?}"
                    )
                })?;
                let count = s
                    .count_active_sessions()
                    .await
                    .check("count_active_sessions()")?;
                expect_eq(&count, &1, "count_active_sessions() while one session is re-stored")?;
                let got = s.get_kv("whole").await.check("get_kv(whole)")?;
                ensure(got.as_ref().is_some_and(|v| values.contains(v)), || {
                    format!(
                        "get_kv(whole) during writes: expected 4096 bytes of 'a' or 3072 of 'b', \
                         got (length, first, last) {:?}",
                        got.as_ref().map(|v| (v.len(), v.first(), v.last()))
                    )
                })?;
            }
            Ok(())
        }));
    }
    let readers_result = join_tasks("readers during writes", readers).await;
    done.store(true, Ordering::Release);
    let writers_result = join_tasks("writers alternating two versions", writers).await;
    writers_result?;
    readers_result.map(drop)
}

async fn token_store_delete_leaves_consistent_indexes(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let versions: Vec<AuthToken> = (0..RACERS / 2).map(|i| token_version("churn", i)).collect();
    let tasks = versions
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let (s, token) = (s.clone(), token.clone());
            tokio::spawn(async move {
                for round in 0..ROUNDS {
                    if (i + round).is_multiple_of(2) {
                        s.store_token(&token)
                            .await
                            .check(&format!("store_token(churn) v{i}"))?;
                    } else {
                        s.delete_token("churn").await.check("delete_token(churn)")?;
                    }
                }
                Ok(())
            })
        })
        .collect();
    join_tasks("racing store_token and delete_token", tasks).await?;
    let current = expect_one_token_state(s, "churn", &versions, "after the race").await?;
    // Whatever survived, one more delete must leave no trace.
    if current.is_some() {
        s.delete_token("churn").await.check("delete_token(churn)")?;
        expect_one_token_state(s, "churn", &versions, "after a final delete_token").await?;
    }
    Ok(())
}

async fn session_churn_keeps_count_exact(ctx: Ctx) -> Outcome {
    const IDS: usize = 8;
    const USERS: usize = 3;
    let s = ctx.storage();
    let tasks = (0..RACERS / 2)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                for round in 0..ROUNDS {
                    let id = format!("s-{}", (i * 7 + round * 3) % IDS);
                    if (i + round) % 3 == 2 {
                        s.delete_session(&id)
                            .await
                            .check(&format!("delete_session({id})"))?;
                    } else {
                        let user = format!("u-{}", (i + round) % USERS);
                        let data = SessionData::new(&id, &user, HOUR)
                            .with_data("writer", serde_json::json!([i, round]));
                        s.store_session(&id, &data)
                            .await
                            .check(&format!("store_session({id}) for {user}"))?;
                    }
                }
                Ok(())
            })
        })
        .collect();
    join_tasks("racing session stores and deletes", tasks).await?;

    let mut live: BTreeMap<String, Vec<SessionData>> = BTreeMap::new();
    let mut live_count = 0u64;
    for n in 0..IDS {
        let id = format!("s-{n}");
        if let Some(data) = s
            .get_session(&id)
            .await
            .check(&format!("get_session({id})"))?
        {
            ensure(data.session_id == id, || {
                format!(
                    "get_session({id}): returned a session with id {:?}",
                    data.session_id
                )
            })?;
            live.entry(data.user_id.clone()).or_default().push(data);
            live_count += 1;
        }
    }
    let count = s
        .count_active_sessions()
        .await
        .check("count_active_sessions()")?;
    expect_eq(
        &count,
        &live_count,
        "count_active_sessions() after churn, against the sessions get_session finds",
    )?;
    for u in 0..USERS {
        let user = format!("u-{u}");
        let mut listed = s
            .list_user_sessions(&user)
            .await
            .check(&format!("list_user_sessions({user})"))?;
        listed.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        let expected = live.remove(&user).unwrap_or_default();
        expect_eq(
            &listed,
            &expected,
            &format!("list_user_sessions({user}) after churn, against get_session"),
        )?;
    }
    ensure(live.is_empty(), || {
        format!("sessions of users nobody wrote survived the churn: {live:?}")
    })
}

async fn kv_churn_keeps_listing_exact(ctx: Ctx) -> Outcome {
    const KEYS: usize = 8;
    let s = ctx.storage();
    let key = |n: usize| format!("k/{n}");
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<JoinHandle<Outcome>> = (0..RACERS / 2)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                for round in 0..ROUNDS {
                    let k = key((i * 5 + round) % KEYS);
                    if (i + round).is_multiple_of(3) {
                        s.delete_kv(&k).await.check(&format!("delete_kv({k})"))?;
                    } else {
                        s.store_kv(&k, format!("{k}={i}.{round}").as_bytes(), None)
                            .await
                            .check(&format!("store_kv({k})"))?;
                    }
                }
                Ok(())
            })
        })
        .collect();
    let listers: Vec<JoinHandle<Outcome>> = (0..2)
        .map(|_| {
            let (s, done) = (s.clone(), done.clone());
            tokio::spawn(async move {
                let mut lists = 0;
                while lists < 5 || (!done.load(Ordering::Acquire) && lists < 2_000) {
                    lists += 1;
                    let listed = s.list_kv_keys("k/").await.check("list_kv_keys(k/)")?;
                    ensure(listed.windows(2).all(|w| w[0] < w[1]), || {
                        format!(
                            "list_kv_keys(k/) during writes: expected unique keys in ascending \
                             byte order, got {listed:?}"
                        )
                    })?;
                    ensure(listed.iter().all(|k| (0..KEYS).any(|n| *k == key(n))), || {
                        format!("list_kv_keys(k/) during writes: listed a key nobody wrote: {listed:?}")
                    })?;
                }
                Ok(())
            })
        })
        .collect();
    let writers_result = join_tasks("racing kv stores and deletes", writers).await;
    done.store(true, Ordering::Release);
    let listers_result = join_tasks("listings during kv writes", listers).await;
    writers_result?;
    listers_result?;

    let mut readable = Vec::new();
    for n in 0..KEYS {
        let k = key(n);
        if let Some(value) = s.get_kv(&k).await.check(&format!("get_kv({k})"))? {
            ensure(value.starts_with(format!("{k}=").as_bytes()), || {
                format!(
                    "get_kv({k}) after churn: expected a value written to {k}, got {:?}",
                    String::from_utf8_lossy(&value)
                )
            })?;
            readable.push(k);
        }
    }
    let listed = s.list_kv_keys("k/").await.check("list_kv_keys(k/)")?;
    expect_eq(
        &listed,
        &readable,
        "list_kv_keys(k/) after churn, against the keys get_kv finds",
    )
}

async fn access_token_race_has_one_winner(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    // Round 1: new tokens stored with one access token.
    let contenders: Vec<AuthToken> = (0..RACERS)
        .map(|i| AuthToken::new(format!("new-{i}"), "racer", "contested", HOUR))
        .collect();
    let winners = race_for_access_token(s, &contenders, false).await?;
    let winner = single_winner(
        winners,
        "store_token of 32 new tokens with access token contested",
    )?;
    let got = s
        .get_token_by_access_token("contested")
        .await
        .check("get_token_by_access_token(contested)")?;
    expect_eq(
        &got,
        &Some(contenders[winner].clone()),
        "get_token_by_access_token(contested) after the race",
    )?;
    for (i, token) in contenders.iter().enumerate().filter(|(i, _)| *i != winner) {
        let id = &token.token_id;
        let got = s.get_token(id).await.check(&format!("get_token({id})"))?;
        expect_eq(
            &got,
            &None,
            &format!("get_token({id}) of a losing contender {i}"),
        )?;
    }
    let listed = s
        .list_user_tokens("racer")
        .await
        .check("list_user_tokens(racer)")?;
    expect_eq(
        &listed,
        &vec![contenders[winner].clone()],
        "list_user_tokens(racer) after the race",
    )?;

    // Round 2: existing tokens updated to one access token.
    let originals: Vec<AuthToken> = (0..RACERS)
        .map(|i| AuthToken::new(format!("old-{i}"), "holder", format!("own-{i}"), HOUR))
        .collect();
    for token in &originals {
        s.store_token(token)
            .await
            .check(&format!("store_token({})", token.token_id))?;
    }
    let updates: Vec<AuthToken> = originals
        .iter()
        .map(|t| t.clone().with_access_token("contested-2"))
        .collect();
    let winners = race_for_access_token(s, &updates, true).await?;
    let winner = single_winner(
        winners,
        "update_token of 32 tokens to access token contested-2",
    )?;
    let got = s
        .get_token_by_access_token("contested-2")
        .await
        .check("get_token_by_access_token(contested-2)")?;
    expect_eq(
        &got,
        &Some(updates[winner].clone()),
        "get_token_by_access_token(contested-2) after the race",
    )?;
    for (i, original) in originals.iter().enumerate() {
        let id = &original.token_id;
        let expected = if i == winner { &updates[i] } else { original };
        let got = s.get_token(id).await.check(&format!("get_token({id})"))?;
        expect_eq(
            &got,
            &Some(expected.clone()),
            &format!("get_token({id}) after the race"),
        )?;
        let access = &original.access_token;
        let got = s
            .get_token_by_access_token(access)
            .await
            .check(&format!("get_token_by_access_token({access})"))?;
        let expected = (i != winner).then(|| original.clone());
        expect_eq(
            &got,
            &expected,
            &format!("get_token_by_access_token({access}) after the race"),
        )?;
    }
    Ok(())
}

/// Writes every token at once; returns the indices whose write succeeded. Any error but
/// `Conflict` fails.
async fn race_for_access_token(
    s: &Arc<dyn AuthStorage>,
    tokens: &[AuthToken],
    update: bool,
) -> Result<Vec<usize>, Failure> {
    let tasks: Vec<JoinHandle<Result<bool, Failure>>> = tokens
        .iter()
        .map(|token| {
            let (s, token) = (s.clone(), token.clone());
            tokio::spawn(async move {
                let (call, result) = if update {
                    ("update_token", s.update_token(&token).await)
                } else {
                    ("store_token", s.store_token(&token).await)
                };
                match result {
                    Ok(()) => Ok(true),
                    Err(err) if err.kind() == ErrorKind::Conflict => Ok(false),
                    Err(err) => Err(Failure::new(format!(
                        "{call}({}) racing for one access token: expected Ok or Conflict, got \
                         error {:?}: {err}",
                        token.token_id,
                        err.kind()
                    ))),
                }
            })
        })
        .collect();
    let won = join_tasks("writers racing for one access token", tasks).await?;
    let winners = (0..won.len()).filter(|i| won[*i]).collect();
    Ok(winners)
}

fn single_winner(winners: Vec<usize>, race: &str) -> Result<usize, Failure> {
    match winners.as_slice() {
        [one] => Ok(*one),
        _ => Err(Failure::new(format!(
            "{race}: expected exactly one Ok and the rest Conflict, got {} Ok (writers {winners:?})",
            winners.len()
        ))),
    }
}

async fn access_token_handoff_keeps_one_holder(ctx: Ctx) -> Outcome {
    const TOKENS: usize = 8;
    let s = ctx.storage();
    let own = |i: usize| AuthToken::new(format!("h-{i}"), "user", format!("own-{i}"), HOUR);
    for i in 0..TOKENS {
        s.store_token(&own(i))
            .await
            .check(&format!("store_token(h-{i})"))?;
    }
    let done = Arc::new(AtomicBool::new(false));
    // Every taker ends with one more take at the same moment, to race the final holders.
    let barrier = Arc::new(Barrier::new(TOKENS));
    let takers: Vec<JoinHandle<Outcome>> = (0..TOKENS)
        .map(|i| {
            let (s, barrier) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                let mine = own(i);
                let hot = mine.clone().with_access_token("hot");
                let handoffs = async {
                    for round in 0..ROUNDS {
                        // Take "hot" (by store or update), then give it back.
                        let taken = if round.is_multiple_of(2) {
                            s.store_token(&hot).await
                        } else {
                            s.update_token(&hot).await
                        };
                        match taken {
                            Ok(()) => s
                                .store_token(&mine)
                                .await
                                .check(&format!("store_token(h-{i}) releasing hot"))?,
                            Err(err) if err.kind() == ErrorKind::Conflict => {}
                            Err(err) => {
                                return Err(Failure::new(format!(
                                    "taking access token hot for h-{i}: expected Ok or \
                                     Conflict, got error {:?}: {err}",
                                    err.kind()
                                )));
                            }
                        }
                    }
                    Ok(())
                }
                .await;
                // Wait even after a failure, so the other takers are not left at the barrier.
                barrier.wait().await;
                handoffs?;
                match s.store_token(&hot).await {
                    Ok(()) => Ok(()),
                    Err(err) if err.kind() == ErrorKind::Conflict => Ok(()),
                    Err(err) => Err(Failure::new(format!(
                        "store_token(h-{i}) with hot in the final race: expected Ok or Conflict, \
                         got error {:?}: {err}",
                        err.kind()
                    ))),
                }
            })
        })
        .collect();
    let checker = {
        let (s, done) = (s.clone(), done.clone());
        tokio::spawn(async move {
            let mut lookups = 0;
            while lookups < 5 || (!done.load(Ordering::Acquire) && lookups < 5_000) {
                lookups += 1;
                let got = s
                    .get_token_by_access_token("hot")
                    .await
                    .check("get_token_by_access_token(hot)")?;
                if let Some(token) = got {
                    expect_eq(
                        &token.access_token.as_str(),
                        &"hot",
                        "access_token of what get_token_by_access_token(hot) returned during the handoff",
                    )?;
                }
            }
            Ok(())
        })
    };
    let takers_result = join_tasks("tokens taking and releasing access token hot", takers).await;
    done.store(true, Ordering::Release);
    let checker_result = join_tasks("lookups during the handoff", vec![checker]).await;
    takers_result?;
    checker_result?;

    let mut holders = Vec::new();
    for i in 0..TOKENS {
        let id = format!("h-{i}");
        let got = s.get_token(&id).await.check(&format!("get_token({id})"))?;
        match got {
            Some(t) if t.access_token == "hot" => holders.push(t),
            Some(t) if t.access_token == format!("own-{i}") => {}
            other => {
                return Err(Failure::new(format!(
                    "get_token({id}) after the handoff: expected access token hot or own-{i}, got {other:?}"
                )));
            }
        }
    }
    // Everyone had released hot before the final race, so exactly one take succeeded.
    ensure(holders.len() == 1, || {
        format!(
            "after the final race for the free access token hot, expected exactly one \
             holder, got {}: {:?}",
            holders.len(),
            holders.iter().map(|t| &t.token_id).collect::<Vec<_>>()
        )
    })?;
    let got = s
        .get_token_by_access_token("hot")
        .await
        .check("get_token_by_access_token(hot)")?;
    expect_eq(
        &got,
        &holders.first().cloned(),
        "get_token_by_access_token(hot) after the handoff, against get_token of every token",
    )?;
    // Once released, hot is free for every token in turn: no stale index entry from the
    // race keeps it held.
    for holder in &holders {
        let i = holder.token_id.trim_start_matches("h-");
        s.store_token(&holder.clone().with_access_token(format!("own-{i}")))
            .await
            .check(&format!("store_token({}) releasing hot", holder.token_id))?;
    }
    for i in 0..TOKENS {
        let hot = own(i).with_access_token("hot");
        s.store_token(&hot).await.check(&format!(
            "store_token(h-{i}) with hot, after every holder released it"
        ))?;
        s.store_token(&own(i))
            .await
            .check(&format!("store_token(h-{i}) releasing hot"))?;
    }
    Ok(())
}
