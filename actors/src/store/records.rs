//! Row mappings: every SQL statement voxgate runs, one function each, on a given connection.
//! Callers choose the connection (a write job or the read connection).

use super::sql::{args, Row, Sql};
use super::StoreError;
use voxgate_engine::agent::{Agent, AgentSpec};
use voxgate_engine::conversation::{MessageRole, MessageStatus};
use voxgate_engine::ids::{AgentId, CallId, ConversationId, KeyId, SessionId, WidgetId, WorkspaceId};
use voxgate_engine::session::{EndReason, Environment, ModeSet, Session, SessionState};
use voxgate_engine::tools::ToolLine;
use voxgate_engine::variables::Variables;
use voxgate_engine::widget::{Widget, WidgetSpec};
use voxgate_engine::Timestamp;

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn id<T>(text: String, parse: fn(&str) -> Result<T, voxgate_engine::ids::IdError>) -> Result<T, StoreError> {
    parse(&text).map_err(corrupt)
}

/// A workspace row.
#[derive(Debug, Clone)]
pub struct WorkspaceRow {
    pub id: WorkspaceId,
    pub name: String,
    pub created_at: Timestamp,
}

pub fn insert_workspace(c: &dyn Sql, w: &WorkspaceRow) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO workspaces (id, name, created_at) VALUES (?1, ?2, ?3)",
        args![w.id.as_str(), &w.name, w.created_at.millis()],
    )?;
    Ok(())
}

pub fn workspace_by_name(c: &dyn Sql, name: &str) -> Result<Option<WorkspaceRow>, StoreError> {
    c.query_opt("SELECT id, name, created_at FROM workspaces WHERE name = ?1", args![name], workspace_row)
}

fn workspace_row(r: &Row) -> Result<WorkspaceRow, StoreError> {
    Ok(WorkspaceRow {
        id: id(r.get(0)?, WorkspaceId::parse)?,
        name: r.get(1)?,
        created_at: Timestamp(r.get(2)?),
    })
}

pub fn workspace(c: &dyn Sql, ws: &WorkspaceId) -> Result<Option<WorkspaceRow>, StoreError> {
    c.query_opt(
        "SELECT id, name, created_at FROM workspaces WHERE id = ?1",
        args![ws.as_str()],
        workspace_row,
    )
}

pub fn all_workspaces(c: &dyn Sql) -> Result<Vec<WorkspaceRow>, StoreError> {
    c.query_map("SELECT id, name, created_at FROM workspaces", &[], workspace_row)
}

pub fn insert_api_key(
    c: &dyn Sql,
    key: &KeyId,
    ws: &WorkspaceId,
    hash: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO api_keys (id, workspace_id, key_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        args![key.as_str(), ws.as_str(), hash, at.millis()],
    )?;
    Ok(())
}

/// A workspace API key as stored (never the key itself: only its hash is kept).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiKeyRow {
    pub id: KeyId,
    pub workspace_id: WorkspaceId,
    pub workspace: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

const KEY_COLUMNS: &str = "k.id, k.workspace_id, w.name, k.created_at, k.last_used_at, k.revoked_at
     FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id";

fn key_row(r: &Row) -> Result<ApiKeyRow, StoreError> {
    Ok(ApiKeyRow {
        id: id(r.get(0)?, KeyId::parse)?,
        workspace_id: id(r.get(1)?, WorkspaceId::parse)?,
        workspace: r.get(2)?,
        created_at: Timestamp(r.get(3)?),
        last_used_at: r.get::<Option<i64>>(4)?.map(Timestamp),
        revoked_at: r.get::<Option<i64>>(5)?.map(Timestamp),
    })
}

/// The key with this hash, revoked or not.
pub fn key_by_hash(c: &dyn Sql, hash: &str) -> Result<Option<ApiKeyRow>, StoreError> {
    c.query_opt(&format!("SELECT {KEY_COLUMNS} WHERE k.key_hash = ?1"), args![hash], key_row)
}

/// Keys, oldest first; of one workspace (by name) when given.
pub fn api_keys(c: &dyn Sql, workspace: Option<&str>) -> Result<Vec<ApiKeyRow>, StoreError> {
    c.query_map(
        &format!(
            "SELECT {KEY_COLUMNS} WHERE CAST(?1 AS TEXT) IS NULL OR w.name = ?1 ORDER BY k.created_at, k.id"
        ),
        args![workspace],
        key_row,
    )
}

/// Revokes a key; false when there is no such key or it was revoked already.
pub fn revoke_api_key(c: &dyn Sql, key: &KeyId, at: Timestamp) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        args![key.as_str(), at.millis()],
    )?;
    Ok(n == 1)
}

/// Records that a key was used at `at`.
pub fn touch_api_key(c: &dyn Sql, key: &KeyId, at: Timestamp) -> Result<(), StoreError> {
    c.execute("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1", args![key.as_str(), at.millis()])?;
    Ok(())
}

