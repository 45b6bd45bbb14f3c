//! `list_kv_keys`: literal, byte-wise prefixes, full keys, byte order (`LST-*`).

use std::time::Duration;

use authstore_spec::validate::MAX_KEY_BYTES;
use authstore_spec::{Capabilities, Capability, ErrorKind};

use crate::check::{Check, Outcome, expect_eq};
use crate::{Ctx, Scenario, scenario};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        scenario!(
            listing_returns_full_matching_keys_once,
            Listing,
            ["LST-1", "LST-3"],
            Capabilities::NONE,
            "only keys starting with the prefix are listed, in full, each once even after upserts",
            returns_full_matching_keys_once
        ),
        scenario!(
            listing_metacharacters_are_literal,
            Listing,
            ["LST-2"],
            Capabilities::NONE,
            "% _ * ? [ ] \\ ^ { } . $ ( ) | + ' \" in a prefix match only themselves",
            metacharacters_are_literal
        ),
        scenario!(
            listing_is_case_sensitive,
            Listing,
            ["LST-1"],
            Capabilities::NONE,
            "prefixes that differ only in case list different keys",
            is_case_sensitive
        ),
        scenario!(
            listing_is_in_byte_order,
            Listing,
            ["LST-4", "LST-5"],
            Capabilities::NONE,
            "keys come back in ascending UTF-8 byte order (not collation, not UTF-16 order)",
            is_in_byte_order
        ),
        scenario!(
            listing_empty_prefix_lists_every_key,
            Listing,
            ["LST-5"],
            Capabilities::NONE,
            "the empty prefix lists nothing on an empty store and every key otherwise",
            empty_prefix_lists_every_key
        ),
        scenario!(
            listing_whole_key_as_prefix,
            Listing,
            ["LST-1", "LST-3"],
            Capabilities::NONE,
            "a prefix equal to a whole key lists that key and longer ones, not shorter ones",
            whole_key_as_prefix
        ),
        scenario!(
            listing_unicode_prefix_matches_bytes,
            Listing,
            ["LST-6"],
            Capabilities::NONE,
            "é (U+00E9) does not match e + U+0301, E or e, and the reverse",
            unicode_prefix_matches_bytes
        ),
        scenario!(
            listing_excludes_deleted_keys,
            Listing,
            ["LST-1", "KV-4"],
            Capabilities::NONE,
            "deleted keys are not listed; re-stored ones are, once",
            excludes_deleted_keys
        ),
        scenario!(
            listing_excludes_expired_keys,
            Listing,
            ["LST-1", "TIME-2"],
            Capabilities::NONE.with(Capability::Expiry),
            "keys stored or re-stored with a zero TTL are not listed, with no cleanup run",
            excludes_expired_keys
        ),
        scenario!(
            listing_prefix_limits,
            Listing,
            ["LST-8", "ERR-1"],
            Capabilities::NONE,
            "a 512-byte prefix is accepted; 513 bytes or a NUL is InvalidInput",
            prefix_limits
        ),
    ]
}

/// Stores every key with a value derived from its index.
async fn store_all(ctx: &Ctx, keys: &[String]) -> Outcome {
    for (i, key) in keys.iter().enumerate() {
        ctx.storage()
            .store_kv(key, format!("v{i}").as_bytes(), None)
            .await
            .check(&format!("store_kv({key:?})"))?;
    }
    Ok(())
}

/// Checks `list_kv_keys(prefix)` against `expected` in ascending byte order.
async fn expect_listing(ctx: &Ctx, prefix: &str, expected: &[&str], context: &str) -> Outcome {
    let listed = ctx
        .storage()
        .list_kv_keys(prefix)
        .await
        .check(&format!("list_kv_keys({prefix:?})"))?;
    let mut expected: Vec<String> = expected.iter().map(|k| k.to_string()).collect();
    expected.sort();
    expect_eq(
        &listed,
        &expected,
        &format!("list_kv_keys({prefix:?}) {context}"),
    )
}

