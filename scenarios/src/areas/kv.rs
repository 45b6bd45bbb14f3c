//! Key-value entries: upsert, arbitrary bytes, absence, deletion, size limits (`KV-*`).

use authstore_spec::validate::MIN_VALUE_BYTES;
use authstore_spec::{Capabilities, Capability, ErrorKind};

use crate::check::{Check, Failure, Outcome, ensure, expect_bytes, expect_eq};
use crate::{Ctx, Scenario, scenario};

pub(crate) fn scenarios() -> Vec<Scenario> {
    let large = Capabilities::NONE.with(Capability::LargeValues);
    vec![
        scenario!(
            kv_upsert_last_write_wins,
            Kv,
            ["KV-1", "LST-3"],
            Capabilities::NONE,
            "re-storing a key replaces its value; the key is listed once",
            upsert_last_write_wins
        ),
        scenario!(
            kv_empty_value_reads_as_some_empty,
            Kv,
            ["KV-2", "KV-3"],
            Capabilities::NONE,
            "an empty value reads back as Some(empty), never as absent",
            empty_value_reads_as_some_empty
        ),
        scenario!(
            kv_absent_key_is_none,
            Kv,
            ["KV-3"],
            Capabilities::NONE,
            "get_kv of a key never stored, or of a sibling key, returns Ok(None)",
            absent_key_is_none
        ),
        scenario!(
            kv_every_byte_value_round_trips,
            Kv,
            ["KV-2"],
            Capabilities::NONE,
            "values that are not UTF-8 (all 256 byte values, NUL, 0xFF, broken sequences) round-trip",
            every_byte_value_round_trips
        ),
        scenario!(
            kv_one_mib_value_round_trips,
            Kv,
            ["KV-2"],
            large,
            "a value of exactly 1 MiB round-trips byte for byte, and so does 1 MiB + 1",
            one_mib_value_round_trips
        ),
        scenario!(
            kv_oversized_values_rejected_never_truncated,
            Kv,
            ["KV-5", "GEN-4"],
            large,
            "4 MiB and 16 MiB values round-trip exactly or are rejected with \
             InvalidInput/CapacityExceeded, leaving the previous value",
            oversized_values_rejected_never_truncated
        ),
        scenario!(
            kv_value_limit_is_exact,
            Kv,
            ["KV-5", "KV-6", "KV-2", "GEN-4"],
            large.with(Capability::ValueLimit),
            "a value of exactly the declared limit round-trips; one byte more is rejected with \
             InvalidInput/CapacityExceeded and leaves the previous value",
            value_limit_is_exact
        ),
        scenario!(
            kv_delete_removes_entry_and_listing,
            Kv,
            ["KV-4", "KV-3"],
            Capabilities::NONE,
            "delete_kv removes the value and its listing entry; deleting an absent key is Ok",
            delete_removes_entry_and_listing
        ),
        scenario!(
            kv_keys_round_trip_exactly,
            Kv,
            ["VAL-2", "KV-1"],
            Capabilities::NONE,
            "keys that differ only in case, spaces or Unicode composition are distinct, \
             and 512-byte keys round-trip",
            keys_round_trip_exactly
        ),
    ]
}

/// A deterministic, non-repeating-looking byte pattern of `len` bytes, seeded so two
/// values of the same length differ.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

async fn upsert_last_write_wins(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    for value in [&b"first"[..], b"second", b"third, longer than the others"] {
        s.store_kv("k", value, None).await.check("store_kv(k)")?;
        let got = s.get_kv("k").await.check("get_kv(k)")?;
        expect_bytes(got.as_deref(), Some(value), "get_kv(k) after store_kv(k)")?;
    }
    // A shorter value after a longer one must not keep the old tail.
    s.store_kv("k", b"x", None).await.check("store_kv(k, x)")?;
    let got = s.get_kv("k").await.check("get_kv(k)")?;
    expect_bytes(
        got.as_deref(),
        Some(b"x"),
        "get_kv(k) after a shorter value",
    )?;
    let keys = s.list_kv_keys("").await.check("list_kv_keys(\"\")")?;
    expect_eq(
        &keys,
        &vec!["k".to_string()],
        "list_kv_keys(\"\") after four upserts",
    )
}

async fn empty_value_reads_as_some_empty(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    s.store_kv("empty", b"", None)
        .await
        .check("store_kv(empty, [])")?;
    let got = s.get_kv("empty").await.check("get_kv(empty)")?;
    expect_eq(&got, &Some(Vec::new()), "get_kv(empty) of an empty value")?;
    // Emptying an existing value is a write too, not a delete.
    s.store_kv("was-full", b"full", None)
        .await
        .check("store_kv(was-full)")?;
    s.store_kv("was-full", b"", None)
        .await
        .check("store_kv(was-full, [])")?;
    let got = s.get_kv("was-full").await.check("get_kv(was-full)")?;
    expect_eq(
        &got,
        &Some(Vec::new()),
        "get_kv(was-full) after storing empty",
    )?;
    let keys = s.list_kv_keys("").await.check("list_kv_keys(\"\")")?;
    expect_eq(
        &keys,
        &vec!["empty".to_string(), "was-full".to_string()],
        "list_kv_keys(\"\") with two empty values",
    )
}

