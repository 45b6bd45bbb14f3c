//! Input rules: ids, keys, secrets and timestamps are accepted up to their limits, exactly
//! as given, and rejected with `InvalidInput` beyond them; hostile input never panics
//! (`VAL-*`, `ERR-1`, `GEN-1`, `GEN-2`).

use std::future::Future;
use std::time::Duration;

use authstore_spec::validate::{self, MAX_ID_BYTES, MAX_KEY_BYTES, MAX_SECRET_BYTES};
use authstore_spec::{AuthToken, Capabilities, ErrorKind, SessionData, StorageError};
use chrono::{DateTime, TimeDelta, Utc};

use crate::check::{Check, Failure, Outcome, abbreviate, expect_bytes, expect_eq};
use crate::{Ctx, Scenario, scenario};

const HOUR: Duration = Duration::from_secs(3600);
/// How long any single call may take before it counts as hanging (`GEN-2`).
const DEADLINE: Duration = Duration::from_secs(10);

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        scenario!(
            input_ids_round_trip_exactly,
            BadInput,
            ["VAL-1", "VAL-6"],
            Capabilities::NONE,
            "token, session and user ids up to 255 bytes round-trip with no trimming, case \
             folding or normalisation",
            ids_round_trip_exactly
        ),
        scenario!(
            input_token_methods_reject_bad_ids,
            BadInput,
            ["VAL-1", "VAL-3", "VAL-6", "ERR-1", "GEN-4"],
            Capabilities::NONE,
            "every token method rejects an empty, over-long (bytes) or NUL-bearing token or \
             user id with InvalidInput and stores nothing",
            token_methods_reject_bad_ids
        ),
        scenario!(
            input_session_methods_reject_bad_ids,
            BadInput,
            ["VAL-1", "VAL-3", "VAL-6", "ERR-1", "GEN-4"],
            Capabilities::NONE,
            "every session method rejects an empty, over-long (bytes) or NUL-bearing session \
             or user id with InvalidInput and stores nothing",
            session_methods_reject_bad_ids
        ),
        scenario!(
            input_kv_methods_reject_bad_keys,
            BadInput,
            ["VAL-2", "VAL-3", "VAL-6", "ERR-1"],
            Capabilities::NONE,
            "store_kv, get_kv and delete_kv reject an empty, over-512-byte or NUL-bearing key \
             with InvalidInput and store nothing",
            kv_methods_reject_bad_keys
        ),
        scenario!(
            input_secret_limits,
            BadInput,
            ["VAL-4", "ERR-1", "GEN-4"],
            Capabilities::NONE,
            "access and refresh tokens of 8192 bytes are accepted; empty, 8193-byte or \
             NUL-bearing ones are InvalidInput",
            secret_limits
        ),
        scenario!(
            input_timestamp_range,
            BadInput,
            ["VAL-5", "ERR-1", "GEN-4"],
            Capabilities::NONE,
            "timestamps at 1970-01-01 and 9999-12-31T23:59:59 are accepted; earlier or later \
             ones are InvalidInput",
            timestamp_range
        ),
        scenario!(
            input_hostile_values_never_panic_or_hang,
            BadInput,
            ["GEN-1", "GEN-2", "ERR-1"],
            Capabilities::NONE,
            "every method, given hostile strings and extreme values, returns in time with Ok \
             or InvalidInput as the input rules say, and never panics",
            hostile_values_never_panic_or_hang
        ),
    ]
}

/// Over-long or NUL-bearing variants of an id; each must be rejected (`VAL-3`, `VAL-6`).
fn bad_ids() -> Vec<(&'static str, String)> {
    vec![
        ("an empty id", String::new()),
        ("a 256-byte id", "t".repeat(MAX_ID_BYTES + 1)),
        ("an id of 128 two-byte characters", "é".repeat(128)),
        ("an id of 86 three-byte characters", "中".repeat(86)),
        ("an id of 64 four-byte characters", "\u{1F600}".repeat(64)),
        ("an id with a NUL inside", "a\0b".to_string()),
        ("an id with a trailing NUL", "id\0".to_string()),
        ("an id that is a NUL", "\0".to_string()),
    ]
}

