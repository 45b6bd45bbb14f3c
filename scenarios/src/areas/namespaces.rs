//! Namespaces: token ids, session ids and kv keys are separate; ids that look like a
//! backend's internal keys are ordinary; users are independent (`NS-1`..`NS-3`).

use authstore_spec::{AuthStorage, AuthToken, Capabilities, Capability, SessionData};

use super::sessions::{
    expect_count, expect_session, expect_user_sessions, expired_session, live_session,
    store_session,
};
use super::tokens::{
    expect_lookup, expect_token, expect_token_live, expect_user_tokens, expired, live, store,
};
use crate::check::{Check, Outcome, expect_bytes, expect_eq};
use crate::{Ctx, Scenario, scenario};

const EXPIRY: Capabilities = Capabilities::NONE.with(Capability::Expiry);

/// Keys a backend might build internally (seed guide: `{prefix}token:{id}`,
/// `{prefix}access:{access}`, `{prefix}user:{user}:tokens`, `{prefix}session:{id}`,
/// `{prefix}kv:{key}`), with and without the default `auth:` prefix, and a Redis Cluster
/// hash tag.
const INTERNAL_LOOKING: [&str; 14] = [
    "token:x",
    "auth:token:x",
    "access:acc-x",
    "auth:access:acc-x",
    "user:alice:tokens",
    "auth:user:alice:tokens",
    "session:s1",
    "auth:session:s1",
    "user:alice:sessions",
    "auth:user:alice:sessions",
    "kv:a",
    "auth:kv:a",
    "{auth}:token:x",
    "sessions:count",
];

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        scenario!(
            namespaces_same_text_names_three_items,
            Namespaces,
            ["NS-1"],
            Capabilities::NONE,
            "one text as token id, session id and kv key names three independent items",
            same_text_names_three_items
        ),
        scenario!(
            namespaces_internal_looking_kv_keys_do_not_alias,
            Namespaces,
            ["NS-2"],
            Capabilities::NONE,
            "kv keys like token:x or user:alice:tokens never touch tokens, sessions or lists",
            internal_looking_kv_keys_do_not_alias
        ),
        scenario!(
            namespaces_internal_looking_ids_are_ordinary,
            Namespaces,
            ["NS-2"],
            Capabilities::NONE,
            "token, session and user ids like token:x or auth:session:1 are ordinary ids",
            internal_looking_ids_are_ordinary
        ),
        scenario!(
            namespaces_users_are_independent,
            Namespaces,
            ["NS-3"],
            Capabilities::NONE,
            "writing and deleting one user's items never changes another user's lists",
            users_are_independent
        ),
        scenario!(
            namespaces_expiring_one_user_leaves_others,
            Namespaces,
            ["NS-3"],
            EXPIRY,
            "expiring one user's tokens and sessions never changes another user's lists",
            expiring_one_user_leaves_others
        ),
    ]
}

/// `get_kv(key)` returns `expected`.
async fn expect_kv(s: &dyn AuthStorage, key: &str, expected: Option<&[u8]>, when: &str) -> Outcome {
    let call = format!("get_kv({key:?}) {when}");
    let got = s.get_kv(key).await.check(&call)?;
    expect_bytes(got.as_deref(), expected, &call)
}

async fn same_text_names_three_items(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    const TEXT: &str = "shared-1";
    // The text is also the user id and the access token: every namespace at once.
    let token = live(TEXT, TEXT, TEXT).with_scopes(["token"]);
    let session = live_session(TEXT, TEXT).with_user_agent("session");
    let value: &[u8] = b"kv value";
    store(s, &token).await?;
    store_session(s, &session).await?;
    s.store_kv(TEXT, value, None)
        .await
        .check("store_kv(\"shared-1\")")?;

    let check_all = async |token_live: bool, session_live: bool, kv_live: bool, when: &str| {
        expect_token(s, TEXT, token_live.then_some(&token), when).await?;
        expect_lookup(s, TEXT, token_live.then_some(&token), when).await?;
        let tokens: Vec<&AuthToken> = token_live.then_some(&token).into_iter().collect();
        expect_user_tokens(s, TEXT, &tokens, when).await?;
        expect_session(s, TEXT, session_live.then_some(&session), when).await?;
        let sessions: Vec<&SessionData> = session_live.then_some(&session).into_iter().collect();
        expect_user_sessions(s, TEXT, &sessions, when).await?;
        expect_count(s, u64::from(session_live), when).await?;
        expect_kv(s, TEXT, kv_live.then_some(value), when).await?;
        let call = format!("list_kv_keys(\"shared\") {when}");
        let keys = s.list_kv_keys("shared").await.check(&call)?;
        let want: Vec<String> = kv_live.then(|| TEXT.to_string()).into_iter().collect();
        expect_eq(&keys, &want, &call)
    };
    check_all(true, true, true, "with all three stored").await?;

    s.delete_token(TEXT)
        .await
        .check("delete_token(\"shared-1\")")?;
    check_all(false, true, true, "after delete_token").await?;
    store(s, &token).await?;

    s.delete_session(TEXT)
        .await
        .check("delete_session(\"shared-1\")")?;
    check_all(true, false, true, "after delete_session").await?;
    store_session(s, &session).await?;

    s.delete_kv(TEXT).await.check("delete_kv(\"shared-1\")")?;
    check_all(true, true, false, "after delete_kv").await
}

