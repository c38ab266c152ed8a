//! The one place that decides what answers a call, from its agent as saved when the offer
//! comes in: the echo, the agent's WebSocket bridge, or a talking backend (`pipeline`,
//! `builtin`, `realtime`) with the settings of the call's talk machine. The edge hands the
//! agent to the media pool, and the pool asks here.

use super::call_tools::CallTools;
use super::local_speech::LocalSpeech;
use super::pipeline::PipelineVoice;
use super::realtime::{self, RealtimeProvider, RealtimeVoice};
use super::realtime_transcription::RealtimeTranscription;
use super::recognizer::{LocalRecognition, Recognizer};
use super::speech_to_text::{OpenAiTranscription, SpeechToText, WholeTurns};
use super::{text_to_speech, SpokenLines, VoiceBackend};
use crate::agents::AgentRuntime;
use crate::metrics::Metrics;
use crate::tools::{self, ToolContext};
use std::sync::Arc;
use std::time::Duration;
use voxgate_engine::agent::{Agent, AgentBackend};
use voxgate_engine::agent_voice::{TurnDetection, TurnDetectionKind, VoiceSpec};
use voxgate_engine::media::VoiceAgent;
use voxgate_engine::session::Session;
use voxgate_engine::talk::sentence_end::SentenceEnds;
use voxgate_engine::talk::{TalkConfig, TurnConfig};

/// A pause after which the builtin voice starts recognising the visitor's turn: recognition
/// runs on this machine, so starting it 300 ms before a 500 ms silence confirms the turn costs
/// CPU only, and a pause that was not the end is just recognised again later.
const EARLY_RECOGNITION_PAUSE_MS: u32 = 200;

/// What answers one call.
pub enum CallPlan {
    /// The visitor's audio comes back after `delay` (an agent whose `voice` is `echo`).
    Echo { delay: Duration },
    /// An external agent over the WebSocket bridge at `url` (docs/BRIDGE.md).
    Bridge { url: String },
    /// A talking agent: the call's talk machine runs with `config`, and `backend` answers.
    Talk { config: TalkConfig, backend: Box<dyn VoiceBackend> },
}

impl CallPlan {
    /// What the call's peer does with the visitor's audio.
    pub fn peer(&self) -> VoiceAgent {
        match self {
            CallPlan::Echo { delay } => VoiceAgent::Echo { delay: *delay },
            CallPlan::Bridge { .. } => VoiceAgent::External,
            CallPlan::Talk { config, .. } => VoiceAgent::Talk(*config),
        }
    }
}

/// Plans each call from the agent as saved, with what every talking call shares: one HTTP
/// client (its connection pool), the agent timeout and the cache of fixed lines.
pub struct CallPlanner {
    http: reqwest::Client,
    agents: Arc<AgentRuntime>,
    timeout: Duration,
    lines: Arc<SpokenLines>,
    metrics: Arc<Metrics>,
    /// The builtin voice's speech recogniser (a sidecar process).
    recognizer: Arc<Recognizer>,
    /// The words half of semantic turn detection (`sentence-ends.tsv` beside `--turn-model`).
    sentence_ends: Option<Arc<SentenceEnds>>,
}

impl CallPlanner {
    pub fn new(
        agents: Arc<AgentRuntime>,
        timeout: Duration,
        metrics: Arc<Metrics>,
        recognizer: Arc<Recognizer>,
        sentence_ends: Option<Arc<SentenceEnds>>,
    ) -> CallPlanner {
        CallPlanner {
            http: agents.http.clone(),
            agents,
            timeout,
            lines: Arc::new(SpokenLines::default()),
            metrics,
            recognizer,
            sentence_ends,
        }
    }

    pub fn recognizer(&self) -> &Arc<Recognizer> {
        &self.recognizer
    }

    /// The tools a call of `agent` in `session` may call: the agent's, less the page actions
    /// the session's widget does not run.
    fn call_tools(&self, agent: &Agent, session: &Session, page_actions: &[String]) -> Option<CallTools> {
        let specs = tools::allowed_on(&agent.spec.tools, page_actions);
        (!specs.is_empty()).then(|| CallTools {
            specs,
            http: self.agents.tool_http.clone(),
            context: ToolContext {
                session_id: session.id.clone(),
                conversation_id: session.conversation_id.clone(),
                metadata: session.metadata.clone(),
                variables: session.variables.clone(),
            },
            metrics: self.metrics.clone(),
        })
    }

