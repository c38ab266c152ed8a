//! Public identifiers: a readable prefix plus 22 random base62 characters (about 131 bits), so
//! session and resource URLs cannot be guessed and an id's kind shows at a glance.

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 22;

/// `len` random base62 characters drawn from `rng` (the caller's: the engine takes no randomness
/// from the OS itself, so every rule here can be replayed from a seed).
pub fn random_base62(rng: &mut impl Rng, len: usize) -> String {
    (0..len).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// Why a path segment is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{given:?} is not a valid {kind} id (expected {prefix} followed by letters and digits)")]
pub struct IdError {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub given: String,
}

macro_rules! public_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh random id drawn from `rng` (a cryptographically secure one: ids are
            /// unguessable URLs).
            pub fn generate(rng: &mut impl Rng) -> Self {
                $name(format!("{}{}", $prefix, random_base62(rng, RANDOM_LEN)))
            }

            /// Accepts only this kind's prefix followed by 1..=64 ASCII letters and digits.
            pub fn parse(text: &str) -> Result<Self, IdError> {
                let ok = text
                    .strip_prefix($prefix)
                    .is_some_and(|rest| {
                        !rest.is_empty() && rest.len() <= 64 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
                    });
                if ok {
                    Ok($name(text.to_owned()))
                } else {
                    Err(IdError { kind: $kind, prefix: $prefix, given: text.chars().take(80).collect() })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                $name::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

public_id!(/// A customer's workspace: owns keys, agents, widgets and usage.
    WorkspaceId, "ws_", "workspace");
public_id!(/// An agent: what answers the visitor.
    AgentId, "ag_", "agent");
public_id!(/// A widget: one embeddable configuration of an agent for a set of origins.
    WidgetId, "wgt_", "widget");
public_id!(/// A visitor session created by a customer's backend.
    SessionId, "ses_", "session");
public_id!(/// The durable record of one session's conversation.
    ConversationId, "cnv_", "conversation");
public_id!(/// One message of a conversation's transcript.
    MessageId, "msg_", "message");
public_id!(/// One WebRTC call (peer) of a session; its URL is the WHIP resource.
    CallId, "call_", "call");
public_id!(/// A workspace API key's public identifier (never the secret).
    KeyId, "key_", "api key");
public_id!(/// A dashboard user: a person who signs in to configure one workspace.
    UserId, "usr_", "user");
public_id!(/// A webhook endpoint of a workspace.
    WebhookId, "whk_", "webhook");
public_id!(/// One event owed to one webhook endpoint: its `webhook-id`, the same on every attempt.
    DeliveryId, "evt_", "delivery");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_differ() {
        let mut rng = crate::test_rng();
        let a = SessionId::generate(&mut rng);
        let b = SessionId::generate(&mut rng);
        assert_ne!(a, b);
        assert_eq!(SessionId::parse(a.as_str()), Ok(a.clone()));
        assert_eq!(a.as_str().len(), 4 + RANDOM_LEN);
    }

    #[test]
    fn wrong_prefix_or_characters_are_refused() {
        assert!(WidgetId::parse("ses_abc").is_err());
        assert!(WidgetId::parse("wgt_").is_err());
        assert!(WidgetId::parse("wgt_../etc").is_err());
        let err = WidgetId::parse("nope").unwrap_err();
        assert!(err.to_string().contains("widget"));
    }
}
