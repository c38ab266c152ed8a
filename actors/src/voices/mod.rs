//! Talking agents: what hears the visitor's turns and answers them in speech. The call's own
//! turn engine (`voxgate_engine::voice::talk`, on the media worker) decides when a turn ends and
//! when the visitor barges in; a [`VoiceBackend`] gets those as [`CallInput`]s and answers with
//! [`AgentOutput`]s (words, audio, failures). Every backend plugs into the same turn engine:
//! `pipeline` (speech to text, the agent's text backend, text to speech) and `realtime` (a relay
//! to an OpenAI Realtime-compatible WebSocket).
//!
//! Modules, each depending only on those before it: `provider` (one HTTP call to a provider),
//! `speech_to_text`, `text_to_speech`, `local_speech` (espeak-ng on this machine), `recognizer`
//! (the builtin recogniser's sidecar process), `lines` (fixed lines kept as audio), `link` (the
//! output side), `pipeline` (also the `builtin` voice: the same pipeline on local recognition
//! and synthesis), `realtime`.

mod lines;
mod link;
mod local_speech;
mod pipeline;
mod provider;
mod realtime;
mod recognizer;
pub mod speech_to_text;
pub mod text_to_speech;

pub use lines::SpokenLines;
pub use link::AgentLink;
pub use local_speech::LocalSpeech;
pub use pipeline::PipelineVoice;
pub use realtime::RealtimeVoice;
pub use recognizer::{LocalRecognition, Recognizer, RecognizerState};

use crate::agents::{AgentRuntime, HistoryMessage};
use crate::metrics::Metrics;
use actix::Message;
use futures_util::future::LocalBoxFuture;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use voxgate_engine::agent::Agent;
pub use voxgate_engine::agent_voice::TurnStage;
use voxgate_engine::agent_voice::VoiceSpec;
use voxgate_engine::audio::TurnConfig;
use voxgate_engine::voice::talk::TalkConfig;
use voxgate_engine::ErrorCode;

/// A pause after which the builtin voice starts recognising the visitor's turn: recognition
/// runs on this machine, so starting it 300 ms before a 500 ms silence confirms the turn costs
/// CPU only, and a pause that was not the end is just recognised again later.
const EARLY_RECOGNITION_PAUSE_MS: u32 = 200;

/// What a call tells its talking agent, in the order it happened.
#[derive(Debug, Clone)]
pub enum CallInput {
    /// The call is connected: the agent may greet.
    Connected,
    /// The visitor's turn ended: its audio (16 kHz mono, from a little before their speech).
    Turn { audio: Arc<[i16]>, started: Instant, ended: Instant },
    /// The visitor paused after speech that ended at `ended`: their turn so far, to recognise
    /// before the silence confirms the turn's end (a `Turn` with the same `ended` follows if
    /// it does). Only for voices planned with early recognition.
    Paused { audio: Arc<[i16]>, ended: Instant },
    /// The visitor's audio at the agent's stream rate while they have the floor (realtime).
    Audio(Arc<[i16]>),
    /// The visitor talked over the agent: stop answering. `stopped` is the utterance whose
    /// playout stopped, and how much of it had played.
    BargeIn { stopped: Option<(u64, u32)> },
    /// An answer ended; these are the words the visitor heard (the agent's history).
    Heard { answer: u64, text: String },
    /// Nobody spoke for the idle timeout: ask if the visitor is still there.
    IdlePrompt,
}

/// What a talking agent tells its call.
#[derive(Debug, Clone)]
pub enum AgentEvent {
    /// The visitor's words in the turn whose speech started at `started`.
    VisitorSaid { text: String, started: Instant },
    /// Words of utterance `item` of `answer` (more may follow for the same item).
    Text { answer: u64, item: u64, text: String },
    /// Audio of utterance `item` of `answer`, mono at 24 kHz; `complete`: its last piece.
    Speech { answer: u64, item: u64, pcm: Vec<i16>, complete: bool },
    /// `answer` has nothing more to say.
    Done { answer: u64 },
    /// `answer` failed at `stage`; the agent says its fallback line as part of it.
    Failed { answer: u64, stage: TurnStage, code: ErrorCode, message: String },
}

/// An [`AgentEvent`], stamped with how many barge-ins the agent had seen when it sent it: the
/// call drops what was sent for an answer the visitor already interrupted.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct AgentOutput {
    pub epoch: u64,
    pub event: AgentEvent,
}

/// A talking agent for one call.
pub trait VoiceBackend: Send {
    /// The backend's name for metrics (`pipeline`, `realtime`).
    fn kind(&self) -> &'static str;

    /// Runs the call's side of the conversation until `input` closes (the call ended), starting
    /// from `history`: the conversation so far (typed messages, earlier calls), so a call's
    /// agent knows what was said before it. Runs on the voices thread paired with the call's
    /// media worker ([`start_on`]); dropping the future cancels whatever it was doing.
    fn run(
        self: Box<Self>,
        history: Vec<HistoryMessage>,
        input: mpsc::UnboundedReceiver<CallInput>,
        out: AgentLink,
    ) -> LocalBoxFuture<'static, ()>;
}

