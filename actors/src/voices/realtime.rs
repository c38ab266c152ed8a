//! The `realtime` voice: a relay to an OpenAI Realtime-compatible WebSocket
//! (`{base_url}/realtime?model=...`). The call's turn engine keeps the floor (the provider's own
//! turn detection is switched off, so every backend takes turns the same way and a barge-in
//! stops the audio here at once): the visitor's speech streams as PCM16 24 kHz
//! `input_audio_buffer.append` while they have the floor, the end of their turn commits it and
//! asks for a response, and a barge-in sends `response.cancel` and `conversation.item.truncate`
//! with what was played. Audio deltas (`response.output_audio.delta`, or the beta
//! `response.audio.delta`) are played; transcripts of both sides are recorded. Provider errors,
//! silence past the agent timeout and a dropped connection end the turn with a recorded code;
//! the next turn connects again.

use super::{AgentEvent, AgentLink, CallInput, SpokenLines, TurnStage, VoiceBackend};
use crate::agents::{AgentFailure, HistoryMessage};
use crate::metrics::{Metrics, VoiceTurnStage};
use base64::Engine;
use futures_util::future::LocalBoxFuture;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use voxgate_engine::agent::Agent;
use voxgate_engine::agent_voice::VoiceSpec;
use voxgate_engine::audio::Resampler;
use voxgate_engine::voice::talk::LISTEN_RATE;
use voxgate_engine::ErrorCode;

/// The rate the provider hears and speaks at.
pub const RATE: u32 = 24_000;

/// Most knowledge text sent in the session's instructions.
const KNOWLEDGE_BUDGET: usize = 24_000;

/// The transcription model asked for the visitor's words when the agent names none.
const DEFAULT_TRANSCRIPTION_MODEL: &str = "whisper-1";

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The relay's settings, from the agent as saved when the call started.
pub struct RealtimeVoice {
    url: String,
    api_key_env: Option<String>,
    /// The `session` of the `session.update` sent on connecting.
    session: Value,
    greeting: Option<String>,
    fallback: String,
    idle_prompt: String,
    timeout: Duration,
    metrics: Arc<Metrics>,
    lines: Arc<SpokenLines>,
    /// What makes two relays sound the same, for the kept fallback line.
    voice_key: String,
}

/// Why a response was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Answer(u64),
    /// A fixed line; the fallback line says it instead of an answer that failed.
    Line(u64),
    /// The fallback line, out of band, kept as audio (not played) so it can be said when the
    /// provider is what failed.
    Keep,
}

impl Purpose {
    fn answer(self) -> Option<u64> {
        match self {
            Purpose::Answer(a) | Purpose::Line(a) => Some(a),
            Purpose::Keep => None,
        }
    }

    fn tag(self) -> String {
        self.answer().map_or_else(|| "keep".to_string(), |a| a.to_string())
    }
}

/// One response of the provider as it plays.
struct Response {
    purpose: Purpose,
    /// The audio of a `Keep` response.
    kept: Vec<i16>,
    /// Provider item id to our utterance id.
    items: HashMap<String, u64>,
    /// When it was asked for, until its first audio.
    asked: Option<Instant>,
}

/// The live conversation with the provider.
struct Relay {
    sink: SplitSink<Socket, Ws>,
    /// Responses asked for and not yet created, in order.
    asked: VecDeque<(Purpose, Instant)>,
    /// By provider response id.
    responses: HashMap<String, Response>,
    /// Our utterance id to the provider's item id, for truncation.
    items: HashMap<u64, String>,
    /// Turns committed whose transcript has not come: when each began.
    turns: VecDeque<Instant>,
    /// The answer being given (or asked for) and since when nothing has come for it.
    waiting: Option<(u64, Instant)>,
    /// Answers below this were cancelled by a barge-in: their responses are ignored.
    stale_below: u64,
    /// The answer whose fallback line the provider was asked to say.
    falling_back: Option<u64>,
}

