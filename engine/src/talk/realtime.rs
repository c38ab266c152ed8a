//! The OpenAI Realtime protocol as a talking call speaks it, sans-IO, like str0m's `Rtc`: the
//! call's turns and the provider's events go in with the time they happened; client events
//! for the provider, the agent's words and audio for the call, and failures come out of
//! [`RealtimeProtocol::poll_output`], and [`RealtimeProtocol::poll_timeout`] says when the
//! provider has been silent too long. The driver (actors' `talk::realtime`) owns the socket.
//!
//! The call's talk machine keeps the floor (the provider's own turn detection is off): the
//! visitor's audio streams as `input_audio_buffer.append` while they have the floor, the end of
//! their turn commits it and asks for a response, and a barge-in sends `response.cancel` and
//! `conversation.item.truncate` with the milliseconds that were played. Both the GA event names
//! (`response.output_audio.delta`) and the beta ones (`response.audio.delta`) are understood;
//! an event of a type nobody knows is ignored and counted.

use crate::talk::AgentEvent;
use crate::ErrorCode;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// One event from the provider, typed. Both the GA and the beta names parse to the same variant.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderEvent {
    /// `response.created`: the provider began response `id`, tagged with our answer if it
    /// echoes metadata.
    ResponseCreated { id: String, tag: Option<String> },
    /// `response.output_audio.delta` / `response.audio.delta`: PCM16 at the session's rate.
    AudioDelta { response_id: String, item_id: String, pcm: Vec<i16> },
    /// `response.output_audio.done` / `response.audio.done`.
    AudioDone { response_id: String, item_id: String },
    /// `response.output_audio_transcript.delta` / `response.audio_transcript.delta`.
    TranscriptDelta { response_id: String, item_id: String, text: String },
    /// `conversation.item.input_audio_transcription.delta`: more of the visitor's words of
    /// item `item_id` while they are heard.
    VisitorTranscriptDelta { item_id: String, delta: String },
    /// `conversation.item.input_audio_transcription.completed`: the visitor's words.
    VisitorTranscript { item_id: String, text: String },
    /// `conversation.item.input_audio_transcription.failed`.
    VisitorTranscriptFailed { item_id: String, message: String },
    /// `response.done` with its status (`completed`, `cancelled`, `failed`, ...) and, for a
    /// failed one, why.
    ResponseDone { id: String, status: String, why: Option<String> },
    /// `error`.
    Error { code: Option<String>, message: String },
    /// `response.function_call_arguments.done`: the model asks for a tool.
    FunctionCall { response_id: String, call_id: String, name: String, arguments: String },
    /// Any other type: ignored, counted.
    Other { kind: String },
}

/// An event from the provider that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed event from the realtime provider: {0}")]
pub struct MalformedEvent(pub String);

fn field<'a>(event: &'a Value, name: &str, kind: &str) -> Result<&'a str, MalformedEvent> {
    event[name].as_str().ok_or_else(|| MalformedEvent(format!("{kind} without \"{name}\"")))
}

