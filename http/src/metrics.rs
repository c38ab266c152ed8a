//! `GET /metrics` in the Prometheus text format.

use crate::state::AppState;
use actix_web::{web, HttpResponse};
use prometheus::{Encoder, TextEncoder};
use voxgate_engine::session::Mode;

pub async fn render(state: web::Data<AppState>) -> HttpResponse {
    let m = &state.metrics;
    let sessions = state.control.sessions();
    for mode in Mode::ALL {
        m.active_sessions.with_label_values(&[mode.as_str()]).set(sessions.live_count(mode) as i64);
    }
    for (i, n) in state.media.active_peers().into_iter().enumerate() {
        m.worker_active_peers.with_label_values(&[&i.to_string()]).set(n as i64);
    }
    m.store_queue_depth.set(state.runtime.store_queue_depth() as i64);
    if let Some((open, idle)) = state.runtime.store_pool() {
        m.store_pool_connections.with_label_values(&["idle"]).set(idle as i64);
        m.store_pool_connections.with_label_values(&["busy"]).set(open.saturating_sub(idle) as i64);
    }
    m.cluster_listener_ready.set(state.runtime.cluster_ready() as i64);
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&m.registry.gather(), &mut out) {
        return HttpResponse::InternalServerError().body(format!("cannot encode metrics: {e}"));
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(out)
}
