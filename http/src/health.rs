//! `/healthz` (the process answers) and `/readyz` (the store answers).

use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = state.control.config().store().clone();
    let probe = store.read(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map_err(Into::into)).await;
    match probe {
        Ok(_) => HttpResponse::Ok().json(json!({"status": "ready", "store": "ok"})),
        Err(e) => {
            HttpResponse::ServiceUnavailable().json(json!({"status": "not_ready", "store": e.to_string()}))
        }
    }
}
