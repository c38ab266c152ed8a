//! Webhook endpoints and the outbox of events owed to them. An event is written by
//! [`enqueue`] inside the transaction of the change it reports, so it exists exactly when the
//! change does; senders [`claim`] due rows under a lease (on PostgreSQL with `FOR UPDATE SKIP
//! LOCKED`, so two nodes never take the same row) and [`record_attempt`] each outcome.

use super::sql::{args, Dialect, Row, Sql};
use super::StoreError;
use serde::Serialize;
use serde_json::Value;
use voxgate_engine::ids::{DeliveryId, WebhookId, WorkspaceId};
use voxgate_engine::webhook::{WebhookEvent, WebhookSpec, GIVE_UP_AFTER};
use voxgate_engine::Timestamp;

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// An endpoint as stored (its secrets only for the sender).
#[derive(Debug, Clone, Serialize)]
pub struct EndpointRow {
    pub id: WebhookId,
    pub workspace_id: WorkspaceId,
    #[serde(flatten)]
    pub spec: WebhookSpec,
    #[serde(skip)]
    pub secret: String,
    /// The secret before the last rotation, which signs beside the new one until
    /// `previous_until`.
    #[serde(skip)]
    pub previous_secret: Option<String>,
    #[serde(skip)]
    pub previous_until: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Deliveries have failed since then, without a success.
    pub failing_since: Option<Timestamp>,
    pub disabled_at: Option<Timestamp>,
    pub disabled_reason: Option<String>,
}

const ENDPOINT_COLUMNS: &str = "id, workspace_id, spec, secret, previous_secret, previous_until, created_at, updated_at, failing_since, disabled_at, disabled_reason";

fn endpoint_row(r: &Row) -> Result<EndpointRow, StoreError> {
    let spec: String = r.get(2)?;
    Ok(EndpointRow {
        id: WebhookId::parse(&r.get::<String>(0)?).map_err(corrupt)?,
        workspace_id: WorkspaceId::parse(&r.get::<String>(1)?).map_err(corrupt)?,
        spec: serde_json::from_str(&spec).map_err(corrupt)?,
        secret: r.get(3)?,
        previous_secret: r.get(4)?,
        previous_until: r.get::<Option<i64>>(5)?.map(Timestamp),
        created_at: Timestamp(r.get(6)?),
        updated_at: Timestamp(r.get(7)?),
        failing_since: r.get::<Option<i64>>(8)?.map(Timestamp),
        disabled_at: r.get::<Option<i64>>(9)?.map(Timestamp),
        disabled_reason: r.get(10)?,
    })
}

pub fn insert_endpoint(c: &dyn Sql, e: &EndpointRow) -> Result<(), StoreError> {
    let spec = serde_json::to_string(&e.spec).map_err(corrupt)?;
    c.execute(
        &format!("INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, NULL, NULL, ?5, ?5, NULL, NULL, NULL)"),
        args![e.id.as_str(), e.workspace_id.as_str(), &spec, &e.secret, e.created_at.millis()],
    )?;
    Ok(())
}

/// A workspace's endpoints, oldest first.
pub fn endpoints(c: &dyn Sql, ws: &WorkspaceId) -> Result<Vec<EndpointRow>, StoreError> {
    c.query_map(
        &format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE workspace_id = ?1 AND deleted_at IS NULL ORDER BY created_at, id"),
        args![ws.as_str()],
        endpoint_row,
    )
}

pub fn endpoint(c: &dyn Sql, ws: &WorkspaceId, id: &WebhookId) -> Result<Option<EndpointRow>, StoreError> {
    c.query_opt(
        &format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1 AND workspace_id = ?2 AND deleted_at IS NULL"),
        args![id.as_str(), ws.as_str()],
        endpoint_row,
    )
}

/// Saves a new spec; a saved endpoint is enabled again (its failures forgotten).
pub fn update_endpoint(
    c: &dyn Sql,
    id: &WebhookId,
    spec: &WebhookSpec,
    at: Timestamp,
) -> Result<(), StoreError> {
    let spec = serde_json::to_string(spec).map_err(corrupt)?;
    c.execute(
        "UPDATE webhook_endpoints SET spec = ?2, updated_at = ?3, failing_since = NULL, disabled_at = NULL, disabled_reason = NULL WHERE id = ?1",
        args![id.as_str(), &spec, at.millis()],
    )?;
    Ok(())
}

