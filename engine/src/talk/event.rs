//! What happens in a talking call's conversation, as its talk machine tells it: one vocabulary
//! for the call's agent, its transcript and the visitor's captions.

use crate::conversation::{MessageRole, MessageStatus};
use crate::talk::playout::PlayoutItem;
use crate::talk::turn_detector::TurnDecision;
use crate::tools::ToolLine;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What happened in the conversation. The call's agent hears `Connected`, `TurnEnded`,
/// `VisitorPaused`, `VisitorAudio`, `BargeIn`, `OverlapEnded`, `TurnHeard`, `AnswerHeard`,
/// `IdlePrompt` and `PageAnswered`
/// ([`TalkEvent::is_for_agent`]); the call records `Line`s and `ToolUsed`, and ends on
/// `IdleTimeout` and `HangUp`; the visitor sees `Caption`s on their data channel.
#[derive(Debug, Clone, PartialEq)]
pub enum TalkEvent {
    /// The call is connected: the agent may greet.
    Connected,
    /// The visitor has the floor; their speech began at `at`.
    VisitorSpeechStarted { at: Instant },
    /// The visitor's turn, for speech recognition: 16 kHz mono PCM from `started` (less the
    /// prefix padding kept before it) to `ended`.
    TurnEnded { audio: Arc<[i16]>, started: Instant, ended: Instant, decided: TurnDecision },
    /// The visitor paused after speech that ended at `ended` (with the turn's `pause_ms`):
    /// their turn so far, to recognise early. A `TurnEnded` with the same `ended` is that turn.
    VisitorPaused { audio: Arc<[i16]>, ended: Instant },
    /// The visitor has been silent a moment after speech that ended at `ended`: ask the
    /// end-of-turn model whether they have finished, from their turn so far (16 kHz), and answer
    /// with [`crate::talk::Talk::on_turn_judged`] and this `id`; past `deadline` the silence
    /// rule has decided. For the call, not the agent.
    JudgeTurn { id: u64, audio: Arc<[i16]>, ended: Instant, deadline: Instant },
    /// The visitor talked over the agent from `at`; the agent's playout stopped at once, having
    /// played `played_ms` of `item` (if one was playing).
    BargeIn { at: Instant, stopped: Option<(PlayoutItem, u32)> },
    /// The visitor spoke over the agent from `started` to `ended` (16 kHz `audio`): recognise
    /// it and answer with [`crate::talk::AgentEvent::Overheard`] and this `id`, but do not answer
    /// it. The call decides what it was: a backchannel, nothing, or an interruption
    /// ([`TalkEvent::TurnHeard`]). The agent's answer goes on meanwhile.
    /// `decided`: what ended it, when it was a turn the detector ended (it held the agent),
    /// not speech too brief to interrupt.
    OverlapEnded {
        id: u64,
        audio: Arc<[i16]>,
        started: Instant,
        ended: Instant,
        decided: Option<TurnDecision>,
    },
    /// The words of overlap `id` interrupted the agent (whose answer a `BargeIn` just ended):
    /// answer them as the visitor's turn.
    TurnHeard { id: u64, started: Instant, ended: Instant },
    /// An interruption held the agent for `held_ms`, and was nothing: the agent resumed.
    FalseInterruption { held_ms: u32 },
    /// The visitor's audio at the stream rate while they have the floor, 20 ms at a time
    /// (the pre-roll in one piece first); with `stream_rate` only.
    VisitorAudio(Arc<[i16]>),
    /// The agent's utterance started playing; for the first utterance after the visitor's
    /// turn, how long after that turn's end (the latency the visitor hears).
    AgentSpeechStarted { item: PlayoutItem, at: Instant, after_turn: Option<Duration> },
    /// The agent's utterance played to its end.
    AgentSpeechFinished { item: PlayoutItem, played_ms: u32 },
    /// The agent's speech ran dry mid-utterance and paused (its audio came too slowly).
    Underrun { item: PlayoutItem },
    /// Nobody spoke for the idle timeout: prompt the visitor.
    IdlePrompt,
    /// Still nobody: end the call.
    IdleTimeout,
    /// An answer ended; these are the words the visitor heard of it (the agent's history).
    AnswerHeard { answer: u64, text: String },
    /// A line for the transcript, as the visitor said or heard it.
    Line(SpokenLine),
    /// An event for the visitor's captions (JSON text, on their data channel if they opened one).
    Caption(String),
    /// A tool call for the transcript, `offset_ms` from the call's connect.
    ToolUsed { line: ToolLine, offset_ms: i64 },
    /// The visitor's page answered page action `call_id` on the data channel (OpenAI
    /// Realtime's `conversation.item.create` with a `function_call_output`).
    PageAnswered { call_id: String, output: String },
    /// The agent ended the call and its last words have played: hang up (`agent_ended`).
    HangUp,
}

