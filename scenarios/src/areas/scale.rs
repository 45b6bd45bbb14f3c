//! Results larger than any page a backend might use internally: 10 000 keys under one
//! prefix, 5 000 tokens and 5 000 sessions of one user, a count over 10 000 sessions.
//! A listing capped at 100 or 1 000 entries, one SCAN page, or one batch of a cursor
//! fails here. Items are stored 16 calls at a time so server backends set up quickly.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use authstore_spec::{AuthToken, Capabilities, SessionData, StorageError};
use futures::{StreamExt, TryStreamExt, stream};

use crate::check::{Check, Failure, Outcome, ensure, expect_eq};
use crate::{Ctx, Scenario, scenario};

const HOUR: Duration = Duration::from_secs(3600);
/// Keys under the listed prefix.
const KEYS: usize = 10_000;
/// Tokens, and sessions, of the one big user.
const PER_USER: usize = 5_000;
/// Sessions counted: the big user's and as many of other users.
const SESSIONS: usize = 2 * PER_USER;
/// Calls in flight while filling.
const IN_FLIGHT: usize = 16;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        scenario!(
            listing_ten_thousand_keys_complete_and_ordered,
            Listing,
            ["LST-1", "LST-3", "LST-4", "LST-5"],
            Capabilities::NONE,
            "10 000 keys under one prefix (stored in scattered order, next to keys outside it) \
             are listed complete, each once, in byte order; the empty prefix lists them too",
            ten_thousand_keys
        ),
        scenario!(
            tokens_five_thousand_of_one_user_listed,
            Tokens,
            ["TOK-10"],
            Capabilities::NONE,
            "5 000 tokens of one user are all listed, each once; other users' are not",
            five_thousand_tokens
        ),
        scenario!(
            sessions_five_thousand_of_one_user_listed_and_counted,
            Sessions,
            ["SES-5", "CNT-1"],
            Capabilities::NONE,
            "5 000 sessions of one user are all listed, each once, and 10 000 sessions of all \
             users are counted exactly, before and after 1 000 deletes",
            five_thousand_sessions
        ),
    ]
}

