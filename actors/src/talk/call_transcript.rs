//! What a talking call keeps of its conversation: each line as the visitor said or heard it
//! (the talk machine cuts an interrupted answer to what was played), and the turn metrics. It
//! runs on the call's media worker, fed the call's [`TalkEvent`]s there, so a line needs no
//! actor and the lines of a call that ends mid-answer are kept too.

use crate::clock;
use crate::metrics::{Metrics, VoiceTurnStage};
use crate::store::{records, Store};
use std::sync::Arc;
use voxgate_engine::conversation::MessageStatus;
use voxgate_engine::ids::{CallId, ConversationId};
use voxgate_engine::talk::{SpokenLine, TalkEvent};

/// One talking call's transcript and metrics.
pub struct CallTranscript {
    call: CallId,
    conversation: ConversationId,
    store: Store,
    metrics: Arc<Metrics>,
}

impl CallTranscript {
    pub fn new(call: CallId, conversation: ConversationId, store: Store, metrics: Arc<Metrics>) -> Self {
        CallTranscript { call, conversation, store, metrics }
    }

    /// Keeps what `event` says for the record; hands back the event unless it was only that.
    pub fn observe(&self, event: TalkEvent) -> Option<TalkEvent> {
        match event {
            TalkEvent::Line(line) => {
                if line.status == MessageStatus::Backchannel {
                    self.metrics.backchannels.inc();
                }
                self.record(line);
                return None;
            }
            TalkEvent::ToolUsed { line, offset_ms } => {
                let (conversation, call) = (self.conversation.clone(), self.call.clone());
                drop(self.store.write(move |c| {
                    records::append_tool_line(c, &conversation, Some((&call, offset_ms)), &line, clock::now())
                        .map(|_| ())
                }));
                return None;
            }
            TalkEvent::BargeIn { .. } => self.metrics.barge_ins.inc(),
            TalkEvent::FalseInterruption { .. } => self.metrics.false_interruptions.inc(),
            TalkEvent::TurnEnded { ended, decided, .. }
            | TalkEvent::OverlapEnded { ended, decided: Some(decided), .. } => {
                self.metrics.end_of_turn(decided, ended.elapsed())
            }
            TalkEvent::AgentSpeechStarted { after_turn: Some(after), .. } => {
                self.metrics.voice_turn(VoiceTurnStage::EndOfSpeechToFirstAudio, after)
            }
            TalkEvent::Underrun { .. } => self.metrics.playout_underruns.inc(),
            _ => {}
        }
        Some(event)
    }

    fn record(&self, line: SpokenLine) {
        let line = records::VoiceLine {
            conversation: self.conversation.clone(),
            call: self.call.clone(),
            role: line.role,
            text: line.text,
            status: line.status,
            offset_ms: line.offset_ms,
            error_code: line.error_code,
            latency: line.latency,
        };
        // Queued in order; the store drains its queue before a shutdown completes.
        drop(self.store.write(move |c| records::append_voice_line(c, &line, clock::now())));
    }
}
