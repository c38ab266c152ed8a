//! A dashboard sign-in: the cookie's secret, what the store keeps of it, and the CSRF token
//! bound to it.
//!
//! The cookie carries `vg_si_` + 32 random bytes; the store keeps only its SHA-256, so a leaked
//! database opens no dashboard. The CSRF token is an HMAC of the secret, so it needs no storage,
//! changes with every sign-in, and cannot be derived by a page that cannot read the (HttpOnly)
//! cookie.

use crate::api_key::hex;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::CryptoRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Every sign-in cookie value starts with this.
pub const SIGN_IN_PREFIX: &str = "vg_si_";

/// A sign-in's secret (the cookie's value) and the hash it is stored under.
#[derive(Debug, Clone)]
pub struct SignInSecret {
    pub secret: String,
    pub hash: String,
}

impl SignInSecret {
    /// A new secret from `rng`, which must be a cryptographically secure generator.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        let secret = format!("{SIGN_IN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        let hash = hash_of(&secret);
        SignInSecret { secret, hash }
    }
}

/// Whether a cookie value could be a sign-in secret at all (anything else is not looked up).
pub fn is_well_formed(text: &str) -> bool {
    text.strip_prefix(SIGN_IN_PREFIX).is_some_and(|rest| {
        rest.len() == 43 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The hex SHA-256 a secret is stored and looked up under.
pub fn hash_of(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// The CSRF token of the sign-in whose cookie is `secret`.
pub fn csrf_token(secret: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"voxgate dashboard csrf");
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Whether `given` is the CSRF token of `secret`, compared in constant time.
pub fn csrf_matches(secret: &str, given: &str) -> bool {
    csrf_token(secret).as_bytes().ct_eq(given.as_bytes()).into()
}

/// Most characters an email may have (RFC 5321's path limit).
const MAX_EMAIL_CHARS: usize = 254;

/// A dashboard user's email as stored and looked up: trimmed and lower-cased. The error says
/// what is wrong with it.
pub fn normalize_email(text: &str) -> Result<String, String> {
    let email = text.trim().to_lowercase();
    if email.is_empty() {
        return Err("the email is empty".into());
    }
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Err(format!("the email is longer than {MAX_EMAIL_CHARS} characters"));
    }
    let valid = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !domain.starts_with('.')
    }) && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(format!("{email:?} is not an email address (name@example.com)"));
    }
    Ok(email)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn a_secret_is_well_formed_and_stored_by_hash() {
        let s = SignInSecret::generate(&mut StdRng::seed_from_u64(3));
        assert!(is_well_formed(&s.secret), "{}", s.secret);
        assert_eq!(s.hash, hash_of(&s.secret));
        assert!(!s.hash.contains(&s.secret[6..]));
        assert!(!is_well_formed("vg_si_short"));
        assert!(!is_well_formed(&s.secret.replace("vg_si_", "vg_sk_")));
    }

    #[test]
    fn the_csrf_token_belongs_to_one_sign_in() {
        let mut rng = StdRng::seed_from_u64(4);
        let (a, b) = (SignInSecret::generate(&mut rng), SignInSecret::generate(&mut rng));
        let token = csrf_token(&a.secret);
        assert!(csrf_matches(&a.secret, &token));
        assert!(!csrf_matches(&b.secret, &token));
        assert!(!csrf_matches(&a.secret, ""));
    }

    #[test]
    fn emails_are_normalized_or_refused_with_a_reason() {
        assert_eq!(normalize_email(" Ana@Example.COM "), Ok("ana@example.com".into()));
        assert!(normalize_email("").unwrap_err().contains("empty"));
        assert!(normalize_email("ana").unwrap_err().contains("not an email"));
        assert!(normalize_email("ana@x@y").is_err());
        assert!(normalize_email("a na@example.com").is_err());
    }
}
