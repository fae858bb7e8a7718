//! Build-cache identifiers: action IDs and output IDs.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// Number of bytes in a build-cache hash (`HashSize` in Go's cmd/go/internal/cache/hash.go).
pub const HASH_SIZE: usize = 32;

/// Number of hex digits in a build-cache hash as it appears in file names and entries.
pub const HEX_SIZE: usize = HASH_SIZE * 2;

/// A build-cache key: an action ID (hash of a build step's inputs) or an output ID
/// (SHA-256 of an output's content), shown as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(pub [u8; HASH_SIZE]);

/// Why a string is not an [`Id`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string does not have exactly 64 characters.
    #[error("build-cache id must be {HEX_SIZE} hex digits, got {len} characters")]
    Length {
        /// Length of the rejected string in bytes.
        len: usize,
    },
    /// The string has a character that is not a hex digit.
    #[error("build-cache id has a character that is not a hex digit")]
    NotHex,
}

impl Id {
    /// The output ID of `data`: its SHA-256, which is how Go names `-d` files
    /// (cache.go `put` hashes the content with unsalted SHA-256).
    pub fn of_content(data: &[u8]) -> Id {
        Id(Sha256::digest(data).into())
    }

    /// The 64 lower-case hex digits Go uses in file names (`fmt.Sprintf("%x", id)`).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits; upper case is accepted because Go's `hex.Decode`,
    /// which reads action entries, accepts it too.
    pub fn from_hex(s: &str) -> Result<Id, IdError> {
        Self::from_hex_bytes(s.as_bytes())
    }

    /// Like [`Id::from_hex`] on raw bytes (an action entry's field).
    pub fn from_hex_bytes(s: &[u8]) -> Result<Id, IdError> {
        if s.len() != HEX_SIZE {
            return Err(IdError::Length { len: s.len() });
        }
        let mut out = [0u8; HASH_SIZE];
        hex::decode_to_slice(s, &mut out).map_err(|_| IdError::NotHex)?;
        Ok(Id(out))
    }

    /// The two-hex-digit subdirectory Go files this ID under (`%02x` of the first byte).
    pub fn subdir(&self) -> String {
        format!("{:02x}", self.0[0])
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({self})")
    }
}

impl FromStr for Id {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Id, IdError> {
        Id::from_hex(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let mut bytes = [0u8; HASH_SIZE];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i * 7) as u8;
        }
        let id = Id(bytes);
        let s = id.to_hex();
        assert_eq!(s.len(), HEX_SIZE);
        assert_eq!(s, s.to_lowercase());
        assert_eq!(id.to_string(), s);
        assert_eq!(s.parse::<Id>(), Ok(id));
        assert_eq!(Id::from_hex(&s.to_uppercase()), Ok(id));
        assert_eq!(format!("{id:?}"), format!("Id({s})"));
        assert_eq!(id.subdir(), "00");
    }

    #[test]
    fn rejects_bad_hex() {
        assert_eq!(Id::from_hex("abc"), Err(IdError::Length { len: 3 }));
        let bad = "g".repeat(HEX_SIZE);
        assert_eq!(Id::from_hex(&bad), Err(IdError::NotHex));
    }

    #[test]
    fn content_id_is_sha256() {
        // sha256("") is a well-known constant.
        assert_eq!(
            Id::of_content(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
