//! The talking call's wing in the live system: what answers a call and how. The call's talk
//! machine (`voxgate_engine::talk`, on the media worker) decides when a turn ends and when the
//! visitor barges in; a backend hears its events and answers with words and audio that go
//! straight back to the worker.
//!
//! Modules, each depending only on those before it: `backend` (the contract every backend
//! keeps), `call_tools` (the call's tools: page actions on its data channel, `end_call`),
//! `provider` (one HTTP call to a provider), `websocket` (opening a provider's
//! WebSocket), `speech_to_text` (the streaming contract and its whole-turn adapter),
//! `realtime_transcription` (a streaming recogniser), `text_to_speech`,
//! `local_speech` (espeak-ng on this machine), `recognizer` (the builtin recogniser's sidecar
//! process), `lines` (fixed lines kept as audio), `pipeline` (speech to text, the agent's text
//! backend, text to speech; also the `builtin` voice on local recognition and synthesis),
//! `realtime` (an OpenAI Realtime-compatible WebSocket), `bridge` (an external agent's
//! WebSocket), `call_transcript` (the call's lines and turn metrics), and `plan` (the one place
//! that decides which of these answers a call).

pub mod backend;
pub mod bridge;
pub mod call_tools;
pub mod call_transcript;
mod lines;
mod local_speech;
mod pipeline;
pub mod plan;
mod provider;
mod realtime;
mod realtime_transcription;
mod recognizer;
pub mod speech_to_text;
pub mod text_to_speech;
pub mod turn_model;
mod websocket;

pub use backend::{start_on, AgentLink, VoiceBackend};
pub use call_tools::CallTools;
pub use call_transcript::CallTranscript;
pub use lines::SpokenLines;
pub use local_speech::LocalSpeech;
pub use plan::{CallPlan, CallPlanner};
pub use recognizer::{LocalRecognition, Recognizer, RecognizerState};
