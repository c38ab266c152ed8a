//! A talking call's tools: the agent's tools as the call's widget allows them, run for the
//! call. Page actions go to the visitor's page on the call's data channel (as OpenAI Realtime's
//! `response.function_call_arguments.done`, answered with a `function_call_output` item), and
//! `end_call` ends the call after the answer has played.

use super::backend::{AgentEvent, ToCall};
use crate::metrics::Metrics;
use crate::tools::{CallEnder, Page, PageCalls, ToolContext, Toolbox};
use futures_util::future::BoxFuture;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use voxgate_engine::tools::{ToolCall, ToolOutcome, ToolSpec};

/// What a call's toolbox is made from, when the call's agent starts.
pub struct CallTools {
    pub specs: Vec<ToolSpec>,
    pub http: reqwest::Client,
    pub context: ToolContext,
    pub metrics: Arc<Metrics>,
}

/// The live toolbox of one call, and what its page and `end_call` left for the backend.
pub struct CallToolbox {
    pub toolbox: Arc<Toolbox>,
    /// Page actions waiting for the visitor's page.
    pub page_calls: Arc<PageCalls>,
    /// Set when the agent called `end_call`.
    pub ending: Arc<Ending>,
    context: ToolContext,
}

impl CallTools {
    /// The toolbox for a call whose events go to `to_call`.
    pub fn start(self, to_call: ToCall) -> CallToolbox {
        let page_calls = Arc::new(PageCalls::default());
        let ending = Arc::new(Ending::default());
        let page = DataChannelPage { to_call, calls: page_calls.clone(), context: self.context.clone() };
        let toolbox = Toolbox::new(self.specs, self.http, self.context.clone(), self.metrics)
            .with_page(Arc::new(page))
            .with_call(ending.clone());
        CallToolbox { toolbox: Arc::new(toolbox), page_calls, ending, context: self.context }
    }
}

impl CallToolbox {
    /// The page answered `call_id` with `output` (JSON text, or plain text).
    pub fn page_answered(&self, call_id: &str, output: &str) {
        let outcome = match serde_json::from_str::<Value>(output) {
            Ok(Value::Object(o)) if o.len() == 1 && o.get("error").is_some_and(Value::is_string) => {
                ToolOutcome::Failed(o["error"].as_str().unwrap_or_default().to_string())
            }
            Ok(v) => ToolOutcome::Done(v),
            Err(_) => ToolOutcome::Done(Value::String(output.to_string())),
        };
        self.page_calls.answer(&self.context.session_id, call_id, outcome);
    }
}

/// Whether the agent asked to end the call.
#[derive(Default)]
pub struct Ending(AtomicBool);

impl Ending {
    /// True once, after the agent asked.
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

impl CallEnder for Ending {
    fn end_after_playout(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The visitor's page as a call reaches it: its data channel.
struct DataChannelPage {
    to_call: ToCall,
    calls: Arc<PageCalls>,
    context: ToolContext,
}

impl Page for DataChannelPage {
    fn call(&self, call: &ToolCall, arguments: Value, timeout: Duration) -> BoxFuture<'static, ToolOutcome> {
        let (to_call, calls, session) =
            (self.to_call.clone(), self.calls.clone(), self.context.session_id.clone());
        let event = AgentEvent::PageCall {
            call_id: call.call_id.clone(),
            name: call.name.clone(),
            arguments: arguments.to_string(),
            timeout_ms: timeout.as_millis() as u64,
        };
        let call_id = call.call_id.clone();
        Box::pin(async move {
            // Not speech: no barge-in makes it stale.
            let sent = async move {
                to_call(u64::MAX, event);
                true
            };
            calls.wait(&session, &call_id, timeout, sent).await
        })
    }
}