async fn internal_looking_kv_keys_do_not_alias(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let token = live("x", "alice", "acc-x");
    let session = live_session("s1", "alice");
    store(s, &token).await?;
    store_session(s, &session).await?;
    s.store_kv("a", b"plain a", None)
        .await
        .check("store_kv(\"a\")")?;

    // Values that would break a backend reading them as a record or a list.
    for key in INTERNAL_LOOKING {
        let value = format!("not a record \0\u{FF} {key}");
        s.store_kv(key, value.as_bytes(), None)
            .await
            .check(&format!("store_kv({key:?})"))?;
    }
    let check_items = async |when: &str| {
        expect_token_live(s, &token, when).await?;
        expect_user_tokens(s, "alice", &[&token], when).await?;
        expect_session(s, "s1", Some(&session), when).await?;
        expect_user_sessions(s, "alice", &[&session], when).await?;
        expect_count(s, 1, when).await?;
        expect_kv(s, "a", Some(b"plain a"), when).await
    };
    check_items("after storing internal-looking kv keys").await?;
    for key in INTERNAL_LOOKING {
        let value = format!("not a record \0\u{FF} {key}");
        expect_kv(s, key, Some(value.as_bytes()), "after storing them all").await?;
    }
    let call = "list_kv_keys(\"\") with internal-looking keys";
    let mut keys = s.list_kv_keys("").await.check(call)?;
    keys.sort();
    let mut want: Vec<String> = INTERNAL_LOOKING.iter().map(|k| k.to_string()).collect();
    want.push("a".into());
    want.sort();
    expect_eq(&keys, &want, call)?;

    for key in INTERNAL_LOOKING {
        s.delete_kv(key)
            .await
            .check(&format!("delete_kv({key:?})"))?;
    }
    check_items("after deleting the internal-looking kv keys").await
}

async fn internal_looking_ids_are_ordinary(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let t_plain = live("x", "alice", "acc-x");
    let t_key = live("token:x", "user:alice:tokens", "access:acc-x");
    let t_prefixed = live("auth:token:x", "alice:tokens", "token:x");
    let t_tagged = live("{auth}:token:x", "{alice}", "auth:access:acc-x");
    let tokens = [&t_plain, &t_key, &t_prefixed, &t_tagged];
    let s_plain = live_session("s1", "alice");
    let s_key = live_session("session:s1", "user:alice:sessions");
    let s_prefixed = live_session("auth:session:1", "alice");
    let s_tagged = live_session("{auth}:session:s1", "user:alice:tokens");
    let sessions = [&s_plain, &s_key, &s_prefixed, &s_tagged];
    for token in tokens {
        store(s, token).await?;
    }
    for session in sessions {
        store_session(s, session).await?;
    }

    for token in tokens {
        expect_token_live(s, token, "with internal-looking ids stored").await?;
    }
    for session in sessions {
        expect_session(s, &session.session_id, Some(session), "with all stored").await?;
    }
    let when = "with internal-looking user ids";
    expect_user_tokens(s, "alice", &[&t_plain], when).await?;
    expect_user_tokens(s, "user:alice:tokens", &[&t_key], when).await?;
    expect_user_tokens(s, "alice:tokens", &[&t_prefixed], when).await?;
    expect_user_tokens(s, "{alice}", &[&t_tagged], when).await?;
    expect_user_sessions(s, "alice", &[&s_plain, &s_prefixed], when).await?;
    expect_user_sessions(s, "user:alice:sessions", &[&s_key], when).await?;
    expect_user_sessions(s, "user:alice:tokens", &[&s_tagged], when).await?;
    expect_count(s, 4, when).await?;

    s.delete_token("token:x")
        .await
        .check("delete_token(\"token:x\")")?;
    s.delete_session("session:s1")
        .await
        .check("delete_session(\"session:s1\")")?;
    let when = "after deleting token:x and session:s1";
    expect_token(s, "token:x", None, when).await?;
    expect_lookup(s, "access:acc-x", None, when).await?;
    for token in [&t_plain, &t_prefixed, &t_tagged] {
        expect_token_live(s, token, when).await?;
    }
    expect_user_tokens(s, "alice", &[&t_plain], when).await?;
    expect_user_tokens(s, "user:alice:tokens", &[], when).await?;
    expect_session(s, "session:s1", None, when).await?;
    expect_session(s, "s1", Some(&s_plain), when).await?;
    expect_user_sessions(s, "alice", &[&s_plain, &s_prefixed], when).await?;
    expect_user_sessions(s, "user:alice:tokens", &[&s_tagged], when).await?;
    expect_count(s, 3, when).await
}