async fn absent_key_is_none(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let got = s
        .get_kv("never")
        .await
        .check("get_kv(never) on an empty store")?;
    expect_eq(&got, &None, "get_kv(never) on an empty store")?;
    s.store_kv("present", b"v", None)
        .await
        .check("store_kv(present)")?;
    for sibling in ["presen", "present ", "Present", "presentx"] {
        let got = s
            .get_kv(sibling)
            .await
            .check(&format!("get_kv({sibling:?})"))?;
        expect_eq(
            &got,
            &None,
            &format!("get_kv({sibling:?}) next to key \"present\""),
        )?;
    }
    Ok(())
}

async fn every_byte_value_round_trips(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let values: [(&str, Vec<u8>); 6] = [
        ("all-bytes", all),
        ("nul", vec![0]),
        ("ff", vec![0xFF]),
        ("nuls", vec![0; 64]),
        // A truncated UTF-8 sequence, a lone continuation byte and an overlong NUL.
        (
            "broken-utf8",
            vec![b'a', 0xE2, 0x82, b'b', 0x80, 0xC0, 0x80],
        ),
        ("trailing-nul", b"text\0".to_vec()),
    ];
    for (key, value) in &values {
        s.store_kv(key, value, None)
            .await
            .check(&format!("store_kv({key})"))?;
    }
    for (key, value) in &values {
        let got = s.get_kv(key).await.check(&format!("get_kv({key})"))?;
        expect_bytes(got.as_deref(), Some(value), &format!("get_kv({key})"))?;
    }
    Ok(())
}

async fn one_mib_value_round_trips(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    for (key, len, seed) in [
        ("one-mib", MIN_VALUE_BYTES, 0x5A),
        ("one-mib-plus-one", MIN_VALUE_BYTES + 1, 0xA5),
    ] {
        let value = pattern(len, seed);
        s.store_kv(key, &value, None)
            .await
            .check(&format!("store_kv({key}, {len} bytes)"))?;
        let got = s.get_kv(key).await.check(&format!("get_kv({key})"))?;
        expect_bytes(got.as_deref(), Some(&value), &format!("get_kv({key})"))?;
    }
    Ok(())
}

async fn oversized_values_rejected_never_truncated(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let previous = b"previous value".to_vec();
    for (mib, seed) in [(4usize, 0x11u8), (16, 0x22)] {
        let key = format!("big-{mib}");
        s.store_kv(&key, &previous, None)
            .await
            .check(&format!("store_kv({key}, small)"))?;
        let value = pattern(mib << 20, seed);
        let call = format!("store_kv({key}, {mib} MiB)");
        let (expected, what): (&[u8], _) = match s.store_kv(&key, &value, None).await {
            Ok(()) => (&value, format!("get_kv({key}) after an accepted {call}")),
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::InvalidInput | ErrorKind::CapacityExceeded
                ) =>
            {
                let what = format!("get_kv({key}) after a rejected {call} (the old value stays)");
                (&previous, what)
            }
            Err(err) => {
                return Err(Failure::new(format!(
                    "{call}: expected success, InvalidInput or CapacityExceeded, got error {:?}: {err}",
                    err.kind()
                )));
            }
        };
        let got = s.get_kv(&key).await.check(&format!("get_kv({key})"))?;
        expect_bytes(got.as_deref(), Some(expected), &what)?;
    }
    Ok(())
}

/// The largest declared limit the catalogue stores (two values of about that size are
/// held at once, here and in the backend).
const MAX_TESTED_LIMIT: u64 = 256 << 20;