/// Starts `backend` on `thread`, a voices thread: provider I/O (HTTP, TLS, JSON, WebSockets)
/// runs there, not on the media worker, where every wake-up of a provider request waited for
/// the worker to run out of datagrams, and where its CPU would delay the calls' packets.
/// Returns false when the thread is gone (the process is stopping).
pub fn start_on(
    thread: &actix::ArbiterHandle,
    backend: Box<dyn VoiceBackend>,
    history: Vec<HistoryMessage>,
    input: mpsc::UnboundedReceiver<CallInput>,
    to_call: actix::Recipient<AgentOutput>,
) -> bool {
    thread.spawn_fn(move || {
        actix::spawn(backend.run(history, input, AgentLink::new(to_call)));
    })
}

/// Builds the talking agent of each call from the agent as saved, and what they all share: one
/// HTTP client (its connection pool), the agent timeout and the cache of fixed lines.
pub struct VoiceAgents {
    http: reqwest::Client,
    agents: Arc<AgentRuntime>,
    timeout: Duration,
    lines: Arc<SpokenLines>,
    metrics: Arc<Metrics>,
    /// The builtin voice's speech recogniser (a sidecar process).
    recognizer: Arc<Recognizer>,
}

/// A talking call's plan: its turn engine's settings and its agent.
pub struct TalkPlan {
    pub config: TalkConfig,
    pub backend: Box<dyn VoiceBackend>,
}

impl VoiceAgents {
    pub fn new(
        agents: Arc<AgentRuntime>,
        timeout: Duration,
        metrics: Arc<Metrics>,
        recognizer: Arc<Recognizer>,
    ) -> VoiceAgents {
        VoiceAgents {
            http: agents.http.clone(),
            agents,
            timeout,
            lines: Arc::new(SpokenLines::default()),
            metrics,
            recognizer,
        }
    }

    pub fn recognizer(&self) -> &Arc<Recognizer> {
        &self.recognizer
    }

    /// A pipeline voice (`kind`: `pipeline` or `builtin`) on `stt` and `tts`, answering with
    /// `agent`'s text backend. With `early_pause_ms`, recognition starts once the visitor has
    /// paused that long, before the turn's silence ends it (each early start is a request).
    fn pipeline(
        &self,
        kind: &'static str,
        early_pause_ms: Option<u32>,
        stt: Arc<dyn speech_to_text::SpeechToText>,
        tts: Arc<dyn text_to_speech::TextToSpeech>,
        agent: &Agent,
        turn_detection: &voxgate_engine::agent_voice::TurnDetection,
    ) -> TalkPlan {
        let (fallback, idle_prompt) = agent.spec.voice.lines().unwrap_or_default();
        let backend = PipelineVoice {
            kind,
            stt,
            tts,
            responder: self.agents.spoken_responder(agent),
            timeout: self.timeout,
            greeting: agent.spec.greeting.clone().filter(|g| !g.trim().is_empty()),
            fallback: fallback.to_string(),
            idle_prompt: idle_prompt.to_string(),
            lines: self.lines.clone(),
            metrics: self.metrics.clone(),
        };
        let turn = TurnConfig { pause_ms: early_pause_ms, ..turn_detection.config() };
        TalkPlan { config: TalkConfig { turn, stream_rate: None }, backend: Box::new(backend) }
    }

    /// The talking agent for `agent`'s voice; `None` for an echo.
    pub fn plan(&self, agent: &Agent) -> Option<TalkPlan> {
        let spec = &agent.spec;
        match &spec.voice {
            VoiceSpec::Echo => None,
            VoiceSpec::Pipeline { transcription, speech, turn_detection, .. } => {
                let stt =
                    speech_to_text::OpenAiTranscription::new(self.http.clone(), transcription, self.timeout);
                let tts = text_to_speech::OpenAiSpeech::new(self.http.clone(), speech, self.timeout);
                // A provider bills each request: no early ones.
                Some(self.pipeline("pipeline", None, Arc::new(stt), Arc::new(tts), agent, turn_detection))
            }
            VoiceSpec::Builtin { voice, words_per_minute, turn_detection, .. } => {
                let stt = LocalRecognition::new(
                    self.recognizer.clone(),
                    self.http.clone(),
                    self.timeout,
                    spec.listening_corpus(),
                );
                let tts = LocalSpeech::new(voice, *words_per_minute);
                let early = Some(EARLY_RECOGNITION_PAUSE_MS);
                Some(self.pipeline("builtin", early, Arc::new(stt), Arc::new(tts), agent, turn_detection))
            }
            VoiceSpec::Realtime { turn_detection, .. } => {
                let backend =
                    RealtimeVoice::new(agent, self.timeout, self.metrics.clone(), self.lines.clone())?;
                let config = TalkConfig { turn: turn_detection.config(), stream_rate: Some(realtime::RATE) };
                Some(TalkPlan { config, backend: Box::new(backend) })
            }
        }
    }
}