/// Checks that bob's, Bob's and bob2's lists are still exactly their own items.
async fn expect_others_unchanged(
    s: &dyn AuthStorage,
    others: &[(&str, &AuthToken, &SessionData)],
    when: &str,
) -> Outcome {
    for (user, token, session) in others {
        expect_user_tokens(s, user, &[token], when).await?;
        expect_user_sessions(s, user, &[session], when).await?;
    }
    Ok(())
}

/// Items of users whose ids are close to alice's and to each other.
fn other_users() -> Vec<(&'static str, AuthToken, SessionData)> {
    ["bob", "Bob", "bob2", "alice2"]
        .into_iter()
        .map(|user| {
            let token = live(&format!("tok-{user}"), user, &format!("access-{user}"));
            (user, token, live_session(&format!("ses-{user}"), user))
        })
        .collect()
}

async fn users_are_independent(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let others = other_users();
    for (_, token, session) in &others {
        store(s, token).await?;
        store_session(s, session).await?;
    }
    let others: Vec<(&str, &AuthToken, &SessionData)> =
        others.iter().map(|(u, t, d)| (*u, t, d)).collect();

    let token = live("tok-a", "alice", "access-a");
    let session = live_session("ses-a", "alice");
    store(s, &token).await?;
    store_session(s, &session).await?;
    expect_others_unchanged(s, &others, "after alice stored a token and a session").await?;

    store(s, &token.clone().with_scopes(["more"])).await?;
    s.update_token(&token.clone().with_access_token("access-a2"))
        .await
        .check("update_token(tok-a)")?;
    store_session(s, &session.clone().with_data("k", serde_json::json!(1))).await?;
    expect_others_unchanged(s, &others, "after alice re-stored and updated").await?;

    s.delete_token("tok-a").await.check("delete_token(tok-a)")?;
    s.delete_session("ses-a")
        .await
        .check("delete_session(ses-a)")?;
    expect_others_unchanged(s, &others, "after alice deleted her items").await?;
    expect_user_tokens(s, "alice", &[], "after alice deleted her token").await?;
    expect_user_sessions(s, "alice", &[], "after alice deleted her session").await
}

async fn expiring_one_user_leaves_others(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let timing = ctx.timing();
    let others = other_users();
    for (_, token, session) in &others {
        store(s, token).await?;
        store_session(s, session).await?;
    }
    let others: Vec<(&str, &AuthToken, &SessionData)> =
        others.iter().map(|(u, t, d)| (*u, t, d)).collect();

    store(s, &live("tok-a", "alice", "access-a")).await?;
    store_session(s, &live_session("ses-a", "alice")).await?;
    store(s, &expired("tok-a", "alice", "access-a", timing)).await?;
    store_session(s, &expired_session("ses-a", "alice", timing)).await?;
    store(s, &expired("tok-a2", "alice", "access-a2", timing)).await?;
    store_session(s, &expired_session("ses-a2", "alice", timing)).await?;
    expect_others_unchanged(s, &others, "after alice's items expired").await?;
    expect_user_tokens(s, "alice", &[], "after her tokens expired").await?;
    expect_user_sessions(s, "alice", &[], "after her sessions expired").await?;
    expect_count(s, others.len() as u64, "after alice's sessions expired").await
}