async fn value_limit_is_exact(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let limit = ctx.kv_value_limit()?;
    ensure(limit <= MAX_TESTED_LIMIT, || {
        format!(
            "the declared value limit of {limit} bytes is more than this catalogue stores \
             ({MAX_TESTED_LIMIT} bytes); do not claim value-limit for it"
        )
    })?;
    let limit = limit as usize;
    let previous = b"previous value".to_vec();
    s.store_kv("lim/over", &previous, None)
        .await
        .check("store_kv(lim/over, small)")?;
    let over = pattern(limit + 1, 0x5c);
    let call = format!("store_kv(lim/over, limit + 1 = {} bytes)", limit + 1);
    match s.store_kv("lim/over", &over, None).await {
        Err(err)
            if matches!(
                err.kind(),
                ErrorKind::InvalidInput | ErrorKind::CapacityExceeded
            ) => {}
        Err(err) => {
            return Err(Failure::new(format!(
                "{call}: expected InvalidInput or CapacityExceeded (KV-5), got error {:?}: {err}",
                err.kind()
            )));
        }
        Ok(()) => {
            return Err(Failure::new(format!(
                "{call}: expected InvalidInput or CapacityExceeded (KV-5), got Ok: the \
                 declared limit is not enforced"
            )));
        }
    }
    drop(over);
    let got = s.get_kv("lim/over").await.check("get_kv(lim/over)")?;
    expect_bytes(
        got.as_deref(),
        Some(&previous),
        "get_kv(lim/over) after the rejected write (the old value stays)",
    )?;

    let at = pattern(limit, 0xa3);
    s.store_kv("lim/at", &at, None).await.check(&format!(
        "store_kv(lim/at, exactly the limit = {limit} bytes) (KV-6)"
    ))?;
    let got = s.get_kv("lim/at").await.check("get_kv(lim/at)")?;
    expect_bytes(
        got.as_deref(),
        Some(&at),
        "get_kv(lim/at) of a value of exactly the limit",
    )?;
    drop(got);
    let mut listed = s.list_kv_keys("lim/").await.check("list_kv_keys(lim/)")?;
    listed.sort();
    expect_eq(
        &listed,
        &vec!["lim/at".to_string(), "lim/over".to_string()],
        "list_kv_keys(lim/)",
    )?;
    s.delete_kv("lim/at").await.check("delete_kv(lim/at)")
}

async fn delete_removes_entry_and_listing(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    s.store_kv("gone", b"v", None)
        .await
        .check("store_kv(gone)")?;
    s.store_kv("kept", b"w", None)
        .await
        .check("store_kv(kept)")?;
    s.delete_kv("gone").await.check("delete_kv(gone)")?;
    let got = s.get_kv("gone").await.check("get_kv(gone)")?;
    expect_eq(&got, &None, "get_kv(gone) after delete_kv(gone)")?;
    let keys = s.list_kv_keys("").await.check("list_kv_keys(\"\")")?;
    expect_eq(
        &keys,
        &vec!["kept".to_string()],
        "list_kv_keys(\"\") after delete_kv(gone)",
    )?;
    let got = s.get_kv("kept").await.check("get_kv(kept)")?;
    expect_bytes(
        got.as_deref(),
        Some(b"w"),
        "get_kv(kept) after deleting another key",
    )?;
    s.delete_kv("gone")
        .await
        .check("delete_kv(gone) a second time")?;
    s.delete_kv("never-stored")
        .await
        .check("delete_kv(never-stored)")?;
    // A deleted key can be stored again.
    s.store_kv("gone", b"again", None)
        .await
        .check("store_kv(gone) after delete")?;
    let got = s.get_kv("gone").await.check("get_kv(gone)")?;
    expect_bytes(
        got.as_deref(),
        Some(b"again"),
        "get_kv(gone) after re-store",
    )
}

async fn keys_round_trip_exactly(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let long_ascii = "k".repeat(512);
    let long_two_byte = "é".repeat(256);
    let long_mixed = format!("{}{}", "中".repeat(170), "ab");
    let keys: Vec<String> = [
        "a",
        "A",
        " a ",
        "a ",
        " a",
        "caf\u{e9}",
        "cafe\u{301}",
        "\u{1F510}:key",
        "tab\there",
        "line\nbreak",
        "\u{1}",
        "ü/ü",
    ]
    .into_iter()
    .map(String::from)
    .chain([long_ascii, long_two_byte, long_mixed])
    .collect();
    for key in &keys {
        ensure(key.len() <= 512, || {
            format!("test key {key:?} is over 512 bytes")
        })?;
    }
    for (i, key) in keys.iter().enumerate() {
        s.store_kv(key, format!("value-{i}").as_bytes(), None)
            .await
            .check(&format!("store_kv({key:?})"))?;
    }
    for (i, key) in keys.iter().enumerate() {
        let got = s.get_kv(key).await.check(&format!("get_kv({key:?})"))?;
        let expected = format!("value-{i}");
        expect_bytes(
            got.as_deref(),
            Some(expected.as_bytes()),
            &format!("get_kv({key:?}) among keys differing only in case, spaces or composition"),
        )?;
    }
    let mut expected = keys.clone();
    expected.sort();
    let listed = s.list_kv_keys("").await.check("list_kv_keys(\"\")")?;
    expect_eq(
        &listed,
        &expected,
        "list_kv_keys(\"\") of keys stored verbatim",
    )
}
