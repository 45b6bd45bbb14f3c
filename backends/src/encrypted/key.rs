//! Key material: [`EncryptionKey`], [`Keyring`], and the per-purpose keys derived from
//! each key so that no bytes serve two purposes.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::digest::Key as MacKey;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

type HmacSha256 = Hmac<Sha256>;

/// Length of key material, and of every key derived from it, in bytes.
const KEY_LEN: usize = 32;

// Labels for the derived keys. A new purpose gets a new label; never reuse one.
const GCM_LABEL: &[u8] = b"authstore.encrypted v1: AES-256-GCM record key";
const SIV_LABEL: &[u8] = b"authstore.encrypted v2: AES-256-GCM-SIV record key";
const LOOKUP_LABEL: &[u8] = b"authstore.encrypted v1: HMAC-SHA256 access-token lookup key";

/// Why key material was rejected, or a keyring could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text given to [`EncryptionKey::from_base64`] is not standard base64.
    #[error("key {key_id}: the key material is not valid standard base64")]
    InvalidBase64 {
        /// The id the key was to have.
        key_id: u32,
        /// The decoder's error.
        #[source]
        source: base64::DecodeError,
    },
    /// The key material is not exactly 32 bytes long.
    #[error("key {key_id}: the key material is {len} bytes long; AES-256 needs exactly 32")]
    WrongLength {
        /// The id the key was to have.
        key_id: u32,
        /// The length that was given.
        len: usize,
    },
    /// The operating system's random generator failed while generating a key.
    #[error("key {key_id}: the operating system's random generator failed: {reason}")]
    Random {
        /// The id the key was to have.
        key_id: u32,
        /// The generator's error message.
        reason: String,
    },
    /// Two keys of one [`Keyring`] have the same id.
    #[error("key id {0} is already in the keyring; every key needs its own id")]
    DuplicateKeyId(u32),
}

/// A 256-bit key with an id, from which [`EncryptedStorage`](super::EncryptedStorage)
/// derives its encryption and lookup keys.
///
/// The id is written next to every record encrypted with the key so that the key can be
/// rotated (see [`Keyring`]); ids must be unique within a keyring and must never be
/// reused for different key material.
///
/// The material is zeroed when the value is dropped, and `Debug` shows only the id.
#[derive(Clone)]
pub struct EncryptionKey {
    id: u32,
    material: Zeroizing<[u8; KEY_LEN]>,
}

impl EncryptionKey {
    /// A key with this id and these 32 bytes of uniformly random material (for
    /// instance from a secrets manager). The caller's copy of `material` is the caller's
    /// to zero.
    pub fn new(id: u32, material: [u8; KEY_LEN]) -> Self {
        Self {
            id,
            material: Zeroizing::new(material),
        }
    }

    /// A fresh random key from the operating system's generator.
    ///
    /// # Errors
    /// [`KeyError::Random`] if the generator fails.
    pub fn generate(id: u32) -> Result<Self, KeyError> {
        let mut material = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(material.as_mut_slice()).map_err(|err| KeyError::Random {
            key_id: id,
            reason: err.to_string(),
        })?;
        Ok(Self { id, material })
    }

    /// A key from 32 bytes written in standard base64 (with padding, as
    /// [`to_base64`](Self::to_base64) writes them). Surrounding ASCII whitespace, such as
    /// the newline of a key file, is ignored.
    ///
    /// # Errors
    /// [`KeyError::InvalidBase64`] or [`KeyError::WrongLength`].
    pub fn from_base64(id: u32, encoded: &str) -> Result<Self, KeyError> {
        let decoded = Zeroizing::new(
            BASE64
                .decode(encoded.trim_ascii())
                .map_err(|source| KeyError::InvalidBase64 { key_id: id, source })?,
        );
        let mut material = Zeroizing::new([0u8; KEY_LEN]);
        if decoded.len() != KEY_LEN {
            return Err(KeyError::WrongLength {
                key_id: id,
                len: decoded.len(),
            });
        }
        material.copy_from_slice(&decoded);
        Ok(Self { id, material })
    }

    /// The key's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The key material in standard base64, for storing a generated key in a secrets
    /// manager; the returned string is zeroed when dropped.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64.encode(self.material.as_slice()))
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id)
            .field("material", &"<redacted>")
            .finish()
    }
}

