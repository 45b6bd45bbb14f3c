//! Memory per item of the in-process backends (issue 15 item 5): the bytes a store keeps
//! per token, session and kv entry once it holds `N` of them (1M by default), against
//! the item's serialized size, with the raw `DashMap` measured the same way.
//!
//! Each (store, item kind) runs in a child process of its own, so what one case freed
//! cannot be reused by the next and inflate neither figure:
//! - **heap**: live bytes requested from the allocator (counted by a wrapping global
//!   allocator, `stats_alloc`) after filling, minus before, over `N`. Exact, single
//!   threaded; excludes the allocator's own headers and rounding.
//! - **rss**: growth of the process's resident memory over the same fill, over `N`:
//!   what the machine pays, allocator overhead and free lists included.
//! - **serialized**: a token's or session's `serde_json` encoding (its id included), a
//!   kv entry's key plus value bytes (JSON would spell the bytes as numbers).
//!
//! `cargo bench -p authstore-bench --bench memory_per_item` (a few minutes at 1M);
//! `AUTHSTORE_MEMORY_ITEMS=10000` for a short run. Prints a Markdown table and writes
//! `memory-per-item.json` to criterion's directory (next to the matrix's results).

use std::alloc::System;
use std::process::Command;
use std::sync::Arc;

use authstore_backends::{
    EncryptedStorage, EncryptionKey, MemoryStorage, UnifiedStorage, UnifiedStorageConfig,
};
use authstore_bench::dataset::{TTL, kv_key, kv_value, session, session_id, token, token_id};
use authstore_bench::manifest;
use authstore_spec::{AuthStorage, AuthToken, SessionData};
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Items per case unless `AUTHSTORE_MEMORY_ITEMS` says otherwise.
const DEFAULT_ITEMS: usize = 1_000_000;
/// Set in a child process: the case it measures, `<store>/<kind>`.
const CASE_VAR: &str = "AUTHSTORE_MEMORY_CASE";
const ITEMS_VAR: &str = "AUTHSTORE_MEMORY_ITEMS";

const STORES: [&str; 4] = ["raw-dashmap", "memory", "unified", "encrypted-memory"];
const KINDS: [&str; 3] = ["token", "session", "kv"];

/// One case's result, as a child prints it and the JSON file keeps it.
#[derive(Debug, Serialize, Deserialize)]
struct Measured {
    store: String,
    kind: String,
    items: usize,
    heap_bytes_per_item: f64,
    rss_bytes_per_item: f64,
    serialized_bytes_per_item: f64,
    allocations_per_item: f64,
}

fn main() {
    // Criterion-style flags (`--bench`, `--test`) are accepted and ignored, except that
    // `--test` (as in `cargo bench -- --test`) runs a small case to check it works.
    let test_mode = std::env::args().any(|a| a == "--test");
    let items = match std::env::var(ITEMS_VAR) {
        Ok(n) => n.parse().unwrap_or_else(|_| {
            eprintln!("memory_per_item: {ITEMS_VAR}={n:?} is not a number");
            std::process::exit(2);
        }),
        Err(_) if test_mode => 1_000,
        Err(_) => DEFAULT_ITEMS,
    };
    if let Ok(case) = std::env::var(CASE_VAR) {
        let (store, kind) = case.split_once('/').expect("case is <store>/<kind>");
        let measured = measure(store, kind, items);
        println!(
            "{}",
            serde_json::to_string(&measured).expect("serializable")
        );
        return;
    }
    let exe = std::env::current_exe().expect("own executable");
    let mut results = Vec::new();
    for kind in KINDS {
        for store in STORES {
            let out = Command::new(&exe)
                .env(CASE_VAR, format!("{store}/{kind}"))
                .env(ITEMS_VAR, items.to_string())
                .output()
                .expect("runs itself");
            assert!(
                out.status.success(),
                "{store}/{kind} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let line = String::from_utf8_lossy(&out.stdout);
            let measured: Measured = serde_json::from_str(line.trim())
                .unwrap_or_else(|e| panic!("{store}/{kind} printed {line:?}: {e}"));
            results.push(measured);
        }
    }
    print_table(&results);
    if !test_mode {
        let target = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.ancestors().nth(3).map(ToOwned::to_owned))
            .unwrap_or_else(|| "target".into());
        let dir = manifest::criterion_dir(&target);
        let path = dir.join("memory-per-item.json");
        let written = std::fs::create_dir_all(&dir).and_then(|()| {
            std::fs::write(
                &path,
                serde_json::to_vec_pretty(&results).expect("serializable"),
            )
        });
        match written {
            Ok(()) => println!("memory_per_item: written to {}", path.display()),
            Err(err) => eprintln!("memory_per_item: cannot write {}: {err}", path.display()),
        }
    }
}

