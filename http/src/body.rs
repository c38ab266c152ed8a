//! Reading JSON request bodies with our own limits and error codes (413 `payload_too_large`,
//! 415 `unsupported_media_type`, 400 `invalid_request` naming the JSON syntax error).

use crate::error::ApiError;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use serde_json::Value;
use voxgate_engine::ErrorCode;

/// Largest control-plane JSON body (agents carry knowledge attachments).
pub const CONTROL_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// Reads the raw body, refusing more than `limit` bytes without buffering them.
pub async fn read_limited(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(ErrorCode::InvalidRequest, format!("could not read the request body: {e}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the request body is larger than the {limit}-byte limit"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads a JSON body; an empty body reads as `null`.
pub async fn read_json(req: &HttpRequest, payload: web::Payload, limit: usize) -> Result<Value, ApiError> {
    if let Some(ct) = req.headers().get("content-type") {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        if !ct.starts_with("application/json") && !ct.is_empty() {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!("Content-Type must be application/json, not {ct:?}"),
            ));
        }
    }
    let body = read_limited(payload, limit).await?;
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, format!("the body is not valid JSON: {e}")))
}