impl TalkEvent {
    /// Whether the call's agent hears of it.
    pub fn is_for_agent(&self) -> bool {
        matches!(
            self,
            TalkEvent::Connected
                | TalkEvent::TurnEnded { .. }
                | TalkEvent::VisitorPaused { .. }
                | TalkEvent::VisitorAudio(_)
                | TalkEvent::BargeIn { .. }
                | TalkEvent::OverlapEnded { .. }
                | TalkEvent::TurnHeard { .. }
                | TalkEvent::AnswerHeard { .. }
                | TalkEvent::IdlePrompt
                | TalkEvent::PageAnswered { .. }
        )
    }
}

/// How long an agent's turn took, stage by stage, in milliseconds: what the visitor waited
/// (end of their speech to the answer's first audio) and what each provider took. A stage a
/// backend does not have (a realtime voice has no separate speech to text) is absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TurnLatency {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_of_speech_to_first_audio: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stt: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_audio: Option<u32>,
    /// The tools the answer called, in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<u32>,
}

impl TurnLatency {
    pub fn is_empty(&self) -> bool {
        *self == TurnLatency::default()
    }

    /// `other`'s stages where this has none.
    pub fn merge(&mut self, other: TurnLatency) {
        self.end_of_speech_to_first_audio =
            self.end_of_speech_to_first_audio.or(other.end_of_speech_to_first_audio);
        self.stt = self.stt.or(other.stt);
        self.first_token = self.first_token.or(other.first_token);
        self.first_audio = self.first_audio.or(other.first_audio);
        self.tool = self.tool.or(other.tool);
    }
}

/// One stage of a turn's latency, read from it.
type Stage = fn(&TurnLatency) -> Option<u32>;

/// The p50 and p95 of each stage over many answered turns (an agent's, over a period).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LatencySummary {
    /// Answered turns with a recorded latency.
    pub turns: usize,
    /// By stage (`end_of_speech_to_first_audio`, `stt`, `first_token`, `first_audio`, `tool`):
    /// `[p50, p95]` in milliseconds, over the turns that have the stage.
    pub stages: std::collections::BTreeMap<&'static str, [u32; 2]>,
}

impl LatencySummary {
    pub fn of(turns: &[TurnLatency]) -> LatencySummary {
        let stages: [(&'static str, Stage); 5] = [
            ("end_of_speech_to_first_audio", |l| l.end_of_speech_to_first_audio),
            ("stt", |l| l.stt),
            ("first_token", |l| l.first_token),
            ("first_audio", |l| l.first_audio),
            ("tool", |l| l.tool),
        ];
        let mut summary = LatencySummary { turns: turns.len(), ..Default::default() };
        for (name, stage) in stages {
            let mut values: Vec<u32> = turns.iter().filter_map(stage).collect();
            if values.is_empty() {
                continue;
            }
            values.sort_unstable();
            let at = |p: usize| values[((values.len() - 1) * p).div_ceil(100)];
            summary.stages.insert(name, [at(50), at(95)]);
        }
        summary
    }
}

#[cfg(test)]
mod latency_tests {
    use super::*;

    #[test]
    fn percentiles_are_taken_per_stage_over_the_turns_that_have_it() {
        let turn = |wait: u32, tool: Option<u32>| TurnLatency {
            end_of_speech_to_first_audio: Some(wait),
            tool,
            ..TurnLatency::default()
        };
        let turns: Vec<TurnLatency> = (1..=100).map(|i| turn(i * 10, (i % 10 == 0).then_some(i))).collect();
        let s = LatencySummary::of(&turns);
        assert_eq!(s.turns, 100);
        assert_eq!(s.stages["end_of_speech_to_first_audio"], [510, 960]);
        assert_eq!(s.stages["tool"], [60, 100]);
        assert!(!s.stages.contains_key("stt"));
        assert_eq!(LatencySummary::of(&[]).stages.len(), 0);
    }
}

/// A line of the call's transcript, as the visitor said or heard it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpokenLine {
    pub role: MessageRole,
    pub text: String,
    pub status: MessageStatus,
    /// From the call's connect.
    pub offset_ms: i64,
    pub error_code: Option<&'static str>,
    /// An agent's answer to a turn: how long it took.
    pub latency: Option<TurnLatency>,
}
