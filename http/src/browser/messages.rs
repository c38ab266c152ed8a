//! `{messages_url}`: the text conversation of a session. `GET` returns the transcript so far.

use super::cors;
use super::guard::{admit_session, preflight as answer_preflight, session_and_widget, BrowserError};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use voxgate_actors::store::records;
use voxgate_engine::session::Mode;

pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, BrowserError> {
    let (admitted, session) = admit_session(&state, &req, &path, Mode::Text, cors::MESSAGES).await?;
    let conversation = session.conversation_id.clone();
    let messages = state
        .control
        .config()
        .store()
        .read(move |c| records::transcript(c, &conversation))
        .await
        .map_err(|e| admitted.refuse(&state, e.into()))?;
    let res = HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(json!({
        "session_id": session.id,
        "conversation_id": session.conversation_id,
        "messages": messages,
    }));
    Ok(admitted.respond(res))
}

pub async fn preflight(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, BrowserError> {
    let (_, widget) = session_and_widget(&state, &path).await?;
    Ok(answer_preflight(&state, &req, &widget, cors::MESSAGES))
}
