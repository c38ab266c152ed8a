//! The `openai` backend as a [`Responder`]: any OpenAI-compatible `POST {base_url}/chat/completions`
//! with `stream: true` (OpenAI, vLLM, llama.cpp server, Ollama). The agent's prompt and the
//! knowledge passages that best match the question go in as system context, then the
//! conversation's history and the visitor's message. Upstream errors, timeouts and malformed
//! chunks end the answer with an [`AgentFailure`] that carries a code; the stream never hangs.

use super::{AgentFailure, AgentTurn, AnswerPart, Responder};
use crate::tools::Toolbox;
use eventsource_stream::Eventsource;
use futures_util::stream::{self, BoxStream, StreamExt};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use voxgate_engine::agent::AgentSpec;
use voxgate_engine::conversation::MessageRole;
use voxgate_engine::knowledge::KnowledgeIndex;
use voxgate_engine::tools::ChatToolCalls;
use voxgate_engine::ErrorCode;

/// Knowledge passages sent with each question.
const PASSAGES: usize = 4;
/// Most of an upstream error body quoted in a failure.
const ERROR_BODY: usize = 300;

/// How long to wait on the upstream.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamTimeouts {
    /// From sending the request to the response headers.
    pub response: Duration,
    /// Between two chunks of the stream.
    pub idle: Duration,
}

/// Streams answers from an OpenAI-compatible chat completions endpoint.
pub struct OpenAiResponder {
    http: reqwest::Client,
    url: String,
    model: String,
    /// The key's environment variable, read at each call so a rotated key applies at once.
    api_key_env: Option<String>,
    prompt: String,
    knowledge: KnowledgeIndex,
    timeouts: UpstreamTimeouts,
}

impl OpenAiResponder {
    pub fn new(
        http: reqwest::Client,
        spec: &AgentSpec,
        base_url: &str,
        model: &str,
        api_key_env: Option<&str>,
        timeouts: UpstreamTimeouts,
    ) -> OpenAiResponder {
        OpenAiResponder {
            http,
            url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            model: model.to_string(),
            api_key_env: api_key_env.map(str::to_string),
            prompt: spec.prompt.clone(),
            knowledge: KnowledgeIndex::build(&spec.knowledge),
            timeouts,
        }
    }

    /// The chat messages for `turn`: system context, history, the visitor's message.
    fn messages(&self, turn: &AgentTurn) -> Vec<Value> {
        let mut system = turn.variables.fill(&self.prompt).text;
        let passages = self.knowledge.top(&turn.text, PASSAGES);
        if !passages.is_empty() {
            system.push_str("\n\nAnswer from this knowledge when it is relevant:");
            for hit in passages {
                system.push_str(&format!("\n\n[{}]\n{}", hit.passage.title, hit.passage.text));
            }
        }
        let mut messages = Vec::with_capacity(turn.history.len() + 2);
        if !system.trim().is_empty() {
            messages.push(json!({"role": "system", "content": system.trim()}));
        }
        for m in &turn.history {
            match (&m.role, &m.tool) {
                (MessageRole::Tool, Some(line)) => {
                    // An earlier call, as the model made it, and its result.
                    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [
                        {"id": line.call_id, "type": "function",
                         "function": {"name": line.name, "arguments": line.arguments_text()}}]}));
                    messages.push(json!({"role": "tool", "tool_call_id": line.call_id,
                                         "content": line.outcome().for_model()}));
                }
                (MessageRole::Tool, None) => {}
                (MessageRole::Visitor, _) => messages.push(json!({"role": "user", "content": m.text})),
                (MessageRole::Agent, _) => messages.push(json!({"role": "assistant", "content": m.text})),
            }
        }
        messages.push(json!({"role": "user", "content": turn.text}));
        messages
    }
}

fn failure(code: ErrorCode, message: impl Into<String>) -> AgentFailure {
    AgentFailure::new(code, message)
}

/// Rounds of tool calls one answer may take before the model must answer in words.
const MAX_TOOL_ROUNDS: usize = 5;

