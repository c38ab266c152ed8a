//! A talking call's talk state machine, sans-IO: the visitor's Opus decoded at 16 kHz, voice
//! activity and turn-taking on it, the visitor's turn captured for speech recognition (with the
//! `prefix_padding_ms` before it), optionally a continuous stream for a realtime provider, the
//! agent's speech played out one Opus packet per 20 ms, and its answers kept as the visitor
//! heard them (`answers`). A barge-in stops the playout at once, here, before anyone else hears
//! of it. [`AgentEvent`]s go in; [`TalkEvent`]s come out, for the agent and the call alike.

use crate::audio::{frame_samples, is_dtx, OpusDecoder, OpusEncoder, Resampler};
use crate::conversation::MessageStatus;
use crate::talk::answers::Answers;
use crate::talk::event::TalkEvent;
use crate::talk::interruption::{classify, Held, Overheard, Overlap};
use crate::talk::playout::PlayoutEvent;
use crate::talk::turn_detector::FRAME;
use crate::talk::{AgentEvent, TurnDetector, TurnEvent, VoiceDetector};
use crate::talk::{Playout, TurnConfig};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The rate the visitor's audio is decoded, judged and captured at.
pub const LISTEN_RATE: u32 = 16_000;

/// The rate the agent's speech is queued and encoded at (what speech synthesis gives).
pub const SPEAK_RATE: u32 = 24_000;

/// Longest visitor turn captured; past it the turn ends as if the visitor had paused.
const MAX_TURN: Duration = Duration::from_secs(30);

/// How a talking call listens and speaks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TalkConfig {
    pub turn: TurnConfig,
    /// Also stream the visitor's audio at this rate while they have the floor (from the
    /// pre-roll before their speech on), for a realtime provider.
    pub stream_rate: Option<u32>,
    /// The agent recognises the visitor's speech over it on request
    /// ([`TalkEvent::OverlapEnded`]): interruptions are held until heard out, and backchannels
    /// kept (`turn.false_interruption_ms`). Without, an interruption stops the agent at once.
    pub hears_overlaps: bool,
}

/// One call's conversation.
pub struct Talk {
    decoder: OpusDecoder,
    vad: VoiceDetector,
    turn: TurnDetector,
    /// The latest audio, kept while nobody has the floor: the pre-roll of the next turn (the
    /// last `preroll_turn` samples), and speech too brief to interrupt the agent.
    preroll: VecDeque<i16>,
    preroll_max: usize,
    preroll_turn: usize,
    /// The agent's answer, held while the visitor's speech over it is heard out.
    held: Option<Held>,
    /// The visitor's transport went silent: the agent's voice waits for it to come back.
    lost: bool,
    /// Overlaps the agent was asked to hear out, by id.
    overlaps: HashMap<u64, Overlap>,
    next_overlap: u64,
    /// The visitor's turn so far, while they have the floor.
    capture: Option<Vec<i16>>,
    /// Where the visitor's audio heard so far ends (packets, or silence heard while their
    /// sender paused).
    heard: Option<Instant>,
    /// The visitor's sender paused for silence (Opus DTX): until its next packet, the visitor
    /// is known to be silent, and the clock hears that silence.
    sender_paused: bool,
    stream: Option<Resampler>,
    playout: Playout,
    encoder: OpusEncoder,
    /// RTP time of the agent's speech: a clock at 48 kHz from its first frame, so silences
    /// between utterances advance it as they should.
    rtp_base: Option<(Instant, u32)>,
    /// The first frame of a talkspurt carries the RTP marker.
    talkspurt: bool,
    answers: Answers,
    events: VecDeque<TalkEvent>,
    /// When the call connected: tool lines are placed from it.
    connected_at: Option<Instant>,
    /// The agent ended the call: hang up once its playout is drained.
    hang_up: bool,
}

/// A frame of silence at [`LISTEN_RATE`], heard while the visitor's sender is paused.
const SILENT_FRAME: [i16; LISTEN_RATE as usize / 50] = [0; LISTEN_RATE as usize / 50];

