//! Who is signed in to the dashboard: the sign-in cookie (HttpOnly, SameSite=Strict, Secure and
//! `__Host-` prefixed when the public URL is https), and the CSRF check every state-changing
//! request passes. Workspace API keys are never accepted here.

use super::page::DashboardError;
use crate::state::AppState;
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use std::future::Future;
use std::pin::Pin;
use voxgate_actors::dashboard_sign_in::DashboardUser;
use voxgate_engine::sign_in;
use voxgate_engine::ErrorCode;

/// The cookie's name: `__Host-` (Secure, path `/`, no Domain, so no subdomain can set it) on
/// https; plain on http, where browsers refuse that prefix.
pub fn cookie_name(state: &AppState) -> &'static str {
    if secure(state) {
        "__Host-vg_dashboard"
    } else {
        "vg_dashboard"
    }
}

fn secure(state: &AppState) -> bool {
    state.settings.public_url.starts_with("https://")
}

/// The cookie that holds a new sign-in.
pub fn sign_in_cookie(state: &AppState, secret: &str, max_age_seconds: i64) -> Cookie<'static> {
    Cookie::build(cookie_name(state), secret.to_string())
        .path("/")
        .http_only(true)
        .secure(secure(state))
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(max_age_seconds))
        .finish()
}

/// The cookie that clears the sign-in from the browser.
pub fn cleared_cookie(state: &AppState) -> Cookie<'static> {
    let mut c = sign_in_cookie(state, "", 0);
    c.make_removal();
    c
}

/// A signed-in dashboard user, and the CSRF token their forms carry.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: DashboardUser,
    pub secret: String,
    pub csrf: String,
}

impl SignedIn {
    /// Refuses a state-changing request that does not carry this sign-in's CSRF token, or that
    /// a browser says came from another site.
    pub fn check_csrf(&self, req: &HttpRequest, token: Option<&str>) -> Result<(), DashboardError> {
        same_site_request(req)?;
        let header = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok());
        match token.or(header) {
            Some(t) if sign_in::csrf_matches(&self.secret, t) => Ok(()),
            Some(_) => {
                Err(csrf_error("the form's CSRF token is not this sign-in's: reload the page and try again"))
            }
            None => Err(csrf_error("the request carries no CSRF token: send the form from the dashboard")),
        }
    }
}

fn csrf_error(message: &str) -> DashboardError {
    DashboardError::new(ErrorCode::CsrfInvalid, message)
}

/// Refuses a request that the browser marks as cross-site (Fetch Metadata), or whose `Origin`
/// is not this server's. Applies before any sign-in exists (the sign-in form itself).
pub fn same_site_request(req: &HttpRequest) -> Result<(), DashboardError> {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return Err(csrf_error(&format!("the request came from another site (Sec-Fetch-Site: {site})")));
        }
    }
    if let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) {
        let state = req.app_data::<web::Data<AppState>>();
        let ours = state.map(|s| s.settings.public_url.trim_end_matches('/').to_string());
        let host = headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or("");
        let same_host = origin.split_once("://").is_some_and(|(_, h)| h == host);
        if ours.as_deref() != Some(origin) && !same_host {
            return Err(csrf_error(&format!("the request came from another origin ({origin})")));
        }
    }
    Ok(())
}

async fn authenticate(req: HttpRequest) -> Result<SignedIn, DashboardError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| DashboardError::new(ErrorCode::Internal, "application state missing"))?;
    let Some(cookie) = req.cookie(cookie_name(state)) else {
        return Err(DashboardError::new(ErrorCode::SignInRequired, "sign in to use the dashboard"));
    };
    let secret = cookie.value().to_string();
    let user = state.dashboard.user(&secret).await.map_err(|e| {
        tracing::error!(error = %e, "storage failure");
        DashboardError::new(ErrorCode::Unavailable, "the store did not answer; try again")
    })?;
    match user {
        Some(user) => Ok(SignedIn { csrf: sign_in::csrf_token(&secret), user, secret }),
        None => Err(DashboardError::new(ErrorCode::SignInRequired, "your sign-in has ended; sign in again")),
    }
}

impl FromRequest for SignedIn {
    type Error = DashboardError;
    type Future = Pin<Box<dyn Future<Output = Result<SignedIn, DashboardError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authenticate(req.clone()))
    }
}