/// The stored columns shared by agents and widgets.
struct ConfigColumns<'a> {
    id: &'a str,
    workspace_id: &'a str,
    spec: String,
    version: u64,
    created_at: Timestamp,
    updated_at: Timestamp,
    deleted_at: Option<Timestamp>,
}

/// Inserts or replaces one configuration document in `table` (`agents` or `widgets`). Each save
/// carries the next version number; one whose version is not newer than the stored one was
/// based on a copy another node has replaced meanwhile, and is refused as `Stale` (nothing is
/// written) so the caller can reapply its change to the stored version.
fn upsert_config(c: &dyn Sql, table: &str, row: ConfigColumns<'_>) -> Result<(), StoreError> {
    let written = c.execute(
        &format!(
            "INSERT INTO {table} (id, workspace_id, spec, version, created_at, updated_at, deleted_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(id) DO UPDATE SET spec = excluded.spec, version = excluded.version,
                 updated_at = excluded.updated_at, deleted_at = excluded.deleted_at
             WHERE {table}.version < excluded.version"
        ),
        args![
            row.id,
            row.workspace_id,
            &row.spec,
            row.version as i64,
            row.created_at.millis(),
            row.updated_at.millis(),
            row.deleted_at.map(|t| t.millis())
        ],
    )?;
    if written == 0 {
        return Err(StoreError::Stale(format!("{table} {} (version {})", row.id, row.version)));
    }
    Ok(())
}

pub fn upsert_agent(c: &dyn Sql, a: &Agent) -> Result<(), StoreError> {
    let row = ConfigColumns {
        id: a.id.as_str(),
        workspace_id: a.workspace_id.as_str(),
        spec: serde_json::to_string(&a.spec).map_err(corrupt)?,
        version: a.version,
        created_at: a.created_at,
        updated_at: a.updated_at,
        deleted_at: a.deleted_at,
    };
    upsert_config(c, "agents", row)
}

const CONFIG_COLUMNS: &str = "id, workspace_id, spec, version, created_at, updated_at, deleted_at";

fn agent_row(r: &Row) -> Result<Agent, StoreError> {
    let row = config_row(r)?;
    Ok(Agent {
        id: id(row.id, AgentId::parse)?,
        workspace_id: id(row.workspace_id, WorkspaceId::parse)?,
        spec: serde_json::from_str::<AgentSpec>(&row.spec).map_err(corrupt)?,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        deleted_at: row.deleted_at,
    })
}

pub fn all_agents(c: &dyn Sql) -> Result<Vec<Agent>, StoreError> {
    c.query_map(&format!("SELECT {CONFIG_COLUMNS} FROM agents"), &[], agent_row)
}

pub fn agent(c: &dyn Sql, agent: &AgentId) -> Result<Option<Agent>, StoreError> {
    c.query_opt(
        &format!("SELECT {CONFIG_COLUMNS} FROM agents WHERE id = ?1"),
        args![agent.as_str()],
        agent_row,
    )
}

pub fn upsert_widget(c: &dyn Sql, w: &Widget) -> Result<(), StoreError> {
    let row = ConfigColumns {
        id: w.id.as_str(),
        workspace_id: w.workspace_id.as_str(),
        spec: serde_json::to_string(&w.spec).map_err(corrupt)?,
        version: w.version,
        created_at: w.created_at,
        updated_at: w.updated_at,
        deleted_at: w.deleted_at,
    };
    upsert_config(c, "widgets", row)
}

fn widget_row(r: &Row) -> Result<Widget, StoreError> {
    let row = config_row(r)?;
    let widget = Widget::new(
        id(row.id, WidgetId::parse)?,
        id(row.workspace_id, WorkspaceId::parse)?,
        serde_json::from_str::<WidgetSpec>(&row.spec).map_err(corrupt)?,
        row.version,
        row.created_at,
        row.updated_at,
        row.deleted_at,
    );
    if widget.origins_unreadable() {
        tracing::warn!(widget = %widget.id, "stored allowed_origins do not parse: the widget allows no origin until it is saved again");
    }
    Ok(widget)
}

pub fn all_widgets(c: &dyn Sql) -> Result<Vec<Widget>, StoreError> {
    c.query_map(&format!("SELECT {CONFIG_COLUMNS} FROM widgets"), &[], widget_row)
}

pub fn widget(c: &dyn Sql, widget: &WidgetId) -> Result<Option<Widget>, StoreError> {
    c.query_opt(
        &format!("SELECT {CONFIG_COLUMNS} FROM widgets WHERE id = ?1"),
        args![widget.as_str()],
        widget_row,
    )
}

struct ConfigRow {
    id: String,
    workspace_id: String,
    spec: String,
    version: u64,
    created_at: Timestamp,
    updated_at: Timestamp,
    deleted_at: Option<Timestamp>,
}

