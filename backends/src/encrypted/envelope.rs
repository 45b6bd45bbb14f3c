//! The inner representation: how a token, session or kv value is sealed into what the
//! inner store holds, and opened and checked again on the way out.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{AeadInOut, Key, KeyInit, Nonce, Tag};
use aes_gcm_siv::Aes256GcmSiv;
use authstore_spec::time::truncate_to_micros;
use authstore_spec::{AuthToken, JsonMap, Result, SessionData, StorageError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::key::{DerivedKeys, Keyring};

/// Version of the envelopes every write produces: AES-256-GCM-SIV (RFC 8452), whose
/// random nonces carry no practical per-key budget and whose nonce reuse reveals only
/// that two records are equal. Bound into the associated data.
const VERSION: u8 = 2;
/// Version of the envelopes written before version 2, with AES-256-GCM: still read, never
/// written (a record moves to version 2 when it is next written).
const VERSION_GCM: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// kv envelope header: version byte and big-endian key id.
const KV_HEADER_LEN: usize = 1 + 4;
/// Bytes a kv value grows by on its way into the inner store.
pub(super) const KV_OVERHEAD: usize = KV_HEADER_LEN + NONCE_LEN + TAG_LEN;

/// What kind of record a ciphertext belongs to; part of its associated data so that a
/// ciphertext can't move between namespaces (a token id and a kv key may be equal).
#[derive(Debug, Clone, Copy)]
enum Domain {
    Token,
    Session,
    Kv,
}

impl Domain {
    fn label(self) -> &'static str {
        match self {
            Domain::Token => "token",
            Domain::Session => "session",
            Domain::Kv => "kv",
        }
    }
}

/// The associated data binding a ciphertext to its record:
/// `"authstore.encrypted" 0 domain 0 version kid(4, BE) id`. Only the id varies in length
/// and it comes last, so two different records never share associated data.
fn associated_data(domain: Domain, version: u8, key_id: u32, record_id: &str) -> Vec<u8> {
    let label = domain.label();
    let mut aad = Vec::with_capacity(20 + label.len() + 6 + record_id.len());
    aad.extend_from_slice(b"authstore.encrypted\0");
    aad.extend_from_slice(label.as_bytes());
    aad.push(0);
    aad.push(version);
    aad.extend_from_slice(&key_id.to_be_bytes());
    aad.extend_from_slice(record_id.as_bytes());
    aad
}

