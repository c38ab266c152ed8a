//! Rendering dashboard pages: the HTML response with its security headers, the error page, and
//! the state of a form (saved values, what was submitted, and each field's error).

use crate::error::status_for;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use std::collections::HashMap;
use voxgate_actors::control::ControlError;
use voxgate_engine::ErrorCode;

/// Pages run only the dashboard's own script and styles; no other site may frame them.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
                   connect-src 'self'; media-src 'self' blob:; frame-ancestors 'none'; form-action 'self'; \
                   base-uri 'none'; object-src 'none'";

/// A rendered page with the dashboard's headers.
pub fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => {
            with_headers(HttpResponse::build(status), CSP).content_type("text/html; charset=utf-8").body(body)
        }
        Err(e) => {
            tracing::error!(error = %e, "dashboard template failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("the page could not be rendered")
        }
    }
}

/// The preview page embeds the widget, whose shadow root carries its own styles.
pub fn html_with_widget(page: &impl Template) -> HttpResponse {
    const PREVIEW_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                               img-src 'self' data: https:; connect-src 'self'; media-src 'self' blob:; \
                               frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";
    match page.render() {
        Ok(body) => {
            with_headers(HttpResponse::Ok(), PREVIEW_CSP).content_type("text/html; charset=utf-8").body(body)
        }
        Err(e) => DashboardError::new(ErrorCode::Internal, format!("the page could not be rendered: {e}"))
            .error_response(),
    }
}

fn with_headers(mut res: actix_web::HttpResponseBuilder, csp: &str) -> actix_web::HttpResponseBuilder {
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Content-Security-Policy", csp))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "same-origin"));
    res
}

/// See other: where a form goes after it saved (so a reload does not post it again).
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A dashboard request that failed, shown as a page with its status, code and message.
#[derive(Debug, Clone)]
pub struct DashboardError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    pub retry_after: Option<u64>,
}

impl DashboardError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        DashboardError { code, message: message.into(), field: None, retry_after: None }
    }

    pub fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_string());
        self
    }

    pub fn not_found(what: &str) -> Self {
        DashboardError::new(ErrorCode::NotFound, format!("there is no {what} in your workspace"))
    }
}

impl std::fmt::Display for DashboardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

/// A control-plane refusal a form shows again with the field it names (`InvalidRequest`, or
/// `NotFound` of what `missing` names, such as a deleted agent); any other error is the page's.
pub fn form_refusal(
    e: ControlError,
    missing: Option<&str>,
) -> Result<(Option<String>, String), DashboardError> {
    match e.code() {
        ErrorCode::InvalidRequest => Ok((e.field().map(str::to_string), e.to_string())),
        ErrorCode::NotFound if missing.is_some() => {
            Ok((e.field().or(missing).map(str::to_string), e.to_string()))
        }
        _ => Err(e.into()),
    }
}

impl From<ControlError> for DashboardError {
    fn from(e: ControlError) -> Self {
        if let ControlError::Store(inner) = &e {
            tracing::error!(error = %inner, "storage failure");
        }
        let mut error = DashboardError::new(e.code(), e.to_string());
        error.field = e.field().map(str::to_string);
        error
    }
}

#[derive(Template)]
#[template(path = "dashboard/error.html")]
struct ErrorPage<'a> {
    status: u16,
    code: &'a str,
    message: &'a str,
}

impl ResponseError for DashboardError {
    fn status_code(&self) -> StatusCode {
        status_for(self.code)
    }

    fn error_response(&self) -> HttpResponse {
        if self.code == ErrorCode::SignInRequired {
            return redirect("/dashboard/sign-in");
        }
        let status = self.status_code();
        let page = ErrorPage { status: status.as_u16(), code: self.code.as_str(), message: &self.message };
        let mut res = html(status, &page);
        if let Some(s) = self.retry_after {
            if let Ok(v) = header::HeaderValue::from_str(&s.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res
    }
}

/// A form as a page shows it: each field's value (what was submitted when saving failed,
/// else what is saved) and the error of the field at fault.
#[derive(Debug, Clone, Default)]
pub struct FormState {
    values: HashMap<String, String>,
    checked: HashMap<String, bool>,
    errors: HashMap<String, String>,
    /// A message for the whole form (saved, or what went wrong).
    pub notice: Option<String>,
    /// The form (section) the notice and errors belong to.
    pub section: Option<String>,
}

impl FormState {
    /// Marks a refused save: the message on the `target` field and in `section`'s notice.
    pub fn refuse(&mut self, section: &str, target: &str, message: String) {
        self.set_error(target, message.clone());
        self.notice = Some(format!("Nothing was saved: {message}"));
        self.section = Some(section.to_string());
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.values.insert(name.to_string(), value.into());
    }

    pub fn set_checked(&mut self, name: &str, on: bool) {
        self.checked.insert(name.to_string(), on);
    }

    pub fn set_error(&mut self, name: &str, message: impl Into<String>) {
        self.errors.insert(name.to_string(), message.into());
    }

    pub fn value(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    pub fn checked(&self, name: &str) -> bool {
        self.checked.get(name).copied().unwrap_or(false)
    }

    pub fn error(&self, name: &str) -> Option<&str> {
        self.errors.get(name).map(String::as_str)
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// `selected` when `name`'s value is `option`.
    pub fn selected(&self, name: &str, option: &str) -> bool {
        self.value(name) == option
    }

    /// Whether the notice belongs to `section`.
    pub fn in_section(&self, section: &str) -> bool {
        self.section.as_deref() == Some(section)
    }
}
