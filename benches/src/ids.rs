//! Benchmark ids, shared by the benchmarks (which emit them) and the report (which
//! pivots them): `<operation>/<backend>/<dataset>/c<concurrency>`.

use std::fmt;

/// The 16 `AuthStorage` methods, in the order the report lists them (the trait's).
pub const OPERATIONS: [&str; 16] = authstore_spec::METHOD_NAMES;

/// The order the benchmarks run the operations in on one filled store: reads first (the
/// tiered cache stays warm for them, and no write has yet disturbed the dataset), then
/// writes, then deletes.
pub const RUN_ORDER: [&str; 16] = [
    "get_token",
    "get_token_by_access_token",
    "get_session",
    "get_kv",
    "list_user_tokens",
    "list_user_sessions",
    "list_kv_keys",
    "count_active_sessions",
    "cleanup_expired",
    "store_token",
    "update_token",
    "store_session",
    "store_kv",
    "delete_token",
    "delete_session",
    "delete_kv",
];

/// The measured backends, in report order.
pub const BACKENDS: [&str; 8] = [
    "memory",
    "unified",
    "encrypted-memory",
    "postgres",
    "mysql",
    "redis",
    "redis-cluster",
    "tiered",
];

/// The single-item writes: one item stored, replaced or removed per call.
pub const WRITES: [&str; 7] = [
    "store_token",
    "update_token",
    "delete_token",
    "store_session",
    "delete_session",
    "store_kv",
    "delete_kv",
];

/// Backends that run in this process (they also get the 1M dataset).
pub const IN_PROCESS: [&str; 3] = ["memory", "unified", "encrypted-memory"];

/// The raw-engine baseline operations: a point read or an upsert of a kv-shaped value
/// (the kv value's bytes) or of a record (a token: its JSON bytes on servers, the struct
/// itself in a `DashMap`).
pub const BASELINE_OPERATIONS: [&str; 4] = [
    "engine_read_kv",
    "engine_write_kv",
    "engine_read_record",
    "engine_write_record",
];

/// The raw engines, named as backends in baseline ids: `raw-*` drive a server with the
/// backend's own client library, `best-*` with the fastest client measured for it (see
/// [`best_baseline_for`]).
pub const ENGINES: [&str; 7] = [
    "raw-dashmap",
    "raw-postgres",
    "best-postgres",
    "raw-mysql",
    "best-mysql",
    "raw-redis",
    "best-redis",
];

/// Concurrency levels of every benchmark: calls in flight per iteration.
pub const CONCURRENCIES: [u64; 2] = [1, 16];

/// The scale-out level (issue 15 item 6): server backends and their engines also run
/// with 64 calls in flight in full mode (see [`crate::mode::Mode::concurrencies`]).
pub const SCALE_OUT: u64 = 64;

/// One benchmark's coordinates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BenchId {
    /// A trait method or a baseline operation.
    pub operation: String,
    /// A backend or a raw engine.
    pub backend: String,
    /// Records in the store.
    pub dataset: u64,
    /// Calls in flight per iteration.
    pub concurrency: u64,
}

impl BenchId {
    /// The id criterion sees: the group is the operation, the function the rest.
    pub fn function_id(&self) -> String {
        format!(
            "{}/{}/c{}",
            self.backend,
            dataset_label(self.dataset),
            self.concurrency
        )
    }

    /// Parses `<operation>/<backend>/<dataset>/c<concurrency>`; `None` for any other shape.
    pub fn parse(id: &str) -> Option<Self> {
        let mut parts = id.split('/');
        let (operation, backend, dataset, concurrency) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || operation.is_empty() || backend.is_empty() {
            return None;
        }
        Some(Self {
            operation: operation.to_owned(),
            backend: backend.to_owned(),
            dataset: parse_dataset_label(dataset)?,
            concurrency: concurrency.strip_prefix('c')?.parse().ok()?,
        })
    }
}

impl fmt::Display for BenchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.operation, self.function_id())
    }
}

