//! The AEAD choice of `EncryptedStorage` (issue 14 item 6): seal and open of one token
//! record (about 300 bytes of JSON, with associated data as the envelope writes it)
//! under AES-256-GCM and AES-256-GCM-SIV, each cipher built from its key per operation
//! as the envelope does. Ids: `aead/<cipher>/<operation>`.
//!
//! `cargo bench -p authstore-bench --bench aead`; with criterion's `--test` every
//! benchmark runs once.

use std::hint::black_box;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, Key, KeyInit, Nonce};
use aes_gcm_siv::Aes256GcmSiv;
use criterion::{Criterion, Throughput};

/// A token record as `EncryptedStorage` encrypts it: the whole token as JSON.
const RECORD: &[u8] = br#"{"token_id":"tok-0123456789abcdef","user_id":"user-000042","access_token":"at-5f2c9a7e1b3d4c6f8a0e2b4d6f8a1c3e5b7d9f0a2c4e6b8d","refresh_token":"rt-9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b","token_type":"Bearer","scopes":["read","write"],"issued_at":"2026-11-30T16:00:00Z","expires_at":"2026-11-30T17:00:00Z","metadata":{}}"#;

/// Associated data of the same shape as the envelope's (label, domain, version, key id,
/// record id).
const AAD: &[u8] = b"authstore.encrypted\0token\0\x02\0\0\0\x01tok-0123456789abcdef";

/// Seals `RECORD` and opens it again with a cipher `C` built from `key` each time.
fn seal_open<C: KeyInit + AeadInOut>(key: &Key<C>, nonce: &Nonce<C>) -> usize {
    let mut buffer = RECORD.to_vec();
    let tag = C::new(key)
        .encrypt_inout_detached(nonce, AAD, buffer.as_mut_slice().into())
        .expect("a 300-byte record is within every AEAD's limit");
    C::new(key)
        .decrypt_inout_detached(nonce, AAD, buffer.as_mut_slice().into(), &tag)
        .expect("the tag just computed verifies");
    buffer.len()
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("aead");
    group.throughput(Throughput::Bytes(RECORD.len() as u64));
    let gcm_key = Key::<Aes256Gcm>::from([0x42; 32]);
    let gcm_nonce = Nonce::<Aes256Gcm>::from([7; 12]);
    group.bench_function("aes-256-gcm/seal_open", |b| {
        b.iter(|| seal_open::<Aes256Gcm>(black_box(&gcm_key), black_box(&gcm_nonce)));
    });
    let siv_key = Key::<Aes256GcmSiv>::from([0x42; 32]);
    let siv_nonce = Nonce::<Aes256GcmSiv>::from([7; 12]);
    group.bench_function("aes-256-gcm-siv/seal_open", |b| {
        b.iter(|| seal_open::<Aes256GcmSiv>(black_box(&siv_key), black_box(&siv_nonce)));
    });
    group.finish();
    criterion.final_summary();
}
