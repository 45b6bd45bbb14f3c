//! Service provisioning for the server backends: find a server (by URL from the
//! environment), give every scenario a fresh namespace on it, and drop it afterwards.

#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "tiered")]
pub mod tiered;
