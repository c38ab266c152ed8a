//! The builtin backend as a [`Responder`]: the engine's `BuiltinAgent` answer, streamed a word
//! at a time.

use super::{AgentFailure, AgentTurn, Responder};
use futures_util::stream::{self, BoxStream, StreamExt};
use std::time::Duration;
use voxgate_engine::agent::AgentSpec;
use voxgate_engine::builtin_agent::{deltas, BuiltinAgent};

/// Answers from the agent's greeting and knowledge (BM25 over its attachments).
pub struct BuiltinResponder {
    agent: BuiltinAgent,
    /// Pause before each word after the first (zero: as fast as the reader takes them).
    pace: Duration,
}

impl BuiltinResponder {
    pub fn new(spec: &AgentSpec, pace: Duration) -> BuiltinResponder {
        BuiltinResponder { agent: BuiltinAgent::new(spec), pace }
    }
}

impl Responder for BuiltinResponder {
    fn backend(&self) -> &'static str {
        "builtin"
    }

    fn respond(&self, turn: AgentTurn) -> BoxStream<'static, Result<String, AgentFailure>> {
        let answer = self.agent.answer(&turn.text);
        let parts: Vec<String> = deltas(&answer).into_iter().map(str::to_string).collect();
        if self.pace.is_zero() {
            return stream::iter(parts.into_iter().map(Ok)).boxed();
        }
        let pace = self.pace;
        stream::iter(parts.into_iter().enumerate())
            .then(move |(i, part)| async move {
                if i > 0 {
                    tokio::time::sleep(pace).await;
                }
                Ok(part)
            })
            .boxed()
    }
}
