//! Listing conversations: which ones (filters) and from where (an opaque cursor), the same for
//! every front end and every store backend.

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
