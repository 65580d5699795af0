//! Content digests (`sha256:<64 hex>`): parsing, computing, and verifying while streaming.
//!
//! Only `sha256` is produced; `sha512` digests are parsed and verified too, since the OCI spec
//! registers both.

use sha2::{Digest as _, Sha256, Sha512};
use std::fmt;
use std::str::FromStr;

/// A validated content digest such as `sha256:9f86d0…`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("digest `{0}` has no algorithm: expected `sha256:<64 hex digits>`")]
    NoAlgorithm(String),
    #[error("digest algorithm `{0}` is not supported: use `sha256`")]
    Algorithm(String),
    #[error("digest `{0}` must have {1} lowercase hex digits after the algorithm")]
    Encoded(String, usize),
}

impl Digest {
    /// The sha256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// `sha256` or `sha512`.
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map(|(a, _)| a).unwrap_or("")
    }

    /// The hex part after the colon.
    pub fn encoded(&self) -> &str {
        self.0.split_once(':').map(|(_, e)| e).unwrap_or("")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `bytes` hash to this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        let mut v = self.verifier();
        v.update(bytes);
        v.finish() == *self
    }

    /// An incremental hasher of this digest's algorithm.
    pub fn verifier(&self) -> Hasher {
        match self.algorithm() {
            "sha512" => Hasher::Sha512(Sha512::new()),
            _ => Hasher::Sha256(Sha256::new()),
        }
    }
}

/// Incremental hashing for streamed bodies.
#[derive(Clone)]
pub enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Digest {
        match self {
            Hasher::Sha256(h) => Digest(format!("sha256:{}", hex::encode(h.finalize()))),
            Hasher::Sha512(h) => Digest(format!("sha512:{}", hex::encode(h.finalize()))),
        }
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (alg, enc) = s
            .split_once(':')
            .ok_or_else(|| DigestError::NoAlgorithm(s.to_string()))?;
        let len = match alg {
            "sha256" => 64,
            "sha512" => 128,
            other => return Err(DigestError::Algorithm(other.to_string())),
        };
        let hex_ok = enc.len() == len
            && enc
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            return Err(DigestError::Encoded(s.to_string(), len));
        }
        Ok(Digest(s.to_string()))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_and_parses() {
        let d = Digest::sha256(b"hello");
        assert_eq!(
            d.as_str(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(d.as_str().parse::<Digest>().unwrap(), d);
        assert!(d.matches(b"hello"));
        assert!(!d.matches(b"hellO"));
    }

    #[test]
    fn rejects_bad_digests() {
        assert!(matches!(
            "abc".parse::<Digest>(),
            Err(DigestError::NoAlgorithm(_))
        ));
        assert!(matches!(
            "md5:abc".parse::<Digest>(),
            Err(DigestError::Algorithm(_))
        ));
        assert!(matches!(
            "sha256:ABC".parse::<Digest>(),
            Err(DigestError::Encoded(_, 64))
        ));
        let upper = format!("sha256:{}", "A".repeat(64));
        assert!(upper.parse::<Digest>().is_err());
    }
}
