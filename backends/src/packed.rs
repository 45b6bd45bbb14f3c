//! Tokens and sessions as the in-process backends keep them: every string field of a
//! record in one buffer, the free-form map as an exact-size slice.
//!
//! An [`AuthToken`] held as is costs a dozen heap allocations (each string, the scopes
//! vector, and a whole `BTreeMap` leaf of about 630 bytes for a one-entry metadata map).
//! At a million items every one of them is a likely cache miss when the record is read
//! or freed, and the map leaf alone is twice the token's JSON. Packed, the strings are
//! one contiguous allocation and the map's entries one exact-size slice; a read builds
//! the owned record from them with the same allocations a clone would make.

use authstore_spec::{AuthToken, JsonMap, SessionData};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Strings in one buffer, each a LEB128 length followed by its UTF-8 bytes; an optional
/// string is its length plus one, or 0 for `None`.
#[derive(Debug, Clone, Default)]
struct Strings(Box<[u8]>);

/// Builds a [`Strings`] buffer.
struct Packer(Vec<u8>);

impl Packer {
    fn with_capacity(bytes: usize) -> Self {
        Self(Vec::with_capacity(bytes))
    }

    fn number(&mut self, mut n: usize) {
        while n >= 0x80 {
            self.0.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.0.push(n as u8);
    }

    fn str(&mut self, s: &str) {
        self.number(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn opt(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.number(s.len() + 1);
                self.0.extend_from_slice(s.as_bytes());
            }
            None => self.number(0),
        }
    }

    fn finish(self) -> Strings {
        Strings(self.0.into_boxed_slice())
    }
}

/// Reads a [`Strings`] buffer in the order it was packed. The buffer only ever comes
/// from a [`Packer`], so every read succeeds; a malformed one would read as empty
/// strings rather than panic.
struct Unpacker<'a>(&'a [u8]);

impl<'a> Unpacker<'a> {
    fn number(&mut self) -> usize {
        let mut n = 0usize;
        let mut shift = 0;
        while let Some((&byte, rest)) = self.0.split_first() {
            self.0 = rest;
            if shift < usize::BITS {
                n |= usize::from(byte & 0x7f) << shift;
            }
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        n
    }

    fn bytes(&mut self, len: usize) -> &'a str {
        let len = len.min(self.0.len());
        let (s, rest) = self.0.split_at(len);
        self.0 = rest;
        std::str::from_utf8(s).unwrap_or_default()
    }

    fn str(&mut self) -> &'a str {
        let len = self.number();
        self.bytes(len)
    }

    fn opt(&mut self) -> Option<&'a str> {
        match self.number() {
            0 => None,
            n => Some(self.bytes(n - 1)),
        }
    }
}

/// A free-form map as an exact-size slice (no allocation when empty).
fn pack_map(map: &JsonMap) -> Box<[(String, Value)]> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn unpack_map(entries: &[(String, Value)]) -> JsonMap {
    entries.iter().cloned().collect()
}

/// An [`AuthToken`] packed: `token_id`, `user_id`, `access_token`, `refresh_token`,
/// `token_type`, the number of scopes and each scope, in one buffer.
#[derive(Debug, Clone)]
pub(crate) struct PackedToken {
    strings: Strings,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    metadata: Box<[(String, Value)]>,
}

impl PackedToken {
    /// Packs `token`.
    pub(crate) fn new(token: &AuthToken) -> Self {
        let text = token.token_id.len()
            + token.user_id.len()
            + token.access_token.len()
            + token.refresh_token.as_ref().map_or(0, String::len)
            + token.token_type.as_ref().map_or(0, String::len)
            + token.scopes.iter().map(String::len).sum::<usize>();
        let mut p = Packer::with_capacity(text + 2 * (6 + token.scopes.len()));
        p.str(&token.token_id);
        p.str(&token.user_id);
        p.str(&token.access_token);
        p.opt(token.refresh_token.as_deref());
        p.opt(token.token_type.as_deref());
        p.number(token.scopes.len());
        for scope in &token.scopes {
            p.str(scope);
        }
        Self {
            strings: p.finish(),
            issued_at: token.issued_at,
            expires_at: token.expires_at,
            metadata: pack_map(&token.metadata),
        }
    }

    fn unpacker(&self) -> Unpacker<'_> {
        Unpacker(&self.strings.0)
    }

    /// The token's id.
    pub(crate) fn token_id(&self) -> &str {
        self.unpacker().str()
    }

    /// The owner's id.
    pub(crate) fn user_id(&self) -> &str {
        let mut u = self.unpacker();
        u.str();
        u.str()
    }

    /// The bearer value.
    pub(crate) fn access_token(&self) -> &str {
        let mut u = self.unpacker();
        u.str();
        u.str();
        u.str()
    }

    /// Whether the token is expired at `now` (as [`AuthToken::is_expired_at`]).
    pub(crate) fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }

    /// The token as given to [`new`](Self::new).
    pub(crate) fn unpack(&self) -> AuthToken {
        let mut u = self.unpacker();
        let token_id = u.str().to_owned();
        let user_id = u.str().to_owned();
        let access_token = u.str().to_owned();
        let refresh_token = u.opt().map(str::to_owned);
        let token_type = u.opt().map(str::to_owned);
        let count = u.number();
        let mut scopes = Vec::with_capacity(count.min(self.strings.0.len()));
        for _ in 0..count {
            scopes.push(u.str().to_owned());
        }
        AuthToken {
            token_id,
            user_id,
            access_token,
            refresh_token,
            token_type,
            scopes,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            metadata: unpack_map(&self.metadata),
        }
    }
}