impl Responder for OpenAiResponder {
    fn backend(&self) -> &'static str {
        "openai"
    }

    fn uses_history(&self) -> bool {
        true
    }

    fn respond(&self, turn: AgentTurn) -> BoxStream<'static, Result<AnswerPart, AgentFailure>> {
        let key = match &self.api_key_env {
            Some(name) => match std::env::var(name) {
                Ok(k) if !k.is_empty() => Some(k),
                _ => {
                    let f = failure(
                        ErrorCode::AgentNotConfigured,
                        format!("the environment variable {name} holding the agent's API key is not set"),
                    );
                    return stream::iter([Err(f)]).boxed();
                }
            },
            None => None,
        };
        let exchange = Exchange {
            http: self.http.clone(),
            url: self.url.clone(),
            model: self.model.clone(),
            key,
            timeouts: self.timeouts,
            messages: self.messages(&turn),
            tools: turn.tools.clone().filter(|t| !t.is_empty()),
        };
        // The exchange runs as its own task (a tool call may take seconds) and stops when the
        // answer's reader goes away.
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            tokio::select! {
                () = exchange.run(&tx) => {}
                () = tx.closed() => {}
            }
        });
        stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|part| (part, rx)) }).boxed()
    }
}

/// One answer's requests to the model: a round per batch of tool calls, then the words.
struct Exchange {
    http: reqwest::Client,
    url: String,
    model: String,
    key: Option<String>,
    timeouts: UpstreamTimeouts,
    messages: Vec<Value>,
    tools: Option<Arc<Toolbox>>,
}

type Parts = mpsc::Sender<Result<AnswerPart, AgentFailure>>;

impl Exchange {
    async fn run(mut self, tx: &Parts) {
        for round in 0..=MAX_TOOL_ROUNDS {
            let mut body = json!({"model": self.model, "stream": true, "messages": self.messages});
            if let Some(tools) = &self.tools {
                body["tools"] = Value::Array(tools.chat_definitions());
                if round == MAX_TOOL_ROUNDS {
                    body["tool_choice"] = json!("none");
                }
            }
            let events = match self.start(body).await {
                Ok(events) => events,
                Err(f) => {
                    let _ = tx.send(Err(f)).await;
                    return;
                }
            };
            let mut calls = ChatToolCalls::default();
            let mut said = String::new();
            let mut pieces = std::pin::pin!(chunks(events, self.timeouts.idle));
            while let Some(piece) = pieces.next().await {
                let part = match piece {
                    Ok(Chunk::Text(text)) => {
                        said.push_str(&text);
                        Ok(AnswerPart::Delta(text))
                    }
                    Ok(Chunk::ToolCalls(deltas)) => match calls.push(&deltas) {
                        Ok(()) => continue,
                        Err(e) => Err(failure(
                            ErrorCode::AgentError,
                            format!("the upstream's tool calls are malformed: {e}"),
                        )),
                    },
                    Err(f) => Err(f),
                };
                let failed = part.is_err();
                if tx.send(part).await.is_err() || failed {
                    return;
                }
            }
            if calls.is_empty() {
                return;
            }
            let calls = match calls.finish() {
                Ok(calls) => calls,
                Err(e) => {
                    let f = failure(
                        ErrorCode::AgentError,
                        format!("the upstream's tool calls are malformed: {e}"),
                    );
                    let _ = tx.send(Err(f)).await;
                    return;
                }
            };
            let Some(tools) = self.tools.clone() else {
                let f =
                    failure(ErrorCode::AgentError, "the upstream asked for a tool, but the agent has none");
                let _ = tx.send(Err(f)).await;
                return;
            };
            let requested: Vec<Value> = calls
                .iter()
                .map(|c| {
                    json!({"id": c.call_id, "type": "function",
                                "function": {"name": c.name, "arguments": c.arguments}})
                })
                .collect();
            let content = if said.is_empty() { Value::Null } else { Value::String(said) };
            self.messages.push(json!({"role": "assistant", "content": content, "tool_calls": requested}));
            if tx.send(Ok(AnswerPart::ToolsRunning)).await.is_err() {
                return;
            }
            for call in &calls {
                let line = tools.run(call).await;
                self.messages.push(json!({"role": "tool", "tool_call_id": call.call_id,
                                          "content": line.outcome().for_model()}));
                if tx.send(Ok(AnswerPart::Tool(line))).await.is_err() {
                    return;
                }
            }
        }
    }