impl ProviderEvent {
    /// Reads one server event (a WebSocket text message).
    pub fn parse(text: &str) -> Result<ProviderEvent, MalformedEvent> {
        let event: Value =
            serde_json::from_str(text).map_err(|e| MalformedEvent(format!("not JSON ({e})")))?;
        let kind = event["type"].as_str().ok_or_else(|| MalformedEvent("no \"type\"".into()))?;
        let ids = |kind: &str| -> Result<(String, String), MalformedEvent> {
            Ok((field(&event, "response_id", kind)?.to_string(), field(&event, "item_id", kind)?.to_string()))
        };
        Ok(match kind {
            "response.created" => ProviderEvent::ResponseCreated {
                id: event["response"]["id"]
                    .as_str()
                    .ok_or_else(|| MalformedEvent("response.created without an id".into()))?
                    .to_string(),
                tag: event["response"]["metadata"]["voxgate_answer"].as_str().map(str::to_string),
            },
            "response.output_audio.delta" | "response.audio.delta" => {
                let delta = field(&event, "delta", "an audio delta")?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(delta)
                    .map_err(|e| MalformedEvent(format!("an audio delta that is not base64 ({e})")))?;
                let pcm = bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
                let (response_id, item_id) = ids("an audio delta")?;
                ProviderEvent::AudioDelta { response_id, item_id, pcm }
            }
            "response.output_audio.done" | "response.audio.done" => {
                let (response_id, item_id) = ids("an audio done")?;
                ProviderEvent::AudioDone { response_id, item_id }
            }
            "response.output_audio_transcript.delta" | "response.audio_transcript.delta" => {
                let (response_id, item_id) = ids("a transcript delta")?;
                ProviderEvent::TranscriptDelta {
                    response_id,
                    item_id,
                    text: field(&event, "delta", "a transcript delta")?.to_string(),
                }
            }
            "conversation.item.input_audio_transcription.delta" => ProviderEvent::VisitorTranscriptDelta {
                item_id: event["item_id"].as_str().unwrap_or_default().to_string(),
                delta: event["delta"].as_str().unwrap_or_default().to_string(),
            },
            "conversation.item.input_audio_transcription.completed" => ProviderEvent::VisitorTranscript {
                item_id: event["item_id"].as_str().unwrap_or_default().to_string(),
                text: event["transcript"].as_str().unwrap_or_default().trim().to_string(),
            },
            "conversation.item.input_audio_transcription.failed" => ProviderEvent::VisitorTranscriptFailed {
                item_id: event["item_id"].as_str().unwrap_or_default().to_string(),
                message: event["error"]["message"].as_str().unwrap_or("no reason given").to_string(),
            },
            "response.done" => {
                let response = &event["response"];
                ProviderEvent::ResponseDone {
                    id: response["id"].as_str().unwrap_or_default().to_string(),
                    status: response["status"].as_str().unwrap_or("completed").to_string(),
                    why: response["status_details"]["error"]["message"].as_str().map(str::to_string),
                }
            }
            "response.function_call_arguments.done" => ProviderEvent::FunctionCall {
                response_id: field(&event, "response_id", "a function call")?.to_string(),
                call_id: field(&event, "call_id", "a function call")?.to_string(),
                name: field(&event, "name", "a function call")?.to_string(),
                arguments: event["arguments"].as_str().unwrap_or("{}").to_string(),
            },
            "error" => ProviderEvent::Error {
                code: event["error"]["code"].as_str().map(str::to_string),
                message: event["error"]["message"].as_str().unwrap_or("no message").to_string(),
            },
            other => ProviderEvent::Other { kind: other.to_string() },
        })
    }
}

/// One client event for the provider.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// `session.update` with the session's settings.
    SessionUpdate(Value),
    /// `input_audio_buffer.append`: PCM16 at the session's rate.
    Append(Vec<i16>),
    /// `input_audio_buffer.commit`.
    Commit,
    /// `response.create`, tagged with our answer (`keep` for the out-of-band fallback line).
    CreateResponse { tag: String, response: Value },
    /// `response.cancel`.
    Cancel,
    /// `conversation.item.truncate` at the milliseconds of its audio that were played.
    Truncate { item_id: String, audio_end_ms: u32 },
    /// `conversation.item.create` with a tool's `function_call_output`.
    FunctionCallOutput { call_id: String, output: String },
}

impl ClientEvent {
    /// The event as the provider reads it.
    pub fn to_json(&self) -> String {
        match self {
            ClientEvent::SessionUpdate(session) => json!({"type": "session.update", "session": session}),
            ClientEvent::Append(pcm) => {
                let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
                let audio = base64::engine::general_purpose::STANDARD.encode(bytes);
                json!({"type": "input_audio_buffer.append", "audio": audio})
            }
            ClientEvent::Commit => json!({"type": "input_audio_buffer.commit"}),
            ClientEvent::CreateResponse { tag, response } => {
                let mut response = response.clone();
                response["metadata"] = json!({"voxgate_answer": tag});
                json!({"type": "response.create", "response": response})
            }
            ClientEvent::Cancel => json!({"type": "response.cancel"}),
            ClientEvent::Truncate { item_id, audio_end_ms } => json!({"type": "conversation.item.truncate",
                "item_id": item_id, "content_index": 0, "audio_end_ms": audio_end_ms}),
            ClientEvent::FunctionCallOutput { call_id, output } => json!({"type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": call_id, "output": output}}),
        }
        .to_string()
    }
}

