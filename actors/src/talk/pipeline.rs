//! The `pipeline` voice: each of the visitor's turns goes to speech to text, the words to the
//! agent's text backend (with the call's history), and its answer, sentence by sentence, to
//! text to speech, so the first sentence plays while the rest is still being written. A failure
//! at any stage (an HTTP error, a timeout, a malformed body) ends the turn with a recorded code
//! and the agent's fallback line; the call goes on.

use super::backend::{AgentEvent, AgentLink, TalkEvent, TurnStage, VoiceBackend};
use super::call_tools::{CallToolbox, CallTools};
use super::speech_to_text::{Heard, Partial, SpeechToText};
use super::text_to_speech::TextToSpeech;
use super::SpokenLines;
use crate::agents::{AgentFailure, AgentTurn, AnswerPart, HistoryMessage, Responder};
use crate::metrics::{Metrics, VoiceTurnStage};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use voxgate_engine::conversation::MessageRole;
use voxgate_engine::talk::sentence_end::SentenceEnds;
use voxgate_engine::talk::sentences::Sentences;
use voxgate_engine::talk::TurnLatency;
use voxgate_engine::ErrorCode;

/// Speech to text, the agent's text backend, text to speech.
pub struct PipelineVoice {
    /// `pipeline` (providers) or `builtin` (this machine's recogniser and synthesiser).
    pub kind: &'static str,
    pub stt: Arc<dyn SpeechToText>,
    pub tts: Arc<dyn TextToSpeech>,
    pub responder: Arc<dyn Responder>,
    /// The longest wait on any provider for its answer or its next piece.
    pub timeout: Duration,
    pub greeting: Option<String>,
    pub fallback: String,
    pub idle_prompt: String,
    pub lines: Arc<SpokenLines>,
    pub metrics: Arc<Metrics>,
    /// The call's tools, made into a toolbox when the call's agent starts.
    pub tools: Option<CallTools>,
    /// Said once per answer while a tool has not answered after the duration.
    pub filler: Option<(Duration, String)>,
    /// With semantic turn detection: the words heard at each pause are judged with this, and
    /// the judgement goes to the call's turn detector.
    pub sentence_ends: Option<Arc<SentenceEnds>>,
}

/// The answer being worked on; dropping it cancels it.
#[derive(Default)]
struct Answering(Option<JoinHandle<()>>);

impl Answering {
    fn replace(&mut self, task: JoinHandle<()>) {
        self.cancel();
        self.0 = Some(task);
    }

    fn cancel(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }

    fn is_busy(&self) -> bool {
        self.0.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.cancel();
    }
}

type History = Rc<RefCell<Vec<HistoryMessage>>>;

/// The words of the visitor's latest overlaps (speech over the agent), by id, until the call
/// says whether they interrupted (`TalkEvent::TurnHeard`): then they are that turn's words.
type Overheard = Rc<RefCell<VecDeque<(u64, Hearing)>>>;

/// Overlaps whose words are kept; older ones were backchannels or nothing.
const OVERHEARD_KEPT: usize = 4;

type Hearing = (Result<Heard, AgentFailure>, Duration);

/// A turn's words, on their way from the recogniser.
type Recognised = LocalBoxFuture<'static, Result<Heard, AgentFailure>>;

/// A turn recognised early, at the visitor's pause: used if the turn ends with that same
/// speech, dropped (and cancelled) if they go on talking.
struct EarlyHearing {
    /// When the paused speech ended; the turn's `ended` if the pause was its end.
    ended: Instant,
    result: tokio::sync::oneshot::Receiver<Hearing>,
    task: JoinHandle<()>,
}

impl EarlyHearing {
    /// Starts recognising; with semantic turn detection, the words are also judged for the
    /// call's turn detector (to `out`) as soon as they come.
    fn start(voice: &Rc<PipelineVoice>, heard: Recognised, ended: Instant, out: &AgentLink) -> EarlyHearing {
        let (tx, result) = tokio::sync::oneshot::channel();
        let (voice, out) = (voice.clone(), out.clone());
        let task = actix::spawn(async move {
            let hearing = voice.hear(heard).await;
            if let Some(ends) = &voice.sentence_ends {
                // The builtin recogniser's open-vocabulary words, where it has them: its own
                // are fitted to the agent's words.
                let words = hearing.0.as_ref().ok().map(|h| h.open_text.as_deref().unwrap_or(&h.text));
                let finished = words.and_then(|w| ends.finished(w));
                out.send(AgentEvent::WordsJudged { ended, finished });
            }
            let _ = tx.send(hearing);
        });
        EarlyHearing { ended, result, task }
    }

    async fn heard(mut self) -> Hearing {
        match (&mut self.result).await {
            Ok(hearing) => hearing,
            Err(_) => {
                (Err(AgentFailure::new(ErrorCode::AgentError, "early recognition stopped")), Duration::ZERO)
            }
        }
    }
}

