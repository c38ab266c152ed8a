//! Dashboard passwords: hashed with argon2id and kept only as the PHC string
//! (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), so a leaked database leaks no password and
//! each hash carries its own parameters (they can be raised later without a migration).

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use rand::{CryptoRng, Rng};

/// Fewest characters a password may have (NIST SP 800-63B asks at least 8).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Most characters a password may have: argon2 takes any length, but a sign-in form must not be
/// a way to hand the server megabytes to hash.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Why a password cannot be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is {0} characters long; it must have at least {MIN_PASSWORD_CHARS}")]
    TooShort(usize),
    #[error("the password is {0} characters long; the limit is {MAX_PASSWORD_CHARS}")]
    TooLong(usize),
    #[error("the password could not be hashed: {0}")]
    Hash(String),
}

/// A password's argon2id hash in PHC form, salted from `rng` (a cryptographically secure one).
pub fn hash(password: &str, rng: &mut impl CryptoRng) -> Result<String, PasswordError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort(chars));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordError::TooLong(chars));
    }
    let mut salt = [0u8; 16];
    rng.fill_bytes(&mut salt);
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches `phc` (constant time in the hash comparison). A malformed stored
/// hash matches nothing.
pub fn verify(password: &str, phc: &str) -> bool {
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return false;
    }
    Argon2::default().verify_password(password.as_bytes(), phc).is_ok()
}

/// A password for a new dashboard user, shown once: 20 characters from an alphabet without
/// look-alikes (about 115 bits).
pub fn generate(rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..20).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let mut rng = StdRng::seed_from_u64(7);
        let phc = hash("correct horse battery", &mut rng).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(verify("correct horse battery", &phc));
        assert!(!verify("correct horse batterY", &phc));
        assert!(!verify("correct horse battery", "not a hash"));
    }

    #[test]
    fn the_same_password_gets_a_new_salt_each_time() {
        let mut rng = StdRng::seed_from_u64(7);
        let a = hash("correct horse battery", &mut rng).unwrap();
        let b = hash("correct horse battery", &mut rng).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn lengths_are_bounded() {
        let mut rng = StdRng::seed_from_u64(7);
        assert_eq!(hash("short", &mut rng), Err(PasswordError::TooShort(5)));
        let long = "x".repeat(MAX_PASSWORD_CHARS + 1);
        assert_eq!(hash(&long, &mut rng), Err(PasswordError::TooLong(MAX_PASSWORD_CHARS + 1)));
        assert!(!verify(&long, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA"));
    }

    #[test]
    fn generated_passwords_are_long_enough() {
        let mut rng = StdRng::seed_from_u64(1);
        let p = generate(&mut rng);
        assert_eq!(p.len(), 20);
        assert!(hash(&p, &mut rng).is_ok());
    }
}