/// Largest message a visitor's page may send on the data channel (a page action's result).
const PAGE_MESSAGE_LIMIT: usize = 128 * 1024;

/// One 20 ms Opus packet of the agent's speech, ready for RTP.
pub struct SpeechFrame {
    pub payload: Vec<u8>,
    pub rtp_time: u32,
    pub marker: bool,
}

impl Talk {
    pub fn new(config: TalkConfig, now: Instant) -> Result<Talk, crate::audio::AudioError> {
        let turn = TurnConfig {
            false_interruption_ms: config.turn.false_interruption_ms.filter(|_| config.hears_overlaps),
            ..config.turn
        };
        // The speech that gave the visitor the floor, and as much again from before it; and
        // enough for speech over the agent too brief to interrupt it, with a margin.
        let frames = |ms: u32| frame_samples(LISTEN_RATE) * ms.div_ceil(20) as usize;
        let preroll_turn = 2 * frames(config.turn.prefix_padding_ms);
        let preroll_max = preroll_turn.max(frames(config.turn.interrupt_min_ms + 200));
        Ok(Talk {
            decoder: OpusDecoder::new(LISTEN_RATE)?,
            vad: VoiceDetector::new(config.turn.threshold),
            turn: TurnDetector::new(turn, now),
            preroll: VecDeque::with_capacity(preroll_max),
            preroll_max,
            preroll_turn,
            held: None,
            lost: false,
            overlaps: HashMap::new(),
            next_overlap: 0,
            capture: None,
            heard: None,
            sender_paused: false,
            stream: config.stream_rate.map(|rate| Resampler::new(LISTEN_RATE, rate)).transpose()?,
            playout: Playout::new(SPEAK_RATE),
            encoder: OpusEncoder::new(SPEAK_RATE)?,
            rtp_base: None,
            talkspurt: true,
            answers: Answers::new(now),
            events: VecDeque::new(),
            connected_at: None,
            hang_up: false,
        })
    }

    /// One of the visitor's Opus packets, received at `at`. A packet that does not decode is
    /// dropped (the turn detector just hears nothing for it). A sender sends a packet once its
    /// audio is captured, so the packet's audio ended at about `at`: its last 20 ms frame began
    /// 20 ms before, and so on back. (Stamping frames from `at` onward put every end of speech
    /// one frame late.) A DTX packet ([`crate::audio::is_dtx`]) pauses the sender: silence is heard by the
    /// clock until the next packet.
    pub fn on_packet(&mut self, at: Instant, payload: &[u8]) {
        if is_dtx(payload) {
            self.hear_silence(at);
            self.sender_paused = true;
            return;
        }
        let Ok(pcm) = self.decoder.decode(payload) else { return };
        let pcm = pcm.to_vec();
        let frame = frame_samples(LISTEN_RATE);
        let frames = pcm.len() / frame;
        let first = at.checked_sub(FRAME * frames as u32).unwrap_or(at);
        let resumed = std::mem::take(&mut self.sender_paused);
        if resumed {
            self.hear_silence(first);
        }
        for (i, chunk) in pcm.chunks_exact(frame).enumerate() {
            let mut frame_at = first + FRAME * i as u32;
            if resumed {
                // The clock may have heard silence a little past where this packet's audio
                // began (it arrived late): its frames follow that silence.
                frame_at = self.heard.map_or(frame_at, |heard| frame_at.max(heard));
            }
            let speech = self.vad.is_speech(chunk).unwrap_or(false);
            self.on_frame(frame_at, chunk, speech);
        }
    }

    /// While the visitor's sender is paused for silence, the 20 ms frames of it that ended by
    /// `until`, heard as if they had come. While silence changes nothing (nobody is speaking,
    /// no turn or hold is open) only the pre-roll's length of it is heard.
    fn hear_silence(&mut self, until: Instant) {
        let Some(mut at) = self.heard else {
            self.heard = Some(until);
            return;
        };
        if !self.silence_matters() {
            let keep = FRAME * (self.preroll_max / SILENT_FRAME.len() + 1) as u32;
            at = at.max(until.checked_sub(keep).unwrap_or(at));
        }
        while at + FRAME <= until {
            self.on_frame(at, &SILENT_FRAME, false);
            at += FRAME;
        }
        self.heard = Some(at);
    }