fn config_row(r: &Row) -> Result<ConfigRow, StoreError> {
    Ok(ConfigRow {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        spec: r.get(2)?,
        version: r.get::<i64>(3)? as u64,
        created_at: Timestamp(r.get(4)?),
        updated_at: Timestamp(r.get(5)?),
        deleted_at: r.get::<Option<i64>>(6)?.map(Timestamp),
    })
}

pub(crate) const SESSION_COLUMNS: &str = "id, conversation_id, workspace_id, widget_id, agent_id, environment, modes, preview, metadata, origin, created_at, expires_at, ended_at, end_reason, node, variables";

pub fn insert_session(c: &dyn Sql, s: &Session) -> Result<(), StoreError> {
    let modes = serde_json::to_string(&s.modes).map_err(corrupt)?;
    let metadata = s.metadata.to_string();
    let variables = s.variables.to_json().to_string();
    c.execute(
        &format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL, NULL, ?13, ?14)"),
        args![
            s.id.as_str(),
            s.conversation_id.as_str(),
            s.workspace_id.as_str(),
            s.widget_id.as_str(),
            s.agent_id.as_str(),
            s.environment.as_str(),
            &modes,
            s.preview,
            &metadata,
            &s.origin,
            s.created_at.millis(),
            s.expires_at.millis(),
            &s.node,
            &variables,
        ],
    )?;
    Ok(())
}

/// Records the end; a session that already ended keeps its first end (and false is returned).
pub fn end_session(
    c: &dyn Sql,
    sid: &SessionId,
    at: Timestamp,
    reason: EndReason,
) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE sessions SET ended_at = ?2, end_reason = ?3 WHERE id = ?1 AND ended_at IS NULL",
        args![sid.as_str(), at.millis(), reason.as_str()],
    )?;
    Ok(n == 1)
}

/// Moves a live session's expiry; false when it is not live.
pub fn set_session_expiry(c: &dyn Sql, sid: &SessionId, expires_at: Timestamp) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE sessions SET expires_at = ?2 WHERE id = ?1 AND (ended_at IS NULL OR end_reason = 'visitor_left')",
        args![sid.as_str(), expires_at.millis()],
    )?;
    Ok(n == 1)
}

pub fn set_session_origin(c: &dyn Sql, sid: &SessionId, origin: &str) -> Result<(), StoreError> {
    c.execute(
        "UPDATE sessions SET origin = ?2 WHERE id = ?1 AND origin IS NULL",
        args![sid.as_str(), origin],
    )?;
    Ok(())
}

/// Sessions that have not ended, for reloading live state at start: those `node` carries (and
/// those of no node), or with `None` (one node on SQLite) all of them.
pub fn unended_sessions(c: &dyn Sql, node: Option<&str>) -> Result<Vec<Session>, StoreError> {
    c.query_map(
        &format!(
            "SELECT {SESSION_COLUMNS} FROM sessions
             WHERE ended_at IS NULL AND (CAST(?1 AS TEXT) IS NULL OR node = ?1 OR node IS NULL)"
        ),
        args![node],
        session_row,
    )
}

pub fn session(c: &dyn Sql, sid: &SessionId) -> Result<Option<Session>, StoreError> {
    c.query_opt(
        &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"),
        args![sid.as_str()],
        session_row,
    )
}

pub(crate) fn session_row(r: &Row) -> Result<Session, StoreError> {
    let ended_at: Option<i64> = r.get(12)?;
    let end_reason: Option<String> = r.get(13)?;
    let environment: String = r.get(5)?;
    let modes: String = r.get(6)?;
    let metadata: String = r.get(8)?;
    let fields = (
        r.get::<String>(0)?,
        r.get::<String>(1)?,
        r.get::<String>(2)?,
        r.get::<String>(3)?,
        r.get::<String>(4)?,
    );
    let preview: bool = r.get(7)?;
    let origin: Option<String> = r.get(9)?;
    let created_at = Timestamp(r.get(10)?);
    let expires_at = Timestamp(r.get(11)?);
    let node: Option<String> = r.get(14)?;
    let variables: String = r.get(15)?;
    (|| {
        let environment = match environment.as_str() {
            "production" => Environment::Production,
            "staging" => Environment::Staging,
            other => return Err(corrupt(format!("unknown environment {other}"))),
        };
        let state = match (ended_at, end_reason) {
            (Some(at), Some(reason)) => SessionState::Ended {
                at: Timestamp(at),
                reason: EndReason::parse(&reason)
                    .ok_or_else(|| corrupt(format!("unknown end reason {reason}")))?,
            },
            _ => SessionState::Live,
        };
        Ok(Session {
            id: id(fields.0, SessionId::parse)?,
            conversation_id: id(fields.1, ConversationId::parse)?,
            workspace_id: id(fields.2, WorkspaceId::parse)?,
            widget_id: id(fields.3, WidgetId::parse)?,
            agent_id: id(fields.4, AgentId::parse)?,
            environment,
            modes: serde_json::from_str::<ModeSet>(&modes).map_err(corrupt)?,
            preview,
            metadata: serde_json::from_str(&metadata).map_err(corrupt)?,
            variables: Variables::from_stored(&serde_json::from_str(&variables).map_err(corrupt)?),
            origin,
            created_at,
            expires_at,
            state,
            node,
        })
    })()
}

