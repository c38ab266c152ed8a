//! Session tokens: `vg_st_` + base64url(claims JSON) + `.` + base64url(HMAC-SHA256).
//!
//! Any node holding the signing secret can verify a token without a database round trip. The
//! MAC is checked in constant time before the claims are trusted. Whether the session has since
//! ended is not the token's business: the caller checks the live session after `verify`.

use crate::ids::{SessionId, WidgetId};
use crate::session::ModeSet;
use crate::{ErrorCode, Timestamp};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Every session token starts with this.
pub const TOKEN_PREFIX: &str = "vg_st_";
/// Longer inputs are refused before any decoding work.
const MAX_TOKEN_LEN: usize = 1024;

type HmacSha256 = Hmac<Sha256>;

/// What a session token asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// The session this token opens.
    pub sid: SessionId,
    /// The widget the session belongs to; a token is only good on that widget's endpoints.
    pub wid: WidgetId,
    /// Modes the session may use.
    pub modes: ModeSet,
    /// Expiry, Unix milliseconds.
    pub exp: i64,
    /// Which signing secret made the MAC, so secrets can rotate.
    pub kid: String,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the session token is malformed")]
    Malformed,
    #[error("the session token's signature does not verify")]
    BadSignature,
    #[error("the session token was signed with an unknown key")]
    UnknownKey,
    #[error("the session token expired at {0}")]
    Expired(String),
}

impl TokenError {
    pub fn code(&self) -> ErrorCode {
        match self {
            TokenError::Expired(_) => ErrorCode::TokenExpired,
            _ => ErrorCode::TokenInvalid,
        }
    }
}

/// Signs and verifies session tokens with one HMAC secret.
#[derive(Clone)]
pub struct TokenSigner {
    key_id: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// `secret` should be at least 32 random bytes; `key_id` names it inside tokens.
    pub fn new(key_id: impl Into<String>, secret: Vec<u8>) -> Self {
        TokenSigner { key_id: key_id.into(), secret }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        <HmacSha256 as Mac>::new_from_slice(&self.secret).expect("HMAC takes any key length")
    }

    /// A token for `claims`; `claims.kid` is overwritten with this signer's key id.
    pub fn sign(&self, mut claims: TokenClaims) -> String {
        claims.kid = self.key_id.clone();
        let payload = serde_json::to_vec(&claims).expect("claims serialize");
        let payload_b64 = URL_SAFE_NO_PAD.encode(&payload);
        let mut mac = self.mac();
        mac.update(payload_b64.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{TOKEN_PREFIX}{payload_b64}.{sig}")
    }

    /// The claims of a genuine, unexpired token.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<TokenClaims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let body = token.strip_prefix(TOKEN_PREFIX).ok_or(TokenError::Malformed)?;
        let (payload_b64, sig_b64) = body.split_once('.').ok_or(TokenError::Malformed)?;
        let sig = URL_SAFE_NO_PAD.decode(sig_b64).map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(payload_b64.as_bytes());
        // `verify_slice` compares in constant time.
        mac.verify_slice(&sig).map_err(|_| TokenError::BadSignature)?;
        let payload = URL_SAFE_NO_PAD.decode(payload_b64).map_err(|_| TokenError::Malformed)?;
        let claims: TokenClaims = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if claims.kid != self.key_id {
            return Err(TokenError::UnknownKey);
        }
        if now.millis() >= claims.exp {
            return Err(TokenError::Expired(Timestamp(claims.exp).to_rfc3339()));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Mode;

    fn claims(exp: i64) -> TokenClaims {
        TokenClaims {
            sid: SessionId::generate(&mut crate::test_rng()),
            wid: WidgetId::generate(&mut crate::test_rng()),
            modes: ModeSet::of(&[Mode::Text, Mode::Voice]),
            exp,
            kid: String::new(),
        }
    }

    fn signer() -> TokenSigner {
        TokenSigner::new("k1", vec![7u8; 32])
    }

    #[test]
    fn round_trip_until_expiry() {
        let c = claims(10_000);
        let t = signer().sign(c.clone());
        assert!(t.starts_with(TOKEN_PREFIX));
        let got = signer().verify(&t, Timestamp(9_999)).unwrap();
        assert_eq!(got.sid, c.sid);
        assert_eq!(got.kid, "k1");
        let err = signer().verify(&t, Timestamp(10_000)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::TokenExpired);
    }

    #[test]
    fn tampering_is_detected() {
        let t = signer().sign(claims(10_000));
        let (head, sig) = t.rsplit_once('.').unwrap();
        // Re-encode a payload with a later expiry but keep the old signature.
        let mut forged = claims(99_999_999);
        forged.kid = "k1".into();
        let forged_b64 = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let forged_token = format!("{TOKEN_PREFIX}{forged_b64}.{sig}");
        assert_eq!(signer().verify(&forged_token, Timestamp(0)), Err(TokenError::BadSignature));
        // A flipped signature character.
        let mut bad = head.to_string();
        bad.push('.');
        bad.push_str(&sig.replacen(&sig[..1], if &sig[..1] == "A" { "B" } else { "A" }, 1));
        assert_eq!(signer().verify(&bad, Timestamp(0)), Err(TokenError::BadSignature));
        // Another secret.
        let other = TokenSigner::new("k1", vec![8u8; 32]);
        assert_eq!(other.verify(&t, Timestamp(0)), Err(TokenError::BadSignature));
        assert_eq!(signer().verify("vg_st_nonsense", Timestamp(0)), Err(TokenError::Malformed));
        assert_eq!(signer().verify("vg_sk_abc.def", Timestamp(0)), Err(TokenError::Malformed));
    }
}
