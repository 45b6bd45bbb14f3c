//! Helpers shared by the SQL backends (PostgreSQL, MySQL/MariaDB).

use sha2::{Digest, Sha256};

/// The SHA-256 digest of an access token: what the SQL backends store and index in place
/// of the token itself (SPEC.md `ACC-5`), so that whoever reads the tables cannot use a
/// token from them. Access tokens are high-entropy secrets, so an unkeyed hash suffices;
/// equal tokens have equal digests, which the unique index relies on (`ACC-2`).
pub(crate) fn access_token_digest(access_token: &str) -> [u8; 32] {
    Sha256::digest(access_token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256_of_the_utf8_bytes() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        let expected = [
            0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
            0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
            0xf2, 0x00, 0x15, 0xad,
        ];
        assert_eq!(access_token_digest("abc"), expected);
        assert_ne!(access_token_digest("Token"), access_token_digest("token"));
    }
}
