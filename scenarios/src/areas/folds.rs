//! Texts that a case fold, a compatibility normalisation, a collation or a PAD SPACE
//! comparison would make equal are distinct everywhere: token, session and user ids,
//! access tokens, kv keys and prefixes (`VAL-1`, `VAL-2`, `ACC-6`, `LST-6`).
//!
//! Each pair below is two different byte strings: K and U+212A KELVIN SIGN, `ss` and `ß`,
//! `fi` and the ligature U+FB01, `i` and dotless U+0131, `A` and fullwidth U+FF21, NFC
//! and NFD `é`, a word with and without a trailing space, `STRASSE` and `Straße`, `I`
//! and dotted U+0130.

use std::collections::BTreeSet;
use std::time::Duration;

use authstore_spec::{AuthStorage, AuthToken, Capabilities, SessionData};

use crate::check::{Check, Outcome, expect_eq};
use crate::{Ctx, Scenario, scenario};

const HOUR: Duration = Duration::from_secs(3600);

/// Pairs that some normalisation or comparison folds together.
const PAIRS: [(&str, &str); 9] = [
    ("K", "\u{212A}"),
    ("ss", "\u{DF}"),
    ("fi", "\u{FB01}"),
    ("i", "\u{131}"),
    ("A", "\u{FF21}"),
    ("\u{E9}", "e\u{301}"),
    ("pad", "pad "),
    ("STRASSE", "Stra\u{DF}e"),
    ("I", "\u{130}"),
];

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![scenario!(
        namespaces_folded_texts_stay_distinct,
        Namespaces,
        ["VAL-1", "VAL-2", "ACC-6", "LST-1", "LST-6", "NS-3", "CNT-1"],
        Capabilities::NONE,
        "ids, user ids, access tokens, keys and prefixes that differ only by case or \
             compatibility folding (K/KELVIN SIGN, ss/ß, fi/ﬁ, i/ı, A/Ａ), NFC/NFD or a \
             trailing space name different items in every read, list and count",
        folded_texts_stay_distinct
    )]
}

/// The texts of both sides of every pair, for one item kind.
fn texts() -> Vec<&'static str> {
    PAIRS.iter().flat_map(|(a, b)| [*a, *b]).collect()
}

async fn folded_texts_stay_distinct(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let all = texts();
    for t in &all {
        let token = AuthToken::new(
            format!("ft-{t}"),
            format!("fu-{t}"),
            format!("fa-{t}"),
            HOUR,
        )
        .with_metadata("text", serde_json::json!(t));
        s.store_token(&token)
            .await
            .check(&format!("store_token(ft-{t:?})"))?;
        let data = SessionData::new(format!("fs-{t}"), format!("fu-{t}"), HOUR)
            .with_data("text", serde_json::json!(t));
        s.store_session(&data.session_id, &data)
            .await
            .check(&format!("store_session(fs-{t:?})"))?;
        s.store_kv(&format!("fk-{t}"), t.as_bytes(), None)
            .await
            .check(&format!("store_kv(fk-{t:?})"))?;
    }
    check_all(s, &all, &all, "after storing both sides of every pair").await?;
    // Deleting one side of every pair leaves the other side whole.
    let kept: Vec<&str> = PAIRS.iter().map(|(_, b)| *b).collect();
    for (a, _) in PAIRS {
        s.delete_token(&format!("ft-{a}"))
            .await
            .check(&format!("delete_token(ft-{a:?})"))?;
        s.delete_session(&format!("fs-{a}"))
            .await
            .check(&format!("delete_session(fs-{a:?})"))?;
        s.delete_kv(&format!("fk-{a}"))
            .await
            .check(&format!("delete_kv(fk-{a:?})"))?;
    }
    check_all(
        s,
        &all,
        &kept,
        "after deleting the first side of every pair",
    )
    .await
}

/// Checks every read of every text in `all`: those in `live` find exactly their own
/// item, the others nothing; listings by each text as a prefix return exactly the live
/// keys that start with its bytes; the count is the number of live sessions.
async fn check_all(s: &dyn AuthStorage, all: &[&str], live: &[&str], step: &str) -> Outcome {
    let live_set: BTreeSet<&str> = live.iter().copied().collect();
    for t in all {
        let is_live = live_set.contains(t);
        let got = s
            .get_token(&format!("ft-{t}"))
            .await
            .check(&format!("get_token(ft-{t:?})"))?;
        expect_eq(
            &got.as_ref().map(|t| t.user_id.as_str()),
            &is_live.then(|| format!("fu-{t}")).as_deref(),
            &format!("get_token(ft-{t:?}) {step}: the user of the token found"),
        )?;
        let got = s
            .get_token_by_access_token(&format!("fa-{t}"))
            .await
            .check(&format!("get_token_by_access_token(fa-{t:?})"))?;
        expect_eq(
            &got.as_ref().map(|t| t.token_id.as_str()),
            &is_live.then(|| format!("ft-{t}")).as_deref(),
            &format!("get_token_by_access_token(fa-{t:?}) {step}: the token found"),
        )?;
        let listed = s
            .list_user_tokens(&format!("fu-{t}"))
            .await
            .check(&format!("list_user_tokens(fu-{t:?})"))?;
        let ids: Vec<&str> = listed.iter().map(|t| t.token_id.as_str()).collect();
        let expected_id = format!("ft-{t}");
        let expected: Vec<&str> = if is_live { vec![&expected_id] } else { vec![] };
        expect_eq(
            &ids,
            &expected,
            &format!("list_user_tokens(fu-{t:?}) {step}"),
        )?;
        let got = s
            .get_session(&format!("fs-{t}"))
            .await
            .check(&format!("get_session(fs-{t:?})"))?;
        expect_eq(
            &got.as_ref().map(|d| d.user_id.as_str()),
            &is_live.then(|| format!("fu-{t}")).as_deref(),
            &format!("get_session(fs-{t:?}) {step}: the user of the session found"),
        )?;
        let listed = s
            .list_user_sessions(&format!("fu-{t}"))
            .await
            .check(&format!("list_user_sessions(fu-{t:?})"))?;
        let ids: Vec<&str> = listed.iter().map(|d| d.session_id.as_str()).collect();
        let expected_id = format!("fs-{t}");
        let expected: Vec<&str> = if is_live { vec![&expected_id] } else { vec![] };
        expect_eq(
            &ids,
            &expected,
            &format!("list_user_sessions(fu-{t:?}) {step}"),
        )?;
        let got = s
            .get_kv(&format!("fk-{t}"))
            .await
            .check(&format!("get_kv(fk-{t:?})"))?;
        expect_eq(
            &got.as_deref(),
            &is_live.then_some(t.as_bytes()),
            &format!("get_kv(fk-{t:?}) {step}"),
        )?;
        let prefix = format!("fk-{t}");
        let listed = s
            .list_kv_keys(&prefix)
            .await
            .check(&format!("list_kv_keys({prefix:?})"))?;
        let mut expected: Vec<String> = live
            .iter()
            .map(|l| format!("fk-{l}"))
            .filter(|k| k.as_bytes().starts_with(prefix.as_bytes()))
            .collect();
        expected.sort();
        expect_eq(
            &listed,
            &expected,
            &format!("list_kv_keys({prefix:?}) {step}"),
        )?;
    }
    let count = s
        .count_active_sessions()
        .await
        .check("count_active_sessions()")?;
    expect_eq(
        &count,
        &(live.len() as u64),
        &format!("count_active_sessions() {step}"),
    )
}
