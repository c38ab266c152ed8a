//! Conversation records: every session, text or voice, with its transcript, calls and usage,
//! listed newest first with filters and a cursor.

use super::records::{
    calls_of_session, session_row, transcript, CallRecord, TranscriptMessage, SESSION_COLUMNS,
};
use super::sql::{args, Arg, Sql};
use super::StoreError;
use serde::Serialize;
use voxgate_engine::conversation::{ConversationFilter, Cursor, MessageRole};
use voxgate_engine::ids::{ConversationId, WorkspaceId};
use voxgate_engine::session::{Mode, ModeSet, Session, SessionState};
use voxgate_engine::Timestamp;

/// What a conversation used.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ConversationUsage {
    pub text_messages: u64,
    pub voice_minutes: u64,
    /// `production`, `preview` or `test_run`.
    pub class: String,
}

/// One conversation in a listing.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationSummary {
    pub id: ConversationId,
    pub session_id: String,
    pub widget_id: String,
    pub agent_id: String,
    pub environment: &'static str,
    /// The modes the conversation used: `voice` once a call connected, `text` once the
    /// visitor typed a message.
    pub modes: Vec<&'static str>,
    /// The modes its session allowed (the widget's, or the subset the backend asked for).
    pub allowed_modes: Vec<&'static str>,
    pub preview: bool,
    pub origin: Option<String>,
    pub created_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub end_reason: Option<&'static str>,
    pub messages: u64,
    /// Voice calls placed in it.
    pub calls: u64,
    /// The visitor's first line (else the agent's), cut to one short line, for a listing.
    pub snippet: Option<String>,
    pub usage: ConversationUsage,
}

/// Longest snippet, in characters, before it is cut with an ellipsis.
const SNIPPET_CHARS: usize = 100;

/// The first words of `text` on one line, at most [`SNIPPET_CHARS`] characters.
fn snippet_of(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= SNIPPET_CHARS {
        return line;
    }
    let cut: String = line.chars().take(SNIPPET_CHARS - 1).collect();
    // At a word's end where there is one in the last fifth.
    let at = cut.rfind(' ').filter(|i| *i > SNIPPET_CHARS * 4 / 5).unwrap_or(cut.len());
    format!("{}…", cut[..at].trim_end())
}

/// The modes a session's row says it used (its `used_voice` and `used_text` columns).
fn used_modes(voice: i64, text: i64) -> ModeSet {
    let mut used = Vec::new();
    if voice != 0 {
        used.push(Mode::Voice);
    }
    if text != 0 {
        used.push(Mode::Text);
    }
    ModeSet::of(&used)
}

/// One conversation, whole.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationRecord {
    #[serde(flatten)]
    pub summary: ConversationSummary,
    pub metadata: serde_json::Value,
    /// What the customer's backend set on the session (never shown to a browser).
    pub variables: serde_json::Value,
    /// What went wrong without failing the conversation (a variable the agent uses but the
    /// session does not set).
    pub warnings: Vec<String>,
    /// The post-call analysis (`summary`, `data`), `{"error": ...}` if it failed, or null
    /// while none is made; and its status: `pending`, `done`, `failed`, or null if the agent
    /// asks for none.
    pub analysis: serde_json::Value,
    pub analysis_status: Option<String>,
    pub transcript: Vec<TranscriptMessage>,
    pub calls: Vec<CallRecord>,
}

fn usage_of(c: &dyn Sql, session: &Session) -> Result<ConversationUsage, StoreError> {
    let rows = c.query_map(
        "SELECT kind, class, CAST(SUM(quantity) AS BIGINT) FROM usage_events WHERE session_id = ?1 GROUP BY kind, class",
        args![session.id.as_str()],
        |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?, r.get::<i64>(2)?)),
    )?;
    let mut usage = ConversationUsage {
        class: if session.preview { "preview" } else { "production" }.to_string(),
        ..Default::default()
    };
    for row in rows {
        let (kind, class, n) = row;
        usage.class = class;
        match kind.as_str() {
            "text_message" => usage.text_messages += n.max(0) as u64,
            "voice_minute" => usage.voice_minutes += n.max(0) as u64,
            _ => {}
        }
    }
    Ok(usage)
}