    /// What answers a call of `agent` in `session`, whose widget's site runs `page_actions`.
    pub fn plan(&self, agent: &Agent, session: &Session, page_actions: &[String]) -> CallPlan {
        let tools = self.call_tools(agent, session, page_actions);
        let spec = &agent.spec;
        if let AgentBackend::Bridge { url } = &spec.backend {
            return CallPlan::Bridge { url: url.clone() };
        }
        match &spec.voice {
            VoiceSpec::Echo => CallPlan::Echo { delay: Duration::from_millis(u64::from(spec.echo_delay_ms)) },
            VoiceSpec::Pipeline { transcription, speech, turn_detection, .. } => {
                let stt: Arc<dyn SpeechToText> = if transcription.streaming {
                    Arc::new(RealtimeTranscription::new(transcription, self.timeout))
                } else {
                    let whole = OpenAiTranscription::new(self.http.clone(), transcription, self.timeout);
                    Arc::new(WholeTurns(Arc::new(whole)))
                };
                let tts = text_to_speech::OpenAiSpeech::new(self.http.clone(), speech, self.timeout);
                // A provider bills each request: no early ones.
                self.pipeline("pipeline", None, (stt, Arc::new(tts)), agent, turn_detection, tools)
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
                let stt = Arc::new(WholeTurns(Arc::new(stt)));
                self.pipeline("builtin", early, (stt, Arc::new(tts)), agent, turn_detection, tools)
            }
            VoiceSpec::Realtime {
                base_url,
                model,
                voice,
                api_key_env,
                transcription_model,
                turn_detection,
                fallback,
                idle_prompt,
            } => {
                let provider = RealtimeProvider {
                    base_url,
                    model,
                    voice: voice.as_deref(),
                    api_key_env: api_key_env.as_deref(),
                    transcription_model: transcription_model.as_deref(),
                    fallback,
                    idle_prompt,
                };
                let backend = RealtimeVoice::new(
                    agent,
                    provider,
                    self.timeout,
                    self.metrics.clone(),
                    self.lines.clone(),
                    tools,
                );
                // The provider hears the visitor's words, not us: an interruption stops the
                // agent at once, as OpenAI's own turn detection does.
                let config = TalkConfig {
                    turn: turn_detection.config(),
                    stream_rate: Some(realtime::RATE),
                    hears_overlaps: false,
                };
                CallPlan::Talk { config, backend: Box::new(backend) }
            }
        }
    }

    /// A pipeline voice (`kind`: `pipeline` or `builtin`) on `(stt, tts)`, answering with
    /// `agent`'s text backend. With `early_pause_ms`, recognition starts once the visitor has
    /// paused that long, before the turn's silence ends it (each early start is a request).
    fn pipeline(
        &self,
        kind: &'static str,
        early_pause_ms: Option<u32>,
        (stt, tts): (Arc<dyn SpeechToText>, Arc<dyn text_to_speech::TextToSpeech>),
        agent: &Agent,
        turn_detection: &TurnDetection,
        tools: Option<CallTools>,
    ) -> CallPlan {
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
            tools,
            filler: (agent.spec.filler_after_ms > 0).then(|| {
                (Duration::from_millis(u64::from(agent.spec.filler_after_ms)), agent.spec.filler.clone())
            }),
            sentence_ends: (turn_detection.kind == TurnDetectionKind::Semantic)
                .then(|| self.sentence_ends.clone())
                .flatten(),
        };
        let mut turn = TurnConfig { pause_ms: early_pause_ms, ..turn_detection.config() };
        if let (Some(semantic), Some(_)) = (turn.semantic.as_mut(), &backend.sentence_ends) {
            // The words at each pause decide: recognition starts when the model is asked (for
            // a provider, one more request per pause).
            semantic.words = true;
            turn.pause_ms =
                Some(turn.pause_ms.map_or(semantic.min_silence_ms, |p| p.min(semantic.min_silence_ms)));
        }
        let config = TalkConfig { turn, stream_rate: backend.stt.stream_rate(), hears_overlaps: true };
        CallPlan::Talk { config, backend: Box::new(backend) }
    }
}
