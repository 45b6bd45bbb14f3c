//! Readiness: a server is ready when a real client has connected and had a query answered
//! (a log line or an open port is not enough: the official images run a temporary server
//! first). The answer names the server and its version, for reports.

use std::time::Duration;

use super::Service;

/// One attempt may take this long (a paused server must not stall the caller).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// One readiness attempt: connects to `url` (for the cluster, to every node in the
/// comma-separated list) and queries the server; returns e.g. `PostgreSQL 15.14`.
pub async fn probe(service: Service, url: &str) -> Result<String, String> {
    match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt(service, url)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {ATTEMPT_TIMEOUT:?}")),
    }
}

async fn attempt(service: Service, url: &str) -> Result<String, String> {
    match service {
        Service::Postgres => postgres(url).await,
        Service::MySql | Service::MariaDb => mysql(url).await,
        Service::Redis => redis(url).await,
        Service::RedisCluster => redis_cluster(url).await,
    }
}

async fn postgres(url: &str) -> Result<String, String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|err| err.to_string())?;
    let version: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(&mut conn)
        .await
        .map_err(|err| err.to_string())?;
    let _closed = conn.close().await;
    // "PostgreSQL 15.14 (Debian 15.14-0+deb12u1) on x86_64-pc-linux-gnu, ..." -> first two words.
    Ok(version
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" "))
}

async fn mysql(url: &str) -> Result<String, String> {
    use sqlx::Connection;
    let mut conn = sqlx::MySqlConnection::connect(url)
        .await
        .map_err(|err| err.to_string())?;
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&mut conn)
        .await
        .map_err(|err| err.to_string())?;
    let _closed = conn.close().await;
    Ok(mysql_server_name(&version))
}

/// `10.11.14-MariaDB-0+deb12u2` -> `MariaDB 10.11.14`; `8.4.5` -> `MySQL 8.4.5`.
fn mysql_server_name(version: &str) -> String {
    let number = version.split('-').next().unwrap_or(version);
    if version.contains("MariaDB") {
        format!("MariaDB {number}")
    } else {
        format!("MySQL {number}")
    }
}

async fn redis(url: &str) -> Result<String, String> {
    let info = redis_info(url).await?;
    Ok(format!("Redis {}", info_field(&info, "redis_version")))
}

/// Every node answers and reports the cluster healthy and complete.
async fn redis_cluster(urls: &str) -> Result<String, String> {
    let urls: Vec<&str> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect();
    if urls.is_empty() {
        return Err("no node URL".to_owned());
    }
    let mut version = String::new();
    for url in &urls {
        let client = ::redis::Client::open(*url).map_err(|err| err.to_string())?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|err| format!("{url}: {err}"))?;
        let cluster: String = ::redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut conn)
            .await
            .map_err(|err| format!("{url}: {err}"))?;
        let state = info_field(&cluster, "cluster_state");
        let known = info_field(&cluster, "cluster_known_nodes");
        if state != "ok" || known.parse::<usize>().ok() != Some(urls.len()) {
            return Err(format!(
                "{url}: cluster_state {state}, {known} known nodes of {}",
                urls.len()
            ));
        }
        version = info_field(&redis_info(url).await?, "redis_version");
    }
    Ok(format!("Redis {version} cluster of {}", urls.len()))
}

async fn redis_info(url: &str) -> Result<String, String> {
    let client = ::redis::Client::open(url).map_err(|err| err.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|err| format!("{url}: {err}"))?;
    ::redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await
        .map_err(|err| format!("{url}: {err}"))
}

/// The value of `name:value` in an INFO-style reply, or `?`.
fn info_field(info: &str, name: &str) -> String {
    info.lines()
        .find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or("?")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_version_string() {
        assert_eq!(
            mysql_server_name("10.11.14-MariaDB-0+deb12u2"),
            "MariaDB 10.11.14"
        );
        assert_eq!(mysql_server_name("8.4.5"), "MySQL 8.4.5");
    }
}