fn summary(c: &dyn Sql, s: Session, used: ModeSet) -> Result<ConversationSummary, StoreError> {
    let messages: i64 = c.query_value(
        "SELECT COUNT(*) FROM messages WHERE conversation_id = ?1",
        args![s.conversation_id.as_str()],
    )?;
    let calls: i64 =
        c.query_value("SELECT COUNT(*) FROM calls WHERE session_id = ?1", args![s.id.as_str()])?;
    // The visitor's first words say what the conversation was about; an agent's greeting
    // stands in when the visitor said nothing.
    let first = |role: MessageRole| {
        c.query_opt(
            "SELECT text FROM messages WHERE conversation_id = ?1 AND role = ?2 AND text <> '' ORDER BY seq LIMIT 1",
            args![s.conversation_id.as_str(), role.as_str()],
            |r| r.get::<String>(0),
        )
    };
    let snippet = match first(MessageRole::Visitor)? {
        Some(text) => Some(text),
        None => first(MessageRole::Agent)?,
    }
    .map(|t| snippet_of(&t));
    let usage = usage_of(c, &s)?;
    let (ended_at, end_reason) = match s.state {
        SessionState::Ended { at, reason } => (Some(at), Some(reason.as_str())),
        SessionState::Live => (None, None),
    };
    Ok(ConversationSummary {
        id: s.conversation_id.clone(),
        session_id: s.id.to_string(),
        widget_id: s.widget_id.to_string(),
        agent_id: s.agent_id.to_string(),
        environment: s.environment.as_str(),
        modes: used.modes().into_iter().map(|m| m.as_str()).collect(),
        allowed_modes: s.modes.modes().into_iter().map(|m| m.as_str()).collect(),
        preview: s.preview,
        origin: s.origin.clone(),
        created_at: s.created_at,
        ended_at,
        end_reason,
        messages: messages.max(0) as u64,
        calls: calls.max(0) as u64,
        snippet,
        usage,
    })
}

/// A session row selected as `SESSION_COLUMNS, used_voice, used_text`, and the modes it used.
fn session_and_used(r: &super::sql::Row) -> Result<(Session, ModeSet), StoreError> {
    Ok((session_row(r)?, used_modes(r.get(16)?, r.get(17)?)))
}

/// Appends `term` to `sql` with its `?` numbered as the next argument, `arg`.
fn and<'a>(sql: &mut String, args: &mut Vec<Arg<'a>>, term: &str, arg: Arg<'a>) {
    args.push(arg);
    sql.push_str(&term.replace('?', &format!("?{}", args.len())));
}

