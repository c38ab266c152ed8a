//! `/healthz` (the process answers) and `/readyz` (it should get traffic: the database answers,
//! the node hears other nodes' changes, and it is not draining).

use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;
use voxgate_actors::runtime::Readiness;
use voxgate_actors::talk::RecognizerState;

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
    let (database, node) = state.runtime.store_backend();
    let cluster = match (database, state.runtime.cluster_ready()) {
        ("sqlite", _) => "single_node",
        (_, true) => "listening",
        (_, false) => "reconnecting",
    };
    let body = |status: &str, store: &str| json!({"status": status, "store": store, "database": database, "node": node, "cluster": cluster, "recognizer": recognizer});
    match state.runtime.readiness().await {
        Readiness::Ready => HttpResponse::Ok().json(body("ready", "ok")),
        Readiness::Draining => HttpResponse::ServiceUnavailable().json(body("draining", "ok")),
        Readiness::NotReady(why) => HttpResponse::ServiceUnavailable().json(body("not_ready", &why)),
    }
}