/// A new secret; the old one signs beside it until `previous_until`.
pub fn rotate_secret(
    c: &dyn Sql,
    id: &WebhookId,
    secret: &str,
    previous_until: Timestamp,
    at: Timestamp,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE webhook_endpoints SET previous_secret = secret, previous_until = ?3, secret = ?2, updated_at = ?4 WHERE id = ?1",
        args![id.as_str(), secret, previous_until.millis(), at.millis()],
    )?;
    Ok(())
}

/// Deletes an endpoint; what it was owed is dropped.
pub fn delete_endpoint(c: &dyn Sql, id: &WebhookId, at: Timestamp) -> Result<(), StoreError> {
    c.execute("UPDATE webhook_endpoints SET deleted_at = ?2 WHERE id = ?1", args![id.as_str(), at.millis()])?;
    c.execute(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = 'the endpoint was deleted' WHERE endpoint_id = ?1 AND status = 'pending'",
        args![id.as_str()],
    )?;
    Ok(())
}

/// Owes `event` (`data` as its payload's `data`) to every enabled endpoint of `ws` that
/// listens for it, due at once. Call it in the transaction of the change it reports. Returns
/// how many deliveries were owed.
/// `conversation` names the conversation whose data the payload carries: erasing it erases
/// the payload too.
pub fn enqueue(
    c: &dyn Sql,
    ws: &WorkspaceId,
    conversation: Option<&str>,
    event: WebhookEvent,
    data: Value,
    at: Timestamp,
) -> Result<usize, StoreError> {
    let listening: Vec<WebhookId> = endpoints(c, ws)?
        .into_iter()
        .filter(|e| e.disabled_at.is_none() && e.spec.events.contains(&event))
        .map(|e| e.id)
        .collect();
    if listening.is_empty() {
        return Ok(0);
    }
    let payload = serde_json::json!({"type": event.as_str(), "timestamp": at, "data": data}).to_string();
    for endpoint in &listening {
        let id = DeliveryId::generate(&mut rand::rng());
        c.execute(
            "INSERT INTO webhook_deliveries (id, endpoint_id, workspace_id, conversation_id, event, payload, created_at, next_attempt_at, attempts, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 0, 'pending')",
            args![id.as_str(), endpoint.as_str(), ws.as_str(), conversation, event.as_str(), &payload, at.millis()],
        )?;
    }
    Ok(listening.len())
}

/// Whether `ws` has an endpoint that listens for `event` (so the caller can skip building a
/// payload nobody is owed).
pub fn anyone_listens(c: &dyn Sql, ws: &WorkspaceId, event: WebhookEvent) -> Result<bool, StoreError> {
    Ok(endpoints(c, ws)?.iter().any(|e| e.disabled_at.is_none() && e.spec.events.contains(&event)))
}

/// A delivery due now, leased to this sender, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: DeliveryId,
    pub endpoint_id: WebhookId,
    pub url: String,
    /// The secrets that sign it: the current one, then the one before a rotation while it
    /// still signs.
    pub secrets: Vec<String>,
    pub payload: String,
    pub attempts: u32,
    pub created_at: Timestamp,
}

/// Leases up to `limit` due deliveries for `lease_ms` and returns them. On PostgreSQL the rows
/// are taken `FOR UPDATE SKIP LOCKED`, so several nodes never lease the same one.
pub fn claim(c: &dyn Sql, now: Timestamp, lease_ms: i64, limit: i64) -> Result<Vec<Due>, StoreError> {
    let lock = match c.dialect() {
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let ids: Vec<String> = c.query_map(
        &format!(
            "SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?1
             AND (lease_until IS NULL OR lease_until < ?1) ORDER BY next_attempt_at LIMIT ?2{lock}"
        ),
        args![now.millis(), limit],
        |r| r.get(0),
    )?;
    let mut due = Vec::with_capacity(ids.len());
    for id in ids {
        c.execute(
            "UPDATE webhook_deliveries SET lease_until = ?2 WHERE id = ?1",
            args![id.as_str(), now.millis() + lease_ms],
        )?;
        let row = c.query_opt(
            "SELECT d.id, d.endpoint_id, e.spec, e.secret, e.previous_secret, e.previous_until, d.payload, d.attempts, d.created_at
             FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = ?1",
            args![id.as_str()],
            |r| {
                let spec: WebhookSpec = serde_json::from_str(&r.get::<String>(2)?).map_err(corrupt)?;
                let mut secrets = vec![r.get::<String>(3)?];
                let previous: Option<String> = r.get(4)?;
                let until: Option<i64> = r.get(5)?;
                if let (Some(p), Some(until)) = (previous, until) {
                    if until > now.millis() {
                        secrets.push(p);
                    }
                }
                Ok(Due {
                    id: DeliveryId::parse(&r.get::<String>(0)?).map_err(corrupt)?,
                    endpoint_id: WebhookId::parse(&r.get::<String>(1)?).map_err(corrupt)?,
                    url: spec.url,
                    secrets,
                    payload: r.get(6)?,
                    attempts: r.get::<i64>(7)? as u32,
                    created_at: Timestamp(r.get(8)?),
                })
            },
        )?;
        due.extend(row);
    }
    Ok(due)
}

/// How one attempt ended.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: i64,
    /// Delivered (a 2xx answer).
    pub delivered: bool,
    /// When to try again, if it failed and the day is not out.
    pub retry_at: Option<Timestamp>,
}