/// `1k`, `100k`, `1M`; other sizes as plain numbers.
pub fn dataset_label(records: u64) -> String {
    match records {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// The inverse of [`dataset_label`].
pub fn parse_dataset_label(label: &str) -> Option<u64> {
    if let Some(n) = label.strip_suffix('M') {
        n.parse::<u64>().ok()?.checked_mul(1_000_000)
    } else if let Some(n) = label.strip_suffix('k') {
        n.parse::<u64>().ok()?.checked_mul(1_000)
    } else {
        label.parse().ok()
    }
}

/// The raw-engine baseline an operation of a backend is compared with:
/// `(engine, baseline operation)`. Point reads pair with a primary-key read, point
/// writes and deletes with an upsert; listings, counting and cleanup have no baseline.
/// Tiered reads pair with Redis (they are cache hits once warm), its writes with
/// PostgreSQL (the source of truth, written first).
pub fn baseline_for(backend: &str, operation: &str) -> Option<(&'static str, &'static str)> {
    let (read, baseline_op) = match operation {
        "get_kv" => (true, "engine_read_kv"),
        "store_kv" | "delete_kv" => (false, "engine_write_kv"),
        "get_token" | "get_token_by_access_token" | "get_session" => (true, "engine_read_record"),
        "store_token" | "update_token" | "delete_token" | "store_session" | "delete_session" => {
            (false, "engine_write_record")
        }
        _ => return None,
    };
    let engine = match backend {
        "memory" | "unified" | "encrypted-memory" => "raw-dashmap",
        "postgres" => "raw-postgres",
        "mysql" => "raw-mysql",
        "redis" | "redis-cluster" => "raw-redis",
        "tiered" if read => "raw-redis",
        "tiered" => "raw-postgres",
        _ => return None,
    };
    Some((engine, baseline_op))
}

/// The best-client baseline an operation of a backend is compared with: the same
/// baseline operation as [`baseline_for`]'s, on the engine driven by the fastest client
/// (tokio-postgres prepared on one connection; a plain multiplexed redis-rs connection;
/// for MySQL see `setup::engine`). The `DashMap` is its own limit.
pub fn best_baseline_for(backend: &str, operation: &str) -> Option<(&'static str, &'static str)> {
    let (engine, baseline_op) = baseline_for(backend, operation)?;
    let best = match engine {
        "raw-postgres" => "best-postgres",
        "raw-mysql" => "best-mysql",
        "raw-redis" => "best-redis",
        other => other,
    };
    Some((best, baseline_op))
}

/// Whether the operation reads or writes one item (the "single-item operation").
pub fn is_point_operation(operation: &str) -> bool {
    baseline_for("memory", operation).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for id in [
            "get_kv/memory/1k/c1",
            "list_kv_keys/redis-cluster/100k/c16",
            "engine_read_kv/raw-dashmap/1M/c1",
        ] {
            assert_eq!(BenchId::parse(id).unwrap().to_string(), id);
        }
        let id = BenchId::parse("get_kv/unified/1M/c16").unwrap();
        assert_eq!((id.dataset, id.concurrency), (1_000_000, 16));
    }

    #[test]
    fn other_shapes_are_rejected() {
        for id in [
            "get_kv/memory/1k",
            "get_kv/memory/1k/16",
            "get_kv/memory/lots/c1",
            "a/b/1k/c1/x",
            "/memory/1k/c1",
        ] {
            assert_eq!(BenchId::parse(id), None, "{id}");
        }
    }

    #[test]
    fn every_point_operation_of_every_backend_has_a_baseline() {
        for backend in BACKENDS {
            let paired = OPERATIONS
                .iter()
                .filter(|op| baseline_for(backend, op).is_some())
                .count();
            assert_eq!(paired, 11, "{backend}");
        }
        assert_eq!(
            baseline_for("tiered", "get_kv"),
            Some(("raw-redis", "engine_read_kv"))
        );
        assert_eq!(
            baseline_for("tiered", "store_kv"),
            Some(("raw-postgres", "engine_write_kv"))
        );
        assert_eq!(baseline_for("memory", "list_kv_keys"), None);
    }

    #[test]
    fn best_baselines_are_on_the_same_server_as_the_raw_ones() {
        for backend in BACKENDS {
            for op in OPERATIONS {
                let (raw, best) = (baseline_for(backend, op), best_baseline_for(backend, op));
                assert_eq!(raw.is_some(), best.is_some(), "{op}/{backend}");
                if let (Some((raw, raw_op)), Some((best, best_op))) = (raw, best) {
                    assert_eq!(raw_op, best_op);
                    let server = best.strip_prefix("best-").unwrap_or("dashmap");
                    assert_eq!(raw, format!("raw-{server}"), "{op}/{backend}");
                    assert!(ENGINES.contains(&best), "{best}");
                }
            }
        }
        assert_eq!(
            best_baseline_for("tiered", "get_token"),
            Some(("best-redis", "engine_read_record"))
        );
        assert_eq!(
            best_baseline_for("postgres", "store_kv"),
            Some(("best-postgres", "engine_write_kv"))
        );
        assert_eq!(
            best_baseline_for("memory", "get_kv"),
            Some(("raw-dashmap", "engine_read_kv"))
        );
    }
}