impl Drop for EarlyHearing {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl VoiceBackend for PipelineVoice {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn run(
        self: Box<Self>,
        history: Vec<HistoryMessage>,
        mut input: mpsc::UnboundedReceiver<TalkEvent>,
        out: AgentLink,
    ) -> LocalBoxFuture<'static, ()> {
        let mut this = *self;
        let tools = this.tools.take().map(|t| Rc::new(t.start(out.to_call())));
        let voice = Rc::new(this);
        Box::pin(async move {
            // The conversation so far (typed messages, earlier calls), then this call's turns.
            let history: History = Rc::new(RefCell::new(history));
            let mut answering = Answering::default();
            let mut early: Option<EarlyHearing> = None;
            let overheard: Overheard = Rc::default();
            // The visitor's words as a streaming recogniser hears them, to their captions.
            let partial_out = out.clone();
            let partial: Partial =
                Rc::new(move |delta| partial_out.send(AgentEvent::VisitorPartial { delta }));
            let mut recognition = voice.stt.open(partial);
            while let Some(said) = input.recv().await {
                match said {
                    TalkEvent::Connected => {
                        voice.prepare_fallback();
                        actix::spawn(voice.stt.prepare());
                        if let Some(greeting) = voice.greeting.clone() {
                            let (v, out) = (voice.clone(), out.clone());
                            answering.replace(actix::spawn(async move { v.say_line(&greeting, &out).await }));
                        }
                    }
                    TalkEvent::VisitorPaused { audio, ended } => {
                        let replaced = early.replace(EarlyHearing::start(
                            &voice,
                            recognition.finish(audio),
                            ended,
                            &out,
                        ));
                        if replaced.is_some() {
                            voice.metrics.early_recognitions_dropped.inc();
                        }
                    }
                    TalkEvent::TurnEnded { audio, started, ended, .. } => {
                        let (v, out, history) = (voice.clone(), out.clone(), history.clone());
                        // Recognised at the pause that turned out to be the turn's end.
                        let early = match early.take() {
                            Some(e) if e.ended == ended => {
                                voice.metrics.early_recognitions_used.inc();
                                Some(e)
                            }
                            Some(_) => {
                                voice.metrics.early_recognitions_dropped.inc();
                                None
                            }
                            None => None,
                        };
                        let heard = match early {
                            Some(early) => Box::pin(early.heard()) as LocalBoxFuture<'static, Hearing>,
                            None => {
                                let recognised = recognition.finish(audio);
                                let v = voice.clone();
                                Box::pin(async move { v.hear(recognised).await })
                            }
                        };
                        let tools = tools.clone();
                        answering.replace(actix::spawn(async move {
                            v.answer(heard, started, history, tools, out).await
                        }));
                    }
                    TalkEvent::OverlapEnded { id, audio, .. } => {
                        // Heard out while the answer goes on; the call decides what it was.
                        let recognised = recognition.finish(audio);
                        let (v, out, overheard) = (voice.clone(), out.clone(), overheard.clone());
                        actix::spawn(async move {
                            let hearing = v.hear(recognised).await;
                            let text = hearing.0.as_ref().map(|h| h.text.clone()).unwrap_or_default();
                            let mut kept = overheard.borrow_mut();
                            if kept.len() == OVERHEARD_KEPT {
                                kept.pop_front();
                            }
                            kept.push_back((id, hearing));
                            out.send(AgentEvent::Overheard { id, text });
                        });
                    }
                    TalkEvent::TurnHeard { id, started, .. } => {
                        let hearing = {
                            let mut kept = overheard.borrow_mut();
                            let at = kept.iter().position(|(kept_id, _)| *kept_id == id);
                            at.and_then(|at| kept.remove(at)).map(|(_, hearing)| hearing)
                        };
                        let Some(hearing) = hearing else { continue };
                        let (v, out, history, tools) =
                            (voice.clone(), out.clone(), history.clone(), tools.clone());
                        let heard = Box::pin(async move { hearing }) as LocalBoxFuture<'static, Hearing>;
                        answering.replace(actix::spawn(async move {
                            v.answer(heard, started, history, tools, out).await
                        }));
                    }
                    TalkEvent::BargeIn { .. } => {
                        if early.take().is_some() {
                            voice.metrics.early_recognitions_dropped.inc();
                        }
                        answering.cancel();
                        out.barge_in();
                    }
                    TalkEvent::AnswerHeard { text, .. } if !text.is_empty() => {
                        history.borrow_mut().push(HistoryMessage::said(MessageRole::Agent, text));
                    }
                    TalkEvent::IdlePrompt if !answering.is_busy() => {
                        let (v, out) = (voice.clone(), out.clone());
                        let line = voice.idle_prompt.clone();
                        answering.replace(actix::spawn(async move { v.say_line(&line, &out).await }));
                    }
                    TalkEvent::VisitorAudio(pcm) => recognition.push(&pcm),
                    TalkEvent::PageAnswered { call_id, output } => {
                        if let Some(tools) = &tools {
                            tools.page_answered(&call_id, &output);
                        }
                    }
                    _ => {}
                }
            }
        })
    }
}

