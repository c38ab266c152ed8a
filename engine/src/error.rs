//! The error codes voxgate returns. One list so a code means the same thing on every endpoint,
//! and so the `http` edge can map each code to a status without knowing which layer raised it.

use serde::Serialize;

/// A stable, machine-readable error code as it reaches the client (`{"error": {"code": ...}}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // Control plane authentication.
    ApiKeyMissing,
    ApiKeyInvalid,
    ApiKeyInBrowser,
    // Dashboard sign-in.
    /// The dashboard page needs a signed-in user (no cookie, or a sign-in that ended).
    SignInRequired,
    /// Wrong email or password.
    SignInFailed,
    /// A dashboard form or request without the CSRF token of the signed-in browser, or sent
    /// from another site.
    CsrfInvalid,
    // Browser authentication and origin enforcement.
    TokenMissing,
    TokenInvalid,
    TokenExpired,
    SessionEnded,
    OriginMissing,
    OriginNotAllowed,
    // Requests.
    InvalidRequest,
    InvalidSdp,
    PayloadTooLarge,
    UnsupportedMediaType,
    MethodNotAllowed,
    NotFound,
    /// A `Range` that starts past the end of what is there (`416`).
    RangeNotSatisfiable,
    /// An `If-Match` that names a state the resource has left (a call's old ICE session, `412`).
    PreconditionFailed,
    RateLimited,
    // Sessions.
    ModeNotEnabled,
    SessionBusy,
    WidgetDeleted,
    AgentMissing,
    AgentNotConfigured,
    /// The agent's backend failed mid-answer (upstream error, malformed stream).
    AgentError,
    /// The agent's backend did not answer in time.
    AgentTimeout,
    QuotaExceeded,
    FairUseExceeded,
    // Server.
    /// A browser request for a session reached a node that does not carry it (several nodes
    /// behind one load balancer): the message names the node and URL that do (`421`).
    Misdirected,
    /// The node is draining for a restart: it takes no new sessions or calls (`503`, retry).
    Draining,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// Every code a browser endpoint can refuse with (DESIGN.md, Browser endpoints), so
    /// metrics can export each from the start instead of when it first happens.
    pub const BROWSER: [ErrorCode; 18] = [
        ErrorCode::TokenMissing,
        ErrorCode::TokenInvalid,
        ErrorCode::TokenExpired,
        ErrorCode::SessionEnded,
        ErrorCode::OriginMissing,
        ErrorCode::OriginNotAllowed,
        ErrorCode::ModeNotEnabled,
        ErrorCode::SessionBusy,
        ErrorCode::InvalidSdp,
        ErrorCode::PreconditionFailed,
        ErrorCode::InvalidRequest,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::RateLimited,
        ErrorCode::QuotaExceeded,
        ErrorCode::FairUseExceeded,
        ErrorCode::Draining,
        ErrorCode::Misdirected,
    ];

    /// The code's wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ApiKeyMissing => "api_key_missing",
            ErrorCode::ApiKeyInvalid => "api_key_invalid",
            ErrorCode::ApiKeyInBrowser => "api_key_in_browser",
            ErrorCode::SignInRequired => "sign_in_required",
            ErrorCode::SignInFailed => "sign_in_failed",
            ErrorCode::CsrfInvalid => "csrf_invalid",
            ErrorCode::TokenMissing => "token_missing",
            ErrorCode::TokenInvalid => "token_invalid",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::SessionEnded => "session_ended",
            ErrorCode::OriginMissing => "origin_missing",
            ErrorCode::OriginNotAllowed => "origin_not_allowed",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidSdp => "invalid_sdp",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::RangeNotSatisfiable => "range_not_satisfiable",
            ErrorCode::PreconditionFailed => "precondition_failed",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ModeNotEnabled => "mode_not_enabled",
            ErrorCode::SessionBusy => "session_busy",
            ErrorCode::WidgetDeleted => "widget_deleted",
            ErrorCode::AgentMissing => "agent_missing",
            ErrorCode::AgentNotConfigured => "agent_not_configured",
            ErrorCode::AgentError => "agent_error",
            ErrorCode::AgentTimeout => "agent_timeout",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::FairUseExceeded => "fair_use_exceeded",
            ErrorCode::Draining => "draining",
            ErrorCode::Misdirected => "misdirected",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
