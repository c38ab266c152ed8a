//! `/healthz` (the process answers) and `/readyz` (it should get traffic: the store answers and
//! the node is not draining).

use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;
use voxgate_actors::runtime::Readiness;
use voxgate_actors::voices::RecognizerState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Also reports the builtin voice's speech recogniser (`off`, `starting`, `ready`, `down` with
/// why): a recogniser that is down fails builtin voice turns only, so it does not take the node
/// out of rotation.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let recognizer = match state.runtime.recognizer_state() {
        RecognizerState::Down { why } => json!({"status": "down", "error": why}),
        RecognizerState::Ready { pid, .. } => json!({"status": "ready", "pid": pid}),
        other => json!({"status": other.as_str()}),
    };
    match state.runtime.readiness().await {
        Readiness::Ready => {
            HttpResponse::Ok().json(json!({"status": "ready", "store": "ok", "recognizer": recognizer}))
        }
        Readiness::Draining => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "draining", "store": "ok", "recognizer": recognizer})),
        Readiness::NotReady(why) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "not_ready", "store": why, "recognizer": recognizer})),
    }
}
