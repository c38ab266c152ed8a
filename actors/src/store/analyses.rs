//! Post-call analyses owed and done. A conversation whose agent asks for one is owed it in the
//! transaction that ends it ([`owe`]); analysts lease due ones ([`claim`], `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL) and [`record`] the outcome, owing `conversation.analyzed` with it.

use super::sql::{args, Dialect, Sql};
use super::{webhooks, StoreError};
use serde_json::Value;
use voxgate_engine::agent::{AgentBackend, AgentSpec};
use voxgate_engine::ids::WorkspaceId;
use voxgate_engine::webhook::WebhookEvent;
use voxgate_engine::Timestamp;

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// Marks the session's conversation as owed an analysis, if its agent asks for one.
pub fn owe(c: &dyn Sql, sid: &str, at: Timestamp) -> Result<(), StoreError> {
    let spec: Option<String> = c.query_opt(
        "SELECT a.spec FROM agents a JOIN sessions s ON s.agent_id = a.id WHERE s.id = ?1",
        args![sid],
        |r| r.get(0),
    )?;
    let Some(spec) = spec else { return Ok(()) };
    let spec: AgentSpec = serde_json::from_str(&spec).map_err(corrupt)?;
    if spec.analysis.is_none() {
        return Ok(());
    }
    c.execute(
        "UPDATE sessions SET analysis_status = 'pending', analysis_due = ?2 WHERE id = ?1 AND analysis_status IS NULL",
        args![sid, at.millis()],
    )?;
    Ok(())
}

/// An analysis to make, leased.
#[derive(Debug, Clone)]
pub struct Owed {
    pub session_id: String,
    pub workspace_id: WorkspaceId,
    pub conversation_id: String,
    pub attempts: u32,
    /// The agent as it is now (its backend and what it asks for).
    pub agent: AgentSpec,
    /// The transcript, a line per turn (`visitor: ...`, `agent: ...`, `tool name(...) -> ...`).
    pub transcript: String,
}

/// Leases up to `limit` due analyses for `lease_ms`.
pub fn claim(c: &dyn Sql, now: Timestamp, lease_ms: i64, limit: i64) -> Result<Vec<Owed>, StoreError> {
    let lock = match c.dialect() {
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let rows: Vec<(String, String, String, i64, String)> = c.query_map(
        &format!(
            "SELECT s.id, s.workspace_id, s.conversation_id, s.analysis_attempts, a.spec FROM sessions s
             JOIN agents a ON a.id = s.agent_id
             WHERE s.analysis_status = 'pending' AND s.analysis_due <= ?1 ORDER BY s.analysis_due LIMIT ?2{lock}"
        ),
        args![now.millis(), limit],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )?;
    let mut owed = Vec::with_capacity(rows.len());
    for (sid, ws, conversation, attempts, spec) in rows {
        c.execute(
            "UPDATE sessions SET analysis_due = ?2 WHERE id = ?1",
            args![sid.as_str(), now.millis() + lease_ms],
        )?;
        let id = voxgate_engine::ids::ConversationId::parse(&conversation).map_err(corrupt)?;
        let lines = super::records::transcript(c, &id)?;
        let transcript = lines
            .iter()
            .map(|m| match &m.tool {
                Some(t) => format!("tool {}({}) -> {}", t.name, t.arguments_text(), t.outcome().for_model()),
                None => format!("{}: {}", m.role.as_str(), m.text),
            })
            .collect::<Vec<_>>()
            .join("\n");
        owed.push(Owed {
            session_id: sid,
            workspace_id: WorkspaceId::parse(&ws).map_err(corrupt)?,
            conversation_id: conversation,
            attempts: attempts as u32,
            agent: serde_json::from_str(&spec).map_err(corrupt)?,
            transcript,
        });
    }
    Ok(owed)
}

/// Records an analysis (`Ok`), or a failed attempt: tried again at `retry_at`, or, without one,
/// recorded as failed with its reason.
pub fn record(
    c: &dyn Sql,
    owed: &Owed,
    outcome: &Result<Value, String>,
    retry_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let sid = owed.session_id.as_str();
    match (outcome, retry_at) {
        (Ok(analysis), _) => {
            let stored = serde_json::to_string(analysis).map_err(corrupt)?;
            c.execute(
                "UPDATE sessions SET analysis = ?2, analysis_status = 'done', analysis_attempts = analysis_attempts + 1,
                 analysis_due = NULL WHERE id = ?1",
                args![sid, &stored],
            )?;
            let data = serde_json::json!({"conversation_id": owed.conversation_id, "session_id": sid, "analysis": analysis});
            let conversation = Some(owed.conversation_id.as_str());
            webhooks::enqueue(
                c,
                &owed.workspace_id,
                conversation,
                WebhookEvent::ConversationAnalyzed,
                data,
                now,
            )?;
        }
        (Err(_), Some(at)) => {
            c.execute(
                "UPDATE sessions SET analysis_attempts = analysis_attempts + 1, analysis_due = ?2 WHERE id = ?1",
                args![sid, at.millis()],
            )?;
        }
        (Err(why), None) => {
            let stored = serde_json::json!({"error": why}).to_string();
            c.execute(
                "UPDATE sessions SET analysis = ?2, analysis_status = 'failed', analysis_attempts = analysis_attempts + 1,
                 analysis_due = NULL WHERE id = ?1",
                args![sid, &stored],
            )?;
        }
    }
    Ok(())
}

/// The backend an analysis asks: its chat completions URL, model and key's variable.
pub fn backend_of(agent: &AgentSpec) -> Option<(String, String, Option<String>)> {
    match &agent.backend {
        AgentBackend::Openai { base_url, model, api_key_env } => Some((
            format!("{}/chat/completions", base_url.trim_end_matches('/')),
            model.clone(),
            api_key_env.clone(),
        )),
        _ => None,
    }
}