    /// Whether another frame of silence could change anything: a run of speech or a turn to
    /// end, a capture or a realtime stream to fill, a held answer to resume.
    fn silence_matters(&self) -> bool {
        self.turn.hears_silence() || self.capture.is_some() || self.held.is_some()
    }

    /// One 20 ms frame of the visitor's audio that began at `at`, with the voice activity
    /// detector's verdict on it.
    fn on_frame(&mut self, at: Instant, frame: &[i16], speech: bool) {
        self.heard = Some(at + FRAME);
        if self.capture.is_some() {
            self.stream_out(frame);
        }
        match &mut self.capture {
            Some(capture) => capture.extend_from_slice(frame),
            None => {
                self.preroll.extend(frame.iter().copied());
                let excess = self.preroll.len().saturating_sub(self.preroll_max);
                self.preroll.drain(..excess);
            }
        }
        match self.turn.on_frame(at, speech) {
            Some(TurnEvent::SpeechStarted { at }) => {
                self.start_capture();
                self.events.push_back(TalkEvent::VisitorSpeechStarted { at });
                let caption = r#"{"type":"input_audio_buffer.speech_started"}"#;
                self.events.push_back(TalkEvent::Caption(caption.to_string()));
            }
            Some(TurnEvent::BargeIn { at }) => {
                match self.turn.config().false_interruption_ms {
                    Some(ms) => self.hold(at, at + Duration::from_millis(ms.into())),
                    None => self.stop_agent(at),
                }
                self.start_capture();
            }
            Some(TurnEvent::SpokeOver { started, ended }) => {
                if self.turn.config().false_interruption_ms.is_some() {
                    let audio: Arc<[i16]> = self.preroll.iter().copied().collect();
                    // A streaming recogniser hears it too (it streams only with the floor).
                    self.stream_out(&audio);
                    self.overheard(Overlap::Brief { started }, audio, started, ended);
                }
            }
            Some(TurnEvent::TurnEnded { started, ended }) => self.end_turn(started, ended),
            Some(TurnEvent::Paused { ended }) => {
                if let Some(capture) = &self.capture {
                    self.events
                        .push_back(TalkEvent::VisitorPaused { audio: capture.as_slice().into(), ended });
                }
            }
            Some(TurnEvent::Judge { id, ended, deadline }) => {
                if let Some(capture) = &self.capture {
                    let audio = capture.as_slice().into();
                    self.events.push_back(TalkEvent::JudgeTurn { id, audio, ended, deadline });
                }
            }
            Some(TurnEvent::IdlePrompt | TurnEvent::IdleTimeout) | None => {}
        }
        // Past the hold's window, the agent resumes as soon as the visitor is silent.
        if self.held.as_ref().is_some_and(|h| h.expired) {
            self.resume_if_heard_out(at);
        }
        // A visitor who never pauses still gets an answer.
        let max = LISTEN_RATE as usize * MAX_TURN.as_secs() as usize;
        if self.capture.as_ref().is_some_and(|c| c.len() >= max) {
            if let Some(TurnEvent::TurnEnded { started, ended }) =
                self.turn.end_turn(at + Duration::from_millis(20))
            {
                self.end_turn(started, ended);
            }
        }
    }

    fn start_capture(&mut self) {
        if self.capture.is_none() {
            let older = self.preroll.len().saturating_sub(self.preroll_turn);
            self.preroll.drain(..older);
            let preroll: Vec<i16> = self.preroll.drain(..).collect();
            self.stream_out(&preroll);
            self.capture = Some(preroll);
        }
    }

    /// Streams the visitor's audio (resampled) to a realtime provider.
    fn stream_out(&mut self, pcm: &[i16]) {
        let Some(stream) = self.stream.as_mut() else { return };
        let mut out = Vec::with_capacity(pcm.len() * 2);
        if stream.push(pcm, &mut out).is_ok() && !out.is_empty() {
            self.events.push_back(TalkEvent::VisitorAudio(out.into()));
        }
    }

