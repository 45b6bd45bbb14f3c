//! JSON at the edges: metadata and session data nested to the limit of `VAL-7` and past
//! it, and numbers and strings at their extremes (`VAL-8`).
//!
//! A record nested past a parser's limit (serde_json's 128 levels, MySQL's 100) can be
//! written and then never read again: every `get_token` and the user's whole list fail.
//! Here deep input must be refused at store with `InvalidInput`, and everything
//! accepted must read back, alone and in its user's list.

use std::time::Duration;

use authstore_spec::validate::MAX_JSON_DEPTH;
use authstore_spec::{AuthToken, Capabilities, ErrorKind, JsonMap, SessionData};
use serde_json::{Value, json};

use crate::check::{Check, Failure, Outcome, ensure, expect_eq};
use crate::{Ctx, Scenario, scenario};

const HOUR: Duration = Duration::from_secs(3600);

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        scenario!(
            input_json_depth_limit,
            BadInput,
            ["VAL-7", "ERR-1", "GEN-3", "GEN-4", "TOK-10", "SES-5"],
            Capabilities::NONE,
            "metadata and session data nested exactly 64 levels deep (arrays and objects) \
             round-trip, alone and in lists; 65, 100, 127 and 200 levels are InvalidInput at \
             store, update and store_session, and change nothing",
            json_depth_limit
        ),
        scenario!(
            input_json_extremes_round_trip,
            BadInput,
            ["VAL-8", "GEN-3", "GEN-5"],
            Capabilities::NONE,
            "u64::MAX, i64::MIN, -0.0 (sign kept), 1e308, the smallest subnormal, escapes, a \
             64 KiB string and 5 000 keys in metadata and data read back exactly",
            json_extremes_round_trip
        ),
    ]
}

/// A value `levels` levels deep once put in a metadata map (the map is level 1):
/// arrays and objects alternate, so both count.
fn nested(levels: usize) -> Value {
    let mut value = json!("bottom");
    for level in (2..=levels).rev() {
        value = if level % 2 == 0 {
            Value::Array(vec![value])
        } else {
            json!({ "level": level, "down": value })
        };
    }
    value
}

async fn json_depth_limit(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    // A flat neighbour in the same user's lists, which must stay readable throughout.
    let flat = AuthToken::new("flat", "deep-user", "flat-access", HOUR);
    s.store_token(&flat).await.check("store_token(flat)")?;
    let flat_session = SessionData::new("flat", "deep-user", HOUR);
    s.store_session("flat", &flat_session)
        .await
        .check("store_session(flat)")?;

    // Exactly at the limit: accepted and read back exactly, everywhere.
    let deepest = AuthToken::new("deepest", "deep-user", "deepest-access", HOUR)
        .with_metadata("nested", nested(MAX_JSON_DEPTH));
    s.store_token(&deepest).await.check(&format!(
        "store_token(deepest) with metadata {MAX_JSON_DEPTH} levels deep"
    ))?;
    let got = s.get_token("deepest").await.check("get_token(deepest)")?;
    expect_eq(&got.as_ref(), &Some(&deepest), "get_token(deepest)")?;
    let session =
        SessionData::new("deepest", "deep-user", HOUR).with_data("nested", nested(MAX_JSON_DEPTH));
    s.store_session("deepest", &session).await.check(&format!(
        "store_session(deepest) with data {MAX_JSON_DEPTH} levels deep"
    ))?;
    let got = s
        .get_session("deepest")
        .await
        .check("get_session(deepest)")?;
    expect_eq(&got.as_ref(), &Some(&session), "get_session(deepest)")?;

    for levels in [MAX_JSON_DEPTH + 1, 100, 127, 200] {
        let what = format!("{levels} levels deep");
        let deep = AuthToken::new(format!("deep-{levels}"), "deep-user", "deep-access", HOUR)
            .with_metadata("nested", nested(levels));
        s.store_token(&deep).await.check_err(
            ErrorKind::InvalidInput,
            &format!("store_token(deep-{levels}) with metadata {what}"),
        )?;
        let got = s
            .get_token(&deep.token_id)
            .await
            .check(&format!("get_token(deep-{levels}) after it was refused"))?;
        expect_eq(
            &got,
            &None,
            &format!("get_token(deep-{levels}) after it was refused"),
        )?;
        let update = deepest.clone().with_metadata("nested", nested(levels));
        s.update_token(&update).await.check_err(
            ErrorKind::InvalidInput,
            &format!("update_token(deepest) with metadata {what}"),
        )?;
        let data =
            SessionData::new("deepest", "deep-user", HOUR).with_data("nested", nested(levels));
        s.store_session("deepest", &data).await.check_err(
            ErrorKind::InvalidInput,
            &format!("store_session(deepest) with data {what}"),
        )?;
    }
    // The refused writes changed nothing, and every list still reads whole.
    let got = s.get_token("deepest").await.check("get_token(deepest)")?;
    expect_eq(
        &got.as_ref(),
        &Some(&deepest),
        "get_token(deepest) after refused updates",
    )?;
    let got = s
        .get_token_by_access_token("deep-access")
        .await
        .check("get_token_by_access_token(deep-access)")?;
    expect_eq(
        &got,
        &None,
        "get_token_by_access_token(deep-access) of refused tokens",
    )?;
    let mut listed = s
        .list_user_tokens("deep-user")
        .await
        .check("list_user_tokens(deep-user)")?;
    listed.sort_by(|a, b| a.token_id.cmp(&b.token_id));
    expect_eq(
        &listed,
        &vec![deepest, flat],
        "list_user_tokens(deep-user) after refused deep tokens",
    )?;
    let mut listed = s
        .list_user_sessions("deep-user")
        .await
        .check("list_user_sessions(deep-user)")?;
    listed.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    expect_eq(
        &listed,
        &vec![session, flat_session],
        "list_user_sessions(deep-user) after refused deep sessions",
    )
}

