//! The `realtime` voice: the driver of an OpenAI Realtime-compatible WebSocket
//! (`{base_url}/realtime?model=...`). The protocol itself (what is sent when, what each server
//! event means, barge-in truncation, failures and the fallback line) is the engine's sans-IO
//! `talk::realtime::RealtimeProtocol`; this file connects, moves text between the socket and the
//! protocol, passes the time in, and carries out its outputs. A dropped connection is noticed
//! here and told to the protocol; the next turn connects again.

use super::backend::{AgentEvent, AgentLink, TalkEvent, TurnStage, VoiceBackend};
use super::call_tools::{CallToolbox, CallTools};
use super::websocket::{self, Connection};
use super::SpokenLines;
use crate::agents::{AgentFailure, HistoryMessage};
use crate::metrics::{Metrics, VoiceTurnStage};
use futures_util::future::LocalBoxFuture;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Ws;
use voxgate_engine::agent::Agent;
use voxgate_engine::audio::Resampler;
use voxgate_engine::talk::realtime::{ProviderEvent, RealtimeLines, RealtimeOutput, RealtimeProtocol};
use voxgate_engine::talk::LISTEN_RATE;
use voxgate_engine::tools::{ToolKind, ToolLine, ToolOutcome};

/// The rate the provider hears and speaks at.
pub const RATE: u32 = 24_000;

/// Most knowledge text sent in the session's instructions.
const KNOWLEDGE_BUDGET: usize = 24_000;

/// The transcription model asked for the visitor's words when the agent names none.
const DEFAULT_TRANSCRIPTION_MODEL: &str = "whisper-1";

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
    /// The call's tools, made into a toolbox when the call's agent starts.
    tools: Option<CallTools>,
}

/// The provider settings of a `realtime` voice, as the agent saved them.
pub struct RealtimeProvider<'a> {
    pub base_url: &'a str,
    pub model: &'a str,
    pub voice: Option<&'a str>,
    pub api_key_env: Option<&'a str>,
    pub transcription_model: Option<&'a str>,
    pub fallback: &'a str,
    pub idle_prompt: &'a str,
}

