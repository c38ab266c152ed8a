//! Sessions: what a customer's backend creates for one visitor, and how long it lives.

use crate::ids::{AgentId, ConversationId, SessionId, WidgetId, WorkspaceId};
use crate::Timestamp;
use serde::{Deserialize, Serialize};

/// How a visitor talks to the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Voice,
    Text,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Voice, Mode::Text];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Voice => "voice",
            Mode::Text => "text",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Mode::Voice => 1,
            Mode::Text => 2,
        }
    }
}

/// A set of modes, serialized as a list (`["voice", "text"]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ModeSet(u8);

impl ModeSet {
    pub fn of(modes: &[Mode]) -> Self {
        ModeSet(modes.iter().fold(0, |acc, m| acc | m.bit()))
    }
    pub fn contains(self, mode: Mode) -> bool {
        self.0 & mode.bit() != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn modes(self) -> Vec<Mode> {
        Mode::ALL.into_iter().filter(|m| self.contains(*m)).collect()
    }
    /// A short label for logs and storage (`voice+text`).
    pub fn label(self) -> String {
        self.modes().iter().map(|m| m.as_str()).collect::<Vec<_>>().join("+")
    }
}

impl Serialize for ModeSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.modes().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ModeSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ModeSet::of(&Vec::<Mode>::deserialize(d)?))
    }
}

/// Production or staging: usage and dashboards are split by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    #[default]
    Production,
    Staging,
}

impl Environment {
    pub const ALL: [Environment; 2] = [Environment::Production, Environment::Staging];

    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Staging => "staging",
        }
    }
}

/// Why a session ended. Recorded on the conversation and counted in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The customer's backend ended it (`DELETE /v1/sessions/{id}`).
    Ended,
    /// The visitor hung up (`DELETE` on the call resource).
    ClientHangup,
    TokenExpired,
    OriginRevoked,
    QuotaExceeded,
    FairUseExceeded,
    WidgetDeleted,
    /// ICE or DTLS never completed, or the peer failed.
    ConnectionFailed,
    /// The visitor's network went silent and did not come back (an ICE restart) within
    /// `--call-grace-seconds`.
    NetworkLost,
    ServerShutdown,
    /// The server stopped without ending it (a crash, `kill -9`); closed at the next start.
    ServerRestart,
    AgentError,
    /// The agent ended the call (a bridge agent's `hangup`).
    AgentHangup,
    /// A talking agent called its `end_call` tool; the call ended after its last sentence.
    AgentEnded,
    /// Nobody spoke on a talking agent's call, even after the agent asked.
    IdleTimeout,
    /// No call was live and no message came for `--conversation-idle-seconds`: the visitor
    /// left. A later message or offer on the still-valid token reopens it.
    VisitorLeft,
}

impl EndReason {
    pub const ALL: [EndReason; 16] = [
        EndReason::Ended,
        EndReason::ClientHangup,
        EndReason::TokenExpired,
        EndReason::OriginRevoked,
        EndReason::QuotaExceeded,
        EndReason::FairUseExceeded,
        EndReason::WidgetDeleted,
        EndReason::ConnectionFailed,
        EndReason::NetworkLost,
        EndReason::ServerShutdown,
        EndReason::ServerRestart,
        EndReason::AgentError,
        EndReason::AgentHangup,
        EndReason::AgentEnded,
        EndReason::IdleTimeout,
        EndReason::VisitorLeft,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Ended => "ended",
            EndReason::ClientHangup => "client_hangup",
            EndReason::TokenExpired => "token_expired",
            EndReason::OriginRevoked => "origin_revoked",
            EndReason::QuotaExceeded => "quota_exceeded",
            EndReason::FairUseExceeded => "fair_use_exceeded",
            EndReason::WidgetDeleted => "widget_deleted",
            EndReason::ConnectionFailed => "connection_failed",
            EndReason::NetworkLost => "network_lost",
            EndReason::ServerShutdown => "server_shutdown",
            EndReason::ServerRestart => "server_restart",
            EndReason::AgentError => "agent_error",
            EndReason::AgentHangup => "agent_hangup",
            EndReason::AgentEnded => "agent_ended",
            EndReason::IdleTimeout => "idle_timeout",
            EndReason::VisitorLeft => "visitor_left",
        }
    }

    pub fn parse(text: &str) -> Option<EndReason> {
        EndReason::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// Limits on a session's lifetime. The minimum is configurable so tests need not wait 30 s.
#[derive(Debug, Clone, Copy)]
pub struct TtlPolicy {
    pub default_seconds: u32,
    pub min_seconds: u32,
    pub max_seconds: u32,
}

impl Default for TtlPolicy {
    fn default() -> Self {
        TtlPolicy { default_seconds: 600, min_seconds: 30, max_seconds: 3600 }
    }
}

impl TtlPolicy {
    /// The TTL to use for a request, or an error naming `ttl_seconds` and the allowed range.
    pub fn resolve(&self, requested: Option<u32>) -> Result<u32, crate::spec::SpecError> {
        match requested {
            None => Ok(self.default_seconds.clamp(self.min_seconds, self.max_seconds)),
            Some(s) if (self.min_seconds..=self.max_seconds).contains(&s) => Ok(s),
            Some(s) => Err(crate::spec::SpecError::new(
                "ttl_seconds",
                format!("{s} is outside the allowed range {}..={}", self.min_seconds, self.max_seconds),
            )),
        }
    }
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Live,
    Ended { at: Timestamp, reason: EndReason },
}

/// A session as the server keeps it.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub workspace_id: WorkspaceId,
    pub widget_id: WidgetId,
    pub agent_id: AgentId,
    pub conversation_id: ConversationId,
    pub environment: Environment,
    pub modes: ModeSet,
    pub preview: bool,
    pub metadata: serde_json::Value,
    /// Set by the customer's backend; filled into the agent's prompt and lines, never shown to
    /// the browser.
    pub variables: crate::variables::Variables,
    /// The first browser origin that used the session; later requests must keep to the allowlist.
    pub origin: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub state: SessionState,
    /// The node that carries its media and streams (its URLs name that node); `None` for a
    /// session made before nodes were named, which the node that reloads it carries.
    pub node: Option<String>,
}

impl Session {
    pub fn is_live(&self) -> bool {
        self.state == SessionState::Live
    }

    /// Whether a visitor's message or offer at `now` may reopen it: it ended only because the
    /// visitor seemed gone, and its token is still valid.
    pub fn may_reopen(&self, now: Timestamp) -> bool {
        matches!(self.state, SessionState::Ended { reason: EndReason::VisitorLeft, .. })
            && self.expires_at > now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_set_round_trips() {
        let s = ModeSet::of(&[Mode::Text]);
        assert!(s.contains(Mode::Text) && !s.contains(Mode::Voice));
        let json = serde_json::to_string(&ModeSet::of(&[Mode::Text, Mode::Voice])).unwrap();
        assert_eq!(json, r#"["voice","text"]"#);
        let back: ModeSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back.label(), "voice+text");
    }

    #[test]
    fn ttl_policy_bounds() {
        let p = TtlPolicy::default();
        assert_eq!(p.resolve(None), Ok(600));
        assert_eq!(p.resolve(Some(30)), Ok(30));
        let e = p.resolve(Some(29)).unwrap_err();
        assert_eq!(e.field, "ttl_seconds");
        assert!(e.message.contains("30..=3600"));
        assert!(p.resolve(Some(3601)).is_err());
    }

    #[test]
    fn end_reasons_parse_back() {
        for r in EndReason::ALL {
            assert_eq!(EndReason::parse(r.as_str()), Some(r));
        }
    }
}
