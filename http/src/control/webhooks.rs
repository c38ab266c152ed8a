//! `/v1/webhooks`: a workspace's endpoints (create, list, get with recent deliveries, update
//! as a JSON merge patch, delete) and `POST /v1/webhooks/{id}/rotate`. A new secret is in the
//! answer to create and rotate only.

use super::auth::Workspace;
use crate::body::{read_json, CONTROL_BODY_LIMIT};
use crate::error::{bad_id, ApiError};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use voxgate_engine::ids::WebhookId;

fn webhook_id(path: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(path).map_err(bad_id)
}

pub async fn create(
    state: web::Data<AppState>,
    ws: Workspace,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(&req, body, CONTROL_BODY_LIMIT).await?;
    let created = state.webhooks.create(&ws.0, body).await?;
    let mut view = serde_json::to_value(&created.endpoint).unwrap_or_default();
    view["secret"] = json!(created.secret);
    Ok(HttpResponse::Created().json(view))
}

pub async fn list(state: web::Data<AppState>, ws: Workspace) -> Result<HttpResponse, ApiError> {
    let endpoints = state.webhooks.list(&ws.0).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": endpoints })))
}

pub async fn get(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (endpoint, deliveries) = state.webhooks.get(&ws.0, &webhook_id(&path)?).await?;
    let mut view = serde_json::to_value(&endpoint).unwrap_or_default();
    view["deliveries"] = json!(deliveries);
    Ok(HttpResponse::Ok().json(view))
}

pub async fn update(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    let patch = read_json(&req, body, CONTROL_BODY_LIMIT).await?;
    let endpoint = state.webhooks.update(&ws.0, &id, patch).await?;
    Ok(HttpResponse::Ok().json(endpoint))
}

pub async fn delete(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    state.webhooks.delete(&ws.0, &id).await?;
    Ok(HttpResponse::Ok().json(json!({"id": id, "deleted": true})))
}

pub async fn rotate(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let rotated = state.webhooks.rotate(&ws.0, &webhook_id(&path)?).await?;
    let mut view = serde_json::to_value(&rotated.endpoint).unwrap_or_default();
    view["secret"] = json!(rotated.secret);
    view["previous_secret_signs_until"] = json!(rotated.endpoint.previous_until);
    Ok(HttpResponse::Ok().json(view))
}

pub async fn test(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let delivery = state.webhooks.send_test(&ws.0, &webhook_id(&path)?).await?;
    Ok(HttpResponse::Accepted().json(json!({"delivery_id": delivery})))
}

pub async fn resend(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery) = path.into_inner();
    let delivery = voxgate_engine::ids::DeliveryId::parse(&delivery).map_err(bad_id)?;
    state.webhooks.resend(&ws.0, &webhook_id(&id)?, &delivery).await?;
    Ok(HttpResponse::Accepted().json(json!({"delivery_id": delivery, "resent": true})))
}