impl RealtimeVoice {
    /// The relay for `agent`; `None` unless its voice is `realtime`.
    pub fn new(
        agent: &Agent,
        timeout: Duration,
        metrics: Arc<Metrics>,
        lines: Arc<SpokenLines>,
    ) -> Option<RealtimeVoice> {
        let VoiceSpec::Realtime {
            base_url,
            model,
            voice,
            api_key_env,
            transcription_model,
            fallback,
            idle_prompt,
            ..
        } = &agent.spec.voice
        else {
            return None;
        };
        let base = base_url.trim_end_matches('/');
        let base = match base.split_once("://") {
            Some(("https", rest)) => format!("wss://{rest}"),
            Some(("http", rest)) => format!("ws://{rest}"),
            _ => base.to_string(),
        };
        let model_query: String = url::form_urlencoded::byte_serialize(model.as_bytes()).collect();
        let url = format!("{base}/realtime?model={model_query}");
        let mut output = json!({"format": {"type": "audio/pcm", "rate": RATE}});
        if let Some(voice) = voice {
            output["voice"] = json!(voice);
        }
        let transcription = transcription_model.as_deref().unwrap_or(DEFAULT_TRANSCRIPTION_MODEL);
        let session = json!({
            "type": "realtime",
            "instructions": instructions(agent),
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": RATE},
                    "transcription": {"model": transcription},
                    // voxgate's turn engine keeps the floor.
                    "turn_detection": null,
                },
                "output": output,
            },
        });
        let voice_key = format!("{url} {}", voice.as_deref().unwrap_or(""));
        Some(RealtimeVoice {
            voice_key,
            lines,
            url,
            api_key_env: api_key_env.clone(),
            session,
            greeting: agent.spec.greeting.clone().filter(|g| !g.trim().is_empty()),
            fallback: fallback.clone(),
            idle_prompt: idle_prompt.clone(),
            timeout,
            metrics,
        })
    }

    async fn connect(&self) -> Result<(Relay, SplitStream<Socket>), AgentFailure> {
        let mut request = self.url.as_str().into_client_request().map_err(|e| {
            AgentFailure::new(ErrorCode::AgentError, format!("{} is not a WebSocket URL: {e}", self.url))
        })?;
        if let Some(name) = &self.api_key_env {
            let key = std::env::var(name).ok().filter(|k| !k.is_empty()).ok_or_else(|| {
                AgentFailure::new(
                    ErrorCode::AgentNotConfigured,
                    format!(
                        "the environment variable {name} holding the realtime provider's API key is not set"
                    ),
                )
            })?;
            let value = format!("Bearer {key}").parse().map_err(|_| {
                AgentFailure::new(
                    ErrorCode::AgentNotConfigured,
                    format!("the key in {name} is not a valid header value"),
                )
            })?;
            request.headers_mut().insert("authorization", value);
        }
        let (socket, _) =
            match tokio::time::timeout(self.timeout, tokio_tungstenite::connect_async(request)).await {
                Err(_) => {
                    return Err(AgentFailure::new(
                        ErrorCode::AgentTimeout,
                        format!(
                            "{} did not accept a connection within {} ms",
                            self.url,
                            self.timeout.as_millis()
                        ),
                    ))
                }
                Ok(Err(e)) => {
                    return Err(AgentFailure::new(
                        ErrorCode::AgentError,
                        format!("cannot connect to {}: {e}", self.url),
                    ))
                }
                Ok(Ok(connected)) => connected,
            };
        let (sink, stream) = socket.split();
        let mut relay = Relay {
            sink,
            asked: VecDeque::new(),
            responses: HashMap::new(),
            items: HashMap::new(),
            turns: VecDeque::new(),
            waiting: None,
            stale_below: 0,
            falling_back: None,
        };
        relay.send(json!({"type": "session.update", "session": self.session})).await?;
        if self.lines.claim(&self.voice_key, &self.fallback) {
            let instructions = format!("Say exactly this, and nothing else: {}", self.fallback);
            let keep = json!({"conversation": "none", "instructions": instructions});
            if let Err(f) = relay.ask(Purpose::Keep, keep).await {
                self.lines.abandon(&self.voice_key, &self.fallback);
                return Err(f);
            }
        }
        Ok((relay, stream))
    }

    fn report(&self, answer: Option<u64>, f: &AgentFailure, out: &AgentLink) {
        tracing::warn!(code = f.code.as_str(), error = %f.message, "a realtime voice turn failed");
        self.metrics.voice_provider_error("realtime", TurnStage::Realtime, f.code);
        let answer = answer.unwrap_or_else(|| out.next_id());
        out.send(AgentEvent::Failed {
            answer,
            stage: TurnStage::Realtime,
            code: f.code,
            message: f.message.clone(),
        });
    }

    /// Asks the provider to say a fixed line as `answer`.
    async fn say(&self, relay: &mut Relay, answer: u64, line: &str) -> Result<(), AgentFailure> {
        let instructions = format!("Say exactly this, and nothing else: {line}");
        relay.ask(Purpose::Line(answer), json!({"instructions": instructions})).await
    }
}

