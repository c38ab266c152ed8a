//! The shared guard of browser endpoints: origin first (against the allowlist as saved now),
//! then the session token, then the session's live state.

use super::cors::{self, CorsRules};
use crate::control::auth::bearer;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use std::sync::Arc;
pub use voxgate_engine::admission::Visit;
use voxgate_engine::admission::{self, Admission};
use voxgate_engine::api_key::looks_like_api_key;
use voxgate_engine::ids::SessionId;
use voxgate_engine::origin::{Origin, RequestOriginError};
use voxgate_engine::session::{Mode, Session, SessionState};
use voxgate_engine::widget::Widget;
use voxgate_engine::ErrorCode;

/// A refused browser request. When the origin itself is allowed, the refusal carries CORS
/// headers so the widget can read the code and tell the visitor what happened.
#[derive(Debug)]
pub struct BrowserError {
    pub error: ApiError,
    pub cors: Option<Box<(Origin, CorsRules)>>,
}

impl std::fmt::Display for BrowserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl ResponseError for BrowserError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.error.status()
    }
    fn error_response(&self) -> HttpResponse {
        let mut res = self.error.error_response();
        if let Some(allowed) = &self.cors {
            cors::allow(&mut res, &allowed.0, allowed.1);
        }
        res
    }
}

/// A request that passed the guard.
pub struct Admitted {
    pub origin: Origin,
    pub rules: CorsRules,
    /// Admitted as the dashboard's own page (a preview), not through the widget's allowlist.
    pub dashboard: bool,
}

/// Whether this server's own pages (the dashboard's preview) may use the endpoint besides the
/// widget's allowed origins: for the public config always, for a session only a preview one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnOrigin {
    Allowed,
    Refused,
}

impl Admitted {
    /// Adds the CORS headers to a successful response.
    pub fn respond(&self, mut res: HttpResponse) -> HttpResponse {
        cors::allow(&mut res, &self.origin, self.rules);
        res
    }

    /// A refusal that the page may read.
    pub fn refuse(&self, state: &AppState, error: ApiError) -> BrowserError {
        state.metrics.browser_rejected(error.code);
        BrowserError { error, cors: Some(Box::new((self.origin.clone(), self.rules))) }
    }
}

fn refuse(state: &AppState, error: ApiError) -> BrowserError {
    state.metrics.browser_rejected(error.code);
    BrowserError { error, cors: None }
}

/// Checks the request's `Origin` against `widget`'s allowlist as it is saved now.
pub fn admit_origin(
    state: &AppState,
    req: &HttpRequest,
    widget: &Widget,
    rules: CorsRules,
    own: OwnOrigin,
) -> Result<Admitted, BrowserError> {
    let header = req.headers().get("origin").map(|v| v.to_str().unwrap_or("\u{0}"));
    let dashboard_origin = state.settings.own_origin.as_ref().filter(|_| own == OwnOrigin::Allowed);
    // A browser sends no Origin on a same-origin GET; Fetch Metadata says where it came from.
    let same_origin = req.headers().get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"same-origin");
    if let (None, Some(o), true) = (header, dashboard_origin, same_origin) {
        let admitted = Admitted { origin: o.clone(), rules, dashboard: true };
        let client = state.settings.trusted_proxies.client(req);
        state.control.limits().address(client).map_err(|e| admitted.refuse(state, e.into()))?;
        return Ok(admitted);
    }
    let origin = match header.map(Origin::parse_header) {
        None | Some(Err(RequestOriginError::Missing)) => {
            return Err(refuse(
                state,
                ApiError::new(ErrorCode::OriginMissing, RequestOriginError::Missing.to_string()),
            ))
        }
        Some(Err(e)) => return Err(refuse(state, ApiError::new(ErrorCode::OriginNotAllowed, e.to_string()))),
        Some(Ok(o)) => o,
    };
    let dashboard = !widget.origins.allows(&origin) && dashboard_origin == Some(&origin);
    if !widget.origins.allows(&origin) && !dashboard {
        return Err(refuse(
            state,
            ApiError::new(
                ErrorCode::OriginNotAllowed,
                format!("origin {origin} is not in widget {}'s allowed_origins", widget.id),
            ),
        ));
    }
    let admitted = Admitted { origin, rules, dashboard };
    let client = state.settings.trusted_proxies.client(req);
    state.control.limits().address(client).map_err(|e| admitted.refuse(state, e.into()))?;
    if let Some(Ok(cred)) = bearer(req) {
        if looks_like_api_key(cred) {
            return Err(admitted.refuse(
                state,
                ApiError::new(
                    ErrorCode::ApiKeyInBrowser,
                    "a workspace API key was sent from a browser; use the session token",
                ),
            ));
        }
    }
    Ok(admitted)
}