/// Runs `call(i)` for every `i` in `0..n`, [`IN_FLIGHT`] at a time; the first error
/// fails, naming `what` and `i`.
async fn fill<F, Fut>(n: usize, what: &str, call: F) -> Outcome
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), StorageError>>,
{
    stream::iter(0..n)
        .map(|i| {
            let fut = call(i);
            async move {
                fut.await.map_err(|err| {
                    Failure::new(format!(
                        "{what} #{i} while filling: expected success, got error {:?}: {err}",
                        err.kind()
                    ))
                })
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<()>()
        .await
}

/// `i`-th of `n` in a scattered order (a bijection of `0..n` for `n` not a multiple of
/// 7919), so items are not stored in the order they are listed.
fn scattered(i: usize, n: usize) -> usize {
    (i * 7919) % n
}

async fn ten_thousand_keys(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let key = |i: usize| format!("big/{i:05}");
    fill(KEYS, "store_kv(big/..)", |i| {
        let k = key(scattered(i, KEYS));
        async move { s.store_kv(&k, b"v", None).await }
    })
    .await?;
    // Neighbours on both sides of the prefix in byte order.
    for outside in ["bif/1", "big", "big.", "big0", "bih/1"] {
        s.store_kv(outside, b"x", None)
            .await
            .check(&format!("store_kv({outside})"))?;
    }
    let listed = s.list_kv_keys("big/").await.check("list_kv_keys(big/)")?;
    let expected: Vec<String> = (0..KEYS).map(key).collect();
    expect_listing(&listed, &expected, "list_kv_keys(big/) of 10 000 keys")?;
    let all = s.list_kv_keys("").await.check("list_kv_keys(\"\")")?;
    let mut expected: Vec<String> = expected;
    expected.extend(["bif/1", "big", "big.", "big0", "bih/1"].map(String::from));
    expected.sort();
    expect_listing(&all, &expected, "list_kv_keys(\"\") of 10 005 keys")
}

/// Compares a long listing without printing it whole: counts, the first difference,
/// order and duplicates.
fn expect_listing(listed: &[String], expected: &[String], what: &str) -> Outcome {
    if listed == expected {
        return Ok(());
    }
    let unique: BTreeSet<&String> = listed.iter().collect();
    let missing = expected.iter().filter(|k| !unique.contains(k)).count();
    let first_diff = listed
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(listed.len().min(expected.len()));
    Err(Failure::new(format!(
        "{what}: expected {} keys in byte order, got {} ({} distinct, {missing} missing, \
         sorted: {}); first difference at position {first_diff}: expected {:?}, got {:?}",
        expected.len(),
        listed.len(),
        unique.len(),
        listed.windows(2).all(|w| w[0] < w[1]),
        expected.get(first_diff),
        listed.get(first_diff),
    )))
}

async fn five_thousand_tokens(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let token = |i: usize| {
        let user = if i < PER_USER {
            "big-user"
        } else {
            "other-user"
        };
        AuthToken::new(format!("bt-{i:05}"), user, format!("bt-acc-{i:05}"), HOUR)
    };
    // The big user's tokens and 100 of another user's.
    fill(PER_USER + 100, "store_token(bt-..)", |i| {
        let t = token(scattered(i, PER_USER + 100));
        async move { s.store_token(&t).await }
    })
    .await?;
    let listed = s
        .list_user_tokens("big-user")
        .await
        .check("list_user_tokens(big-user)")?;
    let mut ids: Vec<String> = listed.iter().map(|t| t.token_id.clone()).collect();
    ids.sort();
    let expected: Vec<String> = (0..PER_USER).map(|i| token(i).token_id).collect();
    expect_listing(
        &ids,
        &expected,
        "list_user_tokens(big-user): the ids of 5 000 tokens",
    )?;
    ensure(listed.iter().all(|t| t.user_id == "big-user"), || {
        "list_user_tokens(big-user) returned a token of another user".to_string()
    })?;
    let other = s
        .list_user_tokens("other-user")
        .await
        .check("list_user_tokens(other-user)")?;
    expect_eq(
        &other.len(),
        &100,
        "list_user_tokens(other-user): number of tokens",
    )
}

async fn five_thousand_sessions(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let session = |i: usize| {
        let user = if i < PER_USER {
            "big-user".to_string()
        } else {
            format!("user-{}", i % 97)
        };
        SessionData::new(format!("bs-{i:05}"), user, HOUR)
    };
    fill(SESSIONS, "store_session(bs-..)", |i| {
        let d = session(scattered(i, SESSIONS));
        async move { s.store_session(&d.session_id, &d).await }
    })
    .await?;
    let listed = s
        .list_user_sessions("big-user")
        .await
        .check("list_user_sessions(big-user)")?;
    let mut ids: Vec<String> = listed.iter().map(|d| d.session_id.clone()).collect();
    ids.sort();
    let expected: Vec<String> = (0..PER_USER).map(|i| session(i).session_id).collect();
    expect_listing(
        &ids,
        &expected,
        "list_user_sessions(big-user): the ids of 5 000 sessions",
    )?;
    let count = s
        .count_active_sessions()
        .await
        .check("count_active_sessions()")?;
    expect_eq(
        &count,
        &(SESSIONS as u64),
        "count_active_sessions() of 10 000 sessions",
    )?;
    fill(1_000, "delete_session(bs-..)", |i| {
        let id = session(i * 10).session_id;
        async move { s.delete_session(&id).await }
    })
    .await?;
    let count = s
        .count_active_sessions()
        .await
        .check("count_active_sessions()")?;
    expect_eq(
        &count,
        &(SESSIONS as u64 - 1_000),
        "count_active_sessions() after deleting 1 000 of 10 000 sessions",
    )?;
    // Every tenth session was deleted: 500 of the big user's.
    let listed = s
        .list_user_sessions("big-user")
        .await
        .check("list_user_sessions(big-user)")?;
    let mut ids: Vec<String> = listed.iter().map(|d| d.session_id.clone()).collect();
    ids.sort();
    let expected: Vec<String> = (0..PER_USER)
        .filter(|i| i % 10 != 0)
        .map(|i| session(i).session_id)
        .collect();
    expect_listing(
        &ids,
        &expected,
        "list_user_sessions(big-user) after deleting every tenth session",
    )
}