/// Records an attempt of `due` at `now`: delivered, owed again at `retry_at`, or given up.
/// An endpoint that has failed for a whole day without a success is disabled.
pub fn record_attempt(c: &dyn Sql, due: &Due, attempt: &Attempt, now: Timestamp) -> Result<(), StoreError> {
    let status = match (attempt.delivered, attempt.retry_at) {
        (true, _) => "delivered",
        (false, Some(_)) => "pending",
        (false, None) => "failed",
    };
    c.execute(
        "UPDATE webhook_deliveries SET status = ?2, attempts = attempts + 1, lease_until = NULL, next_attempt_at = ?3,
         last_status = ?4, last_error = ?5, last_latency_ms = ?6, delivered_at = ?7 WHERE id = ?1",
        args![
            due.id.as_str(),
            status,
            attempt.retry_at.unwrap_or(now).millis(),
            attempt.status.map(i64::from),
            attempt.error.as_deref(),
            attempt.latency_ms,
            attempt.delivered.then_some(now.millis()),
        ],
    )?;
    if attempt.delivered {
        c.execute(
            "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ?1",
            args![due.endpoint_id.as_str()],
        )?;
        return Ok(());
    }
    c.execute(
        "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, ?2) WHERE id = ?1",
        args![due.endpoint_id.as_str(), now.millis()],
    )?;
    let give_up = now.millis() - GIVE_UP_AFTER.as_millis() as i64;
    let reason = format!(
        "every delivery failed for 24 hours; the last: {}",
        attempt.error.as_deref().unwrap_or("no answer")
    );
    c.execute(
        "UPDATE webhook_endpoints SET disabled_at = ?2, disabled_reason = ?3
         WHERE id = ?1 AND disabled_at IS NULL AND failing_since IS NOT NULL AND failing_since <= ?4",
        args![due.endpoint_id.as_str(), now.millis(), &reason, give_up],
    )?;
    Ok(())
}

/// One delivery as the API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRow {
    pub id: String,
    pub event: String,
    pub status: String,
    pub attempts: i64,
    pub created_at: Timestamp,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<i64>,
    pub delivered_at: Option<Timestamp>,
}

/// An endpoint's recent deliveries, newest first.
pub fn deliveries(c: &dyn Sql, endpoint: &WebhookId, limit: i64) -> Result<Vec<DeliveryRow>, StoreError> {
    c.query_map(
        "SELECT id, event, status, attempts, created_at, last_status, last_error, last_latency_ms, delivered_at
         FROM webhook_deliveries WHERE endpoint_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2",
        args![endpoint.as_str(), limit],
        |r| {
            Ok(DeliveryRow {
                id: r.get(0)?,
                event: r.get(1)?,
                status: r.get(2)?,
                attempts: r.get(3)?,
                created_at: Timestamp(r.get(4)?),
                last_status: r.get(5)?,
                last_error: r.get(6)?,
                last_latency_ms: r.get(7)?,
                delivered_at: r.get::<Option<i64>>(8)?.map(Timestamp),
            })
        },
    )
}

/// The session's workspace and conversation, if it exists.
fn owner(c: &dyn Sql, sid: &str) -> Result<Option<(WorkspaceId, String)>, StoreError> {
    c.query_opt("SELECT workspace_id, conversation_id FROM sessions WHERE id = ?1", args![sid], |r| {
        Ok((WorkspaceId::parse(&r.get::<String>(0)?).map_err(corrupt)?, r.get::<String>(1)?))
    })
}

