//! Workspace API key authentication for the control plane.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use std::future::Future;
use std::pin::Pin;
use voxgate_actors::config::KeyCheck;
use voxgate_engine::api_key;
use voxgate_engine::ids::WorkspaceId;
use voxgate_engine::ErrorCode;

/// The workspace whose key authenticated this request.
#[derive(Debug, Clone)]
pub struct Workspace(pub WorkspaceId);

/// True when a browser sent the request: workspace keys never belong in browser code.
///
/// A browser's request carries `Origin` (every CORS request) or Fetch Metadata, and browsers
/// send `Sec-Fetch-Mode` together with `Sec-Fetch-Site` and `Sec-Fetch-Dest`. Node.js's
/// built-in `fetch` (undici) sends `Sec-Fetch-Mode: cors` alone on every request, so that
/// header by itself would refuse every Node.js backend; it counts only with its companions.
pub fn sent_by_browser(req: &HttpRequest) -> bool {
    let h = req.headers();
    let has = |name: &str| h.get(name).is_some_and(|v| !v.is_empty());
    has("origin") || has("sec-fetch-site") || (has("sec-fetch-mode") && has("sec-fetch-dest"))
}

/// The bearer credential of a request, if any.
pub fn bearer(req: &HttpRequest) -> Option<Result<&str, ()>> {
    let value = req.headers().get("authorization")?;
    let text = value.to_str().map_err(|_| ()).ok()?;
    let (scheme, cred) = text.trim().split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || cred.trim().is_empty() {
        return Some(Err(()));
    }
    Some(Ok(cred.trim()))
}

async fn authenticate(req: HttpRequest) -> Result<Workspace, ApiError> {
    if sent_by_browser(&req) {
        return Err(ApiError::new(
            ErrorCode::ApiKeyInBrowser,
            "this control-plane request came from a browser; workspace API keys must stay on your server: \
             create sessions from your backend and give the browser only the session token",
        ));
    }
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "application state missing"))?;
    let key = match bearer(&req) {
        None => {
            return Err(ApiError::new(
                ErrorCode::ApiKeyMissing,
                "send your workspace API key as Authorization: Bearer vg_sk_...",
            ))
        }
        Some(Err(())) => {
            return Err(ApiError::new(
                ErrorCode::ApiKeyInvalid,
                "the Authorization header must be Bearer <workspace API key>",
            ))
        }
        Some(Ok(k)) => k,
    };
    if !api_key::is_well_formed(key) {
        return Err(ApiError::new(
            ErrorCode::ApiKeyInvalid,
            "the API key is not a voxgate workspace key (vg_sk_...)",
        ));
    }
    match state.control.check_key(key).await? {
        KeyCheck::Valid { workspace, key } => {
            state.control.limits().key(&key)?;
            Ok(Workspace(workspace))
        }
        KeyCheck::Revoked { key, at } => Err(ApiError::new(
            ErrorCode::ApiKeyInvalid,
            format!(
                "the API key {key} was revoked at {}; create another with `voxgate keys create`",
                at.to_rfc3339()
            ),
        )),
        KeyCheck::Unknown => Err(ApiError::new(
            ErrorCode::ApiKeyInvalid,
            "the API key is unknown: it was not made by `voxgate keys create` on this server's data dir",
        )),
    }
}

impl FromRequest for Workspace {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Workspace, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authenticate(req.clone()))
    }
}