/// One transcript entry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TranscriptMessage {
    pub id: String,
    pub role: MessageRole,
    pub text: String,
    pub status: MessageStatus,
    pub created_at: Timestamp,
    /// The knowledge attachment an agent's answer quotes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The voice call it was said in, and when: milliseconds from the call's connect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset_ms: Option<i64>,
    /// Why a `failed` turn failed (`agent_error`, `agent_timeout`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// A `tool` line's call: name, arguments, result or error, duration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<ToolLine>,
    /// An agent's answer in a call: how long its turn took, stage by stage (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<voxgate_engine::talk::TurnLatency>,
}

/// A conversation's messages in order.
pub fn transcript(c: &dyn Sql, conversation: &ConversationId) -> Result<Vec<TranscriptMessage>, StoreError> {
    c.query_map(
        "SELECT id, role, text, status, created_at, source, call_id, offset_ms, error_code, tool, latency
         FROM messages WHERE conversation_id = ?1 ORDER BY seq",
        args![conversation.as_str()],
        |r| {
            Ok(TranscriptMessage {
                id: r.get(0)?,
                role: {
                    let role: String = r.get(1)?;
                    MessageRole::parse(&role)
                        .ok_or_else(|| corrupt(format!("unknown message role {role}")))?
                },
                text: r.get(2)?,
                status: {
                    let status: String = r.get(3)?;
                    MessageStatus::parse(&status)
                        .ok_or_else(|| corrupt(format!("unknown message status {status}")))?
                },
                created_at: Timestamp(r.get(4)?),
                source: r.get(5)?,
                call_id: r.get(6)?,
                offset_ms: r.get(7)?,
                error_code: r.get(8)?,
                tool: match r.get::<Option<String>>(9)? {
                    Some(json) => Some(serde_json::from_str(&json).map_err(corrupt)?),
                    None => None,
                },
                latency: match r.get::<Option<String>>(10)? {
                    Some(json) => Some(serde_json::from_str(&json).map_err(corrupt)?),
                    None => None,
                },
            })
        },
    )
}

/// A new call of a session, placed on `worker`.
pub fn insert_call(
    c: &dyn Sql,
    call: &voxgate_engine::ids::CallId,
    session: &SessionId,
    worker: usize,
    at: Timestamp,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO calls (id, session_id, worker, created_at) VALUES (?1, ?2, ?3, ?4)",
        args![call.as_str(), session.as_str(), worker as i64, at.millis()],
    )?;
    Ok(())
}

pub fn call_connected(
    c: &dyn Sql,
    call: &voxgate_engine::ids::CallId,
    at: Timestamp,
) -> Result<(), StoreError> {
    c.execute("UPDATE calls SET connected_at = ?2 WHERE id = ?1", args![call.as_str(), at.millis()])?;
    // A connected call is what makes a conversation a voice one.
    c.execute(
        "UPDATE sessions SET used_voice = 1 WHERE id = (SELECT session_id FROM calls WHERE id = ?1) AND used_voice = 0",
        args![call.as_str()],
    )?;
    Ok(())
}

/// Marks a conversation as having used text (a visitor's typed message).
pub fn text_used(c: &dyn Sql, session: &SessionId) -> Result<(), StoreError> {
    c.execute("UPDATE sessions SET used_text = 1 WHERE id = ?1 AND used_text = 0", args![session.as_str()])?;
    Ok(())
}

/// Reopens a session ended as `visitor_left` (a message or an offer came on its live token);
/// whether it was.
pub fn reopen_session(c: &dyn Sql, sid: &SessionId) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE sessions SET ended_at = NULL, end_reason = NULL WHERE id = ?1 AND end_reason = 'visitor_left'",
        args![sid.as_str()],
    )?;
    Ok(n == 1)
}

pub fn end_call(
    c: &dyn Sql,
    call: &voxgate_engine::ids::CallId,
    at: Timestamp,
    reason: EndReason,
) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE calls SET ended_at = ?2, end_reason = ?3 WHERE id = ?1 AND ended_at IS NULL",
        args![call.as_str(), at.millis(), reason.as_str()],
    )?;
    Ok(n == 1)
}

/// Closes every call that has no end (the server stopped without ending it): it ends at its
/// last durable evidence of life (its last metered minute's start, else its connect time, else
/// its creation) with `reason`: the calls of `node`'s sessions, or with `None` (one node on
/// SQLite) every call. Returns how many were closed.
pub fn close_orphaned_calls(c: &dyn Sql, node: Option<&str>, reason: EndReason) -> Result<usize, StoreError> {
    Ok(c.execute(
        "UPDATE calls SET ended_at = COALESCE(last_metered_at, connected_at, created_at), end_reason = ?2
         WHERE ended_at IS NULL AND (CAST(?1 AS TEXT) IS NULL
           OR session_id IN (SELECT id FROM sessions WHERE node = ?1 OR node IS NULL))",
        args![node, reason.as_str()],
    )? as usize)
}

