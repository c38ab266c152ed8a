//! CORS for browser endpoints: headers only for an allowed origin, and only the methods and
//! headers the endpoint takes.

use actix_web::http::header::HeaderValue;
use actix_web::{HttpResponse, HttpResponseBuilder};
use voxgate_engine::origin::Origin;

/// What one endpoint lets a cross-origin page do.
#[derive(Debug, Clone, Copy)]
pub struct CorsRules {
    pub methods: &'static str,
    pub headers: &'static str,
    pub expose: Option<&'static str>,
}

/// `GET /v1/widgets/{id}/config`: a plain GET, no credentials.
pub const CONFIG: CorsRules = CorsRules { methods: "GET", headers: "content-type", expose: None };
/// `{messages_url}`.
pub const MESSAGES: CorsRules =
    CorsRules { methods: "GET, POST", headers: "authorization, content-type, last-event-id", expose: None };

/// `{webrtc_url}` and its call resources: the page must read `Location` to hang up.
pub const WEBRTC: CorsRules = CorsRules {
    methods: "POST, PATCH, DELETE",
    headers: "authorization, content-type, if-match",
    expose: Some("Location, ETag"),
};

/// How long a browser may cache a preflight. Short, so a revoked origin's preflight expires soon;
/// the real request is checked against the allowlist every time regardless.
const PREFLIGHT_MAX_AGE: &str = "60";

/// Adds the response headers for an allowed origin.
pub fn allow(res: &mut HttpResponse, origin: &Origin, rules: CorsRules) {
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&origin.serialize()) {
        h.insert(actix_web::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.append(actix_web::http::header::VARY, HeaderValue::from_static("Origin"));
    if let Some(expose) = rules.expose {
        h.insert(actix_web::http::header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(expose));
    }
}

/// The answer to a preflight from an allowed origin.
pub fn preflight_ok(origin: &Origin, rules: CorsRules) -> HttpResponse {
    let mut res = HttpResponseBuilder::new(actix_web::http::StatusCode::NO_CONTENT)
        .insert_header(("Access-Control-Allow-Methods", rules.methods))
        .insert_header(("Access-Control-Allow-Headers", rules.headers))
        .insert_header(("Access-Control-Max-Age", PREFLIGHT_MAX_AGE))
        .finish();
    allow(&mut res, origin, rules);
    res
}
