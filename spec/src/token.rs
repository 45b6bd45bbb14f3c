//! [`AuthToken`]: an issued access token and what belongs to it.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::time::{add_duration, now_micros};

/// A JSON object: the free-form part of tokens ([`AuthToken::metadata`]) and sessions
/// ([`SessionData::data`](crate::SessionData::data)).
pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// An issued token. `token_id` is its key; `access_token` is a secret bearer value
/// that also identifies it (SPEC.md `ACC-*`).
///
/// `Debug` redacts `access_token` and `refresh_token`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthToken {
    /// The token's key (SPEC.md `VAL-1`).
    pub token_id: String,
    /// The user the token was issued to.
    pub user_id: String,
    /// The bearer value; unique among live tokens (SPEC.md `ACC-2`).
    pub access_token: String,
    /// The refresh value, if one was issued.
    pub refresh_token: Option<String>,
    /// The token type, e.g. `"Bearer"`.
    pub token_type: Option<String>,
    /// Granted scopes, in the order given.
    pub scopes: Vec<String>,
    /// When the token was issued.
    pub issued_at: DateTime<Utc>,
    /// The instant from which the token is expired (SPEC.md `TIME-1`).
    pub expires_at: DateTime<Utc>,
    /// Free-form data attached to the token.
    pub metadata: JsonMap,
}

impl AuthToken {
    /// A token issued now to `user_id` that lives for `ttl`, with no refresh token,
    /// type, scopes or metadata. Timestamps are whole microseconds (SPEC.md `GEN-3`).
    pub fn new(
        token_id: impl Into<String>,
        user_id: impl Into<String>,
        access_token: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        let issued_at = now_micros();
        Self {
            token_id: token_id.into(),
            user_id: user_id.into(),
            access_token: access_token.into(),
            refresh_token: None,
            token_type: None,
            scopes: Vec::new(),
            issued_at,
            expires_at: add_duration(issued_at, ttl),
            metadata: JsonMap::new(),
        }
    }

    /// This token with another user.
    pub fn with_user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = user_id.into();
        self
    }

    /// This token with another access token.
    pub fn with_access_token(mut self, access_token: impl Into<String>) -> Self {
        self.access_token = access_token.into();
        self
    }

    /// This token with a refresh token.
    pub fn with_refresh_token(mut self, refresh_token: impl Into<String>) -> Self {
        self.refresh_token = Some(refresh_token.into());
        self
    }

    /// This token with a token type.
    pub fn with_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.token_type = Some(token_type.into());
        self
    }

    /// This token with these scopes.
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// This token with one more metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: serde_json::Value) -> Self {
        self.metadata.insert(key.into(), value);
        self
    }

    /// This token expiring at `expires_at`.
    pub fn with_expires_at(mut self, expires_at: DateTime<Utc>) -> Self {
        self.expires_at = expires_at;
        self
    }

    /// Whether the token is expired at `now` (SPEC.md `TIME-1`: `now >= expires_at`).
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthToken")
            .field("token_id", &self.token_id)
            .field("user_id", &self.user_id)
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("token_type", &self.token_type)
            .field("scopes", &self.scopes)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("metadata", &self.metadata)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets() {
        let token = AuthToken::new("t1", "alice", "secret-access", Duration::from_secs(60))
            .with_refresh_token("secret-refresh");
        let shown = format!("{token:?}");
        assert!(!shown.contains("secret-access"), "{shown}");
        assert!(!shown.contains("secret-refresh"), "{shown}");
        assert!(shown.contains("t1") && shown.contains("alice"), "{shown}");
    }

    #[test]
    fn serde_round_trip() {
        let token = AuthToken::new("t1", "alice", "at", Duration::from_secs(60))
            .with_scopes(["read", "write"])
            .with_metadata("ip", serde_json::json!("::1"));
        let json = serde_json::to_string(&token).unwrap();
        assert_eq!(serde_json::from_str::<AuthToken>(&json).unwrap(), token);
    }
}
