//! The changes webhooks report, each written with the events it owes in one transaction: the
//! rows through `records`, the events through `webhooks`' outbox. Whoever makes one of these
//! changes calls it here, so no event can be missing from a committed change or owed for one
//! that rolled back.

use super::sql::{args, Sql};
use super::{analyses, recordings, records, webhooks, StoreError};
use voxgate_engine::ids::{CallId, ConversationId, SessionId, WorkspaceId};
use voxgate_engine::session::{EndReason, Session};
use voxgate_engine::webhook::WebhookEvent;
use voxgate_engine::Timestamp;

/// A new session: `conversation.started`.
pub fn session_created(c: &dyn Sql, s: &Session) -> Result<(), StoreError> {
    records::insert_session(c, s)?;
    webhooks::conversation_started(c, s, s.created_at)
}

/// A session ends (once): `conversation.ended` with its record. False if it had ended.
pub fn session_ended(
    c: &dyn Sql,
    sid: &SessionId,
    at: Timestamp,
    reason: EndReason,
) -> Result<bool, StoreError> {
    let ended = records::end_session(c, sid, at, reason)?;
    if ended {
        webhooks::conversation_ended(c, sid.as_str(), at)?;
        analyses::owe(c, sid.as_str(), at)?;
    }
    Ok(ended)
}

/// Every live session of a node that is gone ends; how many.
pub fn node_sessions_ended(
    c: &dyn Sql,
    node: &str,
    at: Timestamp,
    reason: EndReason,
) -> Result<usize, StoreError> {
    let ended = records::end_sessions_of_node(c, node, at, reason)?;
    for sid in &ended {
        webhooks::conversation_ended(c, sid, at)?;
        analyses::owe(c, sid, at)?;
    }
    Ok(ended.len())
}

/// What erasing a conversation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Erasure {
    Erased,
    /// Erased before: nothing left to do.
    AlreadyErased,
    NotFound,
}

/// Erases a conversation of `ws`: its transcript, calls, recordings, metadata, variables and
/// every webhook payload that carried them; only its usage (anonymous) and its id, in the list of erased
/// conversations, are left. `conversation.deleted` is owed. The caller ends a live session first.
pub fn conversation_erased(
    c: &dyn Sql,
    ws: &WorkspaceId,
    conversation: &ConversationId,
    at: Timestamp,
) -> Result<Erasure, StoreError> {
    let id = conversation.as_str();
    let erased: i64 = c.query_value(
        "SELECT COUNT(*) FROM erased_conversations WHERE id = ?1 AND workspace_id = ?2",
        args![id, ws.as_str()],
    )?;
    if erased > 0 {
        return Ok(Erasure::AlreadyErased);
    }
    let session: Option<String> = c.query_opt(
        "SELECT id FROM sessions WHERE conversation_id = ?1 AND workspace_id = ?2",
        args![id, ws.as_str()],
        |r| r.get(0),
    )?;
    let Some(session) = session else { return Ok(Erasure::NotFound) };
    c.execute("DELETE FROM messages WHERE conversation_id = ?1", args![id])?;
    // The files go after the commit (`recordings` purges them); no one can read them from now.
    recordings::delete_conversation(c, id, at)?;
    c.execute("DELETE FROM calls WHERE session_id = ?1", args![session.as_str()])?;
    c.execute("DELETE FROM webhook_deliveries WHERE conversation_id = ?1", args![id])?;
    c.execute("DELETE FROM sessions WHERE id = ?1", args![session.as_str()])?;
    c.execute(
        "INSERT INTO erased_conversations (id, workspace_id, erased_at) VALUES (?1, ?2, ?3)",
        args![id, ws.as_str(), at.millis()],
    )?;
    let data = serde_json::json!({"conversation_id": id, "deleted_at": at});
    webhooks::enqueue(c, ws, None, WebhookEvent::ConversationDeleted, data, at)?;
    Ok(Erasure::Erased)
}

/// A call connects: `call.started`.
pub fn call_connected(c: &dyn Sql, call: &CallId, at: Timestamp) -> Result<(), StoreError> {
    records::call_connected(c, call, at)?;
    webhooks::call_event(c, call.as_str(), WebhookEvent::CallStarted, at)
}

/// A call ends (once): `call.ended`.
pub fn call_ended(c: &dyn Sql, call: &CallId, at: Timestamp, reason: EndReason) -> Result<(), StoreError> {
    if records::end_call(c, call, at, reason)? {
        webhooks::call_event(c, call.as_str(), WebhookEvent::CallEnded, at)?;
    }
    Ok(())
}
