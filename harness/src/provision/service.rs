//! The servers the built-in backends run against, by name: each [`Service`] is served by
//! one [`Server`] implementation, in the server's own module, which holds everything
//! the harness knows about it.

use std::fmt;

use super::Server;

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

    /// The implementation that knows this server.
    pub fn server(self) -> &'static dyn Server {
        match self {
            Service::Postgres => &super::postgres::PostgresServer,
            Service::MySql => &super::mysql::MYSQL,
            Service::MariaDb => &super::mysql::MARIADB,
            Service::Redis => &super::redis::RedisServer,
            Service::RedisCluster => &super::redis_cluster::RedisClusterServer,
        }
    }

    /// The lower-case name used in messages and container labels.
    pub fn name(self) -> &'static str {
        self.server().name()
    }

    /// The environment variable naming a running server ([`Server::url_var`]).
    pub fn url_var(self) -> &'static str {
        self.server().url_var()
    }

    /// The environment variable overriding the container image ([`Server::image_var`]).
    pub fn image_var(self) -> &'static str {
        self.server().image_var()
    }

    /// The pinned official image ([`Server::default_image`]).
    pub fn default_image(self) -> &'static str {
        self.server().default_image()
    }

    /// The image to start: the override from [`Service::image_var`], else the default.
    pub fn image(self) -> String {
        std::env::var(self.image_var())
            .ok()
            .filter(|image| !image.trim().is_empty())
            .unwrap_or_else(|| self.default_image().to_owned())
    }

    /// How to get a server without containers, for error messages.
    pub fn advice(self) -> &'static str {
        self.server().advice()
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