fn print_table(results: &[Measured]) {
    println!(
        "| Store | Item | Items | Heap B/item | RSS B/item | Serialized B/item | Heap / serialized | RSS / serialized | Allocations/item |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for m in results {
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.2}x | {:.2}x | {:.1} |",
            m.store,
            m.kind,
            m.items,
            m.heap_bytes_per_item,
            m.rss_bytes_per_item,
            m.serialized_bytes_per_item,
            m.heap_bytes_per_item / m.serialized_bytes_per_item,
            m.rss_bytes_per_item / m.serialized_bytes_per_item,
            m.allocations_per_item,
        );
    }
}

/// A store under measurement: a backend, or the raw `DashMap` holding the items as the
/// matrix's baseline does.
enum Store {
    Backend(Arc<dyn AuthStorage>),
    RawTokens(DashMap<String, AuthToken>),
    RawSessions(DashMap<String, SessionData>),
    RawKv(DashMap<String, Vec<u8>>),
}

fn open(store: &str, kind: &str) -> Store {
    match (store, kind) {
        ("raw-dashmap", "token") => Store::RawTokens(DashMap::new()),
        ("raw-dashmap", "session") => Store::RawSessions(DashMap::new()),
        ("raw-dashmap", _) => Store::RawKv(DashMap::new()),
        ("memory", _) => Store::Backend(Arc::new(MemoryStorage::new())),
        ("unified", _) => Store::Backend(Arc::new(UnifiedStorage::with_config(
            UnifiedStorageConfig {
                max_memory: usize::MAX,
                ..UnifiedStorageConfig::default()
            },
        ))),
        ("encrypted-memory", _) => {
            let key = EncryptionKey::generate(1).expect("a key");
            Store::Backend(Arc::new(EncryptedStorage::new(MemoryStorage::new(), key)))
        }
        other => panic!("unknown case {other:?}"),
    }
}

/// Puts item `i` of `kind` into `store`.
async fn put(store: &Store, kind: &str, i: usize) {
    match (store, kind) {
        (Store::RawTokens(map), _) => drop(map.insert(token_id(i), token(i))),
        (Store::RawSessions(map), _) => drop(map.insert(session_id(i), session(i))),
        (Store::RawKv(map), _) => drop(map.insert(kv_key(i), kv_value(i))),
        (Store::Backend(s), "token") => s.store_token(&token(i)).await.expect("store_token"),
        (Store::Backend(s), "session") => s
            .store_session(&session_id(i), &session(i))
            .await
            .expect("store_session"),
        (Store::Backend(s), _) => s
            .store_kv(&kv_key(i), &kv_value(i), Some(TTL))
            .await
            .expect("store_kv"),
    }
}

/// The serialized size of item `i` of `kind` (see the module docs).
fn serialized_len(kind: &str, i: usize) -> usize {
    match kind {
        "token" => serde_json::to_vec(&token(i)).expect("json").len(),
        "session" => serde_json::to_vec(&session(i)).expect("json").len(),
        _ => kv_key(i).len() + kv_value(i).len(),
    }
}

/// Resident memory of this process, in bytes (Linux `/proc/self/statm`; 0 elsewhere).
fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Fills a fresh `store` with `items` items of `kind` on a current-thread runtime (so the
/// counting sees only this work) and measures what it retains.
fn measure(store: &str, kind: &str, items: usize) -> Measured {
    assert!(KINDS.contains(&kind), "unknown item kind {kind:?}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let rss_before = rss_bytes();
    let region = Region::new(GLOBAL);
    let opened = rt.block_on(async {
        let opened = open(store, kind);
        for i in 0..items {
            put(&opened, kind, i).await;
        }
        opened
    });
    let change = region.change();
    let rss_after = rss_bytes();
    let live = change.bytes_allocated as f64 - change.bytes_deallocated as f64
        + change.bytes_reallocated as f64;
    let live_allocations = change.allocations as f64 - change.deallocations as f64;
    let serialized: usize = (0..items).map(|i| serialized_len(kind, i)).sum();
    drop(opened);
    let n = items as f64;
    Measured {
        store: store.to_owned(),
        kind: kind.to_owned(),
        items,
        heap_bytes_per_item: live / n,
        rss_bytes_per_item: rss_after.saturating_sub(rss_before) as f64 / n,
        serialized_bytes_per_item: serialized as f64 / n,
        allocations_per_item: live_allocations / n,
    }
}
