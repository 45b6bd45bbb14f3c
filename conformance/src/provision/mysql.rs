//! MySQL/MariaDB provisioning (being written).
