//! WHIP-style voice signaling (RFC 9725) on `{webrtc_url}`: POST an SDP offer, get `201` with
//! the answer and the call's `Location`; PATCH trickled candidates to it; DELETE it to hang up.

use super::cors;
use super::guard::{
    admit_session, preflight as answer_preflight, session_and_widget, Admitted, BrowserError, Visit,
};
use crate::body::read_limited;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use std::sync::Arc;
use voxgate_actors::media::{CallOptions, VoiceError};
use voxgate_engine::agent::Agent;
use voxgate_engine::ids::CallId;
use voxgate_engine::media::offer::MAX_OFFER_BYTES;
use voxgate_engine::media::{check_offer, IceFragment};
use voxgate_engine::metering::UsageKind;
use voxgate_engine::session::{Mode, Session};
use voxgate_engine::ErrorCode;

const MAX_SDPFRAG_BYTES: usize = 16 * 1024;

fn content_type_is(req: &HttpRequest, expected: &str) -> bool {
    req.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

fn voice_error(state: &AppState, admitted: &Admitted, e: VoiceError) -> BrowserError {
    admitted.refuse(state, ApiError::new(e.code(), e.to_string()))
}

/// The session's agent as saved now; the media pool decides from it what answers the call.
fn agent_of(state: &AppState, session: &Session) -> Result<Arc<Agent>, ApiError> {
    state.control.config().agent(&session.agent_id).filter(|a| a.deleted_at.is_none()).ok_or_else(|| {
        ApiError::new(ErrorCode::AgentMissing, format!("agent {} was deleted", session.agent_id))
    })
}

/// `POST {webrtc_url}`: offer in, answer out.
pub async fn offer(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, BrowserError> {
    let (admitted, session) =
        admit_session(&state, &req, &path, Mode::Voice, cors::WEBRTC, Visit::Returns).await?;
    state.control.limits().offer(&session.id).map_err(|e| admitted.refuse(&state, e.into()))?;
    if !content_type_is(&req, "application/sdp") {
        return Err(admitted.refuse(
            &state,
            ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "an offer must be sent as Content-Type: application/sdp",
            ),
        ));
    }
    let body = read_limited(body, MAX_OFFER_BYTES).await.map_err(|e| admitted.refuse(&state, e))?;
    let offer = String::from_utf8(body.to_vec()).map_err(|_| {
        admitted.refuse(&state, ApiError::new(ErrorCode::InvalidSdp, "the offer is not UTF-8 text"))
    })?;
    let offer = check_offer(&offer).map_err(|e| voice_error(&state, &admitted, e.into()))?;
    let agent = agent_of(&state, &session).map_err(|e| admitted.refuse(&state, e))?;
    state
        .control
        .check_usage(&session, UsageKind::VoiceMinute)
        .await
        .map_err(|e| admitted.refuse(&state, e.into()))?;
    // The page actions the widget's site runs (the call's agent is offered no others), and
    // whether it records calls: as the widget is saved now.
    let options = state
        .control
        .config()
        .widget(&session.widget_id)
        .map(|w| CallOptions::of_widget(&w.spec))
        .unwrap_or_default();
    let placed = state
        .media
        .place(&session, offer, &agent, &options)
        .await
        .map_err(|e| voice_error(&state, &admitted, e))?;
    let location = format!("{}/v1/sessions/{}/webrtc/{}", state.settings.public_url, session.id, placed.call);
    let mut res = HttpResponse::Created();
    res.content_type("application/sdp")
        .insert_header(("Location", location))
        .insert_header(("Cache-Control", "no-store"));
    // The ICE session's tag: a trickle with an old one gets 412 (RFC 9725 §4.3.1).
    if let Ok(ours) = IceFragment::parse(&placed.answer_sdp) {
        res.insert_header(("ETag", entity_tag(&ours.ufrag)));
    }
    Ok(admitted.respond(res.body(placed.answer_sdp)))
}

/// An ICE session's `ETag`: its server ufrag, quoted.
fn entity_tag(ufrag: &str) -> String {
    format!("\"{ufrag}\"")
}

/// What a PATCH's `If-Match` asks: `*` (restart ICE, RFC 9725 §4.3.2), one ICE session's tag,
/// or nothing.
enum IfMatch {
    Any,
    Tag(String),
    Absent,
}

fn if_match(req: &HttpRequest) -> IfMatch {
    let Some(value) = req.headers().get("if-match").and_then(|v| v.to_str().ok()) else {
        return IfMatch::Absent;
    };
    let first = value.split(',').next().unwrap_or("").trim();
    if first == "*" {
        return IfMatch::Any;
    }
    IfMatch::Tag(first.trim_start_matches("W/").trim_matches('"').to_string())
}

fn call_id(state: &AppState, admitted: &Admitted, call: &str) -> Result<CallId, BrowserError> {
    CallId::parse(call).map_err(|_| voice_error(state, admitted, VoiceError::NoSuchCall))
}

/// `PATCH {location}`: trickled ICE candidates, or with `If-Match: *` an ICE restart (new
/// credentials in, ours out, the same call going on).
pub async fn trickle(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> Result<HttpResponse, BrowserError> {
    let (sid, call) = path.into_inner();
    let (admitted, session) =
        admit_session(&state, &req, &sid, Mode::Voice, cors::WEBRTC, Visit::Acts).await?;
    state.control.limits().trickle(&session.id).map_err(|e| admitted.refuse(&state, e.into()))?;
    if !content_type_is(&req, "application/trickle-ice-sdpfrag") {
        return Err(admitted.refuse(
            &state,
            ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "trickled candidates must be sent as Content-Type: application/trickle-ice-sdpfrag",
            ),
        ));
    }
    let call = call_id(&state, &admitted, &call)?;
    let body = read_limited(body, MAX_SDPFRAG_BYTES).await.map_err(|e| admitted.refuse(&state, e))?;
    let sdpfrag = String::from_utf8_lossy(&body).into_owned();
    let tag = match if_match(&req) {
        IfMatch::Any => {
            let (answer, ufrag) = state
                .media
                .restart_ice(&session.id, &call, &sdpfrag)
                .await
                .map_err(|e| voice_error(&state, &admitted, e))?;
            let res = HttpResponse::Ok()
                .content_type("application/trickle-ice-sdpfrag")
                .insert_header(("ETag", entity_tag(&ufrag)))
                .insert_header(("Cache-Control", "no-store"))
                .body(answer);
            return Ok(admitted.respond(res));
        }
        IfMatch::Tag(tag) => Some(tag),
        IfMatch::Absent => None,
    };
    state
        .media
        .trickle(&session.id, &call, sdpfrag, tag)
        .await
        .map_err(|e| voice_error(&state, &admitted, e))?;
    Ok(admitted.respond(HttpResponse::NoContent().finish()))
}

/// `DELETE {location}`: hang up.
pub async fn hangup(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, BrowserError> {
    let (sid, call) = path.into_inner();
    let (admitted, session) =
        admit_session(&state, &req, &sid, Mode::Voice, cors::WEBRTC, Visit::Acts).await?;
    let call = call_id(&state, &admitted, &call)?;
    // Answers once the call is over; hanging up a call that has already ended is done already.
    state.media.hang_up(&session.id, &call).await.map_err(|e| voice_error(&state, &admitted, e))?;
    Ok(admitted.respond(HttpResponse::Ok().finish()))
}

pub async fn preflight(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, BrowserError> {
    let (_, widget) = session_and_widget(&state, &path).await?;
    Ok(answer_preflight(&state, &req, &widget, cors::WEBRTC))
}

pub async fn preflight_call(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, BrowserError> {
    let (sid, _) = path.into_inner();
    let (_, widget) = session_and_widget(&state, &sid).await?;
    Ok(answer_preflight(&state, &req, &widget, cors::WEBRTC))
}