impl PipelineVoice {
    /// A turn's words as the recogniser gives them, bounded by the voice's timeout; and how
    /// long they took.
    async fn hear(&self, heard: Recognised) -> Hearing {
        let asked = Instant::now();
        let heard = match tokio::time::timeout(self.timeout, heard).await {
            Ok(heard) => heard,
            Err(_) => Err(timed_out("speech to text", self.timeout)),
        };
        (heard, asked.elapsed())
    }

    /// One turn: what the visitor said (`heard`: recognised early at their pause, or now), the
    /// answer, spoken sentence by sentence.
    async fn answer(
        self: Rc<Self>,
        heard: LocalBoxFuture<'static, Hearing>,
        started: Instant,
        history: History,
        tools: Option<Rc<CallToolbox>>,
        out: AgentLink,
    ) {
        let answer = out.next_id();
        let (heard, took) = heard.await;
        let Heard { text, open_text } = match heard {
            Ok(heard) => heard,
            Err(f) => return self.fail(answer, TurnStage::SpeechToText, f, &out).await,
        };
        self.metrics.voice_turn(VoiceTurnStage::SpeechToText, took);
        if text.is_empty() {
            // Noise, a cough: nothing to answer.
            return out.send(AgentEvent::Done { answer });
        }
        out.send(AgentEvent::VisitorSaid { text: text.clone(), started });
        let turn = AgentTurn {
            history: history.borrow().clone(),
            text: text.clone(),
            open_text,
            // The call's agent has the session's variables filled in already (the plan's).
            variables: Default::default(),
            tools: tools.as_ref().map(|t| t.toolbox.clone()),
        };
        history.borrow_mut().push(HistoryMessage::said(MessageRole::Visitor, text));

        let mut latency = TurnLatency { stt: Some(ms(took)), ..TurnLatency::default() };
        let asked = Instant::now();
        let mut parts = self.responder.respond(turn);
        let mut sentences = Sentences::new();
        let mut first_token = true;
        // While tools run: when the filler line is due, if it has not been said yet.
        let mut filler_due: Option<tokio::time::Instant> = None;
        let mut filler_said = false;
        loop {
            let wait = tokio::time::timeout(self.timeout, parts.next());
            let next = match filler_due {
                Some(due) => tokio::select! {
                    next = wait => next,
                    () = tokio::time::sleep_until(due) => {
                        filler_due = None;
                        filler_said = true;
                        if let Some((_, line)) = &self.filler {
                            if let Err(f) = self.speak(answer, line, true, &out).await {
                                return self.fail(answer, TurnStage::TextToSpeech, f, &out).await;
                            }
                        }
                        continue;
                    }
                },
                None => wait.await,
            };
            let part = match next {
                Err(_) => Err(timed_out("the agent's answer", self.timeout)),
                Ok(None) => break,
                Ok(Some(part)) => part,
            };
            let delta = match part {
                Err(f) => return self.fail(answer, TurnStage::Answer, f, &out).await,
                Ok(AnswerPart::Source(_)) => continue,
                Ok(AnswerPart::ToolsRunning) => {
                    // What was said before the call, then the filler if the tools are slow.
                    if let Some(sentence) = sentences.finish() {
                        if let Err(f) = self.speak(answer, &sentence, false, &out).await {
                            return self.fail(answer, TurnStage::TextToSpeech, f, &out).await;
                        }
                    }
                    if let (Some((after, _)), false) = (&self.filler, filler_said) {
                        filler_due = Some(tokio::time::Instant::now() + *after);
                    }
                    continue;
                }
                Ok(AnswerPart::Tool(line)) => {
                    filler_due = None;
                    latency.tool = Some(latency.tool.unwrap_or(0) + line.duration_ms as u32);
                    out.send(AgentEvent::Tool { line });
                    continue;
                }
                Ok(AnswerPart::Delta(delta)) => delta,
            };
            if std::mem::take(&mut first_token) {
                let took = asked.elapsed();
                self.metrics.voice_turn(VoiceTurnStage::FirstToken, took);
                latency.first_token = Some(ms(took));
            }
            for sentence in sentences.push(&delta) {
                match self.speak(answer, &sentence, false, &out).await {
                    Err(f) => return self.fail(answer, TurnStage::TextToSpeech, f, &out).await,
                    Ok(took) => latency.first_audio = latency.first_audio.or(took.map(ms)),
                }
            }
        }
        if let Some(rest) = sentences.finish() {
            match self.speak(answer, &rest, false, &out).await {
                Err(f) => return self.fail(answer, TurnStage::TextToSpeech, f, &out).await,
                Ok(took) => latency.first_audio = latency.first_audio.or(took.map(ms)),
            }
        }
        // The agent's stage times, before its Done: the call adds what the visitor waited.
        out.send(AgentEvent::Stages { answer, latency });
        out.send(AgentEvent::Done { answer });
        if tools.is_some_and(|t| t.ending.take()) {
            // After the answer's last words: the call hangs up once they have played.
            out.send(AgentEvent::EndCall);
        }
    }

