//! Point reads of the in-process backends against the raw engine they are built on:
//! `get_kv` on `MemoryStorage` and `UnifiedStorage` versus a plain `DashMap` get + clone
//! of the same value. Ids: `get_kv/<backend>/<dataset>`. The full cross-backend matrix
//! comes with the benchmark issue.

use std::hint::black_box;
use std::sync::Arc;

use authstore_backends::{MemoryStorage, UnifiedStorage};
use authstore_spec::AuthStorage;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dashmap::DashMap;

const RECORDS: usize = 1_000;
const VALUE: [u8; 64] = [7u8; 64];

fn key(i: usize) -> String {
    format!("bench:key:{i:08}")
}

async fn filled(storage: Arc<dyn AuthStorage>) -> Arc<dyn AuthStorage> {
    for i in 0..RECORDS {
        storage
            .store_kv(&key(i), &VALUE, None)
            .await
            .expect("filling the store");
    }
    storage
}

fn point_reads(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dataset = "1k";
    let mut group = c.benchmark_group("get_kv");

    let raw: DashMap<String, Vec<u8>> = (0..RECORDS).map(|i| (key(i), VALUE.to_vec())).collect();
    let mut i = 0usize;
    group.bench_function(BenchmarkId::new("raw-dashmap", dataset), |b| {
        b.iter(|| {
            i = (i + 1) % RECORDS;
            black_box(raw.get(&key(i)).map(|v| v.value().clone()))
        })
    });

    let backends: [(&str, Arc<dyn AuthStorage>); 2] = [
        ("memory", Arc::new(MemoryStorage::new())),
        ("unified", Arc::new(UnifiedStorage::new())),
    ];
    for (name, storage) in backends {
        let storage = rt.block_on(filled(storage));
        let mut i = 0usize;
        group.bench_function(BenchmarkId::new(name, dataset), |b| {
            b.to_async(&rt).iter(|| {
                i = (i + 1) % RECORDS;
                let storage = storage.clone();
                let key = key(i);
                async move { black_box(storage.get_kv(&key).await.expect("get_kv")) }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, point_reads);
criterion_main!(benches);
