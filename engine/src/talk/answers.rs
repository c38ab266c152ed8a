//! The agent's answers in one call, as the visitor hears them: which utterance belongs to which
//! answer, what has played, the captions shown so far, and the transcript line each answer
//! leaves once it is played out or cut off. A barge-in closes every answer still playing or
//! coming, as interrupted and cut to what was played; what the agent still sends for them is
//! dropped by its epoch (the barge-ins it had seen when it sent it).

use super::event::{SpokenLine, TalkEvent, TurnLatency};
use super::spoken::SpokenAnswer;
use crate::conversation::{MessageRole, MessageStatus};
use crate::ErrorCode;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

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
    latency: TurnLatency,
}

/// Every answer of one call still playing or coming.
pub(crate) struct Answers {
    /// Barge-ins so far.
    pub epoch: u64,
    answers: BTreeMap<u64, Answer>,
    item_answer: HashMap<u64, u64>,
    /// The call's start, for transcript offsets (its connect; its answer until then).
    start: Instant,
    /// The end of the visitor's last turn, until the answer to it starts playing.
    turn_ended: Option<Instant>,
    /// Utterances whose playing started, and how much of their text the captions have shown.
    captioned: HashMap<u64, usize>,
}

impl Answers {
    pub fn new(now: Instant) -> Answers {
        Answers {
            epoch: 0,
            answers: BTreeMap::new(),
            item_answer: HashMap::new(),
            start: now,
            turn_ended: None,
            captioned: HashMap::new(),
        }
    }

    pub fn connected(&mut self, at: Instant) {
        self.start = at;
    }

    pub fn turn_ended(&mut self, ended: Instant) {
        self.turn_ended = Some(ended);
    }

    /// The visitor talked over the agent; `stopped` is the utterance whose playout stopped and
    /// how much of it had played. Every open answer is closed as interrupted.
    pub fn barge_in(&mut self, stopped: Option<(u64, u32)>, out: &mut VecDeque<TalkEvent>) {
        self.epoch += 1;
        self.turn_ended = None;
        self.cut(stopped);
        self.close_all(MessageStatus::Interrupted, out);
    }

    /// The utterance `stopped` was cut after its played milliseconds: its answer keeps the
    /// words that time covers.
    fn cut(&mut self, stopped: Option<(u64, u32)>) {
        if let Some((item, played_ms)) = stopped {
            if let Some(answer) = self.item_answer.get(&item).and_then(|a| self.answers.get_mut(a)) {
                answer.spoken.stopped(item, played_ms);
            }
        }
    }

    /// Utterance `item` started playing at `at`; how long after the visitor's turn ended, for
    /// the first utterance of an answer to a turn.
    pub fn started(&mut self, item: u64, at: Instant, out: &mut VecDeque<TalkEvent>) -> Option<Duration> {
        let waited = self.turn_ended.take().map(|ended| at.saturating_duration_since(ended));
        if let Some(answer) = self.item_answer.get(&item).and_then(|a| self.answers.get_mut(a)) {
            answer.played_from.get_or_insert(at);
            if let Some(waited) = waited {
                answer.latency.end_of_speech_to_first_audio.get_or_insert(waited.as_millis() as u32);
            }
        }
        self.captioned.insert(item, 0);
        self.caption_item(item, out);
        waited
    }

    /// The agent's own stage times for `answer`.
    pub fn stages(&mut self, answer: u64, latency: TurnLatency) {
        if let Some(a) = self.answers.get_mut(&answer) {
            a.latency.merge(latency);
        }
    }

    /// Utterance `item` played to its end.
    pub fn finished(&mut self, item: u64, out: &mut VecDeque<TalkEvent>) {
        if let Some(&answer) = self.item_answer.get(&item) {
            if let Some(a) = self.answers.get_mut(&answer) {
                a.spoken.finished(item);
            }
            self.settle(answer, out);
        }
    }

