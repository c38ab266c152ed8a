//! `/v1/agents`: create, list, get, update (JSON merge patch), delete.

use super::auth::Workspace;
use crate::body::{read_json, CONTROL_BODY_LIMIT};
use crate::error::{bad_id, ApiError};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use voxgate_engine::ids::AgentId;

fn agent_id(path: &str) -> Result<AgentId, ApiError> {
    AgentId::parse(path).map_err(bad_id)
}

pub async fn create(
    state: web::Data<AppState>,
    ws: Workspace,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(&req, body, CONTROL_BODY_LIMIT).await?;
    let agent = state.control.create_agent(&ws.0, body).await?;
    Ok(HttpResponse::Created().json(agent.view()))
}

pub async fn list(state: web::Data<AppState>, ws: Workspace) -> HttpResponse {
    let agents = state.control.agents(&ws.0);
    let data: Vec<_> = agents.iter().map(|a| a.view()).collect();
    HttpResponse::Ok().json(json!({ "data": data }))
}

pub async fn get(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let agent = state.control.agent(&ws.0, &agent_id(&path)?)?;
    Ok(HttpResponse::Ok().json(agent.view()))
}

pub async fn update(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = agent_id(&path)?;
    let patch = read_json(&req, body, CONTROL_BODY_LIMIT).await?;
    let agent = state.control.update_agent(&ws.0, &id, patch).await?;
    Ok(HttpResponse::Ok().json(agent.view()))
}

pub async fn delete(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = agent_id(&path)?;
    state.control.delete_agent(&ws.0, &id).await?;
    Ok(HttpResponse::Ok().json(json!({ "id": id, "deleted": true })))
}

/// `POST /v1/agents/{id}/test-runs`: runs the agent's tests now and reports each case.
pub async fn test_run(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let agent = state.control.agent(&ws.0, &agent_id(&path)?)?;
    let run = voxgate_actors::agent_tests::run(&agent, &state.agents, state.control.ledger())
        .await
        .map_err(|e| ApiError::new(e.code(), e.to_string()))?;
    Ok(HttpResponse::Ok().json(run))
}

/// `?days=N` (1 to 90, default 7).
#[derive(Debug, serde::Deserialize)]
pub struct Period {
    #[serde(default)]
    pub days: Option<String>,
}

/// Parses `days`: 1 to 90, 7 when absent.
pub fn period_days(period: &Period) -> Result<u32, ApiError> {
    match period.days.as_deref() {
        None => Ok(7),
        Some(d) => d.parse::<u32>().ok().filter(|d| (1..=90).contains(d)).ok_or_else(|| {
            ApiError::new(
                voxgate_engine::ErrorCode::InvalidRequest,
                format!("days is {d:?}; it must be a whole number from 1 to 90"),
            )
            .with_field("days")
        }),
    }
}

/// `GET /v1/agents/{id}/latency?days=N`: p50 and p95 of each stage of the agent's answers in
/// calls over the last N days.
pub async fn latency(
    state: web::Data<AppState>,
    ws: Workspace,
    path: web::Path<String>,
    query: web::Query<Period>,
) -> Result<HttpResponse, ApiError> {
    let days = period_days(&query)?;
    let summary = state.control.agent_latency(&ws.0, &agent_id(&path)?, days).await?;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({"days": days, "turns": summary.turns, "stages": summary.stages})))
}
