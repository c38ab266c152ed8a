//! `/healthz` (the process answers) and `/readyz` (it should get traffic: the store answers and
//! the node is not draining).

use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;
use voxgate_actors::runtime::Readiness;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.runtime.readiness().await {
        Readiness::Ready => HttpResponse::Ok().json(json!({"status": "ready", "store": "ok"})),
        Readiness::Draining => {
            HttpResponse::ServiceUnavailable().json(json!({"status": "draining", "store": "ok"}))
        }
        Readiness::NotReady(why) => {
            HttpResponse::ServiceUnavailable().json(json!({"status": "not_ready", "store": why}))
        }
    }
}