impl RealtimeVoice {
    /// The relay for `agent`'s realtime voice, on `provider`.
    pub fn new(
        agent: &Agent,
        provider: RealtimeProvider<'_>,
        timeout: Duration,
        metrics: Arc<Metrics>,
        lines: Arc<SpokenLines>,
        tools: Option<CallTools>,
    ) -> RealtimeVoice {
        let RealtimeProvider {
            base_url,
            model,
            voice,
            api_key_env,
            transcription_model,
            fallback,
            idle_prompt,
        } = provider;
        let model_query: String = url::form_urlencoded::byte_serialize(model.as_bytes()).collect();
        let url = websocket::url(base_url, &format!("realtime?model={model_query}"));
        let mut output = json!({"format": {"type": "audio/pcm", "rate": RATE}});
        if let Some(voice) = voice {
            output["voice"] = json!(voice);
        }
        let transcription = transcription_model.unwrap_or(DEFAULT_TRANSCRIPTION_MODEL);
        let mut session = json!({
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
        if let Some(tools) = &tools {
            session["tools"] = tools.specs.iter().map(|t| t.realtime_definition()).collect();
            session["tool_choice"] = json!("auto");
        }
        let voice_key = format!("{url} {}", voice.unwrap_or(""));
        RealtimeVoice {
            voice_key,
            lines,
            url,
            api_key_env: api_key_env.map(str::to_string),
            session,
            greeting: agent.spec.greeting.clone().filter(|g| !g.trim().is_empty()),
            fallback: fallback.to_string(),
            idle_prompt: idle_prompt.to_string(),
            timeout,
            metrics,
            tools,
        }
    }

    async fn connect(&self) -> Result<Connection, AgentFailure> {
        websocket::connect(&self.url, self.api_key_env.as_deref(), self.timeout).await
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
        let line = match &m.tool {
            Some(t) => {
                format!("tool {}({}) returned {}", t.name, t.arguments_text(), t.outcome().for_model())
            }
            None => format!("{}: {}", m.role.as_str(), m.text.trim()),
        };
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

impl VoiceBackend for RealtimeVoice {
    fn kind(&self) -> &'static str {
        "realtime"
    }

    fn run(
        mut self: Box<Self>,
        history: Vec<HistoryMessage>,
        mut input: mpsc::UnboundedReceiver<TalkEvent>,
        out: AgentLink,
    ) -> LocalBoxFuture<'static, ()> {
        // The model hears the conversation so far (typed messages, earlier calls) as part of
        // its instructions: one text that every Realtime dialect accepts.
        if let Some(earlier) = earlier_conversation(&history) {
            let base = self.session["instructions"].as_str().unwrap_or_default().to_string();
            self.session["instructions"] = Value::String(format!("{base}{earlier}"));
        }
        let tools = self.tools.take().map(|t| Rc::new(t.start(out.to_call())));
        Box::pin(async move {
            let lines = RealtimeLines {
                greeting: self.greeting.clone(),
                fallback: self.fallback.clone(),
                idle_prompt: self.idle_prompt.clone(),
            };
            let (tool_done, mut tools_done) = mpsc::unbounded_channel();
            let mut call = RealtimeCall {
                protocol: RealtimeProtocol::new(lines, self.timeout),
                socket: None,
                tools,
                tool_done,
            };
            // Connected before the call is, so the greeting is not kept waiting.
            self.open(&mut call, None).await;
            self.flush(&mut call, &out).await;
            loop {
                let deadline = call.protocol.poll_timeout();
                tokio::select! {
                    said = input.recv() => match said {
                        Some(said) => self.on_call(&mut call, said, &out).await,
                        None => break,
                    },
                    heard = async { call.socket.as_mut()?.1.next().await }, if call.socket.is_some() => {
                        let now = Instant::now();
                        match heard {
                            Some(Ok(Ws::Text(text))) => match ProviderEvent::parse(&text) {
                                Ok(event) => call.protocol.on_event(now, event),
                                Err(e) => call.protocol.on_malformed(now, e),
                            },
                            Some(Ok(Ws::Close(_)) | Err(_)) | None => {
                                call.socket = None;
                                call.protocol.on_closed();
                            }
                            Some(Ok(_)) => {}
                        }
                    }
                    () = sleep_until(deadline), if deadline.is_some() => call.protocol.handle_timeout(Instant::now()),
                    Some((answer, line)) = tools_done.recv() => {
                        let line: ToolLine = line;
                        let output = line.outcome().for_model();
                        let call_id = line.call_id.clone();
                        out.send(AgentEvent::Tool { line });
                        call.protocol.on_tool_output(Instant::now(), answer, call_id, output);
                    }
                }
                self.flush(&mut call, &out).await;
            }
            call.protocol.finish();
            self.flush(&mut call, &out).await;
            self.metrics.realtime_unknown_events.inc_by(call.protocol.unknown_events());
            if let Some((mut sink, _)) = call.socket.take() {
                let _ = sink.send(Ws::Close(None)).await;
            }
        })
    }
}

/// One call's relay: the protocol's state and the connection, while one is open.
struct RealtimeCall {
    protocol: RealtimeProtocol,
    socket: Option<Connection>,
    tools: Option<Rc<CallToolbox>>,
    /// Where a tool run for an answer reports its line.
    tool_done: mpsc::UnboundedSender<(u64, ToolLine)>,
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

impl RealtimeVoice {
    /// Opens a connection; `turn`: the audio of a turn that streamed nowhere (the connection
    /// dropped since the last turn), sent whole once connected. False when it cannot connect.
    async fn open(&self, call: &mut RealtimeCall, turn: Option<&[i16]>) -> bool {
        match self.connect().await {
            Ok(connection) => {
                call.socket = Some(connection);
                let keep = self.lines.claim(&self.voice_key, &self.fallback);
                call.protocol.on_open(Instant::now(), self.session.clone(), keep);
                if let Some(audio) = turn {
                    let mut pcm = Vec::with_capacity(audio.len() * 3 / 2);
                    let resampled =
                        Resampler::new(LISTEN_RATE, RATE).and_then(|mut r| r.push(audio, &mut pcm));
                    if let Err(e) = resampled {
                        tracing::warn!(error = %e, "a realtime turn's audio could not be resampled");
                    }
                    for chunk in pcm.chunks(RATE as usize) {
                        call.protocol.on_audio(chunk.to_vec());
                    }
                }
                true
            }
            Err(f) => {
                call.protocol.on_open_failed(f.code, f.message, turn.is_some());
                false
            }
        }
    }

    /// What the call did, to the protocol.
    async fn on_call(&self, call: &mut RealtimeCall, said: TalkEvent, out: &AgentLink) {
        let now = Instant::now();
        match said {
            TalkEvent::VisitorAudio(pcm) => call.protocol.on_audio(pcm.to_vec()),
            TalkEvent::TurnEnded { audio, started, .. } => {
                let live = call.protocol.is_live() || self.open(call, Some(&audio)).await;
                if live {
                    call.protocol.on_turn(now, started);
                }
            }
            TalkEvent::BargeIn { stopped, .. } => {
                out.barge_in();
                call.protocol.on_barge_in(stopped);
            }
            TalkEvent::Connected => call.protocol.on_connected(now),
            TalkEvent::IdlePrompt => call.protocol.on_idle_prompt(now),
            TalkEvent::PageAnswered { call_id, output } => {
                if let Some(tools) = &call.tools {
                    tools.page_answered(&call_id, &output);
                }
            }
            _ => {}
        }
    }

    /// Carries out what the protocol asks: client events to the socket (a send that fails
    /// loses the connection), the agent's events to the call, failures to the metrics.
    async fn flush(&self, call: &mut RealtimeCall, out: &AgentLink) {
        call.protocol.set_kept_fallback(self.lines.get(&self.voice_key, &self.fallback));
        while let Some(output) = call.protocol.poll_output() {
            match output {
                RealtimeOutput::Send(event) => {
                    let Some((sink, _)) = call.socket.as_mut() else { continue };
                    if sink.send(Ws::text(event.to_json())).await.is_err() {
                        call.socket = None;
                        call.protocol.on_closed();
                    }
                }
                RealtimeOutput::Agent(event) => {
                    let done = matches!(event, AgentEvent::Done { .. });
                    out.send(event);
                    if done && call.tools.as_ref().is_some_and(|t| t.ending.take()) {
                        // After the answer's last words: the call hangs up once they have played.
                        out.send(AgentEvent::EndCall);
                    }
                }
                RealtimeOutput::CallTool { answer, call: tool_call } => {
                    let (tools, done) = (call.tools.clone(), call.tool_done.clone());
                    actix::spawn(async move {
                        let line = match tools {
                            Some(tools) => tools.toolbox.run(&tool_call).await,
                            None => ToolLine::new(
                                &tool_call,
                                ToolKind::Server,
                                &ToolOutcome::Failed("the agent has no tools".into()),
                                0,
                            ),
                        };
                        let _ = done.send((answer, line));
                    });
                }
                RealtimeOutput::Failed { code, message, .. } => {
                    tracing::warn!(code = code.as_str(), error = %message, "a realtime voice turn failed");
                    self.metrics.voice_provider_error("realtime", TurnStage::Realtime, code);
                }
                RealtimeOutput::FirstAudio(after) => {
                    self.metrics.voice_turn(VoiceTurnStage::FirstAudio, after)
                }
                RealtimeOutput::Keep(audio) => self.lines.put(&self.voice_key, &self.fallback, audio.into()),
                RealtimeOutput::AbandonKeep => self.lines.abandon(&self.voice_key, &self.fallback),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxgate_engine::conversation::MessageRole;

    fn line(role: MessageRole, text: &str) -> HistoryMessage {
        HistoryMessage::said(role, text.into())
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
