//! The one error body every endpoint returns:
//! `{"error": {"code": "...", "message": "...", "field": "..."}}`, with a status fitting the code.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use voxgate_actors::control::ControlError;
use voxgate_actors::rate_limits::RateLimited;
use voxgate_actors::recordings::RecordingError;
use voxgate_engine::ErrorCode;

/// An error as the client sees it.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    /// Seconds after which the request may succeed (`Retry-After`), for refusals that pass.
    pub retry_after: Option<u64>,
}

/// `Retry-After` of a draining node: long enough for a load balancer to have taken it out.
const DRAINING_RETRY_SECONDS: u64 = 5;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let retry_after = (code == ErrorCode::Draining).then_some(DRAINING_RETRY_SECONDS);
        ApiError { code, message: message.into(), field: None, retry_after }
    }

    /// Says when to try again.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// Names the request field at fault.
    pub fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_string());
        self
    }

    pub fn status(&self) -> StatusCode {
        status_for(self.code)
    }

    /// The JSON body (also used as the `data` of an SSE `error` event).
    pub fn body(&self) -> serde_json::Value {
        let mut error = json!({"code": self.code.as_str(), "message": self.message});
        if let Some(f) = &self.field {
            error["field"] = json!(f);
        }
        json!({ "error": error })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// The status each code is sent with.
pub fn status_for(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        ApiKeyMissing | ApiKeyInvalid | TokenMissing | TokenInvalid | TokenExpired | SignInRequired
        | SignInFailed => StatusCode::UNAUTHORIZED,
        ApiKeyInBrowser | CsrfInvalid | OriginMissing | OriginNotAllowed | ModeNotEnabled => {
            StatusCode::FORBIDDEN
        }
        InvalidRequest | InvalidSdp => StatusCode::BAD_REQUEST,
        PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        NotFound => StatusCode::NOT_FOUND,
        RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
        PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        Misdirected => StatusCode::MISDIRECTED_REQUEST,
        SessionEnded | WidgetDeleted => StatusCode::GONE,
        SessionBusy | AgentMissing | AgentNotConfigured => StatusCode::CONFLICT,
        RateLimited | QuotaExceeded | FairUseExceeded => StatusCode::TOO_MANY_REQUESTS,
        AgentError => StatusCode::BAD_GATEWAY,
        AgentTimeout => StatusCode::GATEWAY_TIMEOUT,
        Draining | Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status());
        if matches!(
            self.code,
            ErrorCode::ApiKeyMissing
                | ErrorCode::ApiKeyInvalid
                | ErrorCode::TokenMissing
                | ErrorCode::TokenInvalid
                | ErrorCode::TokenExpired
        ) {
            res.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            res.insert_header(("Retry-After", seconds.to_string()));
        }
        res.json(self.body())
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        if let ControlError::Store(inner) = &e {
            tracing::error!(error = %inner, "storage failure");
        }
        let mut error = ApiError::new(e.code(), e.to_string());
        error.field = e.field().map(str::to_string);
        if let Some(s) = e.retry_after() {
            error = error.with_retry_after(s);
        }
        error
    }
}

impl From<RecordingError> for ApiError {
    fn from(e: RecordingError) -> Self {
        let code = match &e {
            RecordingError::NotFound { .. } => ErrorCode::NotFound,
            RecordingError::Elsewhere { .. } => ErrorCode::Misdirected,
            RecordingError::Storage(_) | RecordingError::Store(_) => {
                tracing::error!(error = %e, "recording storage failure");
                ErrorCode::Unavailable
            }
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<RateLimited> for ApiError {
    fn from(r: RateLimited) -> Self {
        let seconds = r.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        ApiError::new(ErrorCode::RateLimited, r.to_string()).with_retry_after(seconds)
    }
}

/// A path segment that is not an id of the expected kind: no such resource.
pub fn bad_id(e: voxgate_engine::ids::IdError) -> ApiError {
    ApiError::new(ErrorCode::NotFound, e.to_string())
}