/// What the protocol asks of its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum RealtimeOutput {
    /// Send this to the provider.
    Send(ClientEvent),
    /// Tell the call (through the agent's link).
    Agent(AgentEvent),
    /// `answer` failed: count and log it (an [`AgentEvent::Failed`] for the call follows in
    /// `Agent`).
    Failed { answer: u64, code: ErrorCode, message: String },
    /// The first audio of an answer came this long after it was asked for.
    FirstAudio(Duration),
    /// The fallback line's audio, said out of band, to keep for this voice.
    Keep(Vec<i16>),
    /// The fallback line could not be kept through this connection.
    AbandonKeep,
    /// Run this tool for `answer`, then hand its output to [`RealtimeProtocol::on_tool_output`].
    CallTool { answer: u64, call: crate::tools::ToolCall },
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
    /// The model asked for tools in it: the answer goes on once their outputs are sent.
    called_tools: bool,
}

/// The lines a realtime voice says by itself.
#[derive(Debug, Clone, Default)]
pub struct RealtimeLines {
    pub greeting: Option<String>,
    pub fallback: String,
    pub idle_prompt: String,
}

/// One call's conversation with a Realtime provider, across reconnections.
pub struct RealtimeProtocol {
    lines: RealtimeLines,
    /// Longest silence of the provider while an answer is awaited.
    timeout: Duration,
    /// A connection is open.
    live: bool,
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
    /// The fallback line's audio, kept for this voice (by any call), if it is.
    kept_fallback: Option<std::sync::Arc<[i16]>>,
    next_id: u64,
    unknown_events: u64,
    /// Tool calls still running, by answer.
    tools_running: HashMap<u64, usize>,
    out: VecDeque<RealtimeOutput>,
}

fn failure(code: ErrorCode, message: impl Into<String>) -> (ErrorCode, String) {
    (code, message.into())
}

impl RealtimeProtocol {
    pub fn new(lines: RealtimeLines, timeout: Duration) -> RealtimeProtocol {
        RealtimeProtocol {
            lines,
            timeout,
            live: false,
            asked: VecDeque::new(),
            responses: HashMap::new(),
            items: HashMap::new(),
            turns: VecDeque::new(),
            waiting: None,
            stale_below: 0,
            falling_back: None,
            kept_fallback: None,
            next_id: 1,
            unknown_events: 0,
            tools_running: HashMap::new(),
            out: VecDeque::new(),
        }
    }

    /// A new answer's or utterance's id, unique within the call.
    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The fallback line's kept audio as the driver last found it (it is shared by every call
    /// of the same voice, so another call may have kept it meanwhile).
    pub fn set_kept_fallback(&mut self, audio: Option<std::sync::Arc<[i16]>>) {
        self.kept_fallback = audio;
    }

    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Server events of types nobody knows, since the call began.
    pub fn unknown_events(&self) -> u64 {
        self.unknown_events
    }

    /// The answer being given, if any.
    pub fn current(&self) -> Option<u64> {
        self.waiting.map(|(a, _)| a)
    }

    pub fn poll_output(&mut self) -> Option<RealtimeOutput> {
        self.out.pop_front()
    }

