//! The agent interface: one trait every backend implements, so text sessions (and later the
//! voice bridge) stream answers the same way whatever produces them.

mod builtin;

pub use builtin::BuiltinResponder;

use futures_util::stream::BoxStream;
use voxgate_engine::ErrorCode;

/// One earlier message of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryMessage {
    /// `visitor` or `agent`.
    pub role: String,
    pub text: String,
}

/// What an agent is asked to answer.
#[derive(Debug, Clone)]
pub struct AgentTurn {
    /// The conversation before this message, oldest first.
    pub history: Vec<HistoryMessage>,
    /// The visitor's message.
    pub text: String,
}

/// Why an answer stopped short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AgentFailure {
    pub code: ErrorCode,
    pub message: String,
}

impl AgentFailure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> AgentFailure {
        AgentFailure { code, message: message.into() }
    }
}

/// Something that answers a visitor's message as a stream of text deltas.
pub trait Responder: Send + Sync {
    /// The backend's name for metrics (`builtin`, `openai`, `bridge`).
    fn backend(&self) -> &'static str;

    /// Streams the answer to `turn`. The stream ends after the last delta, or with one
    /// `Err` that says why it stopped; dropping it cancels the answer.
    fn respond(&self, turn: AgentTurn) -> BoxStream<'static, Result<String, AgentFailure>>;
}