    fn end_turn(&mut self, started: Instant, ended: Instant) {
        if self.held.is_some() {
            // Speech over the held agent: heard out before anything is answered.
            if let Some(audio) = self.capture.take() {
                self.overheard(Overlap::Held { started, ended }, audio.into(), started, ended);
            }
            return;
        }
        if let Some(audio) = self.capture.take() {
            self.answers.turn_ended(ended);
            let decided = self.turn.last_decision();
            self.events.push_back(TalkEvent::TurnEnded { audio: audio.into(), started, ended, decided });
        }
    }

    /// Stops the agent at once: the visitor has the floor. Before the audio it starts streaming,
    /// the agent stops answering.
    fn stop_agent(&mut self, at: Instant) {
        self.held = None;
        let stopped = self.playout.stop();
        self.talkspurt = true;
        self.events.push_back(TalkEvent::BargeIn { at, stopped });
        self.answers.barge_in(stopped, &mut self.events);
    }

    /// Holds the agent while the visitor, who began talking over it at `at`, is heard out.
    fn hold(&mut self, at: Instant, deadline: Instant) {
        match &mut self.held {
            Some(held) => {
                held.deadline = held.deadline.max(deadline);
                held.expired = false;
            }
            None => {
                self.playout.hold();
                self.talkspurt = true;
                let hearing = BTreeSet::new();
                self.held = Some(Held { at, deadline, expired: false, hearing, backchannel: false });
            }
        }
    }

    /// Asks the agent for the words of the visitor's speech over it.
    fn overheard(&mut self, overlap: Overlap, audio: Arc<[i16]>, started: Instant, ended: Instant) {
        self.next_overlap += 1;
        let id = self.next_overlap;
        self.overlaps.insert(id, overlap);
        if let (Some(held), Overlap::Held { .. }) = (&mut self.held, overlap) {
            held.hearing.insert(id);
        }
        let decided = matches!(overlap, Overlap::Held { .. }).then(|| self.turn.last_decision());
        self.events.push_back(TalkEvent::OverlapEnded { id, audio, started, ended, decided });
    }

    /// The words of overlap `id`: an interruption takes the floor; a backchannel is kept; with
    /// nothing left to hear, a held agent resumes.
    fn on_overheard(&mut self, now: Instant, id: u64, text: String) {
        let Some(overlap) = self.overlaps.remove(&id) else { return };
        if let Some(held) = &mut self.held {
            held.hearing.remove(&id);
        }
        match (overlap, classify(&text)) {
            (_, Overheard::Nothing) => {}
            (Overlap::Held { started, ended }, Overheard::Interruption) => {
                self.stop_agent(started);
                self.answers.turn_ended(ended);
                self.events.push_back(TalkEvent::TurnHeard { id, started, ended });
                return;
            }
            (Overlap::Brief { started } | Overlap::Held { started, .. }, _) => {
                if let Some(held) = &mut self.held {
                    held.backchannel = true;
                }
                self.answers.visitor_said(text, started, MessageStatus::Backchannel, &mut self.events);
            }
        }
        self.resume_if_heard_out(now);
    }

    /// Resumes a held agent once the visitor is silent and either everything they said is
    /// heard, or the hold's window has passed.
    fn resume_if_heard_out(&mut self, now: Instant) {
        let Some(held) = &self.held else { return };
        let silent = self.turn.state() != crate::talk::TurnState::VisitorSpeaking;
        if !silent || !(held.hearing.is_empty() || held.expired) {
            return;
        }
        if !held.backchannel {
            let held_ms = now.saturating_duration_since(held.at).as_millis() as u32;
            self.events.push_back(TalkEvent::FalseInterruption { held_ms });
        }
        self.held = None;
        if !self.lost {
            self.playout.resume(now);
        }
        if self.playout.is_busy() {
            self.turn.agent_speaking();
        }
    }