/// Ids that are valid and differ from each other only in ways a backend must not erase.
fn tricky_ids() -> Vec<String> {
    let mut ids: Vec<String> = [
        "a",
        "A",
        " a ",
        "a ",
        "\ta",
        "caf\u{e9}",
        "cafe\u{301}",
        "ǅ",
        "\u{1F600}",
        "\u{202E}rtl",
        "id:with:colons",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    ids.push("x".repeat(MAX_ID_BYTES));
    ids.push(format!("{}x", "é".repeat(127)));
    ids.push("中".repeat(85));
    ids.push(format!("{}abc", "\u{1F600}".repeat(63)));
    ids
}

async fn ids_round_trip_exactly(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let ids = tricky_ids();
    let mut tokens = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let token = AuthToken::new(id, id, format!("access-{i}"), HOUR);
        s.store_token(&token)
            .await
            .check(&format!("store_token(token and user id {id:?})"))?;
        let session = SessionData::new(id, id, HOUR);
        s.store_session(id, &session)
            .await
            .check(&format!("store_session(session and user id {id:?})"))?;
        tokens.push((token, session));
    }
    for (id, (token, session)) in ids.iter().zip(&tokens) {
        let got = s.get_token(id).await.check(&format!("get_token({id:?})"))?;
        expect_eq(&got, &Some(token.clone()), &format!("get_token({id:?})"))?;
        let listed = s
            .list_user_tokens(id)
            .await
            .check(&format!("list_user_tokens({id:?})"))?;
        expect_eq(
            &listed,
            &vec![token.clone()],
            &format!("list_user_tokens({id:?})"),
        )?;
        let got = s
            .get_session(id)
            .await
            .check(&format!("get_session({id:?})"))?;
        expect_eq(
            &got,
            &Some(session.clone()),
            &format!("get_session({id:?})"),
        )?;
        let listed = s
            .list_user_sessions(id)
            .await
            .check(&format!("list_user_sessions({id:?})"))?;
        expect_eq(
            &listed,
            &vec![session.clone()],
            &format!("list_user_sessions({id:?})"),
        )?;
    }
    let count = s
        .count_active_sessions()
        .await
        .check("count_active_sessions()")?;
    expect_eq(
        &count,
        &(ids.len() as u64),
        "count_active_sessions() of sessions whose ids differ only subtly",
    )
}

async fn token_methods_reject_bad_ids(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let kept = AuthToken::new("tok", "alice", "access-kept", HOUR);
    s.store_token(&kept).await.check("store_token(tok)")?;
    let invalid = ErrorKind::InvalidInput;
    for (i, (what, bad)) in bad_ids().into_iter().enumerate() {
        let access = format!("access-bad-{i}");
        let bad_id = AuthToken::new(&bad, "alice", &access, HOUR);
        s.store_token(&bad_id)
            .await
            .check_err(invalid, &format!("store_token with {what} as token id"))?;
        s.update_token(&bad_id)
            .await
            .check_err(invalid, &format!("update_token with {what} as token id"))?;
        let bad_user = AuthToken::new(format!("new-{i}"), &bad, &access, HOUR);
        s.store_token(&bad_user)
            .await
            .check_err(invalid, &format!("store_token with {what} as user id"))?;
        let moved = kept.clone().with_user_id(&bad);
        s.update_token(&moved)
            .await
            .check_err(invalid, &format!("update_token(tok) to {what} as user id"))?;
        s.get_token(&bad)
            .await
            .check_err(invalid, &format!("get_token({what})"))?;
        s.delete_token(&bad)
            .await
            .check_err(invalid, &format!("delete_token({what})"))?;
        s.list_user_tokens(&bad)
            .await
            .check_err(invalid, &format!("list_user_tokens({what})"))?;
        let got = s
            .get_token_by_access_token(&access)
            .await
            .check(&format!("get_token_by_access_token({access})"))?;
        expect_eq(
            &got,
            &None,
            &format!("get_token_by_access_token({access}) after rejected writes with {what}"),
        )?;
        let got = s
            .get_token(&format!("new-{i}"))
            .await
            .check(&format!("get_token(new-{i})"))?;
        expect_eq(
            &got,
            &None,
            &format!("get_token(new-{i}) after store_token with {what} as user id"),
        )?;
    }
    let got = s.get_token("tok").await.check("get_token(tok)")?;
    expect_eq(
        &got,
        &Some(kept.clone()),
        "get_token(tok) after rejected updates",
    )?;
    let listed = s
        .list_user_tokens("alice")
        .await
        .check("list_user_tokens(alice)")?;
    expect_eq(
        &listed,
        &vec![kept],
        "list_user_tokens(alice) after rejected writes",
    )
}