/// Marks every answer still `streaming` (the node stopped mid-answer) as `interrupted`: those
/// of `node`'s sessions, or with `None` (one node on SQLite) all.
pub fn close_streaming_answers(c: &dyn Sql, node: Option<&str>) -> Result<usize, StoreError> {
    Ok(c.execute(
        "UPDATE messages SET status = 'interrupted' WHERE status = 'streaming' AND (CAST(?1 AS TEXT) IS NULL
           OR conversation_id IN (SELECT conversation_id FROM sessions WHERE node = ?1 OR node IS NULL))",
        args![node],
    )? as usize)
}

/// Sessions `node` carries that ended at or after `since`, and why (for a node that may have
/// missed the announcement).
pub fn sessions_ended_since(
    c: &dyn Sql,
    node: &str,
    since: Timestamp,
) -> Result<Vec<(SessionId, EndReason)>, StoreError> {
    c.query_map(
        "SELECT id, end_reason FROM sessions WHERE node = ?1 AND ended_at IS NOT NULL AND ended_at >= ?2",
        args![node, since.millis()],
        |r| {
            let reason: String = r.get(1)?;
            Ok((
                id(r.get(0)?, SessionId::parse)?,
                EndReason::parse(&reason).ok_or_else(|| corrupt(format!("unknown end reason {reason}")))?,
            ))
        },
    )
}

/// Ends every live session `node` carries, with `reason`, at `at` (the node is gone); the
/// sessions it ended.
pub fn end_sessions_of_node(
    c: &dyn Sql,
    node: &str,
    at: Timestamp,
    reason: EndReason,
) -> Result<Vec<String>, StoreError> {
    let ending: Vec<String> =
        c.query_map("SELECT id FROM sessions WHERE ended_at IS NULL AND node = ?1", args![node], |r| {
            r.get(0)
        })?;
    c.execute(
        "UPDATE sessions SET ended_at = ?2, end_reason = ?3 WHERE ended_at IS NULL AND node = ?1",
        args![node, at.millis(), reason.as_str()],
    )?;
    Ok(ending)
}

/// Whether `call` is (or was) a call of `session`.
pub fn call_of_session(
    c: &dyn Sql,
    call: &voxgate_engine::ids::CallId,
    session: &SessionId,
) -> Result<bool, StoreError> {
    let n: i64 = c.query_value(
        "SELECT COUNT(*) FROM calls WHERE id = ?1 AND session_id = ?2",
        args![call.as_str(), session.as_str()],
    )?;
    Ok(n > 0)
}

/// The visitor of `call` restarted ICE and the call went on.
pub fn call_reconnected(c: &dyn Sql, call: &CallId) -> Result<(), StoreError> {
    c.execute("UPDATE calls SET reconnects = reconnects + 1 WHERE id = ?1", args![call.as_str()])?;
    Ok(())
}

/// One call as recorded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CallRecord {
    pub call_id: String,
    pub worker: i64,
    pub created_at: Timestamp,
    pub connected_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub end_reason: Option<String>,
    /// Metered minutes of this call.
    pub minutes: i64,
    /// ICE restarts the call went on through (the visitor's network changed).
    pub reconnects: i64,
    /// Its recording, when its widget records calls.
    pub recording: Option<CallRecording>,
}

/// Where a call's recording is and what it holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CallRecording {
    /// `GET` it with the workspace's key: `audio/ogg`, two channels (visitor left, agent right).
    pub url: String,
    /// `recording`, `complete`, or `partial` (the node stopped mid-call; what was written is kept).
    pub status: String,
    pub duration_ms: i64,
    pub bytes: i64,
}

pub fn calls_of_session(c: &dyn Sql, session: &SessionId) -> Result<Vec<CallRecord>, StoreError> {
    c.query_map(
        "SELECT c.id, c.worker, c.created_at, c.connected_at, c.ended_at, c.end_reason, c.minutes,
                r.conversation_id, r.status, r.duration_ms, r.bytes, c.reconnects
         FROM calls c LEFT JOIN recordings r ON r.call_id = c.id AND r.deleted_at IS NULL
         WHERE c.session_id = ?1 ORDER BY c.created_at",
        args![session.as_str()],
        |r| {
            let call_id: String = r.get(0)?;
            let recording = match r.get::<Option<String>>(7)? {
                Some(conversation) => Some(CallRecording {
                    url: format!("/v1/conversations/{conversation}/calls/{call_id}/recording"),
                    status: r.get(8)?,
                    duration_ms: r.get(9)?,
                    bytes: r.get(10)?,
                }),
                None => None,
            };
            Ok(CallRecord {
                call_id,
                worker: r.get(1)?,
                created_at: Timestamp(r.get(2)?),
                connected_at: r.get::<Option<i64>>(3)?.map(Timestamp),
                ended_at: r.get::<Option<i64>>(4)?.map(Timestamp),
                end_reason: r.get(5)?,
                minutes: r.get(6)?,
                reconnects: r.get(11)?,
                recording,
            })
        },
    )
}