/// Most characters of earlier conversation added to the session's instructions (the newest
/// lines are kept).
const HISTORY_BUDGET: usize = 8_000;

/// The conversation before this call, as a block of the instructions, newest lines kept.
fn earlier_conversation(history: &[HistoryMessage]) -> Option<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut size = 0;
    for m in history.iter().rev().filter(|m| !m.text.trim().is_empty()) {
        let line = format!("{}: {}", m.role.as_str(), m.text.trim());
        size += line.len() + 1;
        if size > HISTORY_BUDGET {
            break;
        }
        lines.push(line);
    }
    if lines.is_empty() {
        return None;
    }
    lines.reverse();
    Some(format!("\n\nEarlier in this conversation (typed or spoken):\n{}", lines.join("\n")))
}

/// The prompt, then as much of the knowledge as fits.
fn instructions(agent: &Agent) -> String {
    let mut text = agent.spec.prompt.trim().to_string();
    if !agent.spec.knowledge.is_empty() {
        text.push_str("\n\nAnswer from this knowledge when it is relevant:");
        for k in &agent.spec.knowledge {
            let room = KNOWLEDGE_BUDGET.saturating_sub(text.len());
            if room < k.title.len() + 8 {
                break;
            }
            let body: String = k.text.chars().take(room - k.title.len() - 8).collect();
            text.push_str(&format!("\n\n[{}]\n{}", k.title, body));
        }
    }
    text
}