async fn session_methods_reject_bad_ids(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let kept = SessionData::new("ses", "alice", HOUR);
    s.store_session("ses", &kept)
        .await
        .check("store_session(ses)")?;
    let invalid = ErrorKind::InvalidInput;
    for (i, (what, bad)) in bad_ids().into_iter().enumerate() {
        let bad_id = SessionData::new(&bad, "alice", HOUR);
        s.store_session(&bad, &bad_id)
            .await
            .check_err(invalid, &format!("store_session with {what} as session id"))?;
        let new_id = format!("new-{i}");
        let bad_user = SessionData::new(&new_id, &bad, HOUR);
        s.store_session(&new_id, &bad_user).await.check_err(
            invalid,
            &format!("store_session({new_id}) with {what} as user id"),
        )?;
        let moved = kept.clone().with_user_id(&bad);
        s.store_session("ses", &moved).await.check_err(
            invalid,
            &format!("store_session(ses) with {what} as user id"),
        )?;
        s.get_session(&bad)
            .await
            .check_err(invalid, &format!("get_session({what})"))?;
        s.delete_session(&bad)
            .await
            .check_err(invalid, &format!("delete_session({what})"))?;
        s.list_user_sessions(&bad)
            .await
            .check_err(invalid, &format!("list_user_sessions({what})"))?;
        let got = s
            .get_session(&new_id)
            .await
            .check(&format!("get_session({new_id})"))?;
        expect_eq(
            &got,
            &None,
            &format!("get_session({new_id}) after store_session with {what} as user id"),
        )?;
    }
    let got = s.get_session("ses").await.check("get_session(ses)")?;
    expect_eq(
        &got,
        &Some(kept.clone()),
        "get_session(ses) after rejected writes",
    )?;
    let listed = s
        .list_user_sessions("alice")
        .await
        .check("list_user_sessions(alice)")?;
    expect_eq(
        &listed,
        &vec![kept],
        "list_user_sessions(alice) after rejected writes",
    )?;
    let count = s
        .count_active_sessions()
        .await
        .check("count_active_sessions()")?;
    expect_eq(&count, &1, "count_active_sessions() after rejected writes")
}

async fn kv_methods_reject_bad_keys(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    s.store_kv("kept", b"kept", None)
        .await
        .check("store_kv(kept)")?;
    let half = "é".repeat(MAX_KEY_BYTES / 2);
    let bad_keys = [
        ("an empty key", String::new()),
        ("a 513-byte key", "k".repeat(MAX_KEY_BYTES + 1)),
        (
            "a 513-byte key of 256 two-byte characters and one byte",
            format!("{half}k"),
        ),
        ("a key of 257 two-byte characters", format!("{half}é")),
        ("a key with a NUL inside", "k\0ey".to_string()),
        ("a key with a trailing NUL", "kept\0".to_string()),
        ("a key that is a NUL", "\0".to_string()),
    ];
    let invalid = ErrorKind::InvalidInput;
    for (what, bad) in &bad_keys {
        s.store_kv(bad, b"v", None)
            .await
            .check_err(invalid, &format!("store_kv({what})"))?;
        s.store_kv(bad, b"v", Some(HOUR))
            .await
            .check_err(invalid, &format!("store_kv({what}, ttl 1h)"))?;
        s.get_kv(bad)
            .await
            .check_err(invalid, &format!("get_kv({what})"))?;
        s.delete_kv(bad)
            .await
            .check_err(invalid, &format!("delete_kv({what})"))?;
    }
    let listed = s.list_kv_keys("").await.check("list_kv_keys(\"\")")?;
    expect_eq(
        &listed,
        &vec!["kept".to_string()],
        "list_kv_keys(\"\") after rejected store_kv calls (nothing stored, nothing truncated)",
    )?;
    let got = s.get_kv("kept").await.check("get_kv(kept)")?;
    expect_bytes(
        got.as_deref(),
        Some(b"kept"),
        "get_kv(kept) after rejected calls",
    )
}

