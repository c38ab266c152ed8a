//! The builtin backend as a [`Responder`]: the engine's `BuiltinAgent` answer, its source first,
//! then its text a word at a time.

use super::{AgentFailure, AgentTurn, AnswerPart, Responder};
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

    /// For a call: no passage gets the spoken "didn't catch that" line.
    pub fn spoken(spec: &AgentSpec, pace: Duration) -> BuiltinResponder {
        BuiltinResponder { agent: BuiltinAgent::spoken(spec), pace }
    }
}

impl Responder for BuiltinResponder {
    fn backend(&self) -> &'static str {
        "builtin"
    }

    fn respond(&self, turn: AgentTurn) -> BoxStream<'static, Result<AnswerPart, AgentFailure>> {
        let answer = self.agent.answer_heard(&turn.text, turn.open_text.as_deref());
        let source = stream::iter(answer.source.map(|s| Ok(AnswerPart::Source(s))));
        let words: Vec<String> = deltas(&answer.text).into_iter().map(str::to_string).collect();
        let pace = self.pace;
        let words = stream::iter(words.into_iter().enumerate()).then(move |(i, word)| async move {
            // Every word after the first waits its turn (none when the pace is zero).
            if i > 0 && !pace.is_zero() {
                tokio::time::sleep(pace).await;
            }
            Ok(AnswerPart::Delta(word))
        });
        source.chain(words).boxed()
    }
}
