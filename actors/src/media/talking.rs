//! A talking call's agent as its `CallActor` sees it: what the call's turn engine decided goes
//! to the agent, what the agent says goes to the worker's playout, and both sides' words go to
//! the conversation's transcript, the agent's as the visitor heard them. A barge-in closes every
//! answer still playing or coming, as interrupted and cut to what was played; whatever the agent
//! still sends for them is dropped.

use super::worker::{Command, WorkerHandle};
use crate::clock;
use crate::metrics::{Metrics, VoiceTurnStage};
use crate::store::{records, Store};
use crate::voices::{AgentEvent, AgentOutput, CallInput};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use voxgate_engine::conversation::{MessageRole, MessageStatus};
use voxgate_engine::ids::{CallId, ConversationId};
use voxgate_engine::session::EndReason;
use voxgate_engine::voice::spoken::SpokenAnswer;
use voxgate_engine::voice::talk::TalkEvent;
use voxgate_engine::voice::CallKey;
use voxgate_engine::ErrorCode;

/// One answer as it is queued and played.
struct Answer {
    spoken: SpokenAnswer,
    /// When the agent began it (its offset if it never played).
    begun: Instant,
    /// When its first frame played.
    played_from: Option<Instant>,
    /// The agent has sent all of it.
    done: bool,
    failed: Option<ErrorCode>,
    /// Some of its words have been shown as captions.
    captioned: bool,
}

/// The call's side of its talking agent.
pub(crate) struct TalkingAgent {
    input: mpsc::UnboundedSender<CallInput>,
    worker: WorkerHandle,
    key: CallKey,
    call: CallId,
    conversation: ConversationId,
    store: Store,
    metrics: Arc<Metrics>,
    /// Barge-ins so far; the agent stamps what it sends with the count it had seen.
    epoch: u64,
    answers: BTreeMap<u64, Answer>,
    item_answer: HashMap<u64, u64>,
    /// The call's start, for transcript offsets (its connect; its answer until then).
    start: Instant,
    /// The end of the visitor's last turn, until the answer to it starts playing.
    turn_ended: Option<Instant>,
    /// Utterances whose playing started, and how much of their text the captions have shown.
    captioned: HashMap<u64, usize>,
}

impl TalkingAgent {
    pub fn new(
        input: mpsc::UnboundedSender<CallInput>,
        worker: WorkerHandle,
        key: CallKey,
        call: CallId,
        conversation: ConversationId,
        store: Store,
        metrics: Arc<Metrics>,
    ) -> TalkingAgent {
        TalkingAgent {
            input,
            worker,
            key,
            call,
            conversation,
            store,
            metrics,
            epoch: 0,
            answers: BTreeMap::new(),
            item_answer: HashMap::new(),
            start: Instant::now(),
            turn_ended: None,
            captioned: HashMap::new(),
        }
    }

    pub fn connected(&mut self, at: Instant) {
        self.start = at;
        self.tell(CallInput::Connected);
    }

    fn tell(&self, input: CallInput) {
        // The agent's loop ends only with the call.
        let _ = self.input.send(input);
    }

    /// What the call's turn engine did; `Some` when the call should end.
    pub fn on_talk(&mut self, event: TalkEvent) -> Option<EndReason> {
        match event {
            TalkEvent::VisitorSpeechStarted { .. } => {
                self.caption(json!({"type": "input_audio_buffer.speech_started"}));
            }
            TalkEvent::TurnEnded { audio, started, ended } => {
                self.turn_ended = Some(ended);
                self.tell(CallInput::Turn { audio, started, ended });
            }
            TalkEvent::VisitorPaused { audio, ended } => self.tell(CallInput::Paused { audio, ended }),
            TalkEvent::VisitorAudio(pcm) => self.tell(CallInput::Audio(pcm)),
            TalkEvent::BargeIn { stopped, .. } => {
                self.metrics.barge_ins.inc();
                self.epoch += 1;
                self.turn_ended = None;
                if let Some((item, played_ms)) = stopped {
                    if let Some(answer) = self.item_answer.get(&item).and_then(|a| self.answers.get_mut(a)) {
                        answer.spoken.stopped(item, played_ms);
                    }
                }
                self.tell(CallInput::BargeIn { stopped });
                let open: Vec<u64> = self.answers.keys().copied().collect();
                for answer in open {
                    self.close(answer, MessageStatus::Interrupted);
                }
            }
            TalkEvent::AgentSpeechStarted { item, at } => {
                if let Some(answer) = self.item_answer.get(&item).and_then(|a| self.answers.get_mut(a)) {
                    answer.played_from.get_or_insert(at);
                }
                self.captioned.insert(item, 0);
                self.caption_item(item);
                if let Some(ended) = self.turn_ended.take() {
                    self.metrics.voice_turn(
                        VoiceTurnStage::EndOfSpeechToFirstAudio,
                        at.saturating_duration_since(ended),
                    );
                }
            }
            TalkEvent::AgentSpeechFinished { item, .. } => {
                if let Some(&answer) = self.item_answer.get(&item) {
                    if let Some(a) = self.answers.get_mut(&answer) {
                        a.spoken.finished(item);
                    }
                    self.settle(answer);
                }
            }
            TalkEvent::Underrun { .. } => self.metrics.playout_underruns.inc(),
            TalkEvent::IdlePrompt => self.tell(CallInput::IdlePrompt),
            TalkEvent::IdleTimeout => return Some(EndReason::IdleTimeout),
        }
        None
    }

