//! A talking agent's side of one call, sans-IO: the visitor's Opus decoded at 16 kHz, voice
//! activity and turn-taking on it, the visitor's turn captured for speech recognition (with the
//! `prefix_padding_ms` before it), optionally a continuous stream for a realtime provider, and
//! the agent's speech played out one Opus packet per 20 ms. A barge-in stops the playout at once,
//! here, before anyone else hears of it.

use crate::audio::playout::PlayoutEvent;
use crate::audio::{frame_samples, OpusDecoder, OpusEncoder, Playout, PlayoutItem, Resampler, TurnConfig};
use crate::audio::{TurnDetector, TurnEvent, VoiceDetector};
use std::collections::VecDeque;
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
}

/// What happened in the conversation, for the call's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TalkEvent {
    /// The visitor has the floor; their speech began at `at`.
    VisitorSpeechStarted { at: Instant },
    /// The visitor's turn, for speech recognition: 16 kHz mono PCM from `started` (less the
    /// prefix padding kept before it) to `ended`.
    TurnEnded { audio: Arc<[i16]>, started: Instant, ended: Instant },
    /// The visitor paused after speech that ended at `ended` (with the turn's `pause_ms`):
    /// their turn so far, to recognise early. A `TurnEnded` with the same `ended` is that turn.
    VisitorPaused { audio: Arc<[i16]>, ended: Instant },
    /// The visitor talked over the agent from `at`; the agent's playout stopped at once, having
    /// played `played_ms` of `item` (if one was playing).
    BargeIn { at: Instant, stopped: Option<(PlayoutItem, u32)> },
    /// The visitor's audio at the stream rate while they have the floor, 20 ms at a time
    /// (the pre-roll in one piece first); with `stream_rate` only.
    VisitorAudio(Arc<[i16]>),
    /// The agent's utterance started playing.
    AgentSpeechStarted { item: PlayoutItem, at: Instant },
    /// The agent's utterance played to its end.
    AgentSpeechFinished { item: PlayoutItem, played_ms: u32 },
    /// The agent's speech ran dry mid-utterance and paused (its audio came too slowly).
    Underrun { item: PlayoutItem },
    /// Nobody spoke for the idle timeout: prompt the visitor.
    IdlePrompt,
    /// Still nobody: end the call.
    IdleTimeout,
}

/// One call's conversation.
pub struct Talk {
    decoder: OpusDecoder,
    vad: VoiceDetector,
    turn: TurnDetector,
    /// The last `prefix_padding_ms` of audio, kept while nobody has the floor.
    preroll: VecDeque<i16>,
    preroll_max: usize,
    /// The visitor's turn so far, while they have the floor.
    capture: Option<Vec<i16>>,
    stream: Option<Resampler>,
    playout: Playout,
    encoder: OpusEncoder,
    /// RTP time of the agent's speech: a clock at 48 kHz from its first frame, so silences
    /// between utterances advance it as they should.
    rtp_base: Option<(Instant, u32)>,
    /// The first frame of a talkspurt carries the RTP marker.
    talkspurt: bool,
    events: VecDeque<TalkEvent>,
}

/// One 20 ms Opus packet of the agent's speech, ready for RTP.
pub struct SpeechFrame {
    pub payload: Vec<u8>,
    pub rtp_time: u32,
    pub marker: bool,
}

impl Talk {
    pub fn new(config: TalkConfig, now: Instant) -> Result<Talk, crate::audio::AudioError> {
        // The speech that gave the visitor the floor, and as much again from before it.
        let preroll_max =
            2 * frame_samples(LISTEN_RATE) * config.turn.prefix_padding_ms.div_ceil(20) as usize;
        Ok(Talk {
            decoder: OpusDecoder::new(LISTEN_RATE)?,
            vad: VoiceDetector::new(config.turn.threshold),
            turn: TurnDetector::new(config.turn, now),
            preroll: VecDeque::with_capacity(preroll_max),
            preroll_max,
            capture: None,
            stream: config.stream_rate.map(|rate| Resampler::new(LISTEN_RATE, rate)).transpose()?,
            playout: Playout::new(SPEAK_RATE),
            encoder: OpusEncoder::new(SPEAK_RATE)?,
            rtp_base: None,
            talkspurt: true,
            events: VecDeque::new(),
        })
    }