fn owned(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

async fn returns_full_matching_keys_once(ctx: Ctx) -> Outcome {
    let keys = owned(&[
        "app:1",
        "app:2",
        "apple",
        "application:x",
        "ap",
        "b:app:1",
        "APP:3",
    ]);
    store_all(&ctx, &keys).await?;
    // Upserts must not duplicate a key in the listing.
    store_all(&ctx, &keys).await?;
    expect_listing(&ctx, "app:", &["app:1", "app:2"], "").await?;
    expect_listing(
        &ctx,
        "app",
        &["app:1", "app:2", "apple", "application:x"],
        "",
    )
    .await?;
    expect_listing(&ctx, "b:", &["b:app:1"], "").await?;
    expect_listing(&ctx, "zzz", &[], "with no matching key").await
}

/// Characters that are wildcards, escapes or quotes in SQL `LIKE`, `GLOB`, regular
/// expressions, Redis `MATCH` patterns and string literals.
const METACHARACTERS: &[char] = &[
    '%', '_', '*', '?', '[', ']', '\\', '^', '{', '}', '.', '$', '(', ')', '|', '+', '\'', '"',
    '-', '!', '#', '~', '/', ':',
];

async fn metacharacters_are_literal(ctx: Ctx) -> Outcome {
    // For each metacharacter c: "a{c}b" and "{c}k". Together with "axb", "ab", "a" and
    // "a\\%b", every wildcard reading of a prefix would list more than one key.
    let mut keys = owned(&["axb", "ab", "a", "abc", "a\\%b", "xk", "k"]);
    for c in METACHARACTERS {
        keys.push(format!("a{c}b"));
        keys.push(format!("{c}k"));
    }
    store_all(&ctx, &keys).await?;
    for c in METACHARACTERS {
        let with_a = format!("a{c}");
        let expected_a = if *c == '\\' {
            vec![format!("a{c}b"), "a\\%b".to_string()]
        } else {
            vec![format!("a{c}b")]
        };
        let expected_a: Vec<&str> = expected_a.iter().map(String::as_str).collect();
        expect_listing(
            &ctx,
            &with_a,
            &expected_a,
            "(metacharacter must be literal)",
        )
        .await?;
        let alone = c.to_string();
        let expected_alone = format!("{c}k");
        expect_listing(
            &ctx,
            &alone,
            &[expected_alone.as_str()],
            "(metacharacter must be literal)",
        )
        .await?;
    }
    // Combinations that are complete patterns in some dialect.
    expect_listing(&ctx, "a%b", &["a%b"], "(LIKE pattern)").await?;
    expect_listing(&ctx, "a_b", &["a_b"], "(LIKE pattern)").await?;
    expect_listing(&ctx, "a\\%", &["a\\%b"], "(escaped LIKE pattern)").await?;
    expect_listing(&ctx, "a[x]", &[], "(GLOB class)").await?;
    expect_listing(&ctx, ".*", &[], "(regex)").await?;
    expect_listing(&ctx, "*", &["*k"], "(Redis MATCH wildcard)").await
}

async fn is_case_sensitive(ctx: Ctx) -> Outcome {
    store_all(
        &ctx,
        &owned(&["User:1", "user:2", "USER:3", "uSeR:4", "ÄBC", "äbc"]),
    )
    .await?;
    expect_listing(&ctx, "user", &["user:2"], "(case-sensitive)").await?;
    expect_listing(&ctx, "User", &["User:1"], "(case-sensitive)").await?;
    expect_listing(&ctx, "USER", &["USER:3"], "(case-sensitive)").await?;
    expect_listing(&ctx, "ä", &["äbc"], "(case-sensitive, non-ASCII)").await?;
    expect_listing(&ctx, "Ä", &["ÄBC"], "(case-sensitive, non-ASCII)").await
}

async fn is_in_byte_order(ctx: Ctx) -> Outcome {
    // Stored in an order that is neither sorted nor reverse-sorted.
    let keys = owned(&[
        "a\u{7f}",
        "\u{1F600}",
        "Z",
        "a",
        "\u{FF61}",
        "é",
        "\u{1}",
        "aa",
        "中",
        "A",
        "a b",
        "~",
        "a\u{80}",
        "e\u{301}",
        "B",
        "0",
        "\u{FFFF}",
        "\u{10000}",
        "b",
    ]);
    store_all(&ctx, &keys).await?;
    // Rust sorts `String` by its UTF-8 bytes: exactly LST-4's order. Spelled out, the
    // tricky pairs: "A" < "B" < "Z" < "a" (no case folding); "a" < "a b" < "aa" <
    // "a\x7f" < "a\u{80}"; "\u{FF61}" < "\u{FFFF}" < "\u{10000}" < "\u{1F600}" (UTF-16
    // would put the last two first).
    let mut expected = keys.clone();
    expected.sort();
    let listed = ctx
        .storage()
        .list_kv_keys("")
        .await
        .check("list_kv_keys(\"\")")?;
    expect_eq(
        &listed,
        &expected,
        "list_kv_keys(\"\") in ascending UTF-8 byte order",
    )?;
    expect_listing(
        &ctx,
        "a",
        &["a", "a b", "aa", "a\u{7f}", "a\u{80}"],
        "in byte order",
    )
    .await
}

async fn empty_prefix_lists_every_key(ctx: Ctx) -> Outcome {
    expect_listing(&ctx, "", &[], "on an empty store").await?;
    let keys = owned(&["one", "two", "%", "_", " ", "\u{1}", "ü", "x/y/z"]);
    store_all(&ctx, &keys).await?;
    let all: Vec<&str> = keys.iter().map(String::as_str).collect();
    expect_listing(&ctx, "", &all, "after storing eight keys").await
}

async fn whole_key_as_prefix(ctx: Ctx) -> Outcome {
    store_all(&ctx, &owned(&["ab", "abc", "abcd", "abd", "abc "])).await?;
    expect_listing(
        &ctx,
        "abc",
        &["abc", "abc ", "abcd"],
        "(prefix equal to a key)",
    )
    .await?;
    expect_listing(&ctx, "abcd", &["abcd"], "(prefix equal to the longest key)").await?;
    expect_listing(&ctx, "abcde", &[], "(prefix longer than every key)").await
}

async fn unicode_prefix_matches_bytes(ctx: Ctx) -> Outcome {
    let nfc = "\u{e9}-nfc";
    let nfd = "e\u{301}-nfd";
    store_all(
        &ctx,
        &owned(&[nfc, nfd, "e-plain", "E-upper", "\u{c9}-upper"]),
    )
    .await?;
    expect_listing(
        &ctx,
        "\u{e9}",
        &[nfc],
        "(é must not match e+U+0301, e or E)",
    )
    .await?;
    expect_listing(&ctx, "e\u{301}", &[nfd], "(e+U+0301 must not match é)").await?;
    expect_listing(&ctx, "e", &[nfd, "e-plain"], "(e matches by bytes)").await?;
    expect_listing(&ctx, "\u{c9}", &["\u{c9}-upper"], "(É must not match é)").await
}

async fn excludes_deleted_keys(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    store_all(&ctx, &owned(&["d:1", "d:2", "d:3"])).await?;
    s.delete_kv("d:2").await.check("delete_kv(d:2)")?;
    expect_listing(&ctx, "d:", &["d:1", "d:3"], "after delete_kv(d:2)").await?;
    s.delete_kv("d:1").await.check("delete_kv(d:1)")?;
    s.delete_kv("d:3").await.check("delete_kv(d:3)")?;
    expect_listing(&ctx, "d:", &[], "after deleting every key").await?;
    s.store_kv("d:2", b"again", None)
        .await
        .check("store_kv(d:2) after delete")?;
    s.store_kv("d:2", b"again and again", None)
        .await
        .check("store_kv(d:2) twice")?;
    expect_listing(&ctx, "d:", &["d:2"], "after re-storing d:2 twice").await
}

async fn excludes_expired_keys(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    store_all(&ctx, &owned(&["e:live", "e:replaced"])).await?;
    s.store_kv("e:replaced", b"x", Some(Duration::ZERO))
        .await
        .check("store_kv(e:replaced, ttl 0)")?;
    s.store_kv("e:fresh", b"x", Some(Duration::ZERO))
        .await
        .check("store_kv(e:fresh, ttl 0)")?;
    expect_listing(&ctx, "e:", &["e:live"], "with two zero-TTL keys").await?;
    expect_listing(&ctx, "", &["e:live"], "with two zero-TTL keys").await
}

async fn prefix_limits(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let longest = "p".repeat(MAX_KEY_BYTES);
    let longest_two_byte = "é".repeat(MAX_KEY_BYTES / 2);
    store_all(&ctx, &[longest.clone(), longest_two_byte.clone()]).await?;
    expect_listing(&ctx, &longest, &[longest.as_str()], "(512-byte prefix)").await?;
    expect_listing(
        &ctx,
        &longest_two_byte,
        &[longest_two_byte.as_str()],
        "(512-byte prefix of 256 two-byte characters)",
    )
    .await?;
    let too_long = "p".repeat(MAX_KEY_BYTES + 1);
    let too_long_two_byte = format!("{longest_two_byte}a");
    let bad = [
        ("513 bytes", too_long),
        (
            "513 bytes, 256 of them two-byte characters",
            too_long_two_byte,
        ),
        ("a NUL", "p\0".to_string()),
        ("only a NUL", "\0".to_string()),
    ];
    for (what, prefix) in bad {
        s.list_kv_keys(&prefix).await.check_err(
            ErrorKind::InvalidInput,
            &format!("list_kv_keys(prefix with {what})"),
        )?;
    }
    Ok(())
}