async fn secret_limits(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let kept = AuthToken::new("tok", "alice", "access-kept", HOUR).with_refresh_token("refresh");
    s.store_token(&kept).await.check("store_token(tok)")?;

    // The largest accepted secrets, in one- and two-byte characters.
    let accepted = [
        ("8192 one-byte", "a".repeat(MAX_SECRET_BYTES)),
        ("4096 two-byte", "é".repeat(MAX_SECRET_BYTES / 2)),
    ];
    for (i, (what, secret)) in accepted.iter().enumerate() {
        let id = format!("long-{i}");
        let token = AuthToken::new(&id, "bob", secret, HOUR).with_refresh_token(secret);
        s.store_token(&token)
            .await
            .check(&format!("store_token({id}) with {what}-character secrets"))?;
        let got = s.get_token(&id).await.check(&format!("get_token({id})"))?;
        expect_eq(&got, &Some(token.clone()), &format!("get_token({id})"))?;
        let got = s.get_token_by_access_token(secret).await.check(&format!(
            "get_token_by_access_token({what}-character token)"
        ))?;
        expect_eq(
            &got,
            &Some(token),
            &format!("get_token_by_access_token({what}-character token)"),
        )?;
    }

    let bad_secrets = [
        ("an empty", String::new()),
        ("an 8193-byte", "s".repeat(MAX_SECRET_BYTES + 1)),
        (
            "an 8193-byte (4096 two-byte characters and one byte)",
            format!("{}s", "é".repeat(MAX_SECRET_BYTES / 2)),
        ),
        ("a NUL-bearing", "sec\0ret".to_string()),
    ];
    let invalid = ErrorKind::InvalidInput;
    for (i, (what, bad)) in bad_secrets.iter().enumerate() {
        let id = format!("bad-{i}");
        let bad_access = AuthToken::new(&id, "alice", bad, HOUR);
        s.store_token(&bad_access).await.check_err(
            invalid,
            &format!("store_token({id}) with {what} access token"),
        )?;
        let bad_refresh =
            AuthToken::new(&id, "alice", format!("access-{id}"), HOUR).with_refresh_token(bad);
        s.store_token(&bad_refresh).await.check_err(
            invalid,
            &format!("store_token({id}) with {what} refresh token"),
        )?;
        s.update_token(&kept.clone().with_access_token(bad))
            .await
            .check_err(
                invalid,
                &format!("update_token(tok) to {what} access token"),
            )?;
        s.update_token(&kept.clone().with_refresh_token(bad))
            .await
            .check_err(
                invalid,
                &format!("update_token(tok) to {what} refresh token"),
            )?;
        s.get_token_by_access_token(bad)
            .await
            .check_err(invalid, &format!("get_token_by_access_token({what} token)"))?;
        let got = s.get_token(&id).await.check(&format!("get_token({id})"))?;
        expect_eq(
            &got,
            &None,
            &format!("get_token({id}) after store_token with {what} secret was rejected"),
        )?;
    }
    let got = s.get_token("tok").await.check("get_token(tok)")?;
    expect_eq(
        &got,
        &Some(kept.clone()),
        "get_token(tok) after rejected updates",
    )?;
    let got = s
        .get_token_by_access_token("access-kept")
        .await
        .check("get_token_by_access_token(access-kept)")?;
    expect_eq(
        &got,
        &Some(kept),
        "get_token_by_access_token(access-kept) after rejected updates",
    )
}

/// `at + delta`, or a failure instead of chrono's overflow panic.
fn shifted(at: DateTime<Utc>, delta: TimeDelta) -> Result<DateTime<Utc>, Failure> {
    at.checked_add_signed(delta)
        .ok_or_else(|| Failure::new(format!("test setup: {at} + {delta} is not representable")))
}

