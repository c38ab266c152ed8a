//! `POST /v1/sessions/{id}/tool-results`, beside the messages URL: the visitor's page answers
//! a page action (a `tool.call` event of a text answer) with `{"call_id", "result"}` or
//! `{"call_id", "error"}`. Same token and origin rules as the messages.

use super::cors;
use super::guard::{admit_session, preflight as answer_preflight, session_and_widget, BrowserError, Visit};
use crate::body::read_json;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use voxgate_engine::session::Mode;
use voxgate_engine::tools::{ToolOutcome, RESULT_LIMIT};
use voxgate_engine::ErrorCode;

/// Largest body: a result at the limit, with room for JSON escapes.
const BODY_LIMIT: usize = RESULT_LIMIT * 2;
/// Longest error a page may report.
const ERROR_LIMIT: usize = 1000;

fn invalid(message: &str, field: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, message).with_field(field)
}

/// The page's answer as the model will read it.
fn outcome(body: &Value) -> Result<(String, ToolOutcome), ApiError> {
    let call_id = match body.get("call_id") {
        Some(Value::String(id)) if !id.is_empty() && id.len() <= 200 => id.clone(),
        _ => return Err(invalid("call_id must be the tool.call event's call_id", "call_id")),
    };
    let outcome = match (body.get("result"), body.get("error")) {
        (Some(_), Some(_)) => return Err(invalid("send either result or error, not both", "error")),
        (_, Some(Value::String(e))) if e.chars().count() <= ERROR_LIMIT => ToolOutcome::Failed(e.clone()),
        (_, Some(_)) => {
            return Err(invalid(
                &format!("error must be a string of at most {ERROR_LIMIT} characters"),
                "error",
            ))
        }
        (Some(result), None) => {
            let size = result.to_string().len();
            if size > RESULT_LIMIT {
                let e = ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("the result is {size} bytes; the limit is {RESULT_LIMIT}"),
                );
                return Err(e.with_field("result"));
            }
            ToolOutcome::Done(result.clone())
        }
        (None, None) => {
            return Err(invalid("send {\"call_id\": ..., \"result\": ...} or an error", "result"))
        }
    };
    Ok((call_id, outcome))
}

pub async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, BrowserError> {
    let (admitted, session) =
        admit_session(&state, &req, &path, Mode::Text, cors::MESSAGES, Visit::Returns).await?;
    let body = read_json(&req, payload, BODY_LIMIT).await.map_err(|e| admitted.refuse(&state, e))?;
    let (call_id, outcome) = outcome(&body).map_err(|e| admitted.refuse(&state, e))?;
    if !state.texts.tool_result(&session.id, &call_id, outcome) {
        let e = ApiError::new(
            ErrorCode::NotFound,
            format!("no page action {call_id:?} is waiting for an answer in this session"),
        )
        .with_field("call_id");
        return Err(admitted.refuse(&state, e));
    }
    Ok(admitted.respond(HttpResponse::Ok().json(json!({"call_id": call_id, "accepted": true}))))
}

pub async fn preflight(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, BrowserError> {
    let (_, widget) = session_and_widget(&state, &path).await?;
    Ok(answer_preflight(&state, &req, &widget, cors::MESSAGES))
}
