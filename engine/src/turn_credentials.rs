//! TURN credentials in the TURN REST API form that coturn's `use-auth-secret` checks: the
//! username is `<expiry unix seconds>:<session id>` and the password is
//! base64(HMAC-SHA1(shared secret, username)). A browser gets credentials that die with its
//! session; no long-lived TURN password is ever handed out.

use crate::ids::SessionId;
use crate::Timestamp;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha1::Sha1;

/// Shortest shared secret accepted: coturn compares it as given, so a short one is guessable.
pub const MIN_SECRET_BYTES: usize = 16;

/// Why the TURN settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnConfigError {
    #[error("--turn-urls is empty: give one or more turn: or turns: URLs, comma separated")]
    NoUrls,
    #[error("{0:?} is not a TURN URL (turn:host:port?transport=udp|tcp, or turns:host:port)")]
    BadUrl(String),
    #[error("the TURN secret is {0} bytes; use at least {MIN_SECRET_BYTES} (the same static-auth-secret as coturn's)")]
    ShortSecret(usize),
}

/// A username and password for one session's TURN allocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCredential {
    pub username: String,
    pub credential: String,
}

/// The credential for `session`, valid until `expires_at` (the session's own expiry).
pub fn credential(secret: &[u8], session: &SessionId, expires_at: Timestamp) -> TurnCredential {
    let username = format!("{}:{}", expires_at.seconds(), session);
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    let credential = STANDARD.encode(mac.finalize().into_bytes());
    TurnCredential { username, credential }
}

/// The TURN servers a node hands out, and the secret it shares with them.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnServers {
    urls: Vec<String>,
    secret: Vec<u8>,
}

impl std::fmt::Debug for TurnServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnServers").field("urls", &self.urls).field("secret", &"<redacted>").finish()
    }
}

impl TurnServers {
    /// From `--turn-urls` (comma separated) and `--turn-secret`.
    pub fn parse(urls: &str, secret: &str) -> Result<TurnServers, TurnConfigError> {
        let urls: Vec<String> =
            urls.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_string).collect();
        if urls.is_empty() {
            return Err(TurnConfigError::NoUrls);
        }
        for u in &urls {
            let rest = u.strip_prefix("turn:").or_else(|| u.strip_prefix("turns:"));
            let host = rest.map(|r| r.split('?').next().unwrap_or(""));
            if host.is_none_or(|h| h.is_empty() || h.contains('/') || h.contains(char::is_whitespace)) {
                return Err(TurnConfigError::BadUrl(u.clone()));
            }
        }
        if secret.len() < MIN_SECRET_BYTES {
            return Err(TurnConfigError::ShortSecret(secret.len()));
        }
        Ok(TurnServers { urls, secret: secret.as_bytes().to_vec() })
    }

    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The RTCIceServer a browser uses for `session` until `expires_at`.
    pub fn ice_server(&self, session: &SessionId, expires_at: Timestamp) -> Value {
        let c = credential(&self.secret, session, expires_at);
        json!({"urls": self.urls, "username": c.username, "credential": c.credential})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_is_coturns_rest_api_form() {
        // Computed independently with Python's hmac module:
        // base64(hmac.new(b"north-sea-secret", b"1764500000:ses_example", sha1).digest())
        let c = credential(
            b"north-sea-secret",
            &SessionId::parse("ses_example").unwrap(),
            Timestamp(1_764_500_000_123),
        );
        assert_eq!(c.username, "1764500000:ses_example");
        assert_eq!(c.credential, "cZ2roiWnuwYZYgPG41wgDq60iQA=");
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(TurnServers::parse(" ", "0123456789abcdef"), Err(TurnConfigError::NoUrls));
        assert!(matches!(
            TurnServers::parse("stun:x:3478", "0123456789abcdef"),
            Err(TurnConfigError::BadUrl(_))
        ));
        assert!(matches!(TurnServers::parse("turn:", "0123456789abcdef"), Err(TurnConfigError::BadUrl(_))));
        assert_eq!(TurnServers::parse("turn:x:3478", "short"), Err(TurnConfigError::ShortSecret(5)));
        let t = TurnServers::parse(
            "turn:turn.example.com:3478?transport=udp, turns:turn.example.com:5349",
            "0123456789abcdef",
        )
        .unwrap();
        assert_eq!(t.urls().len(), 2);
        assert!(!format!("{t:?}").contains("0123456789abcdef"), "the secret stays out of logs");
        let server = t.ice_server(&SessionId::parse("ses_a").unwrap(), Timestamp(2_000_000_000_000));
        assert_eq!(server["username"], "2000000000:ses_a");
        assert_eq!(server["urls"][1], "turns:turn.example.com:5349");
    }
}