fn pcm16_base64(pcm: &[i16]) -> String {
    let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn malformed(what: &str) -> AgentFailure {
    AgentFailure::new(ErrorCode::AgentError, format!("malformed event from the realtime provider: {what}"))
}

impl Relay {
    async fn send(&mut self, event: Value) -> Result<(), AgentFailure> {
        self.sink.send(Ws::text(event.to_string())).await.map_err(|e| {
            AgentFailure::new(ErrorCode::AgentError, format!("the realtime connection broke: {e}"))
        })
    }

    /// Asks for a response, tagged with its answer so a late `response.created` of a
    /// cancelled one is told apart.
    async fn ask(&mut self, purpose: Purpose, mut response: Value) -> Result<(), AgentFailure> {
        response["metadata"] = json!({"voxgate_answer": purpose.tag()});
        self.asked.push_back((purpose, Instant::now()));
        if let Some(answer) = purpose.answer() {
            self.waiting = Some((answer, Instant::now()));
        }
        self.send(json!({"type": "response.create", "response": response})).await
    }

    /// Whether the fallback line is being kept through this connection.
    fn keeping(&self) -> bool {
        self.asked.iter().any(|(p, _)| *p == Purpose::Keep)
            || self.responses.values().any(|r| r.purpose == Purpose::Keep)
    }

    /// The answer being given, if any.
    fn current(&self) -> Option<u64> {
        self.waiting.map(|(a, _)| a)
    }

    /// Handles one event from the provider. `Err` ends the current answer with a failure.
    fn on_event(
        &mut self,
        event: &Value,
        out: &AgentLink,
        metrics: &Metrics,
        lines: &Kept<'_>,
    ) -> Result<(), AgentFailure> {
        let kind = event["type"].as_str().ok_or_else(|| malformed("no \"type\""))?;
        if let Some((answer, _)) = self.waiting {
            self.waiting = Some((answer, Instant::now()));
        }
        match kind {
            "response.created" => {
                let id = event["response"]["id"]
                    .as_str()
                    .ok_or_else(|| malformed("response.created without an id"))?;
                let tagged = event["response"]["metadata"]["voxgate_answer"].as_str();
                let stale = tagged.and_then(|a| a.parse::<u64>().ok()).is_some_and(|a| a < self.stale_below);
                let asked = match tagged {
                    _ if stale => None,
                    Some(tag) => self
                        .asked
                        .iter()
                        .position(|(p, _)| p.tag() == tag)
                        .and_then(|at| self.asked.remove(at)),
                    // A provider that does not echo metadata: responses come in the order asked.
                    None => self.asked.pop_front(),
                };
                if let Some((purpose, asked)) = asked {
                    let response =
                        Response { purpose, kept: Vec::new(), items: HashMap::new(), asked: Some(asked) };
                    self.responses.insert(id.to_string(), response);
                }
            }
            "response.output_audio.delta" | "response.audio.delta" => {
                let delta =
                    event["delta"].as_str().ok_or_else(|| malformed("an audio delta without \"delta\""))?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(delta)
                    .map_err(|e| malformed(&format!("an audio delta that is not base64 ({e})")))?;
                let pcm: Vec<i16> = bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
                if let Some(keep) = self.response_of(event).filter(|r| r.purpose == Purpose::Keep) {
                    keep.kept.extend_from_slice(&pcm);
                    return Ok(());
                }
                let Some((answer, item)) = self.item_of(event, out) else { return Ok(()) };
                if let Some(asked) = self.response_of(event).and_then(|r| r.asked.take()) {
                    metrics.voice_turn(VoiceTurnStage::FirstAudio, asked.elapsed());
                }
                out.send(AgentEvent::Speech { answer, item, pcm, complete: false });
            }
            "response.output_audio.done" | "response.audio.done" => {
                if let Some((answer, item)) = self.item_of(event, out) {
                    out.send(AgentEvent::Speech { answer, item, pcm: Vec::new(), complete: true });
                }
            }
            "response.output_audio_transcript.delta" | "response.audio_transcript.delta" => {
                if let (Some((answer, item)), Some(text)) =
                    (self.item_of(event, out), event["delta"].as_str())
                {
                    out.send(AgentEvent::Text { answer, item, text: text.to_string() });
                }
            }
            "conversation.item.input_audio_transcription.completed" => {
                let started = self.turns.pop_front().unwrap_or_else(Instant::now);
                let text = event["transcript"].as_str().unwrap_or_default().trim().to_string();
                if !text.is_empty() {
                    out.send(AgentEvent::VisitorSaid { text, started });
                }
            }
            "conversation.item.input_audio_transcription.failed" => {
                self.turns.pop_front();
            }
            "response.done" => {
                let response = &event["response"];
                let id = response["id"].as_str().unwrap_or_default();
                let Some(done) = self.responses.remove(id) else { return Ok(()) };
                let status = response["status"].as_str().unwrap_or("completed");
                let Some(answer) = done.purpose.answer() else {
                    match status {
                        "completed" if !done.kept.is_empty() => lines.put(done.kept),
                        _ => lines.abandon(),
                    }
                    return Ok(());
                };
                self.waiting = None;
                if status == "failed" {
                    let why =
                        response["status_details"]["error"]["message"].as_str().unwrap_or("no reason given");
                    return Err(AgentFailure::new(
                        ErrorCode::AgentError,
                        format!("the realtime response failed: {why}"),
                    ));
                }
                out.send(AgentEvent::Done { answer });
            }
            "error" => {
                let code = event["error"]["code"].as_str().unwrap_or_default();
                // Cancelling a response that has just finished is not a failure.
                if code == "response_cancel_not_active" {
                    return Ok(());
                }
                let message = event["error"]["message"].as_str().unwrap_or("no message");
                return Err(AgentFailure::new(
                    ErrorCode::AgentError,
                    format!("the realtime provider failed: {message}"),
                ));
            }
            _ => {}
        }
        Ok(())
    }

    fn response_of(&mut self, event: &Value) -> Option<&mut Response> {
        self.responses.get_mut(event["response_id"].as_str()?)
    }

    /// The answer and utterance of an event's provider item; `None` for a response that was
    /// cancelled or never asked for here.
    fn item_of(&mut self, event: &Value, out: &AgentLink) -> Option<(u64, u64)> {
        let item_id = event["item_id"].as_str()?.to_string();
        let response = self.responses.get_mut(event["response_id"].as_str()?)?;
        let answer = response.purpose.answer()?;
        if let Some(item) = response.items.get(&item_id) {
            return Some((answer, *item));
        }
        let item = out.next_id();
        response.items.insert(item_id.clone(), item);
        self.items.insert(item, item_id);
        Some((answer, item))
    }
}

impl VoiceBackend for RealtimeVoice {
    fn kind(&self) -> &'static str {
        "realtime"
    }

    fn run(
        mut self: Box<Self>,
        history: Vec<HistoryMessage>,
        mut input: mpsc::UnboundedReceiver<CallInput>,
        out: AgentLink,
    ) -> LocalBoxFuture<'static, ()> {
        // The model hears the conversation so far (typed messages, earlier calls) as part of
        // its instructions: one text that every Realtime dialect accepts.
        if let Some(earlier) = earlier_conversation(&history) {
            let base = self.session["instructions"].as_str().unwrap_or_default().to_string();
            self.session["instructions"] = Value::String(format!("{base}{earlier}"));
        }
        Box::pin(async move {
            let mut live: Option<(Relay, SplitStream<Socket>)> = None;
            // Connected before the call is, so the greeting is not kept waiting.
            match self.connect().await {
                Ok(connected) => live = Some(connected),
                Err(f) => self.report(None, &f, &out),
            }
            loop {
                let deadline =
                    live.as_ref().and_then(|(r, _)| r.waiting).map(|(_, since)| since + self.timeout);
                let event = tokio::select! {
                    said = input.recv() => match said {
                        Some(said) => Step::Call(said),
                        None => break,
                    },
                    heard = async { live.as_mut()?.1.next().await }, if live.is_some() => Step::Provider(heard),
                    () = sleep_until(deadline), if deadline.is_some() => Step::TimedOut,
                };
                match event {
                    Step::Call(said) => {
                        if let Err(f) = self.on_call(&mut live, said, &out).await {
                            let answer = live.as_ref().and_then(|(r, _)| r.current());
                            self.report(answer, &f, &out);
                            if let Some(answer) = answer {
                                out.send(AgentEvent::Done { answer });
                            }
                            self.lose(&mut live);
                        }
                    }
                    Step::Provider(Some(Ok(Ws::Text(text)))) => {
                        let Some((relay, _)) = live.as_mut() else { continue };
                        let handled = match serde_json::from_str::<Value>(&text) {
                            Ok(event) => relay.on_event(&event, &out, &self.metrics, &self.kept()),
                            Err(e) => Err(malformed(&format!("not JSON ({e})"))),
                        };
                        if let Err(f) = handled {
                            let Some(answer) = relay.current() else {
                                // Nothing was being answered: the out-of-band line failed.
                                tracing::warn!(error = %f.message, "the realtime provider failed outside a turn");
                                self.kept().abandon();
                                continue;
                            };
                            relay.waiting = None;
                            self.report(Some(answer), &f, &out);
                            self.fall_back(relay, Some(answer), &out).await;
                        }
                    }
                    Step::Provider(Some(Ok(Ws::Close(_))) | Some(Err(_)) | None) => {
                        let answer = live.as_ref().and_then(|(r, _)| r.current());
                        let f = AgentFailure::new(
                            ErrorCode::AgentError,
                            "the realtime provider closed the connection",
                        );
                        self.report(answer, &f, &out);
                        if let Some(answer) = answer {
                            self.say_kept(answer, &out);
                        }
                        self.lose(&mut live);
                    }
                    Step::Provider(Some(Ok(_))) => {}
                    Step::TimedOut => {
                        let Some((relay, _)) = live.as_mut() else { continue };
                        let answer = relay.current();
                        relay.waiting = None;
                        let f = AgentFailure::new(
                            ErrorCode::AgentTimeout,
                            format!("the realtime provider sent nothing for {} ms", self.timeout.as_millis()),
                        );
                        self.report(answer, &f, &out);
                        if relay.send(json!({"type": "response.cancel"})).await.is_err() {
                            self.lose(&mut live);
                            if let Some(answer) = answer {
                                out.send(AgentEvent::Done { answer });
                            }
                            continue;
                        }
                        self.fall_back(relay, answer, &out).await;
                    }
                }
            }
            if let Some((mut relay, _)) = live {
                if relay.keeping() {
                    self.kept().abandon();
                }
                let _ = relay.sink.send(Ws::Close(None)).await;
            }
        })
    }
}

