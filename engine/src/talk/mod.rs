//! The talking call, sans-IO: everything that turns a visitor's audio into turns and an agent's
//! words into paced speech. Voice activity (`vad`), the turn-taking state machine
//! (`turn_detector`), the paced playout of the agent's speech (`playout`), sentence splitting
//! for speech synthesis (`sentences`), what the visitor heard of each answer (`spoken`,
//! `answers`), what an agent tells its call (`agent_event`), the Realtime provider protocol
//! (`realtime`), the end-of-turn model's input features (`log_mel`), and the call's talk state machine
//! that ties them together on the media worker (`machine`). Samples, events and `Instant`s go in; decisions,
//! PCM, Opus frames and commands come out.

mod agent_event;
mod answers;
mod event;
pub mod interruption;
pub mod log_mel;
pub mod machine;
pub mod playout;
pub mod realtime;
pub mod sentence_end;
pub mod sentences;
pub mod spoken;
pub mod turn_detector;
pub mod vad;

pub use agent_event::AgentEvent;
pub use event::{LatencySummary, SpokenLine, TalkEvent, TurnLatency};
pub use interruption::Overheard;
pub use machine::{SpeechFrame, Talk, TalkConfig, LISTEN_RATE, SPEAK_RATE};
pub use playout::{Playout, PlayoutItem};
pub use turn_detector::{SemanticTurn, TurnConfig, TurnDecision, TurnDetector, TurnEvent, TurnState};
pub use vad::VoiceDetector;