/// The widget behind a session, for origin checks on session URLs.
pub async fn session_and_widget(state: &AppState, id: &str) -> Result<(Session, Arc<Widget>), BrowserError> {
    let not_found = || refuse(state, ApiError::new(ErrorCode::NotFound, "no such session"));
    let id = SessionId::parse(id).map_err(|_| not_found())?;
    let session =
        state.control.find_session(&id).await.map_err(|e| refuse(state, e.into()))?.ok_or_else(not_found)?;
    if let Some(elsewhere) = state.control.carried_elsewhere(&session) {
        return Err(refuse(state, ApiError::new(ErrorCode::Misdirected, elsewhere)));
    }
    let widget = state.control.config().widget(&session.widget_id).ok_or_else(not_found)?;
    Ok((session, widget))
}

/// Origin, token and session state for a request on a session URL.
pub async fn admit_session(
    state: &AppState,
    req: &HttpRequest,
    session_path: &str,
    mode: Mode,
    rules: CorsRules,
    visit: Visit,
) -> Result<(Admitted, Session), BrowserError> {
    let (session, widget) = session_and_widget(state, session_path).await?;
    let own = if session.preview { OwnOrigin::Allowed } else { OwnOrigin::Refused };
    let admitted = admit_origin(state, req, &widget, rules, own)?;
    let token = match bearer(req) {
        None => {
            return Err(admitted.refuse(
                state,
                ApiError::new(
                    ErrorCode::TokenMissing,
                    "send the session token as Authorization: Bearer vg_st_...",
                ),
            ))
        }
        Some(Err(())) => {
            return Err(admitted.refuse(
                state,
                ApiError::new(
                    ErrorCode::TokenInvalid,
                    "the Authorization header must be Bearer <session token>",
                ),
            ))
        }
        Some(Ok(t)) => t,
    };
    let now = voxgate_actors::clock::now();
    let claims = state
        .control
        .signer()
        .verify(token, now)
        .map_err(|e| admitted.refuse(state, ApiError::new(e.code(), e.to_string())))?;
    // The rules are the engine's (voxgate_engine::admission); the edge acts on the answer.
    let mut session = session;
    let admission = admission::admit(&session, &claims, mode, visit, now)
        .map_err(|r| admitted.refuse(state, ApiError::new(r.code, r.message)))?;
    if admission == Admission::Reopen {
        let reopened =
            state.control.reopen_session(&session).await.map_err(|e| admitted.refuse(state, e.into()))?;
        if !reopened {
            let ended = ApiError::new(ErrorCode::SessionEnded, "the session has ended (visitor_left)");
            return Err(admitted.refuse(state, ended));
        }
        session.state = SessionState::Live;
    }
    // A preview from the dashboard is not bound: no allowlist save should end it.
    if !admitted.dashboard {
        state.control.sessions().bind_origin(&session.id, &admitted.origin.serialize());
    }
    Ok((admitted, session))
}

/// Answers a preflight: CORS headers for an allowed origin, 403 without them otherwise.
pub fn preflight(state: &AppState, req: &HttpRequest, widget: &Widget, rules: CorsRules) -> HttpResponse {
    match admit_origin(state, req, widget, rules, OwnOrigin::Refused) {
        Ok(a) => cors::preflight_ok(&a.origin, rules),
        Err(e) => BrowserError { error: e.error, cors: None }.error_response(),
    }
}