/// The keys an [`EncryptedStorage`](super::EncryptedStorage) uses: one current key, which
/// encrypts every write, and any number of old keys, which still decrypt the records
/// they wrote and still resolve their access tokens.
///
/// # Rotating a key
/// 1. Deploy a keyring with the new key as an *old* key on every handle
///    (`Keyring::new(k1).with_old_key(k2)`), so every handle can read what `k2` will
///    write and checks access-token uniqueness (`ACC-2`) against it.
/// 2. Then make it current everywhere (`Keyring::new(k2).with_old_key(k1)`). New writes use
///    `k2`; records written with `k1` stay readable and are re-encrypted with `k2` when
///    they are next written.
/// 3. Drop `k1` only once no live record uses it (tokens and sessions expire; rewrite or
///    delete long-lived kv entries first). A record whose key is missing reads as
///    [`Integrity`](authstore_spec::StorageError::Integrity).
pub struct Keyring {
    current: DerivedKeys,
    old: Vec<DerivedKeys>,
}

impl Keyring {
    /// A keyring that encrypts with `current` and knows no older key.
    pub fn new(current: EncryptionKey) -> Self {
        Self {
            current: DerivedKeys::derive(&current),
            old: Vec::new(),
        }
    }

    /// This keyring also reading records written with `old`.
    ///
    /// # Errors
    /// [`KeyError::DuplicateKeyId`] if the keyring already has a key with `old`'s id.
    pub fn with_old_key(mut self, old: EncryptionKey) -> Result<Self, KeyError> {
        if self.get(old.id).is_some() {
            return Err(KeyError::DuplicateKeyId(old.id));
        }
        self.old.push(DerivedKeys::derive(&old));
        Ok(self)
    }

    /// The id of the key new writes use.
    pub fn current_key_id(&self) -> u32 {
        self.current.id
    }

    /// The ids of the old keys, in the order they were added.
    pub fn old_key_ids(&self) -> Vec<u32> {
        self.old.iter().map(|k| k.id).collect()
    }

    pub(super) fn current(&self) -> &DerivedKeys {
        &self.current
    }

    pub(super) fn old(&self) -> &[DerivedKeys] {
        &self.old
    }

    /// The keys with this id, current or old.
    pub(super) fn get(&self, id: u32) -> Option<&DerivedKeys> {
        std::iter::once(&self.current)
            .chain(&self.old)
            .find(|k| k.id == id)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current_key_id", &self.current.id)
            .field("old_key_ids", &self.old_key_ids())
            .finish()
    }
}

/// The purpose-bound keys derived from one [`EncryptionKey`]; the material itself is not
/// kept. Each cipher has its own key, so no key serves two algorithms.
pub(super) struct DerivedKeys {
    pub(super) id: u32,
    /// AES-256-GCM-SIV key for record contents (envelope version 2, every write).
    pub(super) siv: Zeroizing<[u8; KEY_LEN]>,
    /// AES-256-GCM key for record contents of envelope version 1 (read only).
    pub(super) gcm: Zeroizing<[u8; KEY_LEN]>,
    /// HMAC-SHA256 key for the access-token lookup hash.
    lookup: Zeroizing<[u8; KEY_LEN]>,
}

impl DerivedKeys {
    fn derive(key: &EncryptionKey) -> Self {
        // HMAC-SHA256 keyed with uniformly random material is a PRF, so distinct labels
        // give independent keys (HKDF-Expand with a single output block).
        Self {
            id: key.id,
            siv: hmac_sha256(&key.material, SIV_LABEL),
            gcm: hmac_sha256(&key.material, GCM_LABEL),
            lookup: hmac_sha256(&key.material, LOOKUP_LABEL),
        }
    }

    /// The lowercase hex HMAC-SHA256 of `access_token` under this key's lookup key: what
    /// the inner store holds instead of the access token.
    pub(super) fn lookup_hash(&self, access_token: &str) -> String {
        let digest = hmac_sha256(&self.lookup, access_token.as_bytes());
        let mut hex = String::with_capacity(2 * KEY_LEN);
        for byte in digest.iter() {
            hex.push(HEX_DIGITS[usize::from(byte >> 4)]);
            hex.push(HEX_DIGITS[usize::from(byte & 0x0f)]);
        }
        hex
    }
}

