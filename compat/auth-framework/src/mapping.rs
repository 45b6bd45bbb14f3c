//! Field mapping between authstore's records and auth-framework's (README.md, "Field
//! mapping"): every field of ours has a counterpart of the same name and type there, so
//! the mapping is lossless for ours; their extra fields get fixed, empty values on the
//! way in and are dropped on the way out.

use std::collections::HashMap;

use auth_framework::storage::SessionData as TheirSession;
use auth_framework::tokens::{AuthToken as TheirToken, TokenMetadata};
use auth_framework::types::{Permissions, Roles, Scopes};
use authstore_spec::{AuthToken, JsonMap, SessionData};

/// The `auth_method` the adapter writes: their column is `NOT NULL` (PostgreSQL
/// `VARCHAR(100)`), ours has no such field, and a constant says where the token came from.
pub const AUTH_METHOD: &str = "authstore-compat";

/// Our token as theirs: the nine fields of ours by name (`scopes` as `Scopes`, `metadata`
/// as `metadata.custom`); `subject`, `issuer`, `client_id`, `user_profile` `None`,
/// `permissions` and `roles` empty, `auth_method` [`AUTH_METHOD`], the rest of
/// `metadata` its default (not revoked, no use count).
pub fn token_to_theirs(token: &AuthToken) -> TheirToken {
    TheirToken {
        token_id: token.token_id.clone(),
        user_id: token.user_id.clone(),
        access_token: token.access_token.clone(),
        token_type: token.token_type.clone(),
        subject: None,
        issuer: None,
        refresh_token: token.refresh_token.clone(),
        issued_at: token.issued_at,
        expires_at: token.expires_at,
        scopes: Scopes(token.scopes.clone()),
        auth_method: AUTH_METHOD.to_owned(),
        client_id: None,
        user_profile: None,
        permissions: Permissions(Vec::new()),
        roles: Roles(Vec::new()),
        metadata: TokenMetadata {
            custom: to_hash_map(&token.metadata),
            ..TokenMetadata::default()
        },
    }
}

/// Their token as ours: the nine fields by name; every other field of theirs is dropped
/// (ours has no place for it, and the adapter wrote only fixed values there).
pub fn token_from_theirs(token: TheirToken) -> AuthToken {
    AuthToken {
        token_id: token.token_id,
        user_id: token.user_id,
        access_token: token.access_token,
        refresh_token: token.refresh_token,
        token_type: token.token_type,
        scopes: token.scopes.0,
        issued_at: token.issued_at,
        expires_at: token.expires_at,
        metadata: token.metadata.custom.into_iter().collect(),
    }
}

/// Our session as theirs: the same eight fields, `data` as a `HashMap`.
pub fn session_to_theirs(session: &SessionData) -> TheirSession {
    TheirSession {
        session_id: session.session_id.clone(),
        user_id: session.user_id.clone(),
        created_at: session.created_at,
        expires_at: session.expires_at,
        last_activity: session.last_activity,
        ip_address: session.ip_address.clone(),
        user_agent: session.user_agent.clone(),
        data: to_hash_map(&session.data),
    }
}

/// Their session as ours: the same eight fields, `data` as a JSON map.
pub fn session_from_theirs(session: TheirSession) -> SessionData {
    SessionData {
        session_id: session.session_id,
        user_id: session.user_id,
        created_at: session.created_at,
        expires_at: session.expires_at,
        last_activity: session.last_activity,
        ip_address: session.ip_address,
        user_agent: session.user_agent,
        data: session.data.into_iter().collect(),
    }
}

/// A JSON map as their `HashMap`: the same entries (a JSON object's entries are
/// unordered, and `JsonMap` equality ignores order).
fn to_hash_map(map: &JsonMap) -> HashMap<String, serde_json::Value> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    #[test]
    fn a_token_with_every_field_set_round_trips() {
        let token = AuthToken::new("t1", "alice", "access", Duration::from_secs(60))
            .with_refresh_token("refresh")
            .with_token_type("Bearer")
            .with_scopes(["b", "a", "b"])
            .with_metadata("nested", json!({"x": [1, -0.0, "\u{0}"]}))
            .with_metadata("n", json!(null));
        let theirs = token_to_theirs(&token);
        assert_eq!(theirs.auth_method, AUTH_METHOD);
        assert!(theirs.subject.is_none() && theirs.permissions.0.is_empty());
        assert_eq!(token_from_theirs(theirs), token);
    }

    #[test]
    fn a_session_with_every_field_set_round_trips() {
        let mut session =
            SessionData::new("s1", "alice", Duration::from_secs(60)).with_ip_address("::1");
        session.user_agent = Some("agent".into());
        session.data.insert("k".into(), json!({"deep": [true]}));
        assert_eq!(session_from_theirs(session_to_theirs(&session)), session);
    }
}