    /// Sends one request; its event stream, or why there is none.
    async fn start(
        &self,
        body: Value,
    ) -> Result<
        impl futures_util::Stream<Item = Result<eventsource_stream::Event, impl std::fmt::Display>>
            + Send
            + Unpin
            + 'static,
        AgentFailure,
    > {
        let mut request = self.http.post(&self.url).json(&body);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        let (url, timeouts) = (&self.url, self.timeouts);
        let response = match tokio::time::timeout(timeouts.response, request.send()).await {
            Err(_) => {
                return Err(failure(
                    ErrorCode::AgentTimeout,
                    format!("{url} did not answer within {} ms", timeouts.response.as_millis()),
                ))
            }
            Ok(Err(e)) => {
                return Err(failure(ErrorCode::AgentError, format!("{url} could not be reached: {e}")))
            }
            Ok(Ok(r)) => r,
        };
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let snippet: String = text.chars().take(ERROR_BODY).collect();
            return Err(failure(ErrorCode::AgentError, format!("{url} answered {status}: {snippet}")));
        }
        Ok(response.bytes_stream().eventsource())
    }
}

/// What one chunk of the upstream's stream adds.
enum Chunk {
    Text(String),
    /// A chunk's `delta.tool_calls`, pieces of the calls the model asks for.
    ToolCalls(Value),
}

/// The content and tool-call deltas of an upstream event stream, ending at `[DONE]`, at the
/// first failure, or when the upstream is silent for `idle`.
fn chunks<S, E>(events: S, idle: Duration) -> impl futures_util::Stream<Item = Result<Chunk, AgentFailure>>
where
    S: futures_util::Stream<Item = Result<eventsource_stream::Event, E>> + Send + Unpin + 'static,
    E: std::fmt::Display,
{
    stream::unfold(Some((events, false)), move |state| async move {
        let (mut events, mut finished) = state?;
        loop {
            let next = match tokio::time::timeout(idle, events.next()).await {
                Err(_) => {
                    let f = failure(
                        ErrorCode::AgentTimeout,
                        format!("the upstream was silent for {} ms", idle.as_millis()),
                    );
                    return Some((Err(f), None));
                }
                Ok(next) => next,
            };
            let event = match next {
                // Some servers close after the finish_reason chunk without [DONE].
                None if finished => return None,
                None => {
                    let f = failure(
                        ErrorCode::AgentError,
                        "the upstream stream ended before the answer finished",
                    );
                    return Some((Err(f), None));
                }
                Some(Err(e)) => {
                    return Some((
                        Err(failure(ErrorCode::AgentError, format!("the upstream stream broke: {e}"))),
                        None,
                    ))
                }
                Some(Ok(event)) => event,
            };
            let data = event.data.trim();
            if data == "[DONE]" {
                return None;
            }
            let chunk: Value = match serde_json::from_str(data) {
                Ok(v) => v,
                Err(e) => {
                    let snippet: String = data.chars().take(80).collect();
                    let f = failure(
                        ErrorCode::AgentError,
                        format!("malformed chunk from the upstream ({e}): {snippet}"),
                    );
                    return Some((Err(f), None));
                }
            };
            if let Some(message) = chunk["error"]["message"].as_str() {
                return Some((
                    Err(failure(ErrorCode::AgentError, format!("the upstream failed: {message}"))),
                    None,
                ));
            }
            let Some(choice) = chunk["choices"].get(0) else {
                let f = failure(ErrorCode::AgentError, "malformed chunk from the upstream: no choices");
                return Some((Err(f), None));
            };
            finished |= choice["finish_reason"].is_string();
            let calls = &choice["delta"]["tool_calls"];
            if calls.is_array() {
                return Some((Ok(Chunk::ToolCalls(calls.clone())), Some((events, finished))));
            }
            match choice["delta"]["content"].as_str() {
                Some(text) if !text.is_empty() => {
                    return Some((Ok(Chunk::Text(text.to_string())), Some((events, finished))))
                }
                // Role-only and empty deltas, and the final chunk with finish_reason.
                _ => continue,
            }
        }
    })
}
