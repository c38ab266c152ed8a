//! `GET /v1/usage?from=&to=`: what a workspace used, split by allowance class and environment.

use super::auth::Workspace;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use std::collections::HashMap;
use voxgate_engine::metering::Period;
use voxgate_engine::{ErrorCode, Timestamp};

pub(crate) fn bound(
    query: &HashMap<String, String>,
    name: &str,
    default: Timestamp,
) -> Result<Timestamp, ApiError> {
    match query.get(name) {
        None => Ok(default),
        Some(text) => Timestamp::parse(text).ok_or_else(|| {
            let mut e = ApiError::new(
                ErrorCode::InvalidRequest,
                format!("{name}: {text:?} is not an RFC 3339 time (2026-11-01T00:00:00Z) or Unix seconds"),
            );
            e.field = Some(name.into());
            e
        }),
    }
}

pub async fn get(
    state: web::Data<AppState>,
    ws: Workspace,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let (month_start, month_end) = Period::Month.bounds(voxgate_actors::clock::now());
    let from = bound(&query, "from", month_start)?;
    let to = bound(&query, "to", month_end)?;
    if to <= from {
        let mut e = ApiError::new(ErrorCode::InvalidRequest, "to: must be later than from");
        e.field = Some("to".into());
        return Err(e);
    }
    let report = state.control.usage_report(&ws.0, from, to).await?;
    Ok(HttpResponse::Ok().json(report))
}