/// Appends `nonce || ciphertext || tag` of `plaintext` to `out`, sealed with
/// AES-256-GCM-SIV (format [`VERSION`]) under a fresh random nonce.
fn seal_into(
    key: &DerivedKeys,
    domain: Domain,
    record_id: &str,
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    let mut nonce = Nonce::<Aes256GcmSiv>::default();
    getrandom::fill(nonce.as_mut_slice()).map_err(|err| StorageError::Backend {
        message: format!(
            "the operating system's random generator failed while encrypting {} {record_id:?}: {err}",
            domain.label()
        ),
        source: None,
    })?;
    let start = out.len() + NONCE_LEN;
    out.reserve(NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let aad = associated_data(domain, VERSION, key.id, record_id);
    let tag = cipher::<Aes256GcmSiv>(&key.siv)
        .encrypt_inout_detached(&nonce, &aad, (&mut out[start..]).into())
        .map_err(|_| {
            // AES-GCM-SIV refuses only plaintexts of 64 GiB or more.
            StorageError::InvalidInput(format!(
                "{} {record_id:?} is too large to encrypt ({} bytes)",
                domain.label(),
                plaintext.len()
            ))
        })?;
    out.extend_from_slice(&tag);
    Ok(())
}

/// The plaintext of `nonce || ciphertext || tag` in envelope format `version`, or
/// `Integrity` naming the record.
fn open(
    key: &DerivedKeys,
    version: u8,
    domain: Domain,
    record_id: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let failed = || {
        StorageError::Integrity(format!(
            "{} {record_id:?} failed authenticated decryption with key id {}: the ciphertext \
             was altered, belongs to another record, or was written with other key material \
             under this id",
            domain.label(),
            key.id
        ))
    };
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(failed());
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    let aad = associated_data(domain, version, key.id, record_id);
    let opened = match version {
        VERSION => decrypt(
            &cipher::<Aes256GcmSiv>(&key.siv),
            nonce,
            &aad,
            &mut buffer,
            tag,
        ),
        VERSION_GCM => decrypt(
            &cipher::<Aes256Gcm>(&key.gcm),
            nonce,
            &aad,
            &mut buffer,
            tag,
        ),
        other => {
            return Err(StorageError::Integrity(format!(
                "{} {record_id:?} holds an envelope of unsupported version {other}",
                domain.label()
            )));
        }
    };
    opened.ok_or_else(failed)?;
    Ok(buffer)
}

/// Decrypts `buffer` in place and checks `tag`; `None` if they do not authenticate.
fn decrypt<C: AeadInOut>(
    cipher: &C,
    nonce: &[u8],
    aad: &[u8],
    buffer: &mut [u8],
    tag: &[u8],
) -> Option<()> {
    let nonce = Nonce::<C>::try_from(nonce).ok()?;
    let tag = Tag::<C>::try_from(tag).ok()?;
    cipher
        .decrypt_inout_detached(&nonce, aad, buffer.into(), &tag)
        .ok()
}

/// A cipher keyed with `key`; the stack copy of the key is zeroed, and the cipher's key
/// schedule zeroes itself on drop (the `zeroize` features).
fn cipher<C: KeyInit<KeySize = U32>>(key: &[u8; 32]) -> C {
    let mut bytes = Key::<C>::from(*key);
    let cipher = C::new(&bytes);
    bytes.as_mut_slice().zeroize();
    cipher
}

fn keys_for<'k>(keys: &'k Keyring, key_id: u32, what: &str) -> Result<&'k DerivedKeys> {
    keys.get(key_id).ok_or_else(|| {
        StorageError::Integrity(format!(
            "{what} is encrypted with key id {key_id}, which the keyring lacks"
        ))
    })
}

/// The JSON envelope kept in a token's metadata or a session's data:
/// `{"v": 2, "kid": <key id>, "ct": base64(nonce || ciphertext || tag)}`.
fn json_envelope(key_id: u32, sealed: &[u8]) -> JsonMap {
    let mut map = JsonMap::new();
    map.insert("v".into(), VERSION.into());
    map.insert("kid".into(), key_id.into());
    map.insert("ct".into(), BASE64.encode(sealed).into());
    map
}

/// The format version, key id and sealed bytes of a JSON envelope; `what` names the
/// record in errors.
fn parse_json_envelope(map: &JsonMap, what: &str) -> Result<(u8, u32, Vec<u8>)> {
    let malformed = |detail: &str| {
        StorageError::Integrity(format!(
            "{what} holds no valid encryption envelope in the inner store: {detail}"
        ))
    };
    if map.len() != 3 {
        return Err(malformed("expected exactly the fields v, kid and ct"));
    }
    let version = match map.get("v").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(VERSION) => VERSION,
        Some(v) if v == u64::from(VERSION_GCM) => VERSION_GCM,
        Some(v) => return Err(malformed(&format!("unsupported envelope version {v}"))),
        None => return Err(malformed("missing or non-numeric version \"v\"")),
    };
    let key_id = map
        .get("kid")
        .and_then(serde_json::Value::as_u64)
        .and_then(|kid| u32::try_from(kid).ok())
        .ok_or_else(|| malformed("missing or invalid key id \"kid\""))?;
    let sealed = map
        .get("ct")
        .and_then(serde_json::Value::as_str)
        .and_then(|ct| BASE64.decode(ct).ok())
        .ok_or_else(|| malformed("missing or non-base64 ciphertext \"ct\""))?;
    Ok((version, key_id, sealed))
}