/// One metered unit of usage, and (for voice) the call it belongs to.
#[derive(Debug, Clone)]
pub struct UsageEvent {
    /// What makes it itself: the ledger records each key once.
    pub key: voxgate_engine::metering::UsageKey,
    pub workspace: WorkspaceId,
    pub session: Option<SessionId>,
    pub call: Option<voxgate_engine::ids::CallId>,
    pub kind: voxgate_engine::metering::UsageKind,
    pub class: voxgate_engine::metering::UsageClass,
    pub environment: Environment,
    pub quantity: u64,
    pub at: Timestamp,
}

/// Records `e` once: false (and nothing changes) when its key is recorded already.
pub fn insert_usage(c: &dyn Sql, e: &UsageEvent) -> Result<bool, StoreError> {
    let key = e.key.as_stored();
    let inserted = c.execute(
        "INSERT INTO usage_events (workspace_id, session_id, kind, class, environment, quantity, at, idempotency_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (idempotency_key) DO NOTHING",
        args![
            e.workspace.as_str(),
            e.session.as_ref().map(|s| s.as_str()),
            e.kind.as_str(),
            e.class.as_str(),
            e.environment.as_str(),
            e.quantity as i64,
            e.at.millis(),
            &key
        ],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    if let Some(call) = &e.call {
        c.execute(
            "UPDATE calls SET minutes = minutes + ?2, last_metered_at = ?3 WHERE id = ?1",
            args![call.as_str(), e.quantity as i64, e.at.millis()],
        )?;
    }
    Ok(true)
}

/// Usage of one kind and class in `[from, to)`.
pub fn usage_sum(
    c: &dyn Sql,
    ws: &WorkspaceId,
    kind: voxgate_engine::metering::UsageKind,
    class: voxgate_engine::metering::UsageClass,
    from: Timestamp,
    to: Timestamp,
) -> Result<u64, StoreError> {
    let n: i64 = c.query_value(
        "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM usage_events
         WHERE workspace_id = ?1 AND kind = ?2 AND class = ?3 AND at >= ?4 AND at < ?5",
        args![ws.as_str(), kind.as_str(), class.as_str(), from.millis(), to.millis()],
    )?;
    Ok(n.max(0) as u64)
}

/// Usage in `[from, to)` grouped by (kind, class, environment).
pub fn usage_report(
    c: &dyn Sql,
    ws: &WorkspaceId,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<(String, String, String, u64)>, StoreError> {
    c.query_map(
        "SELECT kind, class, environment, CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM usage_events
         WHERE workspace_id = ?1 AND at >= ?2 AND at < ?3 GROUP BY kind, class, environment",
        args![ws.as_str(), from.millis(), to.millis()],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<i64>(3)?.max(0) as u64)),
    )
}

/// Usage in `[from, to)` per UTC day: (day's first millisecond, kind, class, quantity).
pub fn usage_by_day(
    c: &dyn Sql,
    ws: &WorkspaceId,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<(i64, String, String, u64)>, StoreError> {
    c.query_map(
        "SELECT (at / 86400000) * 86400000, kind, class, CAST(COALESCE(SUM(quantity), 0) AS BIGINT)
         FROM usage_events WHERE workspace_id = ?1 AND at >= ?2 AND at < ?3 GROUP BY 1, 2, 3 ORDER BY 1",
        args![ws.as_str(), from.millis(), to.millis()],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<i64>(3)?.max(0) as u64)),
    )
}

/// Connected voice seconds of calls connected in `[from, to)`, by (class, environment).
/// A live call counts up to `now`.
pub fn voice_seconds(
    c: &dyn Sql,
    ws: &WorkspaceId,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
) -> Result<Vec<(String, String, u64)>, StoreError> {
    c.query_map(
        "SELECT CASE WHEN s.preview <> 0 THEN 'preview' ELSE 'production' END, s.environment,
                CAST(COALESCE(SUM(COALESCE(c.ended_at, ?4) - c.connected_at), 0) AS BIGINT)
         FROM calls c JOIN sessions s ON s.id = c.session_id
         WHERE s.workspace_id = ?1 AND c.connected_at IS NOT NULL AND c.connected_at >= ?2 AND c.connected_at < ?3
         GROUP BY 1, 2",
        args![ws.as_str(), from.millis(), to.millis(), now.millis()],
        |r| Ok((r.get(0)?, r.get(1)?, (r.get::<i64>(2)?.max(0) / 1000) as u64)),
    )
}