    /// The visitor's words, recognised: a turn (`Complete`) or a `Backchannel`.
    pub fn visitor_said(
        &mut self,
        text: String,
        started: Instant,
        status: MessageStatus,
        out: &mut VecDeque<TalkEvent>,
    ) {
        let caption = serde_json::json!({"type": "conversation.item.input_audio_transcription.completed",
                                         "transcript": text});
        out.push_back(TalkEvent::Caption(caption.to_string()));
        let offset_ms = self.offset(started);
        out.push_back(TalkEvent::Line(SpokenLine {
            role: MessageRole::Visitor,
            text,
            status,
            offset_ms,
            error_code: None,
            latency: None,
        }));
    }

    pub fn text(&mut self, now: Instant, answer: u64, item: u64, text: &str, out: &mut VecDeque<TalkEvent>) {
        self.item_answer.insert(item, answer);
        self.answer(now, answer).spoken.add_text(item, text);
        self.caption_item(item, out);
    }

    pub fn audio(&mut self, now: Instant, answer: u64, item: u64, samples: usize) {
        self.item_answer.insert(item, answer);
        self.answer(now, answer).spoken.add_audio(item, samples);
    }

    pub fn done(&mut self, now: Instant, answer: u64, out: &mut VecDeque<TalkEvent>) {
        self.answer(now, answer).done = true;
        self.settle(answer, out);
    }

    pub fn failed(&mut self, now: Instant, answer: u64, code: ErrorCode) {
        self.answer(now, answer).failed = Some(code);
    }

    /// The call ended (`stopped`: the utterance playing then, and how much of it had played):
    /// what was still playing or coming is recorded as interrupted, with the words played up to
    /// the cut.
    pub fn finish(&mut self, stopped: Option<(u64, u32)>, out: &mut VecDeque<TalkEvent>) {
        self.cut(stopped);
        self.close_all(MessageStatus::Interrupted, out);
    }

    fn close_all(&mut self, status: MessageStatus, out: &mut VecDeque<TalkEvent>) {
        let open: Vec<u64> = self.answers.keys().copied().collect();
        for answer in open {
            self.close(answer, status, out);
        }
    }

    fn answer(&mut self, now: Instant, answer: u64) -> &mut Answer {
        self.answers.entry(answer).or_insert_with(|| Answer {
            spoken: SpokenAnswer::new(),
            begun: now,
            played_from: None,
            done: false,
            failed: None,
            captioned: false,
            latency: TurnLatency::default(),
        })
    }

    /// Records `answer` once it is all sent and played.
    fn settle(&mut self, answer: u64, out: &mut VecDeque<TalkEvent>) {
        if self.answers.get(&answer).is_some_and(|a| a.done && a.spoken.played_out()) {
            self.close(answer, MessageStatus::Complete, out);
        }
    }

    /// Records `answer` as heard, with `status` unless it failed, and forgets it.
    fn close(&mut self, answer: u64, status: MessageStatus, out: &mut VecDeque<TalkEvent>) {
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
        let offset_ms = self.offset(a.played_from.unwrap_or(a.begun));
        let done = serde_json::json!({"type": "response.done", "response_id": format!("answer_{answer}"),
                                      "status": status.as_str(), "transcript": heard});
        out.push_back(TalkEvent::Caption(done.to_string()));
        out.push_back(TalkEvent::AnswerHeard { answer, text: heard.clone() });
        // An answer nobody heard a word of, and that did not fail, leaves no line.
        if heard.is_empty() && a.failed.is_none() {
            return;
        }
        out.push_back(TalkEvent::Line(SpokenLine {
            role: MessageRole::Agent,
            text: heard,
            status,
            offset_ms,
            error_code: a.failed.map(ErrorCode::as_str),
            latency: (!a.latency.is_empty()).then_some(a.latency),
        }));
    }

    /// Shows the words of utterance `item` not shown yet, once it plays.
    fn caption_item(&mut self, item: u64, out: &mut VecDeque<TalkEvent>) {
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
            let event = serde_json::json!({"type": "response.output_audio_transcript.delta",
                                           "response_id": format!("answer_{answer}"), "delta": delta});
            out.push_back(TalkEvent::Caption(event.to_string()));
        }
    }

    fn offset(&self, at: Instant) -> i64 {
        at.saturating_duration_since(self.start).as_millis() as i64
    }
}