    /// The visitor's network went silent: the agent's voice pauses at the sample it reached,
    /// so nothing unheard is said (a call that ends now keeps its answer to that sample), and
    /// goes on from there if the network comes back ([`Talk::transport_back`]).
    pub fn transport_lost(&mut self, _now: Instant) {
        self.lost = true;
        // Nothing is known of the visitor now, silence included.
        self.sender_paused = false;
        self.playout.hold();
    }

    /// The visitor's packets come again (an ICE restart within the grace): the agent's voice
    /// goes on where it paused, unless the visitor's speech is holding it.
    pub fn transport_back(&mut self, now: Instant) {
        self.lost = false;
        if self.held.is_none() {
            self.playout.resume(now);
        }
    }

    /// The end-of-turn model's answer to `TalkEvent::JudgeTurn { id }`: the probability that
    /// the visitor has finished, or `None` when it gave none (missing, busy, late, failed).
    pub fn on_turn_judged(&mut self, now: Instant, id: u64, finished: Option<f32>) {
        if let Some(TurnEvent::TurnEnded { started, ended }) = self.turn.judged(id, finished, now) {
            self.end_turn(started, ended);
        }
    }

    /// What ended the visitor's last turn (the silence rule, the model, or its longest wait).
    pub fn last_turn_decision(&self) -> crate::talk::turn_detector::TurnDecision {
        self.turn.last_decision()
    }

    /// What the agent did, stamped with the barge-ins it had seen (`epoch`): whatever it sent
    /// for an answer the visitor already talked over is dropped.
    pub fn on_agent(&mut self, now: Instant, epoch: u64, event: AgentEvent) {
        if epoch < self.answers.epoch {
            return;
        }
        match event {
            AgentEvent::VisitorSaid { text, started } => {
                self.answers.visitor_said(text, started, MessageStatus::Complete, &mut self.events)
            }
            AgentEvent::Overheard { id, text } => self.on_overheard(now, id, text),
            AgentEvent::WordsJudged { ended, finished } => {
                if let Some(TurnEvent::TurnEnded { started, ended }) = self.turn.words_judged(ended, finished)
                {
                    self.end_turn(started, ended);
                }
            }
            AgentEvent::VisitorPartial { delta } => {
                let caption = serde_json::json!({"type": "conversation.item.input_audio_transcription.delta",
                                                 "delta": delta});
                self.events.push_back(TalkEvent::Caption(caption.to_string()));
            }
            AgentEvent::Text { answer, item, text } => {
                self.answers.text(now, answer, item, &text, &mut self.events)
            }
            AgentEvent::Speech { answer, item, pcm, complete } => {
                self.answers.audio(now, answer, item, pcm.len());
                self.turn.agent_turn();
                self.playout.push(now, item, &pcm, complete);
            }
            AgentEvent::Done { answer } => {
                if !self.playout.is_busy() {
                    self.turn.agent_done(now);
                }
                self.answers.done(now, answer, &mut self.events);
            }
            AgentEvent::Failed { answer, code, .. } => self.answers.failed(now, answer, code),
            AgentEvent::Tool { line } => {
                let offset_ms =
                    self.connected_at.map_or(0, |c| now.saturating_duration_since(c).as_millis() as i64);
                self.events.push_back(TalkEvent::ToolUsed { line, offset_ms });
            }
            AgentEvent::PageCall { call_id, name, arguments, timeout_ms } => {
                let event = serde_json::json!({"type": "response.function_call_arguments.done",
                    "call_id": call_id, "name": name, "arguments": arguments, "timeout_ms": timeout_ms});
                self.events.push_back(TalkEvent::Caption(event.to_string()));
            }
            AgentEvent::Stages { answer, latency } => self.answers.stages(answer, latency),
            AgentEvent::EndCall => {
                self.hang_up = true;
                self.hang_up_if_drained();
            }
        }
    }

    /// Hangs up once the agent ended the call and nothing of its is left to play.
    fn hang_up_if_drained(&mut self) {
        if self.hang_up && !self.playout.is_busy() {
            self.hang_up = false;
            self.events.push_back(TalkEvent::HangUp);
        }
    }

