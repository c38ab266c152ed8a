//! Workspace API keys: `vg_sk_` + 32 random bytes (base64url). Only the SHA-256 hash is stored,
//! so a leaked database does not leak working keys.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::CryptoRng;
use sha2::{Digest, Sha256};

/// Every workspace API key starts with this, so one is easy to spot in code review and logs.
pub const API_KEY_PREFIX: &str = "vg_sk_";

/// A newly created key: the secret is shown once, only the hash is kept.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub secret: String,
    pub hash: KeyHash,
}

/// Hex SHA-256 of a whole key string: the form in which keys are stored and looked up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyHash(pub String);

impl NewApiKey {
    /// A new key from `rng`, which must be a cryptographically secure generator.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        let secret = format!("{API_KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        let hash = KeyHash::of(&secret);
        NewApiKey { secret, hash }
    }
}

impl KeyHash {
    pub fn of(key: &str) -> Self {
        KeyHash(hex(&Sha256::digest(key.as_bytes())))
    }
}

/// True when `text` has the shape of a workspace key (used to refuse keys on browser endpoints).
pub fn looks_like_api_key(text: &str) -> bool {
    text.starts_with(API_KEY_PREFIX)
}

/// Whether `text` could be a key at all; anything else is refused before hashing.
pub fn is_well_formed(text: &str) -> bool {
    text.strip_prefix(API_KEY_PREFIX).is_some_and(|rest| {
        rest.len() == 43 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_well_formed_and_hashed() {
        let mut rng = crate::test_rng();
        let a = NewApiKey::generate(&mut rng);
        let b = NewApiKey::generate(&mut rng);
        assert_ne!(a.secret, b.secret);
        assert!(is_well_formed(&a.secret), "{}", a.secret);
        assert_eq!(a.hash, KeyHash::of(&a.secret));
        assert_eq!(a.hash.0.len(), 64);
        assert!(!a.hash.0.contains(&a.secret));
        assert!(!is_well_formed("vg_sk_short"));
    }
}