/// Metadata with every extreme value.
fn extremes() -> JsonMap {
    let mut map = JsonMap::new();
    map.insert("u64_max".into(), json!(u64::MAX));
    map.insert("i64_min".into(), json!(i64::MIN));
    map.insert("negative_zero".into(), json!(-0.0_f64));
    map.insert("huge".into(), json!(1e308_f64));
    map.insert("negative_huge".into(), json!(-1e308_f64));
    map.insert("subnormal".into(), json!(f64::from_bits(1)));
    map.insert("pi".into(), json!(std::f64::consts::PI));
    map.insert(
        "escapes".into(),
        json!("quote \" backslash \\ nul \u{0} tab \t newline \n bell \u{7} del \u{7f} \u{2028} \u{feff}"),
    );
    map.insert("long".into(), json!("ü".repeat(32 * 1024)));
    let many: JsonMap = (0..5_000)
        .map(|i| (format!("key-{i:04}"), json!(i)))
        .collect();
    map.insert("many".into(), Value::Object(many));
    map.insert("".into(), json!("empty key"));
    map
}

/// Equality that also tells `-0.0` from `0.0` and compares floats by bits.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        // `a` is what came back, `b` what was written: an integer must come back as the
        // same integer (not a float), a float with the same bits (sign of zero included).
        (Value::Number(x), Value::Number(y)) => {
            if y.is_u64() || y.is_i64() {
                x.is_u64() == y.is_u64() && x.is_i64() == y.is_i64() && x == y
            } else {
                match (x.as_f64(), y.as_f64()) {
                    (Some(x), Some(y)) if is_float(a) => x.to_bits() == y.to_bits(),
                    _ => false,
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// Whether a JSON number is a float (not an integer).
fn is_float(value: &Value) -> bool {
    value.as_number().is_some_and(|n| n.is_f64())
}

fn expect_same_map(got: &JsonMap, expected: &JsonMap, what: &str) -> Outcome {
    for (key, value) in expected {
        let found = got.get(key);
        ensure(found.is_some_and(|f| same_json(f, value)), || {
            let shown = |v: Option<&Value>| crate::check::abbreviate(&format!("{v:?}"));
            format!(
                "{what}: field {key:?}: expected {}, got {}",
                shown(Some(value)),
                shown(found)
            )
        })?;
    }
    ensure(got.len() == expected.len(), || {
        format!(
            "{what}: expected {} fields, got {}",
            expected.len(),
            got.len()
        )
    })
}

async fn json_extremes_round_trip(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let map = extremes();
    let mut token = AuthToken::new("extreme", "extreme-user", "extreme-access", HOUR);
    token.metadata = map.clone();
    s.store_token(&token)
        .await
        .check("store_token(extreme) with extreme metadata")?;
    let mut session = SessionData::new("extreme", "extreme-user", HOUR);
    session.data = map.clone();
    s.store_session("extreme", &session)
        .await
        .check("store_session(extreme) with extreme data")?;

    let got = s
        .get_token("extreme")
        .await
        .check("get_token(extreme)")?
        .ok_or_else(|| Failure::new("get_token(extreme): expected the token, got None"))?;
    expect_same_map(&got.metadata, &map, "get_token(extreme).metadata")?;
    let got = s
        .get_token_by_access_token("extreme-access")
        .await
        .check("get_token_by_access_token(extreme-access)")?
        .ok_or_else(|| {
            Failure::new("get_token_by_access_token(extreme-access): expected the token, got None")
        })?;
    expect_same_map(
        &got.metadata,
        &map,
        "get_token_by_access_token(extreme-access).metadata",
    )?;
    let listed = s
        .list_user_tokens("extreme-user")
        .await
        .check("list_user_tokens(extreme-user)")?;
    expect_eq(
        &listed.len(),
        &1,
        "list_user_tokens(extreme-user): number of tokens",
    )?;
    expect_same_map(
        &listed[0].metadata,
        &map,
        "list_user_tokens(extreme-user)[0].metadata",
    )?;
    let got = s
        .get_session("extreme")
        .await
        .check("get_session(extreme)")?
        .ok_or_else(|| Failure::new("get_session(extreme): expected the session, got None"))?;
    expect_same_map(&got.data, &map, "get_session(extreme).data")?;
    let listed = s
        .list_user_sessions("extreme-user")
        .await
        .check("list_user_sessions(extreme-user)")?;
    expect_eq(
        &listed.len(),
        &1,
        "list_user_sessions(extreme-user): number of sessions",
    )?;
    expect_same_map(
        &listed[0].data,
        &map,
        "list_user_sessions(extreme-user)[0].data",
    )
}