    /// Says a fixed line (a greeting, the idle prompt) as an answer of its own.
    async fn say_line(&self, line: &str, out: &AgentLink) {
        let answer = out.next_id();
        if let Err(f) = self.speak(answer, line, true, out).await {
            self.report(answer, TurnStage::TextToSpeech, &f, out);
        }
        out.send(AgentEvent::Done { answer });
    }

    /// Records why `answer` failed and says the fallback line in its place.
    async fn fail(&self, answer: u64, stage: TurnStage, f: AgentFailure, out: &AgentLink) {
        self.report(answer, stage, &f, out);
        // Said from the kept audio when the speech provider is what failed.
        let _ = self.speak(answer, &self.fallback, true, out).await;
        out.send(AgentEvent::Done { answer });
    }

    fn report(&self, answer: u64, stage: TurnStage, f: &AgentFailure, out: &AgentLink) {
        tracing::warn!(stage = stage.as_str(), code = f.code.as_str(), error = %f.message, "a voice turn failed");
        self.metrics.voice_provider_error(self.kind, stage, f.code);
        out.send(AgentEvent::Failed { answer, stage, code: f.code, message: f.message.clone() });
    }

    /// Synthesises the fallback line ahead of need, once per voice, so it can be said even
    /// when the speech provider is down.
    fn prepare_fallback(&self) {
        let (voice, line) = (self.tts.voice_key(), self.fallback.clone());
        if !self.lines.claim(&voice, &line) {
            return;
        }
        let (tts, lines) = (self.tts.clone(), self.lines.clone());
        actix::spawn(async move {
            let mut audio = Vec::new();
            let mut pieces = tts.synthesize(line.clone());
            while let Some(piece) = pieces.next().await {
                match piece {
                    Ok(pcm) => audio.extend_from_slice(&pcm),
                    Err(_) => return lines.abandon(&voice, &line),
                }
            }
            lines.put(&voice, &line, audio.into());
        });
    }

    /// Speaks `text` as one utterance of `answer`, streaming its audio to the call as it is
    /// made. A fixed line (`keep`) is said from the kept audio when there is some, and kept.
    /// Returns how long the synthesiser took to its first audio (`None` for kept audio).
    async fn speak(
        &self,
        answer: u64,
        text: &str,
        keep: bool,
        out: &AgentLink,
    ) -> Result<Option<Duration>, AgentFailure> {
        let item = out.next_id();
        out.send(AgentEvent::Text { answer, item, text: text.to_string() });
        let voice = self.tts.voice_key();
        if keep {
            if let Some(audio) = self.lines.get(&voice, text) {
                out.send(AgentEvent::Speech { answer, item, pcm: audio.to_vec(), complete: true });
                return Ok(None);
            }
        }
        let asked = Instant::now();
        let mut pieces = self.tts.synthesize(text.to_string());
        let mut kept = Vec::new();
        let mut sent = false;
        let mut first_audio = None;
        let result = loop {
            let piece = match tokio::time::timeout(self.timeout, pieces.next()).await {
                Err(_) => Err(timed_out("text to speech", self.timeout)),
                Ok(None) => break Ok(first_audio),
                Ok(Some(piece)) => piece,
            };
            match piece {
                Err(f) => break Err(f),
                Ok(pcm) => {
                    if !sent {
                        let took = asked.elapsed();
                        self.metrics.voice_turn(VoiceTurnStage::FirstAudio, took);
                        first_audio = Some(took);
                        sent = true;
                    }
                    if keep {
                        kept.extend_from_slice(&pcm);
                    }
                    out.send(AgentEvent::Speech { answer, item, pcm, complete: false });
                }
            }
        };
        if sent {
            out.send(AgentEvent::Speech { answer, item, pcm: Vec::new(), complete: true });
        }
        if keep && result.is_ok() && !kept.is_empty() {
            self.lines.put(&voice, text, kept.into());
        }
        result
    }
}

fn ms(d: Duration) -> u32 {
    d.as_millis().min(u128::from(u32::MAX)) as u32
}

fn timed_out(what: &str, timeout: Duration) -> AgentFailure {
    AgentFailure::new(ErrorCode::AgentTimeout, format!("{what} took longer than {} ms", timeout.as_millis()))
}
