//! `/dashboard/sign-in` and `/dashboard/sign-out`.

use super::auth::{cleared_cookie, same_site_request, sign_in_cookie, SignedIn};
use super::form::read_form;
use super::page::{html, redirect, DashboardError};
use crate::state::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use voxgate_actors::dashboard_sign_in::SignInError;
use voxgate_engine::ErrorCode;

#[derive(Template)]
#[template(path = "dashboard/sign_in.html")]
struct SignInPage {
    email: String,
    error: Option<(&'static str, String)>,
}

/// The sign-in form; a signed-in browser goes straight to the dashboard.
pub async fn form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Some(c) = req.cookie(super::auth::cookie_name(&state)) {
        if matches!(state.dashboard.user(c.value()).await, Ok(Some(_))) {
            return redirect("/dashboard");
        }
    }
    html(StatusCode::OK, &SignInPage { email: String::new(), error: None })
}

/// Checks the password; on success sets the sign-in cookie.
pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, DashboardError> {
    same_site_request(&req)?;
    let form = read_form(&req, body).await?;
    let email = form.get("email").unwrap_or("").to_string();
    let password = form.get("password").unwrap_or("");
    let client = state.settings.trusted_proxies.client(&req);
    // The code stays in the page (a data attribute) for scripts; a person reads a sentence.
    let refused = |status: StatusCode, code: ErrorCode, message: String| {
        html(status, &SignInPage { email: email.clone(), error: Some((code.as_str(), sentence(&message))) })
    };
    let attempt = match state.control.limits().address(client) {
        Ok(()) => state.dashboard.sign_in(&email, password, client).await,
        Err(limited) => Err(SignInError::RateLimited { retry_after: limited.retry_after }),
    };
    match attempt {
        Ok(signed_in) => {
            let seconds = state.dashboard.policy().ttl.as_secs() as i64;
            let mut res = redirect("/dashboard");
            res.add_cookie(&sign_in_cookie(&state, &signed_in.secret, seconds))
                .map_err(|e| DashboardError::new(ErrorCode::Internal, e.to_string()))?;
            Ok(res)
        }
        Err(SignInError::Refused) => Ok(refused(
            StatusCode::UNAUTHORIZED,
            ErrorCode::SignInFailed,
            "the email or password is wrong".into(),
        )),
        Err(e @ SignInError::RateLimited { retry_after }) => {
            let mut res = refused(StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited, e.to_string());
            let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(v) = header::HeaderValue::from_str(&seconds.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(res)
        }
        Err(SignInError::Store(e)) => {
            tracing::error!(error = %e, "storage failure");
            Err(DashboardError::new(ErrorCode::Unavailable, "the store did not answer; try again"))
        }
    }
}

/// `message` as a sentence: a capital first letter and a full stop.
fn sentence(message: &str) -> String {
    let mut chars = message.trim().chars();
    let Some(first) = chars.next() else { return String::new() };
    let mut out: String = first.to_uppercase().chain(chars).collect();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// Ends the sign-in and clears the cookie.
pub async fn sign_out(
    state: web::Data<AppState>,
    who: SignedIn,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, DashboardError> {
    let form = read_form(&req, body).await?;
    who.check_csrf(&req, form.get("csrf"))?;
    state
        .dashboard
        .sign_out(&who.secret)
        .await
        .map_err(|e| DashboardError::new(ErrorCode::Unavailable, format!("could not sign out: {e}")))?;
    let mut res = redirect("/dashboard/sign-in");
    res.add_cookie(&cleared_cookie(&state))
        .map_err(|e| DashboardError::new(ErrorCode::Internal, e.to_string()))?;
    Ok(res)
}