/// `conversation.started`, owed in the transaction that records the session.
pub fn conversation_started(
    c: &dyn Sql,
    s: &voxgate_engine::session::Session,
    at: Timestamp,
) -> Result<(), StoreError> {
    if !anyone_listens(c, &s.workspace_id, WebhookEvent::ConversationStarted)? {
        return Ok(());
    }
    let data = serde_json::json!({
        "conversation_id": s.conversation_id, "session_id": s.id, "widget_id": s.widget_id,
        "agent_id": s.agent_id, "environment": s.environment.as_str(), "preview": s.preview,
        "metadata": s.metadata, "variables": s.variables.to_json(), "created_at": s.created_at,
    });
    let conversation = Some(s.conversation_id.as_str());
    enqueue(c, &s.workspace_id, conversation, WebhookEvent::ConversationStarted, data, at).map(|_| ())
}

/// `conversation.ended` with the whole record (transcript with tool lines, calls, usage, end
/// reason, metadata, variables), owed in the transaction that ends the session.
pub fn conversation_ended(c: &dyn Sql, sid: &str, at: Timestamp) -> Result<(), StoreError> {
    let Some((ws, conversation)) = owner(c, sid)? else { return Ok(()) };
    if !anyone_listens(c, &ws, WebhookEvent::ConversationEnded)? {
        return Ok(());
    }
    let id = voxgate_engine::ids::ConversationId::parse(&conversation).map_err(corrupt)?;
    let Some(record) = super::conversations::get(c, &ws, &id)? else { return Ok(()) };
    let data = serde_json::to_value(&record).map_err(corrupt)?;
    enqueue(c, &ws, Some(&conversation), WebhookEvent::ConversationEnded, data, at).map(|_| ())
}

/// `call.started` (when the call connects) or `call.ended`, owed in the transaction that
/// records it.
pub fn call_event(c: &dyn Sql, call: &str, event: WebhookEvent, at: Timestamp) -> Result<(), StoreError> {
    let row = c.query_opt(
        "SELECT s.id, s.workspace_id, s.conversation_id, c.connected_at, c.ended_at, c.end_reason
         FROM calls c JOIN sessions s ON s.id = c.session_id WHERE c.id = ?1",
        args![call],
        |r| {
            Ok((
                r.get::<String>(0)?,
                WorkspaceId::parse(&r.get::<String>(1)?).map_err(corrupt)?,
                r.get::<String>(2)?,
                r.get::<Option<i64>>(3)?.map(Timestamp),
                r.get::<Option<i64>>(4)?.map(Timestamp),
                r.get::<Option<String>>(5)?,
            ))
        },
    )?;
    let Some((session, ws, conversation, connected_at, ended_at, end_reason)) = row else { return Ok(()) };
    if !anyone_listens(c, &ws, event)? {
        return Ok(());
    }
    let data = serde_json::json!({"call_id": call, "session_id": session, "conversation_id": conversation,
        "connected_at": connected_at, "ended_at": ended_at, "end_reason": end_reason});
    enqueue(c, &ws, Some(&conversation), event, data, at).map(|_| ())
}

/// Owes `endpoint` a `webhook.test` event, due at once; its delivery's id.
pub fn enqueue_test(c: &dyn Sql, endpoint: &EndpointRow, at: Timestamp) -> Result<DeliveryId, StoreError> {
    let id = DeliveryId::generate(&mut rand::rng());
    let payload = serde_json::json!({"type": "webhook.test", "timestamp": at,
        "data": {"endpoint_id": endpoint.id, "message": "A test event from voxgate."}})
    .to_string();
    c.execute(
        "INSERT INTO webhook_deliveries (id, endpoint_id, workspace_id, conversation_id, event, payload, created_at, next_attempt_at, attempts, status)
         VALUES (?1, ?2, ?3, NULL, 'webhook.test', ?4, ?5, ?5, 0, 'pending')",
        args![id.as_str(), endpoint.id.as_str(), endpoint.workspace_id.as_str(), &payload, at.millis()],
    )?;
    Ok(id)
}

/// Owes a delivery of `endpoint` again, at once, under the same `webhook-id`; false if the
/// endpoint has no such delivery.
pub fn resend(
    c: &dyn Sql,
    endpoint: &WebhookId,
    delivery: &DeliveryId,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?3, lease_until = NULL, created_at = ?3
         WHERE id = ?1 AND endpoint_id = ?2",
        args![delivery.as_str(), endpoint.as_str(), at.millis()],
    )?;
    Ok(n == 1)
}