const HEX_DIGITS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f',
];

fn hmac_sha256(key: &[u8; KEY_LEN], message: &[u8]) -> Zeroizing<[u8; KEY_LEN]> {
    // HMAC zero-pads keys shorter than the hash block (RFC 2104), so padding the
    // 32-byte key to SHA-256's 64-byte block ourselves gives the same MAC through the
    // infallible constructor.
    let mut padded = MacKey::<HmacSha256>::default();
    padded[..KEY_LEN].copy_from_slice(key);
    let mut mac = <HmacSha256 as KeyInit>::new(&padded);
    padded.as_mut_slice().zeroize();
    mac.update(message);
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        // Key "Jefe", zero-padded: HMAC pads short keys with zeros, so the MAC is the
        // RFC's.
        let mut key = [0u8; KEY_LEN];
        key[..4].copy_from_slice(b"Jefe");
        let mac = hmac_sha256(&key, b"what do ya want for nothing?");
        let expected: [u8; KEY_LEN] = [
            0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
            0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9,
            0x64, 0xec, 0x38, 0x43,
        ];
        assert_eq!(*mac, expected);
    }

    #[test]
    fn derived_keys_differ_from_material_and_each_other() {
        let key = EncryptionKey::new(1, [7u8; KEY_LEN]);
        let derived = DerivedKeys::derive(&key);
        assert_ne!(*derived.siv, *derived.lookup);
        assert_ne!(*derived.gcm, *derived.lookup);
        assert_ne!(*derived.siv, *derived.gcm);
        assert_ne!(*derived.siv, [7u8; KEY_LEN]);
        assert_ne!(*derived.gcm, [7u8; KEY_LEN]);
        assert_ne!(*derived.lookup, [7u8; KEY_LEN]);
        let hash = derived.lookup_hash("at");
        assert_eq!(hash.len(), 64);
        assert!(
            hash.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    #[test]
    fn base64_round_trip_and_errors() {
        let key = EncryptionKey::generate(3).unwrap();
        let encoded = key.to_base64();
        let back = EncryptionKey::from_base64(3, &format!("{}\n", encoded.as_str())).unwrap();
        assert_eq!(*back.material, *key.material);
        assert!(matches!(
            EncryptionKey::from_base64(3, "AAAA"),
            Err(KeyError::WrongLength { key_id: 3, len: 3 })
        ));
        assert!(matches!(
            EncryptionKey::from_base64(3, "not base64!"),
            Err(KeyError::InvalidBase64 { key_id: 3, .. })
        ));
    }

    #[test]
    fn generated_keys_differ() {
        let a = EncryptionKey::generate(1).unwrap();
        let b = EncryptionKey::generate(1).unwrap();
        assert_ne!(*a.material, *b.material);
    }

    #[test]
    fn keyring_rejects_duplicate_ids() {
        let ring = Keyring::new(EncryptionKey::new(2, [2; KEY_LEN]))
            .with_old_key(EncryptionKey::new(1, [1; KEY_LEN]))
            .unwrap();
        assert_eq!(ring.current_key_id(), 2);
        assert_eq!(ring.old_key_ids(), vec![1]);
        assert!(ring.get(1).is_some() && ring.get(2).is_some() && ring.get(3).is_none());
        assert!(matches!(
            ring.with_old_key(EncryptionKey::new(2, [9; KEY_LEN])),
            Err(KeyError::DuplicateKeyId(2))
        ));
    }

    #[test]
    fn debug_shows_ids_only() {
        let key = EncryptionKey::new(42, [0xab; KEY_LEN]);
        let shown = format!("{key:?}");
        assert!(
            shown.contains("42") && shown.contains("redacted"),
            "{shown}"
        );
        assert!(!shown.contains("171"), "{shown}");
        assert!(!shown.contains(key.to_base64().as_str()), "{shown}");
        let ring = Keyring::new(key);
        assert_eq!(
            format!("{ring:?}"),
            "Keyring { current_key_id: 42, old_key_ids: [] }"
        );
    }
}