fn same_instant(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    // The inner store may keep whole microseconds only (SPEC.md GEN-3).
    truncate_to_micros(a) == truncate_to_micros(b)
}

/// Fails with `Integrity` naming `what` and the field unless `matches`.
fn check_field(matches: bool, what: &str, field: &str) -> Result<()> {
    if matches {
        Ok(())
    } else {
        Err(StorageError::Integrity(format!(
            "{what}: the inner store's {field} differs from the encrypted record's; the \
             stored record was altered"
        )))
    }
}

/// The record the inner store keeps for `token`: lookup hash instead of the access
/// token, the whole token encrypted in `metadata`, and only the plaintext columns the
/// inner store needs (ids and timestamps).
pub(super) fn seal_token(key: &DerivedKeys, token: &AuthToken) -> Result<AuthToken> {
    let plaintext = Zeroizing::new(serde_json::to_vec(token)?);
    let mut sealed = Vec::new();
    seal_into(key, Domain::Token, &token.token_id, &plaintext, &mut sealed)?;
    Ok(AuthToken {
        token_id: token.token_id.clone(),
        user_id: token.user_id.clone(),
        access_token: key.lookup_hash(&token.access_token),
        refresh_token: None,
        token_type: None,
        scopes: Vec::new(),
        issued_at: token.issued_at,
        expires_at: token.expires_at,
        metadata: json_envelope(key.id, &sealed),
    })
}

