//! What a talking agent tells its call. The call's talk machine ([`super::Talk`]) takes these
//! on the media worker: speech goes to the playout, words to captions and, as the visitor
//! heard them, to the transcript. What the call tells its agent is the machine's own
//! [`super::TalkEvent`]s: one vocabulary each way.

use crate::agent_voice::TurnStage;
use crate::tools::ToolLine;
use crate::ErrorCode;
use std::time::Instant;

/// One thing a talking agent did. Answers and utterances are numbered by the agent, uniquely
/// within the call.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// The visitor's words in the turn whose speech started at `started`.
    VisitorSaid { text: String, started: Instant },
    /// The visitor's words at the pause after speech that ended at `ended`
    /// (`TalkEvent::VisitorPaused`), judged: the probability that they have finished
    /// ([`super::sentence_end::SentenceEnds`]), `None` when nothing was heard.
    WordsJudged { ended: Instant, finished: Option<f32> },
    /// The words of overlap `id` (`TalkEvent::OverlapEnded`), empty when nothing was heard.
    Overheard { id: u64, text: String },
    /// More of the visitor's words while they still speak, from a streaming recogniser: shown
    /// as captions at once, never kept (the turn's `VisitorSaid` is the line).
    VisitorPartial { delta: String },
    /// Words of utterance `item` of `answer` (more may follow for the same item).
    Text { answer: u64, item: u64, text: String },
    /// Audio of utterance `item` of `answer`, mono at [`super::SPEAK_RATE`]; `complete`: its
    /// last piece.
    Speech { answer: u64, item: u64, pcm: Vec<i16>, complete: bool },
    /// `answer` has nothing more to say.
    Done { answer: u64 },
    /// `answer` failed at `stage`; the agent says its fallback line as part of it.
    Failed { answer: u64, stage: TurnStage, code: ErrorCode, message: String },
    /// A tool the agent called, and how it ended: a line of the call's transcript.
    Tool { line: ToolLine },
    /// A page action for the visitor's page, sent on the call's data channel as OpenAI
    /// Realtime's `response.function_call_arguments.done`.
    PageCall { call_id: String, name: String, arguments: String, timeout_ms: u64 },
    /// End the call once what is queued has played (the agent's `end_call`).
    EndCall,
    /// How long `answer`'s stages took at the agent's end (speech to text, first token, first
    /// audio, tools); the call adds what the visitor waited.
    Stages { answer: u64, latency: super::TurnLatency },
}
