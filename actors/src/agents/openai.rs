//! The `openai` backend as a [`Responder`]: any OpenAI-compatible `POST {base_url}/chat/completions`
//! with `stream: true` (OpenAI, vLLM, llama.cpp server, Ollama). The agent's prompt and the
//! knowledge passages that best match the question go in as system context, then the
//! conversation's history and the visitor's message. Upstream errors, timeouts and malformed
//! chunks end the answer with an [`AgentFailure`] that carries a code; the stream never hangs.

use super::{AgentFailure, AgentTurn, AnswerPart, Responder};
use eventsource_stream::Eventsource;
use futures_util::stream::{self, BoxStream, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use voxgate_engine::agent::AgentSpec;
use voxgate_engine::conversation::MessageRole;
use voxgate_engine::knowledge::KnowledgeIndex;
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
        let mut system = self.prompt.clone();
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
            let role = if m.role == MessageRole::Visitor { "user" } else { "assistant" };
            messages.push(json!({"role": role, "content": m.text}));
        }
        messages.push(json!({"role": "user", "content": turn.text}));
        messages
    }
}

fn failure(code: ErrorCode, message: impl Into<String>) -> AgentFailure {
    AgentFailure::new(code, message)
}

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
        let body = json!({"model": self.model, "stream": true, "messages": self.messages(&turn)});
        let mut request = self.http.post(&self.url).json(&body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let timeouts = self.timeouts;
        let url = self.url.clone();
        // One request, then its chunks: an async state machine flattened into a stream.
        let start = stream::once(async move {
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
        });
        start
            .flat_map(move |started| match started {
                Err(f) => stream::iter([Err(f)]).boxed(),
                Ok(events) => chunks(events, timeouts.idle).map(|c| c.map(AnswerPart::Delta)).boxed(),
            })
            .boxed()
    }
}

/// The content deltas of an upstream event stream, ending at `[DONE]`, at the first failure,
/// or when the upstream is silent for `idle`.
fn chunks<S, E>(events: S, idle: Duration) -> impl futures_util::Stream<Item = Result<String, AgentFailure>>
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
            match choice["delta"]["content"].as_str() {
                Some(text) if !text.is_empty() => {
                    return Some((Ok(text.to_string()), Some((events, finished))))
                }
                // Role-only and empty deltas, and the final chunk with finish_reason.
                _ => continue,
            }
        }
    })
}