async fn timestamp_range(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let (min, max) = (validate::min_timestamp(), validate::max_timestamp());

    let mut edge = AuthToken::new("edge", "alice", "access-edge", HOUR);
    edge.issued_at = min;
    edge.expires_at = max;
    s.store_token(&edge)
        .await
        .check("store_token(edge) issued 1970-01-01, expiring 9999-12-31T23:59:59")?;
    let got = s.get_token("edge").await.check("get_token(edge)")?;
    expect_eq(
        &got,
        &Some(edge.clone()),
        "get_token(edge) with edge timestamps",
    )?;
    let mut edge_session = SessionData::new("edge", "alice", HOUR);
    edge_session.created_at = min;
    edge_session.last_activity = min;
    edge_session.expires_at = max;
    s.store_session("edge", &edge_session)
        .await
        .check("store_session(edge) created 1970-01-01, expiring 9999-12-31T23:59:59")?;
    let got = s.get_session("edge").await.check("get_session(edge)")?;
    expect_eq(
        &got,
        &Some(edge_session.clone()),
        "get_session(edge) with edge timestamps",
    )?;

    let before = shifted(min, TimeDelta::microseconds(-1))?;
    let after = shifted(max, TimeDelta::seconds(1))?;
    let invalid = ErrorKind::InvalidInput;
    let fresh = AuthToken::new("bad", "bob", "access-bad", HOUR);
    let bad_tokens = [
        (
            "issued_at 1 µs before 1970",
            fresh.clone(),
            Some(before),
            None,
        ),
        (
            "issued_at at chrono's minimum",
            fresh.clone(),
            Some(DateTime::<Utc>::MIN_UTC),
            None,
        ),
        (
            "expires_at 1 s after 9999-12-31T23:59:59",
            fresh.clone(),
            None,
            Some(after),
        ),
        (
            "expires_at at chrono's maximum",
            fresh,
            None,
            Some(DateTime::<Utc>::MAX_UTC),
        ),
    ];
    for (what, mut token, issued_at, expires_at) in bad_tokens {
        token.issued_at = issued_at.unwrap_or(token.issued_at);
        token.expires_at = expires_at.unwrap_or(token.expires_at);
        s.store_token(&token)
            .await
            .check_err(invalid, &format!("store_token(bad) with {what}"))?;
        let mut update = edge.clone();
        update.issued_at = issued_at.unwrap_or(update.issued_at);
        update.expires_at = expires_at.unwrap_or(update.expires_at);
        s.update_token(&update)
            .await
            .check_err(invalid, &format!("update_token(edge) with {what}"))?;
    }
    let got = s.get_token("bad").await.check("get_token(bad)")?;
    expect_eq(
        &got,
        &None,
        "get_token(bad) after rejected store_token calls",
    )?;
    let got = s
        .get_token_by_access_token("access-bad")
        .await
        .check("get_token_by_access_token(access-bad)")?;
    expect_eq(
        &got,
        &None,
        "get_token_by_access_token(access-bad) after rejected stores",
    )?;
    let got = s.get_token("edge").await.check("get_token(edge)")?;
    expect_eq(&got, &Some(edge), "get_token(edge) after rejected updates")?;

    let fresh = SessionData::new("bad", "bob", HOUR);
    let bad_sessions = [
        ("created_at 1 µs before 1970", {
            let mut d = fresh.clone();
            d.created_at = before;
            d
        }),
        ("last_activity 1 µs before 1970", {
            let mut d = fresh.clone();
            d.last_activity = before;
            d
        }),
        (
            "expires_at 1 s after 9999-12-31T23:59:59",
            fresh.clone().with_expires_at(after),
        ),
        (
            "expires_at at chrono's maximum",
            fresh.with_expires_at(DateTime::<Utc>::MAX_UTC),
        ),
    ];
    for (what, session) in &bad_sessions {
        s.store_session("bad", session)
            .await
            .check_err(invalid, &format!("store_session(bad) with {what}"))?;
        let mut over_edge = session.clone();
        over_edge.session_id = "edge".to_string();
        s.store_session("edge", &over_edge)
            .await
            .check_err(invalid, &format!("store_session(edge) with {what}"))?;
    }
    let got = s.get_session("bad").await.check("get_session(bad)")?;
    expect_eq(
        &got,
        &None,
        "get_session(bad) after rejected store_session calls",
    )?;
    let got = s.get_session("edge").await.check("get_session(edge)")?;
    expect_eq(
        &got,
        &Some(edge_session),
        "get_session(edge) after rejected re-stores",
    )?;
    let count = s
        .count_active_sessions()
        .await
        .check("count_active_sessions()")?;
    expect_eq(&count, &1, "count_active_sessions() after rejected stores")
}