/// The fallback line's slot in the kept lines.
struct Kept<'a> {
    voice: &'a RealtimeVoice,
}

impl Kept<'_> {
    fn put(&self, audio: Vec<i16>) {
        self.voice.lines.put(&self.voice.voice_key, &self.voice.fallback, audio.into());
    }

    fn abandon(&self) {
        self.voice.lines.abandon(&self.voice.voice_key, &self.voice.fallback);
    }
}

/// What woke the relay.
enum Step {
    Call(CallInput),
    Provider(Option<Result<Ws, tokio_tungstenite::tungstenite::Error>>),
    TimedOut,
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

impl RealtimeVoice {
    /// Says the fallback line in place of the failed `answer` (a new answer if none): from the
    /// kept audio if there is some, else asks the provider once.
    async fn fall_back(&self, relay: &mut Relay, answer: Option<u64>, out: &AgentLink) {
        let answer = answer.unwrap_or_else(|| out.next_id());
        if self.lines.get(&self.voice_key, &self.fallback).is_some() {
            return self.say_kept(answer, out);
        }
        if relay.falling_back == Some(answer) {
            return out.send(AgentEvent::Done { answer });
        }
        relay.falling_back = Some(answer);
        if self.say(relay, answer, &self.fallback).await.is_err() {
            out.send(AgentEvent::Done { answer });
        }
    }