/// A page of `ws`'s conversations, newest first, and the cursor of the next page if any.
pub fn list(
    c: &dyn Sql,
    ws: &WorkspaceId,
    filter: &ConversationFilter,
) -> Result<(Vec<ConversationSummary>, Option<Cursor>), StoreError> {
    let mut sql =
        format!("SELECT {SESSION_COLUMNS}, used_voice, used_text FROM sessions WHERE workspace_id = ?1");
    let mut args: Vec<Arg<'_>> = vec![Arg::Text(ws.as_str())];
    if let Some(w) = &filter.widget {
        and(&mut sql, &mut args, " AND widget_id = ?", Arg::Text(w.as_str()));
    }
    if let Some(a) = &filter.agent {
        and(&mut sql, &mut args, " AND agent_id = ?", Arg::Text(a.as_str()));
    }
    if let Some(e) = filter.environment {
        and(&mut sql, &mut args, " AND environment = ?", Arg::Text(e.as_str()));
    }
    if let Some(m) = filter.mode {
        // The modes used, not those allowed. The term is written out (the mode is one of two
        // fixed words), so it matches the partial index for that mode.
        sql.push_str(match m {
            Mode::Voice => " AND used_voice = 1",
            Mode::Text => " AND used_text = 1",
        });
    }
    if let Some(from) = filter.from {
        and(&mut sql, &mut args, " AND created_at >= ?", Arg::Int(from.millis()));
    }
    if let Some(to) = filter.to {
        and(&mut sql, &mut args, " AND created_at < ?", Arg::Int(to.millis()));
    }
    if let Some(after) = &filter.after {
        and(&mut sql, &mut args, " AND (created_at < ?", Arg::Int(after.created_at));
        and(&mut sql, &mut args, " OR (created_at = ?", Arg::Int(after.created_at));
        and(&mut sql, &mut args, " AND id < ?))", Arg::Text(&after.session_id));
    }
    // One more than asked tells whether another page follows.
    and(&mut sql, &mut args, " ORDER BY created_at DESC, id DESC LIMIT ?", Arg::Int(filter.limit as i64 + 1));
    let sessions: Vec<(Session, ModeSet)> = c.query_map(&sql, &args, session_and_used)?;
    let more = sessions.len() > filter.limit;
    let page: Vec<(Session, ModeSet)> = sessions.into_iter().take(filter.limit).collect();
    let next = if more {
        page.last().map(|(s, _)| Cursor { created_at: s.created_at.millis(), session_id: s.id.to_string() })
    } else {
        None
    };
    let summaries = page.into_iter().map(|(s, used)| summary(c, s, used)).collect::<Result<_, _>>()?;
    Ok((summaries, next))
}

/// One of `ws`'s conversations with its transcript and calls.
pub fn get(
    c: &dyn Sql,
    ws: &WorkspaceId,
    id: &ConversationId,
) -> Result<Option<ConversationRecord>, StoreError> {
    let Some((session, used)) = c.query_opt(
        &format!(
            "SELECT {SESSION_COLUMNS}, used_voice, used_text FROM sessions WHERE conversation_id = ?1 AND workspace_id = ?2"
        ),
        args![id.as_str(), ws.as_str()],
        session_and_used,
    )?
    else {
        return Ok(None);
    };
    let metadata = session.metadata.clone();
    let variables = session.variables.to_json();
    let warnings = super::records::warnings(c, &session.id)?;
    let (analysis, analysis_status): (Option<String>, Option<String>) = c
        .query_opt(
            "SELECT analysis, analysis_status FROM sessions WHERE id = ?1",
            super::sql::args![session.id.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .unwrap_or_default();
    let analysis = match analysis {
        Some(text) => serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        None => serde_json::Value::Null,
    };
    let transcript = transcript(c, &session.conversation_id)?;
    let calls = calls_of_session(c, &session.id)?;
    Ok(Some(ConversationRecord {
        summary: summary(c, session, used)?,
        metadata,
        variables,
        warnings,
        analysis,
        analysis_status,
        transcript,
        calls,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snippet_is_one_short_line() {
        assert_eq!(snippet_of("  How much\n does  shipping cost? "), "How much does shipping cost?");
        let long = "word ".repeat(40);
        let cut = snippet_of(&long);
        assert!(cut.chars().count() <= SNIPPET_CHARS && cut.ends_with("word…"), "{cut}");
        let unbroken = "x".repeat(200);
        assert_eq!(snippet_of(&unbroken).chars().count(), SNIPPET_CHARS);
    }

    #[test]
    fn used_modes_come_from_the_flags() {
        assert_eq!(used_modes(0, 0), ModeSet::of(&[]));
        assert_eq!(used_modes(1, 0), ModeSet::of(&[Mode::Voice]));
        assert_eq!(used_modes(1, 1), ModeSet::of(&[Mode::Voice, Mode::Text]));
    }
}
