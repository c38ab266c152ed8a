//! `GET /v1/widgets/{id}/config`: the public configuration the embedded script renders.

use super::cors;
use super::guard::{admit_origin, preflight as answer_preflight, BrowserError, OwnOrigin};
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use std::sync::Arc;
use voxgate_engine::ids::WidgetId;
use voxgate_engine::widget::Widget;
use voxgate_engine::ErrorCode;

fn live_widget(state: &AppState, id: &str) -> Result<Arc<Widget>, BrowserError> {
    WidgetId::parse(id)
        .ok()
        .and_then(|id| state.control.config().widget(&id))
        .filter(|w| w.deleted_at.is_none())
        .ok_or_else(|| BrowserError {
            error: ApiError::new(ErrorCode::NotFound, "no such widget"),
            cors: None,
        })
}

pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, BrowserError> {
    let widget = live_widget(&state, &path)?;
    let admitted = admit_origin(&state, &req, &widget, cors::CONFIG, OwnOrigin::Allowed)?;
    let agent = widget.spec.agent_id.as_ref().and_then(|id| state.control.config().agent(id));
    let agent_greeting = agent.as_ref().and_then(|a| a.spec.greeting.as_deref());
    let mut config = serde_json::to_value(widget.public_config(agent_greeting)).unwrap_or_default();
    if widget.spec.privacy.trust_center.enabled {
        config["trust_center_url"] =
            crate::trust_center::url(&state.settings.public_url, &widget.workspace_id).into();
    }
    let res = HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(config);
    Ok(admitted.respond(res))
}

pub async fn preflight(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, BrowserError> {
    let widget = live_widget(&state, &path)?;
    Ok(answer_preflight(&state, &req, &widget, cors::CONFIG))
}
