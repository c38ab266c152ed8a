//! Running the tools an agent calls. A [`Toolbox`] is made for one conversation's answer: it
//! knows the agent's tools, the conversation they act for, and where each kind runs (the
//! customer's backend for `server` tools, the visitor's page for `client` tools, the call for
//! `end_call`). Every call ends in a [`ToolLine`] for the transcript, whose outcome the model
//! reads; a tool that fails never fails the answer.

mod page;
mod server;

pub use page::PageCalls;
pub use server::signature_headers;

use crate::metrics::Metrics;
use futures_util::future::BoxFuture;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use voxgate_engine::ids::{ConversationId, SessionId};
use voxgate_engine::tools::{ToolCall, ToolKind, ToolLine, ToolOutcome, ToolSpec};
use voxgate_engine::variables::Variables;

/// The conversation a tool acts for: what a server tool's request carries besides arguments.
#[derive(Debug, Clone)]
pub struct ToolContext {
    pub session_id: SessionId,
    pub conversation_id: ConversationId,
    pub metadata: Value,
    pub variables: Variables,
}

/// The visitor's page, which runs `client` tools: over SSE in a text answer, over the data
/// channel in a call. It answers within `timeout` or says why not.
pub trait Page: Send + Sync {
    fn call(&self, call: &ToolCall, arguments: Value, timeout: Duration) -> BoxFuture<'static, ToolOutcome>;
}

/// What ends the call when the agent calls `end_call` (after its last sentence has played).
pub trait CallEnder: Send + Sync {
    fn end_after_playout(&self);
}

/// The tools of one agent, for one conversation.
pub struct Toolbox {
    tools: Vec<ToolSpec>,
    /// Follows no redirect: a tool's URL is where its request goes, nowhere else.
    http: reqwest::Client,
    context: ToolContext,
    metrics: Arc<Metrics>,
    page: Option<Arc<dyn Page>>,
    call: Option<Arc<dyn CallEnder>>,
}

impl std::fmt::Debug for Toolbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.tools.iter().map(ToolSpec::name).collect();
        f.debug_struct("Toolbox").field("tools", &names).field("context", &self.context).finish()
    }
}

impl Toolbox {
    pub fn new(
        tools: Vec<ToolSpec>,
        http: reqwest::Client,
        context: ToolContext,
        metrics: Arc<Metrics>,
    ) -> Toolbox {
        Toolbox { tools, http, context, metrics, page: None, call: None }
    }

    /// Client tools run on this page.
    pub fn with_page(mut self, page: Arc<dyn Page>) -> Toolbox {
        self.page = Some(page);
        self
    }

    /// `end_call` ends this call.
    pub fn with_call(mut self, call: Arc<dyn CallEnder>) -> Toolbox {
        self.call = Some(call);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The tools as chat completions' `tools` lists them.
    pub fn chat_definitions(&self) -> Vec<Value> {
        self.tools.iter().map(ToolSpec::chat_definition).collect()
    }

    /// The tools as a Realtime session's `tools` lists them.
    pub fn realtime_definitions(&self) -> Vec<Value> {
        self.tools.iter().map(ToolSpec::realtime_definition).collect()
    }

    /// Runs `call` and returns its transcript line (whose outcome the model reads).
    pub async fn run(&self, call: &ToolCall) -> ToolLine {
        let started = Instant::now();
        let (kind, outcome) = match self.tools.iter().find(|t| t.name() == call.name) {
            None => {
                (ToolKind::Server, ToolOutcome::Failed(format!("there is no tool named {:?}", call.name)))
            }
            Some(tool) => (tool.kind(), self.run_tool(tool, call).await),
        };
        let took = started.elapsed();
        self.metrics.tool_called(kind, outcome.label(), took);
        tracing::debug!(tool = %call.name, outcome = outcome.label(), ms = took.as_millis() as u64, "tool called");
        ToolLine::new(call, kind, &outcome, took.as_millis() as u64)
    }

    async fn run_tool(&self, tool: &ToolSpec, call: &ToolCall) -> ToolOutcome {
        let arguments = match call.parsed_arguments() {
            Ok(a) => a,
            Err(why) => return ToolOutcome::Failed(why),
        };
        let timeout = Duration::from_millis(u64::from(tool.timeout_ms()));
        match tool {
            ToolSpec::Server { url, secret_env, .. } => {
                let server = server::ServerTool { url, secret_env, timeout };
                server.call(&self.http, call, arguments, &self.context).await
            }
            ToolSpec::Client { .. } => match &self.page {
                Some(page) => page.call(call, arguments, timeout).await,
                None => ToolOutcome::Failed("not available on this page".into()),
            },
            ToolSpec::EndCall { .. } => match &self.call {
                Some(ender) => {
                    ender.end_after_playout();
                    ToolOutcome::Done(serde_json::json!({"ending": true}))
                }
                None => {
                    ToolOutcome::Failed("there is no call to end: this conversation is a text chat".into())
                }
            },
        }
    }
}

/// The tools an agent may call in a session of a widget whose site runs `page_actions`: every
/// tool but the client tools it does not run, which are never offered, so never sent.
pub fn allowed_on(tools: &[ToolSpec], page_actions: &[String]) -> Vec<ToolSpec> {
    tools
        .iter()
        .filter(|t| t.kind() != ToolKind::Client || page_actions.iter().any(|n| n == t.name()))
        .cloned()
        .collect()
}

/// The HTTP client of server tools: no redirects, a short connect timeout.
pub fn tool_http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_default()
}
