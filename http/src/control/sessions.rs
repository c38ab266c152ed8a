//! Sessions on the control plane: create (the six browser-safe fields), refresh, get, end.

use super::auth::Workspace;
use super::widgets::widget_id;
use crate::body::read_json;
use crate::error::{bad_id, ApiError};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use voxgate_actors::control::{IssuedSession, SessionView};
use voxgate_engine::ids::SessionId;
use voxgate_engine::session::Mode;

const SESSION_BODY_LIMIT: usize = 16 * 1024;

fn session_id(path: &str) -> Result<SessionId, ApiError> {
    SessionId::parse(path).map_err(bad_id)
}

/// What the customer's backend hands to the browser: nothing here is a workspace secret.
pub fn browser_values(state: &AppState, issued: &IssuedSession) -> serde_json::Value {
    let s = &issued.session;
    let base = &state.settings.public_url;
    let voice = s.modes.contains(Mode::Voice);
    let text = s.modes.contains(Mode::Text);
    json!({
        "session_id": s.id,
        "session_token": issued.token,
        "expires_at": s.expires_at,
        "webrtc_url": voice.then(|| format!("{base}/v1/sessions/{}/webrtc", s.id)),
        "webrtc_ice_servers": if voice { ice_servers(state, s) } else { json!([]) },
        "messages_url": text.then(|| format!("{base}/v1/sessions/{}/messages", s.id)),
    })
}

/// The configured ICE servers, and TURN credentials for this session when TURN is set up:
/// they expire with the session, and `refresh` hands out new ones.
fn ice_servers(state: &AppState, s: &voxgate_engine::session::Session) -> serde_json::Value {
    let mut servers = state.settings.ice_servers.as_array().cloned().unwrap_or_default();
    if let Some(turn) = &state.settings.turn {
        servers.push(turn.ice_server(&s.id, s.expires_at));
    }
    serde_json::Value::Array(servers)
}

pub async fn create(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = widget_id(&path)?;
    let mut body = read_json(&req, body, SESSION_BODY_LIMIT).await?;
    if body.is_null() {
        body = json!({});
    }
    let issued = state.control.create_session(&ws.0, &id, body).await?;
    Ok(HttpResponse::Created().json(browser_values(&state, &issued)))
}

pub async fn refresh(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = session_id(&path)?;
    let body = read_json(&req, body, SESSION_BODY_LIMIT).await?;
    let issued = state.control.refresh_session(&ws.0, &id, body).await?;
    Ok(HttpResponse::Ok().json(browser_values(&state, &issued)))
}

/// The session with its calls (connected, ended, end reason, metered minutes).
pub async fn get(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (session, calls) = state.control.session_with_calls(&ws.0, &session_id(&path)?).await?;
    let mut body = serde_json::to_value(SessionView::from(&session)).unwrap_or_default();
    body["calls"] = json!(calls);
    Ok(HttpResponse::Ok().json(body))
}
pub async fn end(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let session = state.control.end_session(&ws.0, &session_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(SessionView::from(&session)))
}
