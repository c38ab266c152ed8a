//! `GET /v1/conversations` (filters and cursor paging) and `GET /v1/conversations/{id}`: every
//! session's record, text or voice, with transcript, calls and usage.

use super::auth::Workspace;
use super::usage::bound;
use crate::error::{bad_id, ApiError};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;
use std::collections::HashMap;
use voxgate_engine::conversation::{ConversationFilter, Cursor};
use voxgate_engine::ids::{AgentId, ConversationId, WidgetId};
use voxgate_engine::session::{Environment, Mode};
use voxgate_engine::ErrorCode;

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 200;
const PARAMETERS: [&str; 8] =
    ["widget_id", "agent_id", "environment", "mode", "from", "to", "limit", "cursor"];

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, message).with_field(field)
}

pub fn filter(query: &HashMap<String, String>) -> Result<ConversationFilter, ApiError> {
    if let Some(unknown) = query.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
        return Err(invalid(
            unknown,
            format!("unknown parameter {unknown:?}; known: {}", PARAMETERS.join(", ")),
        ));
    }
    let text = |name: &str| query.get(name).map(String::as_str);
    let widget = text("widget_id")
        .map(|w| WidgetId::parse(w).map_err(|e| invalid("widget_id", e.to_string())))
        .transpose()?;
    let agent = text("agent_id")
        .map(|a| AgentId::parse(a).map_err(|e| invalid("agent_id", e.to_string())))
        .transpose()?;
    let environment = match text("environment") {
        None => None,
        Some(e) => Some(
            Environment::ALL
                .into_iter()
                .find(|x| x.as_str() == e)
                .ok_or_else(|| invalid("environment", format!("{e:?} is not production or staging")))?,
        ),
    };
    let mode = match text("mode") {
        None => None,
        Some(m) => Some(
            Mode::ALL
                .into_iter()
                .find(|x| x.as_str() == m)
                .ok_or_else(|| invalid("mode", format!("{m:?} is not voice or text")))?,
        ),
    };
    let limit = match text("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return Err(invalid("limit", format!("{l:?} is not a number from 1 to {MAX_LIMIT}"))),
        },
    };
    let after = text("cursor")
        .map(|c| {
            Cursor::decode(c)
                .ok_or_else(|| invalid("cursor", format!("{c:?} is not a cursor this API gave out")))
        })
        .transpose()?;
    let epoch = voxgate_engine::Timestamp(0);
    let from = query.contains_key("from").then(|| bound(query, "from", epoch)).transpose()?;
    let to = query.contains_key("to").then(|| bound(query, "to", epoch)).transpose()?;
    if let (Some(f), Some(t)) = (from, to) {
        if t <= f {
            return Err(invalid("to", "must be later than from".into()));
        }
    }
    Ok(ConversationFilter { widget, agent, environment, mode, from, to, after, limit })
}

pub async fn list(
    state: web::Data<AppState>,
    ws: Workspace,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let filter = filter(&query)?;
    let (page, next) = state.control.conversations(&ws.0, filter).await?;
    Ok(HttpResponse::Ok().json(json!({
        "conversations": page,
        "next_cursor": next.map(|c| c.encode()),
    })))
}

pub async fn get(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = ConversationId::parse(&path).map_err(bad_id)?;
    Ok(HttpResponse::Ok().json(state.control.conversation(&ws.0, &id).await?))
}

/// Erases the conversation: nothing of it is left but its anonymous usage; idempotent.
pub async fn delete(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = ConversationId::parse(&path).map_err(bad_id)?;
    state.control.erase_conversation(&ws.0, &id).await?;
    // Its recordings' files go now (a failure is retried by the sweeper; none can be read).
    state.recordings.sweep_now().await;
    Ok(HttpResponse::Ok().json(json!({"id": id, "deleted": true})))
}
