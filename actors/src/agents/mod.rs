//! The agent interface: one trait every backend implements, so text sessions (and later the
//! voice bridge) stream answers the same way whatever produces them.

mod builtin;
mod openai;

pub use builtin::BuiltinResponder;
pub use openai::{OpenAiResponder, UpstreamTimeouts};

use crate::tools::Toolbox;
use futures_util::stream::{BoxStream, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use voxgate_engine::agent::{Agent, AgentBackend};
use voxgate_engine::tools::ToolLine;
use voxgate_engine::variables::Variables;
use voxgate_engine::ErrorCode;

/// One earlier message of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryMessage {
    pub role: voxgate_engine::conversation::MessageRole,
    pub text: String,
    /// A `tool` line's call and outcome.
    pub tool: Option<ToolLine>,
}

impl HistoryMessage {
    /// A visitor's or the agent's words.
    pub fn said(role: voxgate_engine::conversation::MessageRole, text: String) -> HistoryMessage {
        HistoryMessage { role, text, tool: None }
    }

    /// The conversation's stored lines as an agent's history. Backchannels ("uh-huh" while the
    /// agent spoke) stay out: they were never turns, and a model asked to answer them would.
    pub fn from_transcript(lines: Vec<crate::store::records::TranscriptMessage>) -> Vec<HistoryMessage> {
        lines
            .into_iter()
            .filter(|m| m.status != voxgate_engine::conversation::MessageStatus::Backchannel)
            .map(|m| HistoryMessage { role: m.role, text: m.text, tool: m.tool })
            .collect()
    }
}

/// What an agent is asked to answer.
#[derive(Debug, Clone)]
pub struct AgentTurn {
    /// The conversation before this message, oldest first.
    pub history: Vec<HistoryMessage>,
    /// The visitor's message.
    pub text: String,
    /// A spoken message as a constrained recogniser also heard it with an open vocabulary
    /// (see `talk::speech_to_text::Heard`); `None` for typed messages and providers.
    pub open_text: Option<String>,
    /// The session's variables, filled into the agent's prompt.
    pub variables: Variables,
    /// The tools the agent may call in this answer; `None` for none.
    pub tools: Option<Arc<Toolbox>>,
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

/// A piece of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum AnswerPart {
    /// More of the answer's text.
    Delta(String),
    /// Where the answer comes from (a knowledge attachment's title), shown apart from it.
    Source(String),
    /// The model asked for tools, which run now (a call may say its filler line while they do).
    ToolsRunning,
    /// A tool the agent called on the way, and how it ended (a line of the transcript).
    Tool(ToolLine),
}

/// Something that answers a visitor's message as a stream of text deltas.
pub trait Responder: Send + Sync {
    /// The backend's name for metrics (`builtin`, `openai`, `bridge`).
    fn backend(&self) -> &'static str;

    /// Whether answers need the conversation so far (reading it costs a query per message).
    fn uses_history(&self) -> bool {
        false
    }

    /// Streams the answer to `turn`. The stream ends after the last part, or with one `Err`
    /// that says why it stopped; dropping it cancels the answer.
    fn respond(&self, turn: AgentTurn) -> BoxStream<'static, Result<AnswerPart, AgentFailure>>;
}

/// What every responder of this process shares: one HTTP client (its connection pool) and the
/// server's agent settings.
pub struct AgentRuntime {
    pub http: reqwest::Client,
    /// Pause between the builtin agent's streamed words.
    pub builtin_pace: Duration,
    pub upstream: UpstreamTimeouts,
    /// The client of server tools (follows no redirect).
    pub tool_http: reqwest::Client,
}

impl AgentRuntime {
    pub fn new(builtin_pace: Duration, upstream: UpstreamTimeouts) -> AgentRuntime {
        let http = reqwest::Client::builder()
            .connect_timeout(upstream.response)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        AgentRuntime { http, builtin_pace, upstream, tool_http: crate::tools::tool_http() }
    }

    /// The text responder for `agent` as saved now.
    pub fn responder(&self, agent: &Agent) -> Arc<dyn Responder> {
        self.responder_for(agent, false)
    }

    /// The responder for `agent`'s calls: a builtin agent that has no passage says it may have
    /// misheard and names what it can be asked about, instead of "I don't know that yet".
    pub fn spoken_responder(&self, agent: &Agent) -> Arc<dyn Responder> {
        self.responder_for(agent, true)
    }

    fn responder_for(&self, agent: &Agent, spoken: bool) -> Arc<dyn Responder> {
        match &agent.spec.backend {
            AgentBackend::Builtin if spoken => {
                Arc::new(BuiltinResponder::spoken(&agent.spec, self.builtin_pace))
            }
            AgentBackend::Builtin => Arc::new(BuiltinResponder::new(&agent.spec, self.builtin_pace)),
            AgentBackend::Openai { base_url, model, api_key_env } => Arc::new(OpenAiResponder::new(
                self.http.clone(),
                &agent.spec,
                base_url,
                model,
                api_key_env.as_deref(),
                self.upstream,
            )),
            AgentBackend::Bridge { .. } => Arc::new(NoTextBackend("bridge")),
        }
    }
}

/// A backend that answers no text: the voice bridge carries audio and events, and its text turns
/// are not part of the bridge protocol (docs/BRIDGE.md).
struct NoTextBackend(&'static str);

impl Responder for NoTextBackend {
    fn backend(&self) -> &'static str {
        self.0
    }

    fn respond(&self, _turn: AgentTurn) -> BoxStream<'static, Result<AnswerPart, AgentFailure>> {
        let f = AgentFailure::new(
            ErrorCode::AgentNotConfigured,
            format!(
                "the {} backend answers voice only; give the widget an agent with a text backend",
                self.0
            ),
        );
        futures_util::stream::iter([Err(f)]).boxed()
    }
}
