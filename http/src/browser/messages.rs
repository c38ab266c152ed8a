//! `{messages_url}`: the text conversation of a session. `POST` a visitor message and read the
//! answer as Server-Sent Events; `GET` returns the transcript so far.

use super::cors;
use super::guard::{admit_session, preflight as answer_preflight, session_and_widget, BrowserError, Visit};
use crate::body::read_json;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse, Responder};
use actix_web_lab::sse;
use futures_util::StreamExt;
use serde_json::json;
use voxgate_actors::text_session::{FeedReader, TextEvent, MESSAGE_LIMIT};
use voxgate_engine::ids::MessageId;
use voxgate_engine::session::Mode;
use voxgate_engine::ErrorCode;

/// Largest `POST` body: the message limit with room for JSON escapes.
const BODY_LIMIT: usize = MESSAGE_LIMIT * 6 + 1024;

/// The SSE event for a text event: its type, its JSON data, and its id (`{answer}.{number}`:
/// what `Last-Event-ID` names to resume after it).
fn sse_event(answer: &MessageId, seq: usize, event: TextEvent) -> sse::Event {
    let (name, data) = match event {
        TextEvent::MessageCreated { message_id, text, created_at } => (
            "message.created",
            json!({"message_id": message_id, "role": "visitor", "text": text, "created_at": created_at}),
        ),
        TextEvent::Delta { text } => ("response.delta", json!({"text": text})),
        TextEvent::Completed { message_id, text, source } => {
            ("response.completed", json!({"message_id": message_id, "text": text, "source": source}))
        }
        TextEvent::Error { code, message } => ("error", json!({"code": code.as_str(), "message": message})),
        TextEvent::ToolCall { call_id, name, arguments, timeout_ms } => (
            "tool.call",
            json!({"call_id": call_id, "name": name, "arguments": arguments, "timeout_ms": timeout_ms}),
        ),
    };
    sse::Event::Data(sse::Data::new(data.to_string()).event(name).id(format!("{answer}.{seq}")))
}

/// An answer's events from `reader` on, as the SSE response.
fn answer_stream(state: &AppState, req: &HttpRequest, reader: FeedReader) -> HttpResponse {
    let answer = reader.answer().clone();
    let stream = reader
        .into_stream()
        .map(move |(seq, e)| Ok::<_, std::convert::Infallible>(sse_event(&answer, seq, e)));
    sse::Sse::from_stream(stream)
        .with_keep_alive(state.settings.sse_keep_alive)
        .customize()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .respond_to(req)
        .map_into_boxed_body()
}

/// `POST {messages_url}` with `{"text": ...}`: answers `200 text/event-stream`. `GET` with
/// `Last-Event-ID` resumes a stream that dropped.
pub async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, BrowserError> {
    let (admitted, session) =
        admit_session(&state, &req, &path, Mode::Text, cors::MESSAGES, Visit::Returns).await?;
    state.control.limits().message(&session.id).map_err(|e| admitted.refuse(&state, e.into()))?;
    let body = read_json(&req, payload, BODY_LIMIT).await.map_err(|e| admitted.refuse(&state, e))?;
    let text = match body.get("text") {
        Some(serde_json::Value::String(t)) => t.clone(),
        Some(_) => {
            let e = ApiError::new(ErrorCode::InvalidRequest, "text must be a string").with_field("text");
            return Err(admitted.refuse(&state, e));
        }
        None => {
            let e = ApiError::new(ErrorCode::InvalidRequest, "send {\"text\": \"...\"}").with_field("text");
            return Err(admitted.refuse(&state, e));
        }
    };
    let events = state.texts.ask(&session, text).await.map_err(|e| {
        let mut error = ApiError::new(e.code(), e.to_string());
        if matches!(e.code(), ErrorCode::PayloadTooLarge | ErrorCode::InvalidRequest) {
            error = error.with_field("text");
        }
        admitted.refuse(&state, error)
    })?;
    Ok(admitted.respond(answer_stream(&state, &req, events)))
}

pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, BrowserError> {
    let (admitted, session) =
        admit_session(&state, &req, &path, Mode::Text, cors::MESSAGES, Visit::Reads).await?;
    // A stream that dropped comes back: the rest of its answer, from after the last event it got.
    if let Some(last) = req.headers().get("last-event-id") {
        let last = last.to_str().unwrap_or_default();
        let reader = state.texts.resume(&session.id, last).await.map_err(|e| {
            let error = ApiError::new(e.code(), e.to_string());
            admitted.refuse(&state, error)
        })?;
        return Ok(admitted.respond(answer_stream(&state, &req, reader)));
    }
    let messages = state.control.transcript(&session).await.map_err(|e| admitted.refuse(&state, e.into()))?;
    let calls = state.control.calls_of(&session).await.map_err(|e| admitted.refuse(&state, e.into()))?;
    // What the visitor's page needs to show the calls among the messages after a reload.
    let calls: Vec<_> = calls
        .iter()
        .map(|c| {
            json!({"call_id": c.call_id, "created_at": c.created_at, "connected_at": c.connected_at,
                   "ended_at": c.ended_at, "end_reason": c.end_reason})
        })
        .collect();
    // The agent's greeting with the session's variables filled in (the variables themselves
    // never reach the browser).
    let agent = state.control.config().agent(&session.agent_id);
    let greeting = agent.and_then(|a| a.spec.greeting.as_ref().map(|g| session.variables.fill(g).text));
    let res = HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(json!({
        "session_id": session.id,
        "conversation_id": session.conversation_id,
        "greeting": greeting,
        "messages": messages,
        "calls": calls,
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