/// Strings that break parsers, query languages, key schemes, paths and terminals, plus
/// the input rules' edge cases.
fn hostile_strings() -> Vec<String> {
    let mut list: Vec<String> = [
        "",
        "\0",
        "a\0",
        "'; DROP TABLE auth_tokens; --",
        "\" OR \"1\"=\"1",
        "*",
        "%",
        "_",
        "\\",
        "\\\\'",
        "\r\n*1\r\n$4\r\nPING\r\n",
        "token:x",
        "auth:session:1",
        "user:a:tokens",
        "{{x}}",
        "${jndi:ldap://x}",
        "../../etc/passwd",
        "\u{202E}\u{FEFF}\u{200B}",
        "\u{10FFFF}\u{FFFF}",
        "\u{1F600}\u{1F3FB}",
        "\u{1}\u{7F}\u{1B}[2J",
        " ",
        "null",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    list.push("x".repeat(MAX_ID_BYTES));
    list.push("x".repeat(MAX_ID_BYTES + 1));
    list.push("k".repeat(MAX_KEY_BYTES + 1));
    list.push("s".repeat(MAX_SECRET_BYTES + 1));
    list.push("é".repeat(50_000));
    list.push("x".repeat(1 << 20));
    list
}

/// Runs `call` with the [`DEADLINE`] (`GEN-2`).
async fn within_deadline<T>(
    call: &str,
    fut: impl Future<Output = Result<T, StorageError>>,
) -> Result<Result<T, StorageError>, Failure> {
    tokio::time::timeout(DEADLINE, fut)
        .await
        .map_err(|_| Failure::new(format!("{call}: did not return within {DEADLINE:?}")))
}

/// Fails unless `result` is what the input rules predict: success when `rule` accepts
/// the input, `InvalidInput` when it rejects it (`ERR-1`).
fn as_rule_says<T>(
    result: Result<T, StorageError>,
    rule: &Result<(), StorageError>,
    call: &str,
) -> Outcome {
    match (result, rule) {
        (Ok(_), Ok(())) => Ok(()),
        (Err(err), Err(_)) if err.kind() == ErrorKind::InvalidInput => Ok(()),
        (Err(err), Ok(())) => Err(Failure::new(format!(
            "{call}: the input is valid; expected success, got error {:?}: {err}",
            err.kind()
        ))),
        (Err(err), Err(why)) => Err(Failure::new(format!(
            "{call}: expected InvalidInput ({why}), got error {:?}: {err}",
            err.kind()
        ))),
        (Ok(_), Err(why)) => Err(Failure::new(format!(
            "{call}: expected InvalidInput ({why}), got Ok"
        ))),
    }
}

/// As [`as_rule_says`], and when the input is valid the call must also return `expected`
/// (a read of what the barrage wrote: the hostile text must neither be altered nor alias
/// anything else).
fn returns_as_rule_says<T: PartialEq + std::fmt::Debug>(
    result: Result<T, StorageError>,
    rule: &Result<(), StorageError>,
    expected: T,
    call: &str,
) -> Outcome {
    match result {
        Ok(value) if rule.is_ok() => expect_eq(&value, &expected, call),
        other => as_rule_says(other, rule, call),
    }
}

/// Every method once with `hostile` in every string argument; reads of valid input return
/// exactly what was written.
async fn barrage(ctx: Ctx, hostile: String) -> Outcome {
    let s = ctx.storage();
    let h = hostile.as_str();
    let shown = abbreviate(&format!("{h:?}"));
    let token = AuthToken::new(h, h, h, HOUR)
        .with_refresh_token(h)
        .with_token_type(h)
        .with_scopes([h, h])
        .with_metadata(h, serde_json::json!({ h: [h] }));
    let rule = validate::token(&token);
    let call = format!("store_token(every field {shown})");
    as_rule_says(
        within_deadline(&call, s.store_token(&token)).await?,
        &rule,
        &call,
    )?;
    let call = format!("update_token(every field {shown})");
    as_rule_says(
        within_deadline(&call, s.update_token(&token)).await?,
        &rule,
        &call,
    )?;
    // What the reads must return: the token if it was valid (hence stored), else nothing.
    let stored_token = validate::token(&token).ok().map(|()| token.clone());
    let rule = validate::id("token id", h);
    let call = format!("get_token({shown}) after storing it");
    returns_as_rule_says(
        within_deadline(&call, s.get_token(h)).await?,
        &rule,
        stored_token.clone(),
        &call,
    )?;
    let rule = validate::secret("access token", h);
    let call = format!("get_token_by_access_token({shown}) after storing it");
    returns_as_rule_says(
        within_deadline(&call, s.get_token_by_access_token(h)).await?,
        &rule,
        stored_token.clone(),
        &call,
    )?;
    let rule = validate::id("user id", h);
    let call = format!("list_user_tokens({shown}) after storing it");
    returns_as_rule_says(
        within_deadline(&call, s.list_user_tokens(h)).await?,
        &rule,
        stored_token.into_iter().collect(),
        &call,
    )?;

    let session = SessionData::new(h, h, HOUR)
        .with_ip_address(h)
        .with_user_agent(h)
        .with_data(h, serde_json::json!(h));
    let rule = validate::session(h, &session);
    let call = format!("store_session(every field {shown})");
    as_rule_says(
        within_deadline(&call, s.store_session(h, &session)).await?,
        &rule,
        &call,
    )?;
    let stored_session = validate::session(h, &session)
        .ok()
        .map(|()| session.clone());
    let rule = validate::id("session id", h);
    let call = format!("get_session({shown}) after storing it");
    returns_as_rule_says(
        within_deadline(&call, s.get_session(h)).await?,
        &rule,
        stored_session.clone(),
        &call,
    )?;
    let rule = validate::id("user id", h);
    let call = format!("list_user_sessions({shown}) after storing it");
    returns_as_rule_says(
        within_deadline(&call, s.list_user_sessions(h)).await?,
        &rule,
        stored_session.into_iter().collect(),
        &call,
    )?;

    let rule = validate::key(h);
    for ttl in [None, Some(Duration::MAX), Some(HOUR)] {
        let call = format!("store_kv({shown}, ttl {ttl:?})");
        as_rule_says(
            within_deadline(&call, s.store_kv(h, h.as_bytes(), ttl)).await?,
            &rule,
            &call,
        )?;
    }
    let key_stored = rule.is_ok();
    let call = format!("get_kv({shown}) after storing it");
    returns_as_rule_says(
        within_deadline(&call, s.get_kv(h)).await?,
        &rule,
        key_stored.then(|| h.as_bytes().to_vec()),
        &call,
    )?;
    // The only kv key in the store now is `h` (each barrage deletes its own): a listing
    // by `h` returns exactly it, or nothing if it was not stored.
    let rule = validate::prefix(h);
    let call = format!("list_kv_keys({shown}) after storing it");
    returns_as_rule_says(
        within_deadline(&call, s.list_kv_keys(h)).await?,
        &rule,
        key_stored.then(|| h.to_string()).into_iter().collect(),
        &call,
    )?;

    let rule = validate::key(h);
    let call = format!("delete_kv({shown})");
    as_rule_says(within_deadline(&call, s.delete_kv(h)).await?, &rule, &call)?;
    let rule = validate::id("session id", h);
    let call = format!("delete_session({shown})");
    as_rule_says(
        within_deadline(&call, s.delete_session(h)).await?,
        &rule,
        &call,
    )?;
    let rule = validate::id("token id", h);
    let call = format!("delete_token({shown})");
    as_rule_says(
        within_deadline(&call, s.delete_token(h)).await?,
        &rule,
        &call,
    )?;
    // Everything the barrage stored is deleted again: reads find nothing.
    let rule = validate::id("token id", h);
    let call = format!("get_token({shown}) after deleting it");
    returns_as_rule_says(
        within_deadline(&call, s.get_token(h)).await?,
        &rule,
        None,
        &call,
    )?;
    let rule = validate::secret("access token", h);
    let call = format!("get_token_by_access_token({shown}) after deleting it");
    returns_as_rule_says(
        within_deadline(&call, s.get_token_by_access_token(h)).await?,
        &rule,
        None,
        &call,
    )?;
    let rule = validate::key(h);
    let call = format!("get_kv({shown}) after deleting it");
    returns_as_rule_says(
        within_deadline(&call, s.get_kv(h)).await?,
        &rule,
        None,
        &call,
    )?;
    let rule = validate::prefix(h);
    let call = format!("list_kv_keys({shown}) after deleting it");
    returns_as_rule_says(
        within_deadline(&call, s.list_kv_keys(h)).await?,
        &rule,
        Vec::new(),
        &call,
    )?;
    let rule = validate::id("session id", h);
    let call = format!("get_session({shown}) after deleting it");
    returns_as_rule_says(
        within_deadline(&call, s.get_session(h)).await?,
        &rule,
        None,
        &call,
    )?;
    let rule = validate::id("user id", h);
    let call = format!("list_user_tokens({shown}) after deleting it");
    returns_as_rule_says(
        within_deadline(&call, s.list_user_tokens(h)).await?,
        &rule,
        Vec::new(),
        &call,
    )?;
    let call = format!("list_user_sessions({shown}) after deleting it");
    returns_as_rule_says(
        within_deadline(&call, s.list_user_sessions(h)).await?,
        &rule,
        Vec::new(),
        &call,
    )?;
    let call = "count_active_sessions()";
    let count = within_deadline(call, s.count_active_sessions())
        .await?
        .check(call)?;
    expect_eq(
        &count,
        &0,
        &format!("count_active_sessions() after the barrage of {shown}"),
    )?;
    let call = "cleanup_expired()";
    within_deadline(call, s.cleanup_expired())
        .await?
        .check(call)?;
    Ok(())
}

async fn hostile_values_never_panic_or_hang(ctx: Ctx) -> Outcome {
    for hostile in hostile_strings() {
        let shown = abbreviate(&format!("{hostile:?}"));
        // A task of its own, so a panic in the backend is caught as a JoinError.
        let task = tokio::spawn(barrage(ctx.clone(), hostile));
        task.await.map_err(|err| {
            Failure::new(format!(
                "calls with {shown} in every argument: the backend panicked or was cancelled: {err}"
            ))
        })??;
    }
    // Extreme timestamps on otherwise valid records are input errors, not panics.
    for (what, at) in [
        ("chrono's minimum", DateTime::<Utc>::MIN_UTC),
        ("chrono's maximum", DateTime::<Utc>::MAX_UTC),
    ] {
        let storage = ctx.storage().clone();
        let task = tokio::spawn(async move {
            let token = AuthToken::new("extreme", "u", "access-extreme", HOUR).with_expires_at(at);
            let call = format!("store_token(expires_at {at})");
            within_deadline(&call, storage.store_token(&token))
                .await?
                .check_err(ErrorKind::InvalidInput, &call)?;
            let session = SessionData::new("extreme", "u", HOUR).with_expires_at(at);
            let call = format!("store_session(expires_at {at})");
            within_deadline(&call, storage.store_session("extreme", &session))
                .await?
                .check_err(ErrorKind::InvalidInput, &call)
        });
        task.await.map_err(|err| {
            Failure::new(format!(
                "records with timestamps at {what}: the backend panicked or was cancelled: {err}"
            ))
        })??;
    }
    // The store still works afterwards (no poisoned lock, no broken index).
    let s = ctx.storage();
    let token = AuthToken::new("after", "after-user", "access-after", HOUR);
    s.store_token(&token)
        .await
        .check("store_token(after) after the barrage")?;
    let got = s
        .get_token_by_access_token("access-after")
        .await
        .check("get_token_by_access_token(access-after)")?;
    expect_eq(
        &got,
        &Some(token),
        "get_token_by_access_token(access-after) after the barrage",
    )
}