    /// What the agent said.
    pub fn on_agent(&mut self, output: AgentOutput) {
        if output.epoch < self.epoch {
            // Sent before the agent heard of a barge-in: for an answer already closed.
            return;
        }
        match output.event {
            AgentEvent::VisitorSaid { text, started } => {
                self.caption(json!({"type": "conversation.item.input_audio_transcription.completed", "transcript": text}));
                let offset = self.offset(started);
                self.record(MessageRole::Visitor, text, MessageStatus::Complete, offset, None);
            }
            AgentEvent::Text { answer, item, text } => {
                self.item_answer.insert(item, answer);
                self.answer(answer).spoken.add_text(item, &text);
                self.caption_item(item);
            }
            AgentEvent::Speech { answer, item, pcm, complete } => {
                self.item_answer.insert(item, answer);
                self.answer(answer).spoken.add_audio(item, pcm.len());
                self.worker.send(Command::Speak { key: self.key, item, pcm, complete });
            }
            AgentEvent::Done { answer } => {
                self.answer(answer).done = true;
                self.worker.send(Command::AgentDone { key: self.key });
                self.settle(answer);
            }
            AgentEvent::Failed { answer, code, .. } => {
                self.answer(answer).failed = Some(code);
            }
        }
    }

    fn answer(&mut self, answer: u64) -> &mut Answer {
        self.answers.entry(answer).or_insert_with(|| Answer {
            spoken: SpokenAnswer::new(),
            begun: Instant::now(),
            played_from: None,
            done: false,
            failed: None,
            captioned: false,
        })
    }

    /// Records `answer` once it is all sent and played.
    fn settle(&mut self, answer: u64) {
        if self.answers.get(&answer).is_some_and(|a| a.done && a.spoken.played_out()) {
            self.close(answer, MessageStatus::Complete);
        }
    }

    /// Records `answer` as heard, with `status` unless it failed, and forgets it.
    fn close(&mut self, answer: u64, status: MessageStatus) {
        let Some(a) = self.answers.remove(&answer) else { return };
        let captioned = &mut self.captioned;
        self.item_answer.retain(|item, owner| {
            if *owner == answer {
                captioned.remove(item);
            }
            *owner != answer
        });
        let heard = a.spoken.heard();
        let status = if a.failed.is_some() { MessageStatus::Failed } else { status };
        let offset = self.offset(a.played_from.unwrap_or(a.begun));
        self.caption(json!({"type": "response.done", "response_id": format!("answer_{answer}"),
                            "status": status.as_str(), "transcript": heard}));
        self.tell(CallInput::Heard { answer, text: heard.clone() });
        // An answer nobody heard a word of, and that did not fail, leaves no line.
        if heard.is_empty() && a.failed.is_none() {
            return;
        }
        self.record(MessageRole::Agent, heard, status, offset, a.failed.map(ErrorCode::as_str));
    }

    /// An event for the visitor's captions (sent on their data channel, if they opened one).
    fn caption(&self, event: serde_json::Value) {
        self.worker.send(Command::Event { key: self.key, text: event.to_string() });
    }

    /// Shows the words of utterance `item` not shown yet, once it plays.
    fn caption_item(&mut self, item: u64) {
        let Some(&answer) = self.item_answer.get(&item) else { return };
        let (Some(shown), Some(a)) = (self.captioned.get_mut(&item), self.answers.get_mut(&answer)) else {
            return;
        };
        let text = a.spoken.text_of(item);
        if text.len() > *shown {
            // Utterances are sentences: a space keeps one apart from the one before on screen.
            let gap = if *shown == 0 && std::mem::replace(&mut a.captioned, true) { " " } else { "" };
            let delta = format!("{gap}{}", &text[*shown..]);
            *shown = text.len();
            let event = json!({"type": "response.output_audio_transcript.delta",
                               "response_id": format!("answer_{answer}"), "delta": delta});
            self.worker.send(Command::Event { key: self.key, text: event.to_string() });
        }
    }

    fn offset(&self, at: Instant) -> i64 {
        at.saturating_duration_since(self.start).as_millis() as i64
    }

    fn record(
        &self,
        role: MessageRole,
        text: String,
        status: MessageStatus,
        offset_ms: i64,
        error_code: Option<&'static str>,
    ) {
        let line = records::VoiceLine {
            conversation: self.conversation.clone(),
            call: self.call.clone(),
            role,
            text,
            status,
            offset_ms,
            error_code,
        };
        // Queued in order; the store drains its queue before a shutdown completes.
        drop(self.store.write(move |c| records::append_voice_line(c, &line, clock::now())));
    }

    /// The call ended: what was still playing or coming is recorded as interrupted.
    pub fn finish(&mut self) {
        let open: Vec<u64> = self.answers.keys().copied().collect();
        for answer in open {
            self.close(answer, MessageStatus::Interrupted);
        }
    }
}