    /// When the provider will have been silent too long about the answer awaited.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.waiting.filter(|_| self.live).map(|(_, since)| since + self.timeout)
    }

    /// A connection opened: the session's settings go first, then, when `keep` (no call of
    /// this voice has kept the fallback line yet), a request for it out of band.
    pub fn on_open(&mut self, now: Instant, session: Value, keep: bool) {
        self.live = true;
        self.send(ClientEvent::SessionUpdate(session));
        if keep {
            let instructions = format!("Say exactly this, and nothing else: {}", self.lines.fallback);
            self.ask(now, Purpose::Keep, json!({"conversation": "none", "instructions": instructions}));
        }
    }

    /// A connection could not be opened, for a turn (`for_turn`) or ahead of the call.
    pub fn on_open_failed(&mut self, code: ErrorCode, message: String, for_turn: bool) {
        let answer = self.next_id();
        self.fail(answer, (code, message));
        if for_turn {
            self.say_kept(answer);
        }
    }

    /// The connection broke (closed by the provider, or a send failed): the answer being given
    /// ends with the kept fallback line, and the next turn connects again.
    pub fn on_closed(&mut self) {
        if !self.live {
            return;
        }
        let answer = self.current();
        self.lose();
        if let Some(answer) = answer {
            self.fail(answer, failure(ErrorCode::AgentError, "the realtime provider closed the connection"));
            self.say_kept(answer);
        }
    }

    /// The call connected: the greeting, if any.
    pub fn on_connected(&mut self, now: Instant) {
        if let Some(greeting) = self.lines.greeting.clone().filter(|_| self.live) {
            let answer = self.next_id();
            self.say(now, answer, &greeting);
        }
    }

    /// The visitor's audio while they have the floor, at the session's rate.
    pub fn on_audio(&mut self, pcm: Vec<i16>) {
        if self.live {
            self.send(ClientEvent::Append(pcm));
        }
    }

    /// The visitor's turn (whose speech started at `started`) ended: commit it and ask for an
    /// answer. The driver reconnects first, and resends the turn's audio, when the connection
    /// dropped since the last turn.
    pub fn on_turn(&mut self, now: Instant, started: Instant) {
        if !self.live {
            return;
        }
        self.turns.push_back(started);
        self.send(ClientEvent::Commit);
        let answer = self.next_id();
        self.ask(now, Purpose::Answer(answer), json!({}));
    }

    /// The visitor talked over the agent; `stopped`: our utterance whose playout stopped and
    /// the milliseconds of it that were played.
    pub fn on_barge_in(&mut self, stopped: Option<(u64, u32)>) {
        if !self.live {
            return;
        }
        self.stale_below = self.next_id();
        let answering = self.waiting.take().is_some() || !self.responses.is_empty();
        self.asked.clear();
        self.responses.clear();
        // Tools still running answer an answer nobody waits for: their outputs are dropped.
        self.tools_running.clear();
        if answering {
            self.send(ClientEvent::Cancel);
        }
        if let Some((item, audio_end_ms)) = stopped {
            if let Some(item_id) = self.items.get(&item).cloned() {
                self.send(ClientEvent::Truncate { item_id, audio_end_ms });
            }
        }
    }

    /// Nobody spoke for the idle timeout: ask if the visitor is still there, unless an answer
    /// is on its way.
    pub fn on_idle_prompt(&mut self, now: Instant) {
        if self.live && self.waiting.is_none() {
            let answer = self.next_id();
            let line = self.lines.idle_prompt.clone();
            self.say(now, answer, &line);
        }
    }

    /// Time passed: an answer the provider has been silent about past the timeout fails, is
    /// cancelled, and the fallback line says it.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(due) = self.poll_timeout() else { return };
        if now < due {
            return;
        }
        let answer = self.current();
        self.waiting = None;
        let message = format!("the realtime provider sent nothing for {} ms", self.timeout.as_millis());
        if let Some(answer) = answer {
            self.fail(answer, (ErrorCode::AgentTimeout, message));
        }
        self.send(ClientEvent::Cancel);
        self.fall_back(now, answer);
    }

    /// A tool the protocol asked for (`CallTool`) finished with `output` (what the model
    /// reads). Once the answer's last tool is done, the provider is asked to go on with it; an
    /// answer the visitor talked over drops the output.
    pub fn on_tool_output(&mut self, now: Instant, answer: u64, call_id: String, output: String) {
        if answer < self.stale_below || !self.live {
            return;
        }
        let Some(running) = self.tools_running.get_mut(&answer) else { return };
        *running = running.saturating_sub(1);
        let last = *running == 0;
        self.send(ClientEvent::FunctionCallOutput { call_id, output });
        if last {
            self.tools_running.remove(&answer);
            self.ask(now, Purpose::Answer(answer), json!({}));
        }
    }

    /// Whether `answer` waits for tools.
    pub fn tools_running(&self, answer: u64) -> bool {
        self.tools_running.contains_key(&answer)
    }

    /// One event from the provider.
    pub fn on_event(&mut self, now: Instant, event: ProviderEvent) {
        if let Some((answer, _)) = self.waiting {
            self.waiting = Some((answer, now));
        }
        if let Err(f) = self.handle(now, event) {
            match self.current() {
                Some(answer) => {
                    self.waiting = None;
                    self.fail(answer, f);
                    self.fall_back(now, Some(answer));
                }
                // Nothing was being answered: the out-of-band line failed.
                None => self.out.push_back(RealtimeOutput::AbandonKeep),
            }
        }
    }

    /// A message from the provider that could not be read: as an error event.
    pub fn on_malformed(&mut self, now: Instant, error: MalformedEvent) {
        self.on_event(now, ProviderEvent::Error { code: None, message: error.0 });
    }

    fn handle(&mut self, now: Instant, event: ProviderEvent) -> Result<(), (ErrorCode, String)> {
        match event {
            ProviderEvent::ResponseCreated { id, tag } => {
                let stale =
                    tag.as_deref().and_then(|a| a.parse::<u64>().ok()).is_some_and(|a| a < self.stale_below);
                let asked = match tag {
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
                    let response = Response {
                        purpose,
                        kept: Vec::new(),
                        items: HashMap::new(),
                        asked: Some(asked),
                        called_tools: false,
                    };
                    self.responses.insert(id, response);
                }
            }
            ProviderEvent::AudioDelta { response_id, item_id, pcm } => {
                if let Some(keep) =
                    self.responses.get_mut(&response_id).filter(|r| r.purpose == Purpose::Keep)
                {
                    keep.kept.extend_from_slice(&pcm);
                    return Ok(());
                }
                let Some((answer, item)) = self.item_of(&response_id, &item_id) else { return Ok(()) };
                if let Some(asked) = self.responses.get_mut(&response_id).and_then(|r| r.asked.take()) {
                    self.out.push_back(RealtimeOutput::FirstAudio(now.saturating_duration_since(asked)));
                }
                self.agent(AgentEvent::Speech { answer, item, pcm, complete: false });
            }
            ProviderEvent::AudioDone { response_id, item_id } => {
                if let Some((answer, item)) = self.item_of(&response_id, &item_id) {
                    self.agent(AgentEvent::Speech { answer, item, pcm: Vec::new(), complete: true });
                }
            }
            ProviderEvent::TranscriptDelta { response_id, item_id, text } => {
                if let Some((answer, item)) = self.item_of(&response_id, &item_id) {
                    self.agent(AgentEvent::Text { answer, item, text });
                }
            }
            ProviderEvent::VisitorTranscriptDelta { delta, .. } => {
                if !delta.is_empty() {
                    self.agent(AgentEvent::VisitorPartial { delta });
                }
            }
            ProviderEvent::VisitorTranscript { text, .. } => {
                let started = self.turns.pop_front().unwrap_or(now);
                if !text.is_empty() {
                    self.agent(AgentEvent::VisitorSaid { text, started });
                }
            }
            ProviderEvent::VisitorTranscriptFailed { .. } => {
                self.turns.pop_front();
            }
            ProviderEvent::ResponseDone { id, status, why } => {
                let Some(done) = self.responses.remove(&id) else { return Ok(()) };
                let Some(answer) = done.purpose.answer() else {
                    let kept = status == "completed" && !done.kept.is_empty();
                    self.out.push_back(if kept {
                        RealtimeOutput::Keep(done.kept)
                    } else {
                        RealtimeOutput::AbandonKeep
                    });
                    return Ok(());
                };
                self.waiting = None;
                if done.called_tools && status == "completed" {
                    // The answer goes on once the tools' outputs are in (on_tool_output).
                    return Ok(());
                }
                if status == "failed" {
                    let why = why.unwrap_or_else(|| "no reason given".into());
                    // The answer is still current for the failure to name it.
                    self.waiting = Some((answer, now));
                    return Err(failure(
                        ErrorCode::AgentError,
                        format!("the realtime response failed: {why}"),
                    ));
                }
                self.agent(AgentEvent::Done { answer });
            }
            ProviderEvent::Error { code, message } => {
                // Cancelling a response that has just finished is not a failure.
                if code.as_deref() == Some("response_cancel_not_active") {
                    return Ok(());
                }
                return Err(failure(
                    ErrorCode::AgentError,
                    format!("the realtime provider failed: {message}"),
                ));
            }
            ProviderEvent::FunctionCall { response_id, call_id, name, arguments } => {
                let Some(response) = self.responses.get_mut(&response_id) else { return Ok(()) };
                let Purpose::Answer(answer) = response.purpose else { return Ok(()) };
                response.called_tools = true;
                *self.tools_running.entry(answer).or_default() += 1;
                let call = crate::tools::ToolCall { call_id, name, arguments };
                self.out.push_back(RealtimeOutput::CallTool { answer, call });
            }
            ProviderEvent::Other { .. } => self.unknown_events += 1,
        }
        Ok(())
    }

    /// The answer and utterance of a provider item; `None` for a response that was cancelled
    /// or never asked for here.
    fn item_of(&mut self, response_id: &str, item_id: &str) -> Option<(u64, u64)> {
        let answer = self.responses.get(response_id)?.purpose.answer()?;
        if let Some(item) = self.responses.get(response_id)?.items.get(item_id) {
            return Some((answer, *item));
        }
        let item = self.next_id();
        self.responses.get_mut(response_id)?.items.insert(item_id.to_string(), item);
        self.items.insert(item, item_id.to_string());
        Some((answer, item))
    }

    fn send(&mut self, event: ClientEvent) {
        self.out.push_back(RealtimeOutput::Send(event));
    }

    fn agent(&mut self, event: AgentEvent) {
        self.out.push_back(RealtimeOutput::Agent(event));
    }

    /// Asks for a response, tagged with its answer so a late `response.created` of a
    /// cancelled one is told apart.
    fn ask(&mut self, now: Instant, purpose: Purpose, response: Value) {
        self.asked.push_back((purpose, now));
        if let Some(answer) = purpose.answer() {
            self.waiting = Some((answer, now));
        }
        self.send(ClientEvent::CreateResponse { tag: purpose.tag(), response });
    }

    /// Asks the provider to say a fixed line as `answer`.
    fn say(&mut self, now: Instant, answer: u64, line: &str) {
        let instructions = format!("Say exactly this, and nothing else: {line}");
        self.ask(now, Purpose::Line(answer), json!({"instructions": instructions}));
    }

    fn fail(&mut self, answer: u64, (code, message): (ErrorCode, String)) {
        self.out.push_back(RealtimeOutput::Failed { answer, code, message: message.clone() });
        let stage = crate::agent_voice::TurnStage::Realtime;
        self.agent(AgentEvent::Failed { answer, stage, code, message });
    }

    /// Says the fallback line in place of the failed `answer` (a new answer if none): from the
    /// kept audio if there is some, else asks the provider once.
    fn fall_back(&mut self, now: Instant, answer: Option<u64>) {
        let answer = answer.unwrap_or_else(|| self.next_id());
        if self.kept_fallback.is_some() || !self.live {
            return self.say_kept(answer);
        }
        if self.falling_back == Some(answer) {
            return self.agent(AgentEvent::Done { answer });
        }
        self.falling_back = Some(answer);
        let line = self.lines.fallback.clone();
        self.say(now, answer, &line);
    }

    /// Ends `answer` with the kept fallback line, if there is one.
    fn say_kept(&mut self, answer: u64) {
        if let Some(audio) = self.kept_fallback.clone() {
            let item = self.next_id();
            self.agent(AgentEvent::Text { answer, item, text: self.lines.fallback.clone() });
            self.agent(AgentEvent::Speech { answer, item, pcm: audio.to_vec(), complete: true });
        }
        self.agent(AgentEvent::Done { answer });
    }

    /// Forgets a connection that broke; the next turn connects again.
    fn lose(&mut self) {
        let keeping = self.asked.iter().any(|(p, _)| *p == Purpose::Keep)
            || self.responses.values().any(|r| r.purpose == Purpose::Keep);
        if keeping {
            self.out.push_back(RealtimeOutput::AbandonKeep);
        }
        self.live = false;
        self.asked.clear();
        self.responses.clear();
        self.items.clear();
        self.turns.clear();
        self.tools_running.clear();
        self.waiting = None;
    }

    /// The call ended: a fallback line still being kept through this connection is not.
    pub fn finish(&mut self) {
        if self.live {
            self.lose();
        }
    }
}
