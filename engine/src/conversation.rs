//! Conversations: listing them (filters, and from where: an opaque cursor), the same for every
//! front end and every store backend, and the roles and statuses of their transcripts' lines.

use crate::ids::{AgentId, WidgetId};
use crate::session::{Environment, Mode};
use crate::Timestamp;

/// Which conversations to list.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub widget: Option<WidgetId>,
    pub agent: Option<AgentId>,
    pub environment: Option<Environment>,
    /// Sessions that enabled this mode.
    pub mode: Option<Mode>,
    /// Created at or after.
    pub from: Option<Timestamp>,
    /// Created before.
    pub to: Option<Timestamp>,
    /// Continue after this position (from a previous page's cursor).
    pub after: Option<Cursor>,
    pub limit: usize,
}

/// A position in the newest-first listing: the last item's creation time and session id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: i64,
    pub session_id: String,
}

impl Cursor {
    /// The opaque form handed to clients.
    pub fn encode(&self) -> String {
        format!("c{}.{}", self.created_at, self.session_id)
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        let (at, sid) = text.strip_prefix('c')?.split_once('.')?;
        let created_at = at.parse().ok()?;
        sid.starts_with("ses_").then(|| Cursor { created_at, session_id: sid.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_round_trip_and_strangers_are_refused() {
        let c = Cursor { created_at: 1_764_000_000_000, session_id: "ses_abc".into() };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("c12.wgt_x"), None);
        assert_eq!(Cursor::decode("nonsense"), None);
    }
}

/// Who said a line of a conversation's transcript. Stored and sent by these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageRole {
    Visitor,
    Agent,
    /// A tool the agent called: the line's `tool` holds the call and its outcome.
    Tool,
}

impl MessageRole {
    pub const ALL: [MessageRole; 3] = [MessageRole::Visitor, MessageRole::Agent, MessageRole::Tool];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageRole::Visitor => "visitor",
            MessageRole::Agent => "agent",
            MessageRole::Tool => "tool",
        }
    }

    pub fn parse(text: &str) -> Option<MessageRole> {
        MessageRole::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// How a line of a transcript ended. Stored and sent by these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Said or written whole.
    Complete,
    /// An answer still being written (its row is kept from the start, so a crash leaves it).
    Streaming,
    /// Cut short: the visitor talked over it, left, or the session ended.
    Interrupted,
    /// The agent's upstream failed; the text is what arrived.
    Failed,
    /// The visitor's "uh-huh" or "right" while the agent spoke: heard, kept, not answered.
    Backchannel,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 5] = [
        MessageStatus::Complete,
        MessageStatus::Streaming,
        MessageStatus::Interrupted,
        MessageStatus::Failed,
        MessageStatus::Backchannel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Complete => "complete",
            MessageStatus::Streaming => "streaming",
            MessageStatus::Interrupted => "interrupted",
            MessageStatus::Failed => "failed",
            MessageStatus::Backchannel => "backchannel",
        }
    }

    pub fn parse(text: &str) -> Option<MessageStatus> {
        MessageStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[cfg(test)]
mod message_tests {
    use super::*;

    #[test]
    fn roles_and_statuses_keep_their_stored_names() {
        for r in MessageRole::ALL {
            assert_eq!(MessageRole::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        for s in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(MessageRole::parse("system"), None);
    }
}