/// A [`SessionData`] packed: `session_id`, `user_id`, `ip_address`, `user_agent` in one
/// buffer.
#[derive(Debug, Clone)]
pub(crate) struct PackedSession {
    strings: Strings,
    created_at: DateTime<Utc>,
    /// The instant from which the session is expired.
    pub(crate) expires_at: DateTime<Utc>,
    last_activity: DateTime<Utc>,
    data: Box<[(String, Value)]>,
}

impl PackedSession {
    /// Packs `session`.
    pub(crate) fn new(session: &SessionData) -> Self {
        let text = session.session_id.len()
            + session.user_id.len()
            + session.ip_address.as_ref().map_or(0, String::len)
            + session.user_agent.as_ref().map_or(0, String::len);
        let mut p = Packer::with_capacity(text + 2 * 4);
        p.str(&session.session_id);
        p.str(&session.user_id);
        p.opt(session.ip_address.as_deref());
        p.opt(session.user_agent.as_deref());
        Self {
            strings: p.finish(),
            created_at: session.created_at,
            expires_at: session.expires_at,
            last_activity: session.last_activity,
            data: pack_map(&session.data),
        }
    }

    fn unpacker(&self) -> Unpacker<'_> {
        Unpacker(&self.strings.0)
    }

    /// The session's id (the maps are keyed by it; the invariant checks compare).
    #[cfg(test)]
    pub(crate) fn session_id(&self) -> &str {
        self.unpacker().str()
    }

    /// The owner's id.
    pub(crate) fn user_id(&self) -> &str {
        let mut u = self.unpacker();
        u.str();
        u.str()
    }

    /// Whether the session is expired at `now` (as [`SessionData::is_expired_at`]).
    pub(crate) fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }

    /// The session as given to [`new`](Self::new).
    pub(crate) fn unpack(&self) -> SessionData {
        let mut u = self.unpacker();
        SessionData {
            session_id: u.str().to_owned(),
            user_id: u.str().to_owned(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_activity: self.last_activity,
            ip_address: u.opt().map(str::to_owned),
            user_agent: u.opt().map(str::to_owned),
            data: unpack_map(&self.data),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn full_token() -> AuthToken {
        AuthToken::new(
            "tok-1",
            "user-é",
            "at-".repeat(100),
            Duration::from_secs(60),
        )
        .with_refresh_token("")
        .with_token_type("Bearer")
        .with_scopes(["openid", "", "ünïcode", "s".repeat(300).as_str()])
        .with_metadata("n", serde_json::json!(1.5e300))
        .with_metadata("nested", serde_json::json!({"a": [1, null, "x"]}))
    }

    #[test]
    fn tokens_unpack_to_what_was_packed() {
        let bare = AuthToken::new("t", "u", "a", Duration::from_secs(1));
        for token in [full_token(), bare] {
            let packed = PackedToken::new(&token);
            assert_eq!(packed.unpack(), token);
            assert_eq!(packed.token_id(), token.token_id);
            assert_eq!(packed.user_id(), token.user_id);
            assert_eq!(packed.access_token(), token.access_token);
            assert_eq!(
                packed.is_expired_at(token.expires_at),
                token.is_expired_at(token.expires_at)
            );
        }
        // `Some("")` and `None` stay apart.
        let none = AuthToken::new("t", "u", "a", Duration::from_secs(1));
        assert_eq!(PackedToken::new(&none).unpack().refresh_token, None);
        assert_eq!(
            PackedToken::new(&full_token()).unpack().refresh_token,
            Some(String::new())
        );
    }

    #[test]
    fn sessions_unpack_to_what_was_packed() {
        let full = SessionData::new("ses-1", "user-1", Duration::from_secs(60))
            .with_ip_address("2001:db8::1")
            .with_user_agent("x".repeat(200))
            .with_data("csrf", serde_json::json!("abc"))
            .with_data("k", serde_json::json!({"deep": [true]}));
        let bare = SessionData::new("s", "u", Duration::from_secs(1));
        for session in [full, bare] {
            let packed = PackedSession::new(&session);
            assert_eq!(packed.unpack(), session);
            assert_eq!(packed.session_id(), session.session_id);
            assert_eq!(packed.user_id(), session.user_id);
        }
    }

    #[test]
    fn lengths_of_every_size_round_trip() {
        for len in [0, 1, 127, 128, 16_383, 16_384, 70_000] {
            let s = "x".repeat(len);
            let mut p = Packer::with_capacity(0);
            p.str(&s);
            p.opt(Some(&s));
            p.opt(None);
            let packed = p.finish();
            let mut u = Unpacker(&packed.0);
            assert_eq!(u.str(), s);
            assert_eq!(u.opt(), Some(s.as_str()));
            assert_eq!(u.opt(), None);
        }
    }
}