    /// Ends `answer` with the kept fallback line, if there is one.
    fn say_kept(&self, answer: u64, out: &AgentLink) {
        if let Some(audio) = self.lines.get(&self.voice_key, &self.fallback) {
            let item = out.next_id();
            out.send(AgentEvent::Text { answer, item, text: self.fallback.clone() });
            out.send(AgentEvent::Speech { answer, item, pcm: audio.to_vec(), complete: true });
        }
        out.send(AgentEvent::Done { answer });
    }

    /// Forgets a connection that broke; the next turn connects again.
    fn lose(&self, live: &mut Option<(Relay, SplitStream<Socket>)>) {
        if live.take().is_some_and(|(relay, _)| relay.keeping()) {
            self.kept().abandon();
        }
    }

    /// Where the fallback line's audio is kept.
    fn kept(&self) -> Kept<'_> {
        Kept { voice: self }
    }

    /// Relays what the call did; `Err` when the connection is gone.
    async fn on_call(
        &self,
        live: &mut Option<(Relay, SplitStream<Socket>)>,
        said: CallInput,
        out: &AgentLink,
    ) -> Result<(), AgentFailure> {
        match said {
            CallInput::Audio(pcm) => {
                if let Some((relay, _)) = live.as_mut() {
                    relay
                        .send(json!({"type": "input_audio_buffer.append", "audio": pcm16_base64(&pcm)}))
                        .await?;
                }
            }
            CallInput::Turn { audio, started, .. } => {
                let relay = match live {
                    Some((relay, _)) => relay,
                    None => {
                        // The connection dropped since the last turn, so this turn's audio
                        // streamed nowhere: connect again and send the whole turn.
                        let answer = out.next_id();
                        match self.connect().await {
                            Ok(connected) => *live = Some(connected),
                            Err(f) => {
                                self.report(Some(answer), &f, out);
                                self.say_kept(answer, out);
                                return Ok(());
                            }
                        }
                        let (relay, _) = live.as_mut().ok_or_else(|| malformed("no connection"))?;
                        let mut resampler = Resampler::new(LISTEN_RATE, RATE)
                            .map_err(|e| AgentFailure::new(ErrorCode::AgentError, e.to_string()))?;
                        let mut pcm = Vec::with_capacity(audio.len() * 3 / 2);
                        resampler
                            .push(&audio, &mut pcm)
                            .map_err(|e| AgentFailure::new(ErrorCode::AgentError, e.to_string()))?;
                        for chunk in pcm.chunks(RATE as usize) {
                            relay.send(json!({"type": "input_audio_buffer.append", "audio": pcm16_base64(chunk)})).await?;
                        }
                        relay
                    }
                };
                relay.turns.push_back(started);
                relay.send(json!({"type": "input_audio_buffer.commit"})).await?;
                let answer = out.next_id();
                relay.ask(Purpose::Answer(answer), json!({})).await?;
            }
            CallInput::BargeIn { stopped } => {
                out.barge_in();
                let Some((relay, _)) = live.as_mut() else { return Ok(()) };
                relay.stale_below = out.next_id();
                let answering = relay.waiting.take().is_some() || !relay.responses.is_empty();
                relay.asked.clear();
                relay.responses.clear();
                if answering {
                    relay.send(json!({"type": "response.cancel"})).await?;
                }
                if let Some((item, played_ms)) = stopped {
                    if let Some(item_id) = relay.items.get(&item).cloned() {
                        relay
                            .send(json!({"type": "conversation.item.truncate", "item_id": item_id,
                                         "content_index": 0, "audio_end_ms": played_ms}))
                            .await?;
                    }
                }
            }
            CallInput::Connected => {
                if let (Some(greeting), Some((relay, _))) = (&self.greeting, live.as_mut()) {
                    let answer = out.next_id();
                    self.say(relay, answer, greeting).await?;
                }
            }
            CallInput::IdlePrompt => {
                if let Some((relay, _)) = live.as_mut().filter(|(r, _)| r.waiting.is_none()) {
                    let answer = out.next_id();
                    self.say(relay, answer, &self.idle_prompt).await?;
                }
            }
            CallInput::Heard { .. } | CallInput::Paused { .. } => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxgate_engine::conversation::MessageRole;

    fn line(role: MessageRole, text: &str) -> HistoryMessage {
        HistoryMessage { role, text: text.into() }
    }

    #[test]
    fn the_conversation_so_far_joins_the_instructions_newest_lines_kept() {
        assert_eq!(earlier_conversation(&[]), None);
        let history = [
            line(MessageRole::Visitor, "Do you ship to Norway?"),
            line(MessageRole::Agent, "  "),
            line(MessageRole::Agent, "Yes, in five days."),
        ];
        assert_eq!(
            earlier_conversation(&history).as_deref(),
            Some("\n\nEarlier in this conversation (typed or spoken):\nvisitor: Do you ship to Norway?\nagent: Yes, in five days.")
        );
        let long: Vec<HistoryMessage> =
            (0..1000).map(|i| line(MessageRole::Visitor, &format!("question number {i}"))).collect();
        let text = earlier_conversation(&long).expect("some");
        assert!(
            text.len() <= HISTORY_BUDGET + 100 && text.ends_with("question number 999"),
            "{}",
            text.len()
        );
    }
}