/// Appends a message to a conversation's transcript.
pub fn append_message(
    c: &dyn Sql,
    conversation: &ConversationId,
    role: MessageRole,
    text: &str,
    status: MessageStatus,
    at: Timestamp,
) -> Result<voxgate_engine::ids::MessageId, StoreError> {
    let id = voxgate_engine::ids::MessageId::generate(&mut rand::rng());
    c.execute(
        "INSERT INTO messages (id, conversation_id, seq, role, text, status, created_at)
         VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE conversation_id = ?2), ?3, ?4, ?5, ?6)",
        args![id.as_str(), conversation.as_str(), role.as_str(), text, status.as_str(), at.millis()],
    )?;
    Ok(id)
}

/// Appends a tool call to a conversation's transcript (in a call when `call` is set, at
/// `offset_ms` from its connect). The line's text is the tool's name.
pub fn append_tool_line(
    c: &dyn Sql,
    conversation: &ConversationId,
    call: Option<(&CallId, i64)>,
    line: &ToolLine,
    at: Timestamp,
) -> Result<voxgate_engine::ids::MessageId, StoreError> {
    let id = voxgate_engine::ids::MessageId::generate(&mut rand::rng());
    let json = serde_json::to_string(line).map_err(corrupt)?;
    let status = if line.error.is_some() { MessageStatus::Failed } else { MessageStatus::Complete };
    c.execute(
        "INSERT INTO messages (id, conversation_id, seq, role, text, status, created_at, call_id, offset_ms, tool)
         VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE conversation_id = ?2), ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        args![
            id.as_str(),
            conversation.as_str(),
            MessageRole::Tool.as_str(),
            &line.name,
            status.as_str(),
            at.millis(),
            call.map(|(c, _)| c.as_str()),
            call.map(|(_, offset)| offset),
            &json,
        ],
    )?;
    Ok(id)
}

/// Moves a message to the end of its conversation's transcript: an answer whose row was made
/// when the visitor's message arrived follows the tool calls it made on the way.
pub fn move_to_end(
    c: &dyn Sql,
    conversation: &ConversationId,
    message: &voxgate_engine::ids::MessageId,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE messages SET seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE conversation_id = ?1)
         WHERE id = ?2",
        args![conversation.as_str(), message.as_str()],
    )?;
    Ok(())
}

/// Adds `warnings` (about the session's variables, say) to its conversation's record.
pub fn add_warnings(c: &dyn Sql, session: &SessionId, warnings: &[String]) -> Result<(), StoreError> {
    let current: Option<String> =
        c.query_opt("SELECT warnings FROM sessions WHERE id = ?1", args![session.as_str()], |r| r.get(0))?;
    let mut all: Vec<String> = match current {
        Some(json) => serde_json::from_str(&json).map_err(corrupt)?,
        None => return Ok(()),
    };
    for w in warnings {
        if !all.contains(w) {
            all.push(w.clone());
        }
    }
    let json = serde_json::to_string(&all).map_err(corrupt)?;
    c.execute("UPDATE sessions SET warnings = ?2 WHERE id = ?1", args![session.as_str(), &json])?;
    Ok(())
}

/// The warnings on a session's conversation record.
pub fn warnings(c: &dyn Sql, session: &SessionId) -> Result<Vec<String>, StoreError> {
    let json: Option<String> =
        c.query_opt("SELECT warnings FROM sessions WHERE id = ?1", args![session.as_str()], |r| r.get(0))?;
    match json {
        Some(json) => serde_json::from_str(&json).map_err(corrupt),
        None => Ok(Vec::new()),
    }
}

/// One line of a voice call's transcript.
#[derive(Debug, Clone)]
pub struct VoiceLine {
    pub conversation: ConversationId,
    pub call: CallId,
    pub role: MessageRole,
    pub text: String,
    /// `complete`, `interrupted` (the visitor talked over it) or `failed`.
    pub status: MessageStatus,
    pub offset_ms: i64,
    pub error_code: Option<&'static str>,
    pub latency: Option<voxgate_engine::talk::TurnLatency>,
}

/// Appends a line said in a voice call to its conversation's transcript.
pub fn append_voice_line(c: &dyn Sql, line: &VoiceLine, at: Timestamp) -> Result<(), StoreError> {
    let id = voxgate_engine::ids::MessageId::generate(&mut rand::rng());
    let latency = line.latency.map(|l| serde_json::to_string(&l)).transpose().map_err(corrupt)?;
    c.execute(
        "INSERT INTO messages (id, conversation_id, seq, role, text, status, created_at, call_id, offset_ms, error_code, latency)
         VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE conversation_id = ?2), ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        args![
            id.as_str(),
            line.conversation.as_str(),
            line.role.as_str(),
            &line.text,
            line.status.as_str(),
            at.millis(),
            line.call.as_str(),
            line.offset_ms,
            line.error_code,
            &latency
        ],
    )?;
    Ok(())
}

