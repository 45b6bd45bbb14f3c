//! PostgreSQL provisioning (being written).
