//! Readiness: a server is ready when a real client has connected and had a query answered
//! (a log line or an open port is not enough: the official images run a temporary server
//! first). How to ask is each [`super::Server`]'s own; this bounds one attempt.

use std::time::{Duration, Instant};

use super::{ProvisionError, Service};

/// One attempt may take this long (a paused server must not stall the caller).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// One readiness attempt on the server at `url`, bounded in time: the server's name and
/// version (e.g. `PostgreSQL 15.14`), or [`ProvisionError::NotReady`] with `origin` as
/// where the URL came from.
pub async fn probe(service: Service, url: &str, origin: &str) -> Result<String, ProvisionError> {
    let began = Instant::now();
    attempt(service, url)
        .await
        .map_err(|last_error| ProvisionError::NotReady {
            service,
            origin: origin.to_owned(),
            waited: began.elapsed(),
            last_error,
            log: String::new(),
        })
}

/// One bounded attempt; the error is the attempt's own reason.
pub(crate) async fn attempt(service: Service, url: &str) -> Result<String, String> {
    match tokio::time::timeout(ATTEMPT_TIMEOUT, service.server().probe(url)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {ATTEMPT_TIMEOUT:?}")),
    }
}
