//! `/v1/widgets`: create, list, get, update (JSON merge patch, applies at once), delete.

use super::auth::Workspace;
use crate::body::{read_json, CONTROL_BODY_LIMIT};
use crate::error::{bad_id, ApiError};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use voxgate_engine::ids::WidgetId;

pub fn widget_id(path: &str) -> Result<WidgetId, ApiError> {
    WidgetId::parse(path).map_err(bad_id)
}

pub async fn create(
    state: web::Data<AppState>,
    ws: Workspace,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(&req, body, CONTROL_BODY_LIMIT).await?;
    let widget = state.control.create_widget(&ws.0, body).await?;
    Ok(HttpResponse::Created().json(widget.view()))
}

pub async fn list(state: web::Data<AppState>, ws: Workspace) -> HttpResponse {
    let widgets = state.control.widgets(&ws.0);
    let data: Vec<_> = widgets.iter().map(|w| w.view()).collect();
    HttpResponse::Ok().json(json!({ "data": data }))
}

pub async fn get(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let widget = state.control.widget(&ws.0, &widget_id(&path)?)?;
    Ok(HttpResponse::Ok().json(widget.view()))
}

pub async fn update(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = widget_id(&path)?;
    let patch = read_json(&req, body, CONTROL_BODY_LIMIT).await?;
    let widget = state.control.update_widget(&ws.0, &id, patch).await?;
    Ok(HttpResponse::Ok().json(widget.view()))
}

pub async fn delete(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = widget_id(&path)?;
    state.control.delete_widget(&ws.0, &id).await?;
    Ok(HttpResponse::Ok().json(json!({ "id": id, "deleted": true })))
}