/// Records how an answer that was `streaming` ended: its text, status and source.
pub fn finish_message(
    c: &dyn Sql,
    id: &voxgate_engine::ids::MessageId,
    text: &str,
    status: MessageStatus,
    source: Option<&str>,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE messages SET text = ?2, status = ?3, source = ?4 WHERE id = ?1",
        args![id.as_str(), text, status.as_str(), source],
    )?;
    Ok(())
}

/// A node on this database, as its last heartbeat left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub id: String,
    pub public_url: String,
    pub heartbeat_at: Timestamp,
}

/// Records that `node` is alive at `at`, answering at `public_url`, if this process
/// (`incarnation`) still holds the name: false when another process has taken it over.
pub fn node_heartbeat(
    c: &dyn Sql,
    node: &str,
    public_url: &str,
    incarnation: &str,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let written = c.execute(
        "INSERT INTO nodes (id, public_url, started_at, heartbeat_at, incarnation) VALUES (?1, ?2, ?3, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET public_url = excluded.public_url, heartbeat_at = excluded.heartbeat_at
         WHERE nodes.incarnation = excluded.incarnation",
        args![node, public_url, at.millis(), incarnation],
    )?;
    Ok(written == 1)
}

/// Who holds a node name, as a process that wants it found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeHolder {
    pub public_url: String,
    pub heartbeat_at: Timestamp,
    pub incarnation: Option<String>,
}

/// Takes the name `node` for this process (`incarnation`) if nobody holds it: no row, a row a
/// clean stop released, or a heartbeat older than `cutoff` (its process is gone). Otherwise
/// says who holds it, to be watched: a holder whose heartbeat moves is alive.
pub fn claim_node(
    c: &dyn Sql,
    node: &str,
    public_url: &str,
    incarnation: &str,
    now: Timestamp,
    cutoff: Timestamp,
) -> Result<Option<NodeHolder>, StoreError> {
    let taken = c.execute(
        "INSERT INTO nodes (id, public_url, started_at, heartbeat_at, incarnation) VALUES (?1, ?2, ?3, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET public_url = excluded.public_url, started_at = excluded.started_at,
             heartbeat_at = excluded.heartbeat_at, incarnation = excluded.incarnation
         WHERE nodes.incarnation IS NULL OR nodes.heartbeat_at < ?5",
        args![node, public_url, now.millis(), incarnation, cutoff.millis()],
    )?;
    if taken == 1 {
        return Ok(None);
    }
    let holder = c.query_map(
        "SELECT public_url, heartbeat_at, incarnation FROM nodes WHERE id = ?1",
        args![node],
        |r| {
            Ok(NodeHolder {
                public_url: r.get(0)?,
                heartbeat_at: Timestamp(r.get(1)?),
                incarnation: r.get(2)?,
            })
        },
    )?;
    Ok(holder.into_iter().next())
}

/// Gives the name back at a clean stop, so the next process under it starts at once; the row
/// and its heartbeat stay, so other nodes still take it for gone only after its lease.
pub fn release_node(c: &dyn Sql, node: &str, incarnation: &str) -> Result<(), StoreError> {
    c.execute(
        "UPDATE nodes SET incarnation = NULL WHERE id = ?1 AND incarnation = ?2",
        args![node, incarnation],
    )?;
    Ok(())
}

/// Every node with a heartbeat on record.
pub fn nodes(c: &dyn Sql) -> Result<Vec<NodeRow>, StoreError> {
    c.query_map("SELECT id, public_url, heartbeat_at FROM nodes ORDER BY id", &[], |r| {
        Ok(NodeRow { id: r.get(0)?, public_url: r.get(1)?, heartbeat_at: Timestamp(r.get(2)?) })
    })
}

/// Forgets `node` if its last heartbeat is still before `cutoff` (it did not come back while
/// another node decided it was gone); true when this call forgot it.
pub fn forget_node(c: &dyn Sql, node: &str, cutoff: Timestamp) -> Result<bool, StoreError> {
    Ok(c.execute("DELETE FROM nodes WHERE id = ?1 AND heartbeat_at < ?2", args![node, cutoff.millis()])? == 1)
}

/// The latencies of `agent`'s answers in calls made in `[from, to)`.
pub fn agent_latencies(
    c: &dyn Sql,
    agent: &AgentId,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<voxgate_engine::talk::TurnLatency>, StoreError> {
    let rows: Vec<String> = c.query_map(
        "SELECT m.latency FROM messages m JOIN sessions s ON s.conversation_id = m.conversation_id
         WHERE s.agent_id = ?1 AND m.latency IS NOT NULL AND m.created_at >= ?2 AND m.created_at < ?3",
        args![agent.as_str(), from.millis(), to.millis()],
        |r| r.get(0),
    )?;
    rows.iter().map(|json| serde_json::from_str(json).map_err(corrupt)).collect()
}
