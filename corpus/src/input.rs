//! The input rules (SPEC.md `VAL-*`): [`Rules`] applies `authstore_spec::validate`, as the
//! reference backends do, and quotes the start of the offending value in the error.

use authstore_spec::validate::{self, MAX_ID_BYTES, MAX_KEY_BYTES};
use authstore_spec::{AuthToken, Result, SessionData, StorageError};
use chrono::{DateTime, Utc};

use crate::bug::Bug;

/// How many bytes of an offending value an error message quotes.
const QUOTED_BYTES: usize = 32;

/// The input rules of one storage, with its bug.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    bug: Option<Bug>,
}

impl Rules {
    pub(crate) fn new(bug: Option<Bug>) -> Self {
        Self { bug }
    }

    fn is(self, bug: Bug) -> bool {
        self.bug == Some(bug)
    }

    /// Whether the bug relaxes one of the rules of `validate`; the record is then not
    /// checked against `validate` as a whole, which would apply the rule after all.
    fn relaxes_a_rule(self) -> bool {
        matches!(
            self.bug,
            Some(
                Bug::IdLengthCountedInChars
                    | Bug::NulAcceptedInIds
                    | Bug::SecretLengthUnchecked
                    | Bug::TimestampRangeUnchecked
                    | Bug::SessionIdMismatchAccepted
                    | Bug::JsonDepthUnchecked
            )
        )
    }

    /// A token id, session id or user id (`VAL-1`, `VAL-3`, `VAL-6`).
    pub(crate) fn id(self, what: &str, value: &str) -> Result<()> {
        let checked = if self.is(Bug::IdLengthCountedInChars) {
            by_chars(what, value, MAX_ID_BYTES, false)
        } else if self.is(Bug::NulAcceptedInIds) {
            without_nul_check(what, value, MAX_ID_BYTES)
        } else {
            validate::id(what, value)
        };
        checked.map_err(|err| self.quote(err, value))
    }

    /// A kv key (`VAL-2`).
    pub(crate) fn key(self, value: &str) -> Result<()> {
        let checked = if self.is(Bug::KeyLengthCountedInChars) {
            by_chars("kv key", value, MAX_KEY_BYTES, false)
        } else {
            validate::key(value)
        };
        checked.map_err(|err| self.quote(err, value))
    }

    /// A listing prefix (`LST-8`).
    pub(crate) fn prefix(self, value: &str) -> Result<()> {
        if self.is(Bug::PrefixLimitOffByOne) && value.len() >= MAX_KEY_BYTES {
            return Err(StorageError::InvalidInput(format!(
                "kv key prefix is {} bytes long; the limit is {MAX_KEY_BYTES} bytes",
                value.len()
            )));
        }
        validate::prefix(value).map_err(|err| self.quote(err, value))
    }

    /// An access or refresh token (`VAL-4`).
    pub(crate) fn secret(self, what: &str, value: &str) -> Result<()> {
        let checked = if self.is(Bug::SecretLengthUnchecked) {
            without_length_check(what, value)
        } else {
            validate::secret(what, value)
        };
        // Secrets are never quoted.
        checked
    }

    /// A record timestamp (`VAL-5`).
    pub(crate) fn timestamp(self, what: &str, value: DateTime<Utc>) -> Result<()> {
        if self.is(Bug::TimestampRangeUnchecked) {
            return Ok(());
        }
        validate::timestamp(what, value)
    }

    /// Every rule a token meets before it is stored: each field on its own (so errors
    /// quote ids), then every rule of `validate::token`, JSON depth included.
    pub(crate) fn token(self, token: &AuthToken) -> Result<()> {
        self.id("token id", &token.token_id)?;
        self.id("user id", &token.user_id)?;
        self.secret("access token", &token.access_token)?;
        if let Some(refresh) = &token.refresh_token {
            self.secret("refresh token", refresh)?;
        }
        self.timestamp("issued_at", token.issued_at)?;
        self.timestamp("expires_at", token.expires_at)?;
        if self.relaxes_a_rule() {
            return Ok(());
        }
        validate::token(token)
    }

    /// The session id argument and its agreement with `data.session_id` (`SES-1`).
    pub(crate) fn session_id(self, session_id: &str, data: &SessionData) -> Result<()> {
        self.id("session id", session_id)?;
        if session_id != data.session_id && !self.is(Bug::SessionIdMismatchAccepted) {
            return Err(StorageError::InvalidInput(format!(
                "session id argument {session_id:?} differs from data.session_id {:?}",
                data.session_id
            )));
        }
        Ok(())
    }

    /// The rest of a session stored under `session_id`: its user id and timestamps,
    /// then every rule of `validate::session`, JSON depth included.
    pub(crate) fn session_body(self, session_id: &str, data: &SessionData) -> Result<()> {
        self.id("user id", &data.user_id)?;
        self.timestamp("created_at", data.created_at)?;
        self.timestamp("expires_at", data.expires_at)?;
        self.timestamp("last_activity", data.last_activity)?;
        if self.relaxes_a_rule() {
            return Ok(());
        }
        validate::session(session_id, data)
    }

    /// Every rule a session meets before it is stored under `session_id`.
    pub(crate) fn session(self, session_id: &str, data: &SessionData) -> Result<()> {
        self.session_id(session_id, data)?;
        self.session_body(session_id, data)
    }

    /// `err` with the start of the offending value appended, for the logs.
    fn quote(self, err: StorageError, value: &str) -> StorageError {
        match err {
            StorageError::InvalidInput(message) => StorageError::InvalidInput(format!(
                "{message} (the value starts {:?})",
                self.excerpt(value)
            )),
            other => other,
        }
    }

    /// At most [`QUOTED_BYTES`] bytes of `value`, cut at a character boundary.
    fn excerpt(self, value: &str) -> &str {
        if value.len() <= QUOTED_BYTES {
            return value;
        }
        if self.is(Bug::ErrorMessageSlicesInsideChar) {
            return &value[..QUOTED_BYTES];
        }
        let mut end = QUOTED_BYTES;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        &value[..end]
    }
}

fn invalid(message: String) -> StorageError {
    StorageError::InvalidInput(message)
}

/// The rules of `validate`, with the length counted in characters.
fn by_chars(what: &str, value: &str, max: usize, allow_empty: bool) -> Result<()> {
    if value.is_empty() && !allow_empty {
        return Err(invalid(format!("{what} must not be empty")));
    }
    let chars = value.chars().count();
    if chars > max {
        return Err(invalid(format!(
            "{what} is {chars} characters long; the limit is {max}"
        )));
    }
    if value.contains('\0') {
        return Err(invalid(format!("{what} contains a NUL byte")));
    }
    Ok(())
}

/// The rules of `validate` for ids, without the NUL check.
fn without_nul_check(what: &str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() {
        return Err(invalid(format!("{what} must not be empty")));
    }
    if value.len() > max {
        return Err(invalid(format!(
            "{what} is {} bytes long; the limit is {max} bytes",
            value.len()
        )));
    }
    Ok(())
}

/// The rules of `validate` for secrets, without the length check.
fn without_length_check(what: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(invalid(format!("{what} must not be empty")));
    }
    if value.contains('\0') {
        return Err(invalid(format!("{what} contains a NUL byte")));
    }
    Ok(())
}
