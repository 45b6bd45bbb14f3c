//! The servers the built-in backends run against, and where each can come from: the
//! environment variable naming a running server, the image a container is started from.

use std::fmt;

/// A kind of server a backend needs. `MySql` and `MariaDb` are both served by
/// `MySqlStorage`; they are separate services so a run names which server it met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// PostgreSQL.
    Postgres,
    /// MySQL 8 (or any server speaking its protocol, when given by URL).
    MySql,
    /// MariaDB.
    MariaDb,
    /// A single Redis server.
    Redis,
    /// A Redis Cluster of three masters.
    RedisCluster,
}

impl Service {
    /// Every service, in report order.
    pub const ALL: [Service; 5] = [
        Service::Postgres,
        Service::MySql,
        Service::MariaDb,
        Service::Redis,
        Service::RedisCluster,
    ];

    /// The lower-case name used in messages and container labels.
    pub fn name(self) -> &'static str {
        match self {
            Service::Postgres => "postgres",
            Service::MySql => "mysql",
            Service::MariaDb => "mariadb",
            Service::Redis => "redis",
            Service::RedisCluster => "redis-cluster",
        }
    }

    /// The environment variable naming a running server: a URL, or for the cluster its
    /// node URLs separated by commas.
    pub fn url_var(self) -> &'static str {
        match self {
            Service::Postgres => "AUTHSTORE_POSTGRES_URL",
            Service::MySql => "AUTHSTORE_MYSQL_URL",
            Service::MariaDb => "AUTHSTORE_MARIADB_URL",
            Service::Redis => "AUTHSTORE_REDIS_URL",
            Service::RedisCluster => "AUTHSTORE_REDIS_CLUSTER_URLS",
        }
    }

    /// The environment variable overriding the container image (`name:tag`). The
    /// cluster runs in the Redis image.
    pub fn image_var(self) -> &'static str {
        match self {
            Service::Postgres => "AUTHSTORE_POSTGRES_IMAGE",
            Service::MySql => "AUTHSTORE_MYSQL_IMAGE",
            Service::MariaDb => "AUTHSTORE_MARIADB_IMAGE",
            Service::Redis | Service::RedisCluster => "AUTHSTORE_REDIS_IMAGE",
        }
    }

    /// The official image a developer machine pulls when no override is set; pinned so
    /// a run is repeatable.
    pub fn default_image(self) -> &'static str {
        match self {
            Service::Postgres => "postgres:17.5-bookworm",
            Service::MySql => "mysql:8.4.5",
            Service::MariaDb => "mariadb:11.4.5",
            Service::Redis | Service::RedisCluster => "redis:7.4.2-bookworm",
        }
    }

    /// The image to start: the override from [`Service::image_var`], else the default.
    pub fn image(self) -> String {
        std::env::var(self.image_var())
            .ok()
            .filter(|image| !image.trim().is_empty())
            .unwrap_or_else(|| self.default_image().to_owned())
    }

    /// How to get a server without containers, for error messages.
    pub(crate) fn advice(self) -> &'static str {
        match self {
            Service::Postgres => "start one with `eval \"$(bash ci/start-postgres)\"`",
            Service::MySql | Service::MariaDb => {
                "start one with `eval \"$(bash ci/start-mysql)\"` (MariaDB from Debian)"
            }
            Service::Redis | Service::RedisCluster => {
                "start them with `eval \"$(bash ci/start-redis)\"`"
            }
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
