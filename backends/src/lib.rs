//! `authstore-backends`: the reference [`AuthStorage`](authstore_spec::AuthStorage)
//! backends.
//!
//! Always compiled: [`MemoryStorage`] (the reference in-process backend),
//! [`UnifiedStorage`] (DashMap, memory-accounted) and [`EncryptedStorage`] (AES-256-GCM-SIV
//! wrapper over any backend). Server backends come with their feature flags:
//! `postgres-storage` (default), `mysql-storage`, `redis-storage`, `tiered-storage`.

mod encrypted;
mod memory;
#[cfg(feature = "mysql-storage")]
mod mysql;
mod packed;
#[cfg(feature = "postgres-storage")]
mod postgres;
#[cfg(feature = "redis-storage")]
mod redis;
#[cfg(any(feature = "postgres-storage", feature = "mysql-storage"))]
mod sql;
#[cfg(feature = "tiered-storage")]
mod tiered;
mod unified;

// Re-exports: one line per backend module, added by that module's author.
#[cfg(feature = "redis-storage")]
pub use self::redis::{RedisConfig, RedisStorage};
/// The deadpool-postgres (and, as `deadpool_postgres::tokio_postgres`, tokio-postgres)
/// version [`PostgresStorage::connect_with`] and [`PostgresStorage::from_deadpool`]
/// take, so that applications need not match versions.
#[cfg(feature = "postgres-storage")]
pub use deadpool_postgres;
pub use encrypted::{EncryptedStorage, EncryptionKey, KeyError, Keyring};
pub use memory::{InMemoryConfig, MemoryStorage};
#[cfg(feature = "mysql-storage")]
pub use mysql::MySqlStorage;
#[cfg(feature = "postgres-storage")]
pub use postgres::PostgresStorage;
#[cfg(feature = "tiered-storage")]
pub use tiered::TieredStorage;
pub use unified::{UnifiedStats, UnifiedStorage, UnifiedStorageConfig};