    /// A message from the visitor's data channel. A page action's result
    /// (`conversation.item.create` with a `function_call_output` item, as OpenAI Realtime's
    /// clients send it) goes to the agent; anything else is ignored.
    pub fn on_page_message(&mut self, data: &[u8]) {
        if data.len() > PAGE_MESSAGE_LIMIT {
            return;
        }
        let Ok(message) = serde_json::from_slice::<serde_json::Value>(data) else { return };
        let item = &message["item"];
        if message["type"] != "conversation.item.create" || item["type"] != "function_call_output" {
            return;
        }
        let (Some(call_id), Some(output)) = (item["call_id"].as_str(), item["output"].as_str()) else {
            return;
        };
        self.events
            .push_back(TalkEvent::PageAnswered { call_id: call_id.to_string(), output: output.to_string() });
    }

    /// The call connected: the visitor can be heard from `now`.
    pub fn connected(&mut self, now: Instant) {
        self.connected_at = Some(now);
        self.turn.connected(now);
        self.answers.connected(now);
        self.events.push_back(TalkEvent::Connected);
    }

    /// The call ended: what was still playing or coming is recorded as interrupted, cut at the
    /// sample the visitor heard last.
    pub fn finish(&mut self) {
        let stopped = self.playout.stop();
        self.answers.finish(stopped, &mut self.events);
    }

    /// When [`Talk::poll_frame`], the idle clock or a held interruption next has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let held = self.held.as_ref().filter(|h| !h.expired).map(|h| h.deadline);
        // While the visitor's sender is paused, each frame of silence that matters is heard
        // when it ends, as a packet would have brought it.
        let silence = (self.sender_paused && self.silence_matters()).then(|| self.heard.map(|h| h + FRAME));
        [self.playout.poll_timeout(), self.turn.poll_timeout(), held, silence.flatten()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The agent's frame due by `now`, encoded; also runs the idle clock, and hears the
    /// silence of a paused sender.
    pub fn poll_frame(&mut self, now: Instant) -> Option<SpeechFrame> {
        if self.sender_paused {
            self.hear_silence(now);
        }
        if let Some(held) = self.held.as_mut().filter(|h| !h.expired && now >= h.deadline) {
            held.expired = true;
            self.resume_if_heard_out(now);
        }
        match self.turn.handle_timeout(now) {
            Some(TurnEvent::IdlePrompt) => self.events.push_back(TalkEvent::IdlePrompt),
            Some(TurnEvent::IdleTimeout) => self.events.push_back(TalkEvent::IdleTimeout),
            _ => {}
        }
        let pulled = self.playout.pull(now);
        while let Some(e) = self.playout.poll_event() {
            match e {
                PlayoutEvent::Started { item } => {
                    self.turn.agent_speaking();
                    let mut captions = VecDeque::new();
                    let after_turn = self.answers.started(item, now, &mut captions);
                    self.events.push_back(TalkEvent::AgentSpeechStarted { item, at: now, after_turn });
                    self.events.extend(captions);
                }
                PlayoutEvent::Finished { item, played_ms } => {
                    self.events.push_back(TalkEvent::AgentSpeechFinished { item, played_ms });
                    self.answers.finished(item, &mut self.events);
                }
                PlayoutEvent::Underrun { item } => self.events.push_back(TalkEvent::Underrun { item }),
            }
        }
        if !self.playout.is_busy() {
            self.turn.agent_done(now);
            self.talkspurt = true;
            self.hang_up_if_drained();
        }
        let (_, pcm) = pulled?;
        let payload = self.encoder.encode(&pcm).ok()?.to_vec();
        let (base_at, base_rtp) = *self.rtp_base.get_or_insert((now, 0));
        let elapsed = now.saturating_duration_since(base_at);
        let rtp_time = base_rtp.wrapping_add((elapsed.as_micros() * 48 / 1000) as u32);
        let marker = std::mem::replace(&mut self.talkspurt, false);
        Some(SpeechFrame { payload, rtp_time, marker })
    }

    /// Frames the playout paused for want of audio, since the start.
    pub fn underruns(&self) -> u64 {
        self.playout.underruns()
    }

    pub fn poll_event(&mut self) -> Option<TalkEvent> {
        self.events.pop_front()
    }
}