/// What a token read asked the inner store for: the record it answers with must be that
/// one (issue 14: the inner store, or whoever writes to it, chooses what it answers).
#[derive(Debug, Clone, Copy)]
pub(super) enum TokenQuery<'a> {
    /// `get_token(id)`.
    Id(&'a str),
    /// `list_user_tokens(user)`.
    User(&'a str),
    /// `get_token_by_access_token(access_token)`.
    AccessToken(&'a str),
}

/// What a session read asked the inner store for.
#[derive(Debug, Clone, Copy)]
pub(super) enum SessionQuery<'a> {
    /// `get_session(id)`.
    Id(&'a str),
    /// `list_user_sessions(user)`.
    User(&'a str),
}

/// Fails with `Integrity` saying `mismatch` unless the record `matches` the query.
fn check_query(matches: bool, mismatch: impl FnOnce() -> String) -> Result<()> {
    if matches {
        Ok(())
    } else {
        Err(StorageError::Integrity(mismatch()))
    }
}

/// The token a stored record encrypts, if it answers `query` and has not expired at
/// `now` by its encrypted expiry; `None` if it has (`TIME-1`, whatever the inner store's
/// expiry column says). Fails with `Integrity` if the record answers another query or
/// its plaintext columns disagree with the encrypted copy.
pub(super) fn open_token(
    keys: &Keyring,
    stored: &AuthToken,
    query: TokenQuery<'_>,
    now: DateTime<Utc>,
) -> Result<Option<AuthToken>> {
    // A read by id authenticates under the id asked for, so another record's ciphertext
    // fails to decrypt wherever its row was copied.
    let record_id = match query {
        TokenQuery::Id(id) => id,
        TokenQuery::User(_) | TokenQuery::AccessToken(_) => stored.token_id.as_str(),
    };
    let what = format!("token {record_id:?}");
    let (version, key_id, sealed) = parse_json_envelope(&stored.metadata, &what)?;
    let key = keys_for(keys, key_id, &what)?;
    let plaintext = open(key, version, Domain::Token, record_id, &sealed)?;
    let token: AuthToken = serde_json::from_slice(&plaintext)?;
    match query {
        TokenQuery::Id(id) => check_query(token.token_id == id, || {
            format!(
                "{what}: the inner store answered with token {:?}",
                token.token_id
            )
        })?,
        TokenQuery::User(user) => check_query(token.user_id == user, || {
            format!(
                "{what} of user {:?} was listed among the tokens of user {user:?}",
                token.user_id
            )
        })?,
        TokenQuery::AccessToken(access_token) => check_query(
            bool::from(token.access_token.as_bytes().ct_eq(access_token.as_bytes())),
            || format!("{what} was found by an access token it does not hold"),
        )?,
    }
    if now >= token.expires_at {
        return Ok(None);
    }
    check_field(token.token_id == stored.token_id, &what, "token_id")?;
    check_field(token.user_id == stored.user_id, &what, "user_id")?;
    check_field(
        same_instant(token.issued_at, stored.issued_at),
        &what,
        "issued_at",
    )?;
    check_field(
        same_instant(token.expires_at, stored.expires_at),
        &what,
        "expires_at",
    )?;
    let hash = key.lookup_hash(&token.access_token);
    check_field(
        bool::from(hash.as_bytes().ct_eq(stored.access_token.as_bytes())),
        &what,
        "access-token lookup hash",
    )?;
    Ok(Some(token))
}

/// The record the inner store keeps for `session`: ids and timestamps in the clear, the
/// whole session encrypted in `data`.
pub(super) fn seal_session(key: &DerivedKeys, session: &SessionData) -> Result<SessionData> {
    let plaintext = Zeroizing::new(serde_json::to_vec(session)?);
    let mut sealed = Vec::new();
    seal_into(
        key,
        Domain::Session,
        &session.session_id,
        &plaintext,
        &mut sealed,
    )?;
    Ok(SessionData {
        session_id: session.session_id.clone(),
        user_id: session.user_id.clone(),
        created_at: session.created_at,
        expires_at: session.expires_at,
        last_activity: session.last_activity,
        ip_address: None,
        user_agent: None,
        data: json_envelope(key.id, &sealed),
    })
}

/// The session a stored record encrypts, if it answers `query` and has not expired at
/// `now` by its encrypted expiry; as [`open_token`] otherwise.
pub(super) fn open_session(
    keys: &Keyring,
    stored: &SessionData,
    query: SessionQuery<'_>,
    now: DateTime<Utc>,
) -> Result<Option<SessionData>> {
    let record_id = match query {
        SessionQuery::Id(id) => id,
        SessionQuery::User(_) => stored.session_id.as_str(),
    };
    let what = format!("session {record_id:?}");
    let (version, key_id, sealed) = parse_json_envelope(&stored.data, &what)?;
    let key = keys_for(keys, key_id, &what)?;
    let plaintext = open(key, version, Domain::Session, record_id, &sealed)?;
    let session: SessionData = serde_json::from_slice(&plaintext)?;
    match query {
        SessionQuery::Id(id) => check_query(session.session_id == id, || {
            format!(
                "{what}: the inner store answered with session {:?}",
                session.session_id
            )
        })?,
        SessionQuery::User(user) => check_query(session.user_id == user, || {
            format!(
                "{what} of user {:?} was listed among the sessions of user {user:?}",
                session.user_id
            )
        })?,
    }
    if now >= session.expires_at {
        return Ok(None);
    }
    check_field(session.session_id == stored.session_id, &what, "session_id")?;
    check_field(session.user_id == stored.user_id, &what, "user_id")?;
    check_field(
        same_instant(session.created_at, stored.created_at),
        &what,
        "created_at",
    )?;
    check_field(
        same_instant(session.expires_at, stored.expires_at),
        &what,
        "expires_at",
    )?;
    check_field(
        same_instant(session.last_activity, stored.last_activity),
        &what,
        "last_activity",
    )?;
    Ok(Some(session))
}

/// The bytes the inner store keeps for kv value `value` under `key`:
/// `version(1) || kid(4, BE) || nonce(12) || ciphertext || tag(16)`.
pub(super) fn seal_kv(keys: &DerivedKeys, key: &str, value: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(KV_OVERHEAD + value.len());
    out.push(VERSION);
    out.extend_from_slice(&keys.id.to_be_bytes());
    seal_into(keys, Domain::Kv, key, value, &mut out)?;
    Ok(out)
}

/// The value a stored kv envelope encrypts.
pub(super) fn open_kv(keys: &Keyring, key: &str, stored: &[u8]) -> Result<Vec<u8>> {
    let what = format!("kv entry {key:?}");
    let Some((&version, rest)) = stored.split_first() else {
        return Err(StorageError::Integrity(format!(
            "{what} holds an empty value in the inner store, not an encryption envelope"
        )));
    };
    if version != VERSION && version != VERSION_GCM {
        return Err(StorageError::Integrity(format!(
            "{what} holds an envelope of unsupported version {version}"
        )));
    }
    let Some((kid, sealed)) = rest.split_first_chunk::<4>() else {
        return Err(StorageError::Integrity(format!(
            "{what} holds a truncated encryption envelope"
        )));
    };
    let derived = keys_for(keys, u32::from_be_bytes(*kid), &what)?;
    let plaintext = open(derived, version, Domain::Kv, key, sealed)?;
    // The caller owns the returned value; only intermediate copies are zeroed.
    Ok(plaintext.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encrypted::EncryptionKey;

    fn ring() -> Keyring {
        Keyring::new(EncryptionKey::new(5, [5; 32]))
    }

    #[test]
    fn kv_envelope_layout() {
        let ring = ring();
        let sealed = seal_kv(ring.current(), "k", b"value").unwrap();
        assert_eq!(sealed.len(), b"value".len() + KV_OVERHEAD);
        assert_eq!(sealed[0], VERSION);
        assert_eq!(&sealed[1..5], &5u32.to_be_bytes());
        assert_eq!(open_kv(&ring, "k", &sealed).unwrap(), b"value");
        // A fresh nonce per write: the same value seals differently each time.
        assert_ne!(seal_kv(ring.current(), "k", b"value").unwrap(), sealed);
    }

    #[test]
    fn kv_envelope_rejects_every_truncation() {
        let ring = ring();
        let sealed = seal_kv(ring.current(), "k", b"value").unwrap();
        for len in 0..sealed.len() {
            let err = open_kv(&ring, "k", &sealed[..len]).unwrap_err();
            assert!(matches!(err, StorageError::Integrity(_)), "{len}: {err}");
        }
    }

    #[test]
    fn associated_data_separates_domains_and_ids() {
        let a = associated_data(Domain::Token, VERSION, 1, "x");
        assert_ne!(a, associated_data(Domain::Session, VERSION, 1, "x"));
        assert_ne!(a, associated_data(Domain::Kv, VERSION, 1, "x"));
        assert_ne!(a, associated_data(Domain::Token, VERSION_GCM, 1, "x"));
        assert_ne!(a, associated_data(Domain::Token, VERSION, 2, "x"));
        assert_ne!(a, associated_data(Domain::Token, VERSION, 1, "y"));
    }

    #[test]
    fn json_envelope_rejects_extra_and_bad_fields() {
        let mut map = json_envelope(1, b"sealed");
        assert_eq!(
            parse_json_envelope(&map, "t").unwrap(),
            (VERSION, 1, b"sealed".to_vec())
        );
        map.insert("x".into(), 1.into());
        assert!(parse_json_envelope(&map, "t").is_err());
        let mut map = json_envelope(1, b"sealed");
        map.insert("v".into(), 3.into());
        assert!(parse_json_envelope(&map, "t").is_err());
        let mut map = json_envelope(1, b"sealed");
        map.insert("kid".into(), (u64::from(u32::MAX) + 1).into());
        assert!(parse_json_envelope(&map, "t").is_err());
    }

    /// Envelopes of format version 1 (AES-256-GCM), written by the code before version 2
    /// with key id 5 and material `[5; 32]`.
    const V1_KV: &str =
        "010000000584ea771247484821a9b8c743bea2bacc9e80b72805d622c2591c25030752a53257";
    const V1_TOKEN: &str = r#"{"token_id":"t","user_id":"alice","access_token":"d505f65d1ead624bc4b32a09e8f12a01edb067df3e38e57f20e27529441916b4","refresh_token":null,"token_type":null,"scopes":[],"issued_at":"2026-11-30T16:00:00Z","expires_at":"2100-01-01T00:00:00Z","metadata":{"ct":"cXErGNkwAlOWIqnJhe+XBVgNJBecU8YlIuKaebZ5YtYgOaOTKvlTSZr8ehw3K3SVB2DwrFDIWtowIC22o3L22iWgpGwG+yZtnjhIky46HchpBPrZ8o4hfjxyu8aHOggmqjUcRWOhOBwGuas9v2Nye/jzNgDE+ab0rddZw99EJtbpb4VL/7yJt10bDnVcLkkX0keROUGWJ+vZu2RVSXM2c5untMJQiCZUa1wNbSi0DhZvXJAiD68nPw01ETqn78Ci6fhAnP065M0c49UE/Emdaqon0ahlSpwxxbzTpQ==","kid":5,"v":1}}"#;
    const V1_SESSION: &str = r#"{"session_id":"s","user_id":"alice","created_at":"2026-11-30T16:00:00Z","expires_at":"2100-01-01T00:00:00Z","last_activity":"2026-11-30T16:00:00Z","ip_address":null,"user_agent":null,"data":{"ct":"EYG/cODPcYCLLz3GWG0ClRfZwyTx6LlKnC9UDLGehmGcro3gLfZmGj0gmEPbyXvf/c4oQUv7jmsMk+yqq4A4MXKvXDPuDeOP0gAnrUbybuLTn0PD0YSb1JchNBI0IBlqScMU5E/AkFwFxeOHAn4YNAtDvDKm/diM44taujETDDjBsTEDtvIfwL4T3bgHOQLehm3c5dcs1Mal5F8hphMMtmzjmgDCrzDrsgMuE4TgxlKIuK0TE+YHD+nObiqU1HHEGWnlpKtgxd708FQlnhZltweQVg270mhuFMOWoVU=","kid":5,"v":1}}"#;

    fn from_hex(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn version_1_gcm_envelopes_still_open() {
        let ring = ring();
        let now = Utc::now();
        assert_eq!(open_kv(&ring, "k", &from_hex(V1_KV)).unwrap(), b"value");
        let stored: AuthToken = serde_json::from_str(V1_TOKEN).unwrap();
        let token = open_token(&ring, &stored, TokenQuery::Id("t"), now)
            .unwrap()
            .unwrap();
        assert_eq!(
            (token.user_id.as_str(), token.access_token.as_str()),
            ("alice", "at-t")
        );
        let stored: SessionData = serde_json::from_str(V1_SESSION).unwrap();
        let session = open_session(&ring, &stored, SessionQuery::Id("s"), now)
            .unwrap()
            .unwrap();
        assert_eq!(session.user_id, "alice");
    }

    #[test]
    fn the_version_is_authenticated() {
        let ring = ring();
        // A version 1 envelope relabelled as version 2, and a version 2 one as version 1.
        let mut kv = from_hex(V1_KV);
        kv[0] = VERSION;
        assert!(matches!(
            open_kv(&ring, "k", &kv),
            Err(StorageError::Integrity(_))
        ));
        let mut kv = seal_kv(ring.current(), "k", b"value").unwrap();
        kv[0] = VERSION_GCM;
        assert!(matches!(
            open_kv(&ring, "k", &kv),
            Err(StorageError::Integrity(_))
        ));
        let mut stored: AuthToken = serde_json::from_str(V1_TOKEN).unwrap();
        stored.metadata.insert("v".into(), VERSION.into());
        assert!(matches!(
            open_token(&ring, &stored, TokenQuery::Id("t"), Utc::now()),
            Err(StorageError::Integrity(_))
        ));
    }
}