    /// One of the visitor's Opus packets, received at `at`. A packet that does not decode is
    /// dropped (the turn detector just hears nothing for it). A sender sends a packet once its
    /// audio is captured, so the packet's audio ended at about `at`: its last 20 ms frame began
    /// 20 ms before, and so on back. (Stamping frames from `at` onward put every end of speech
    /// one frame late.)
    pub fn on_packet(&mut self, at: Instant, payload: &[u8]) {
        let Ok(pcm) = self.decoder.decode(payload) else { return };
        let pcm = pcm.to_vec();
        let frame = frame_samples(LISTEN_RATE);
        let frames = pcm.len() / frame;
        for (i, chunk) in pcm.chunks_exact(frame).enumerate() {
            let before = Duration::from_millis(20 * (frames - i) as u64);
            let frame_at = at.checked_sub(before).unwrap_or(at);
            self.on_frame(frame_at, chunk);
        }
    }

    fn on_frame(&mut self, at: Instant, frame: &[i16]) {
        if self.capture.is_some() {
            self.stream_out(frame);
        }
        let speech = self.vad.is_speech(frame).unwrap_or(false);
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
            }
            Some(TurnEvent::BargeIn { at }) => {
                let stopped = self.playout.stop();
                self.talkspurt = true;
                // Before the audio it starts streaming: the agent stops answering first.
                self.events.push_back(TalkEvent::BargeIn { at, stopped });
                self.start_capture();
            }
            Some(TurnEvent::TurnEnded { started, ended }) => self.end_turn(started, ended),
            Some(TurnEvent::Paused { ended }) => {
                if let Some(capture) = &self.capture {
                    self.events
                        .push_back(TalkEvent::VisitorPaused { audio: capture.as_slice().into(), ended });
                }
            }
            Some(TurnEvent::IdlePrompt | TurnEvent::IdleTimeout) | None => {}
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
        if let Some(audio) = self.capture.take() {
            self.events.push_back(TalkEvent::TurnEnded { audio: audio.into(), started, ended });
        }
    }

    /// Queues the agent's speech (24 kHz mono PCM) as part of utterance `item`; `complete`
    /// says no more will come for it.
    pub fn speak(&mut self, now: Instant, item: PlayoutItem, pcm: &[i16], complete: bool) {
        self.turn.agent_turn();
        self.playout.push(now, item, pcm, complete);
    }

    /// Stops the agent's speech (the answer was cancelled); what was playing, and how much.
    pub fn stop_speaking(&mut self, now: Instant) -> Option<(PlayoutItem, u32)> {
        let stopped = self.playout.stop();
        self.talkspurt = true;
        self.turn.agent_done(now);
        stopped
    }

    /// The call connected: the visitor can be heard from `now`.
    pub fn connected(&mut self, now: Instant) {
        self.turn.connected(now);
    }

    /// The agent has nothing (more) to say for the visitor's last turn.
    pub fn agent_done(&mut self, now: Instant) {
        if !self.playout.is_busy() {
            self.turn.agent_done(now);
        }
    }

    /// When [`Talk::poll_frame`] or the idle clock next has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.playout.poll_timeout(), self.turn.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The agent's frame due by `now`, encoded; also runs the idle clock.
    pub fn poll_frame(&mut self, now: Instant) -> Option<SpeechFrame> {
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
                    self.events.push_back(TalkEvent::AgentSpeechStarted { item, at: now });
                }
                PlayoutEvent::Finished { item, played_ms } => {
                    self.events.push_back(TalkEvent::AgentSpeechFinished { item, played_ms });
                }
                PlayoutEvent::Underrun { item } => self.events.push_back(TalkEvent::Underrun { item }),
            }
        }
        if !self.playout.is_busy() {
            self.turn.agent_done(now);
            self.talkspurt = true;
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
