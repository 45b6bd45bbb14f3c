//! [`SessionData`]: a user's session.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::time::{add_duration, now_micros};
use crate::token::JsonMap;

/// A session. `session_id` is its key and must equal the id it is stored under
/// (SPEC.md `SES-1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionData {
    /// The session's key (SPEC.md `VAL-1`).
    pub session_id: String,
    /// The user the session belongs to.
    pub user_id: String,
    /// When the session was created.
    pub created_at: DateTime<Utc>,
    /// The instant from which the session is expired (SPEC.md `TIME-1`).
    pub expires_at: DateTime<Utc>,
    /// When the session was last used.
    pub last_activity: DateTime<Utc>,
    /// The client's address, if recorded.
    pub ip_address: Option<String>,
    /// The client's user agent, if recorded.
    pub user_agent: Option<String>,
    /// Free-form session data.
    pub data: JsonMap,
}

impl SessionData {
    /// A session created now for `user_id` that lives for `ttl`, with no address, user
    /// agent or data. Timestamps are whole microseconds (SPEC.md `GEN-3`).
    pub fn new(session_id: impl Into<String>, user_id: impl Into<String>, ttl: Duration) -> Self {
        let created_at = now_micros();
        Self {
            session_id: session_id.into(),
            user_id: user_id.into(),
            created_at,
            expires_at: add_duration(created_at, ttl),
            last_activity: created_at,
            ip_address: None,
            user_agent: None,
            data: JsonMap::new(),
        }
    }

    /// This session with another user.
    pub fn with_user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = user_id.into();
        self
    }

    /// This session with a client address.
    pub fn with_ip_address(mut self, ip_address: impl Into<String>) -> Self {
        self.ip_address = Some(ip_address.into());
        self
    }

    /// This session with a user agent.
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// This session with one more data entry.
    pub fn with_data(mut self, key: impl Into<String>, value: serde_json::Value) -> Self {
        self.data.insert(key.into(), value);
        self
    }

    /// This session expiring at `expires_at`.
    pub fn with_expires_at(mut self, expires_at: DateTime<Utc>) -> Self {
        self.expires_at = expires_at;
        self
    }

    /// Whether the session is expired at `now` (SPEC.md `TIME-1`: `now >= expires_at`).
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}
