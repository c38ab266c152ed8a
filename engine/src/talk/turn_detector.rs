//! Turn-taking: who has the floor, decided from voice activity 20 ms at a time.
//!
//! `Listening` -> `VisitorSpeaking` once the visitor has spoken for `prefix_padding_ms` -> end of
//! turn after `silence_duration_ms` of silence -> `AgentThinking` -> `AgentSpeaking` when the
//! agent's audio starts -> `Listening` when it has all played. The visitor talking over the agent
//! (thinking or speaking) for `interrupt_min_ms` is a barge-in: the visitor has the floor again.
//! Left alone in `Listening` for `idle_timeout_ms`, the agent prompts once, then gives up.
//! Settings are named after OpenAI Realtime's `server_vad`.

use std::time::{Duration, Instant};

/// How the turn detector decides (the agent's `voice.turn_detection`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnConfig {
    /// Voice activity threshold, 0 to 1 (higher: only clearer, louder speech counts).
    pub threshold: f32,
    /// Speech needed before the visitor has the floor, and the audio kept from before it.
    pub prefix_padding_ms: u32,
    /// Silence that ends the visitor's turn.
    pub silence_duration_ms: u32,
    /// Whether the visitor may interrupt the agent.
    pub interrupt_response: bool,
    /// Speech over the agent that counts as an interruption.
    pub interrupt_min_ms: u32,
    /// Silence on both sides after which the agent prompts once, then ends the call.
    pub idle_timeout_ms: Option<u32>,
    /// Silence inside the visitor's turn, shorter than `silence_duration_ms`, after which the
    /// detector reports a pause: the turn has likely ended, so recognition can start before
    /// the silence confirms it. `None`: no pauses reported. Not an agent setting.
    pub pause_ms: Option<u32>,
}

impl Default for TurnConfig {
    /// The anchors: OpenAI Realtime's server_vad (threshold 0.5, prefix 300 ms, silence 500 ms).
    fn default() -> Self {
        TurnConfig {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
            interrupt_response: true,
            interrupt_min_ms: 200,
            idle_timeout_ms: None,
            pause_ms: None,
        }
    }
}

/// Who has the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnState {
    Listening,
    VisitorSpeaking,
    AgentThinking,
    AgentSpeaking,
}

/// What the detector decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnEvent {
    /// The visitor has the floor; their speech began at `at`.
    SpeechStarted { at: Instant },
    /// The visitor's turn is over: speech from `started` to `ended` (the last speech frame's end).
    TurnEnded { started: Instant, ended: Instant },
    /// The visitor has been silent `pause_ms` since their speech ended at `ended`: the turn
    /// likely ends there. If it does, its `TurnEnded` has the same `ended`.
    Paused { ended: Instant },
    /// The visitor talked over the agent from `at`: stop the agent, the floor is theirs.
    BargeIn { at: Instant },
    /// Nobody spoke for the idle timeout: the agent should ask if the visitor is still there.
    IdlePrompt,
    /// Still nobody after the prompt: end the call.
    IdleTimeout,
}

/// A frame of no speech inside this many is still part of a run of speech (VAD flickers).
const HANGOVER_FRAMES: u32 = 2;

/// The turn-taking state machine; time is passed in.
#[derive(Debug)]
pub struct TurnDetector {
    config: TurnConfig,
    state: TurnState,
    /// The current run of speech: when it began, frames of speech in it, and frames of
    /// no speech since its last speech frame.
    run_start: Option<Instant>,
    run_frames: u32,
    quiet_frames: u32,
    turn_start: Option<Instant>,
    last_speech_end: Option<Instant>,
    /// The current silence in the visitor's turn has been reported as a pause.
    paused: bool,
    /// Idle: since when nobody has spoken, and whether the prompt was given.
    idle_since: Instant,
    prompted: bool,
    /// The idle timeout has ended the conversation: the clock stops.
    gave_up: bool,
}

const FRAME: Duration = Duration::from_millis(20);

impl TurnDetector {
    pub fn new(config: TurnConfig, now: Instant) -> TurnDetector {
        TurnDetector {
            config,
            state: TurnState::Listening,
            run_start: None,
            run_frames: 0,
            quiet_frames: 0,
            turn_start: None,
            last_speech_end: None,
            paused: false,
            idle_since: now,
            prompted: false,
            gave_up: false,
        }
    }

    pub fn state(&self) -> TurnState {
        self.state
    }

    pub fn config(&self) -> &TurnConfig {
        &self.config
    }

    fn frames(ms: u32) -> u32 {
        ms.div_ceil(20).max(1)
    }

    /// One 20 ms frame that began at `at`, with the detector's verdict on it.
    pub fn on_frame(&mut self, at: Instant, speech: bool) -> Option<TurnEvent> {
        if speech {
            if self.run_start.is_none() {
                self.run_start = Some(at);
                self.run_frames = 0;
            }
            self.run_frames += 1;
            self.quiet_frames = 0;
            self.last_speech_end = Some(at + FRAME);
            self.prompted = false;
            self.paused = false;
        } else if self.run_start.is_some() {
            self.quiet_frames += 1;
            if self.quiet_frames > HANGOVER_FRAMES {
                self.run_start = None;
                self.run_frames = 0;
            }
        }
        match self.state {
            TurnState::Listening => {
                let start = self.run_start?;
                if self.run_frames >= Self::frames(self.config.prefix_padding_ms) {
                    return Some(self.visitor_takes_the_floor(start));
                }
                None
            }
            TurnState::VisitorSpeaking => {
                let last = self.last_speech_end?;
                let silence = (at + FRAME).saturating_duration_since(last);
                if !speech && silence >= Duration::from_millis(self.config.silence_duration_ms.into()) {
                    let started = self.turn_start.take().unwrap_or(last);
                    self.state = TurnState::AgentThinking;
                    self.run_start = None;
                    self.run_frames = 0;
                    return Some(TurnEvent::TurnEnded { started, ended: last });
                }
                let pause = self.config.pause_ms.map(|ms| Duration::from_millis(ms.into()));
                if !speech && !self.paused && pause.is_some_and(|p| silence >= p) {
                    self.paused = true;
                    return Some(TurnEvent::Paused { ended: last });
                }
                None
            }
            TurnState::AgentThinking | TurnState::AgentSpeaking => {
                let start = self.run_start?;
                let enough = self.run_frames >= Self::frames(self.config.interrupt_min_ms);
                if self.config.interrupt_response && enough {
                    self.visitor_takes_the_floor(start);
                    return Some(TurnEvent::BargeIn { at: start });
                }
                None
            }
        }
    }

    /// Ends the visitor's turn now, whatever the silence (a turn too long to wait for).
    pub fn end_turn(&mut self, now: Instant) -> Option<TurnEvent> {
        if self.state != TurnState::VisitorSpeaking {
            return None;
        }
        self.state = TurnState::AgentThinking;
        self.run_start = None;
        self.run_frames = 0;
        let started = self.turn_start.take().unwrap_or(now);
        Some(TurnEvent::TurnEnded { started, ended: self.last_speech_end.unwrap_or(now).min(now) })
    }

    fn visitor_takes_the_floor(&mut self, start: Instant) -> TurnEvent {
        self.state = TurnState::VisitorSpeaking;
        self.turn_start = Some(start);
        TurnEvent::SpeechStarted { at: start }
    }

    /// The agent's audio started playing.
    pub fn agent_speaking(&mut self) {
        if self.state != TurnState::VisitorSpeaking {
            self.state = TurnState::AgentSpeaking;
        }
    }

    /// The agent has nothing more to say (its audio all played, or it had nothing): the floor
    /// is open again, and the idle clock starts now.
    pub fn agent_done(&mut self, now: Instant) {
        if matches!(self.state, TurnState::AgentSpeaking | TurnState::AgentThinking) {
            self.state = TurnState::Listening;
            self.idle_since = now;
        }
    }

    /// The call connected: nobody could speak before, so the idle clock starts now (not when
    /// the call was offered, which may be seconds earlier on a slow network).
    pub fn connected(&mut self, now: Instant) {
        self.idle_since = now;
    }

    /// The agent starts a turn of its own (a greeting, the idle prompt).
    pub fn agent_turn(&mut self) {
        if self.state == TurnState::Listening {
            self.state = TurnState::AgentThinking;
        }
    }

    /// When the idle timeout next falls due, if one is set and the floor is open.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let idle = Duration::from_millis(self.config.idle_timeout_ms?.into());
        let open = self.state == TurnState::Listening && self.run_start.is_none() && !self.gave_up;
        open.then_some(self.idle_since + idle)
    }

    /// Idle decisions due by `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<TurnEvent> {
        let due = self.poll_timeout()?;
        if now < due {
            return None;
        }
        self.idle_since = now;
        if self.prompted {
            self.gave_up = true;
            Some(TurnEvent::IdleTimeout)
        } else {
            self.prompted = true;
            Some(TurnEvent::IdlePrompt)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `pattern` ('s' speech, '.' silence), 20 ms a character, from `t`; returns the
    /// events with the index of the frame that produced them.
    fn feed(d: &mut TurnDetector, t: &mut Instant, pattern: &str) -> Vec<(usize, TurnEvent)> {
        let mut out = Vec::new();
        for (i, c) in pattern.chars().enumerate() {
            if let Some(e) = d.on_frame(*t, c == 's') {
                out.push((i, e));
            }
            *t += FRAME;
        }
        out
    }

    #[test]
    fn a_turn_starts_after_the_prefix_and_ends_after_the_silence() {
        let start = Instant::now();
        let mut t = start;
        let mut d = TurnDetector::new(TurnConfig::default(), start);
        // 100 ms of speech is not yet a turn; then a real one: 15 frames of speech (300 ms).
        let events = feed(&mut d, &mut t, "sssss..........");
        assert!(events.is_empty(), "{events:?}");
        let speech_at = t;
        let events = feed(&mut d, &mut t, "ssssssssssssssss.s.ssss");
        assert_eq!(events, vec![(14, TurnEvent::SpeechStarted { at: speech_at })]);
        assert_eq!(d.state(), TurnState::VisitorSpeaking);
        // 480 ms of silence is not enough; the 25th silent frame (500 ms) ends the turn.
        let last_speech_end = t;
        let events = feed(&mut d, &mut t, &".".repeat(25));
        assert_eq!(events, vec![(24, TurnEvent::TurnEnded { started: speech_at, ended: last_speech_end })]);
        assert_eq!(d.state(), TurnState::AgentThinking);
    }

    #[test]
    fn a_pause_is_reported_once_per_silence_and_names_the_speech_the_turn_ends_with() {
        let start = Instant::now();
        let mut t = start;
        let config = TurnConfig { pause_ms: Some(200), ..TurnConfig::default() };
        let mut d = TurnDetector::new(config, start);
        feed(&mut d, &mut t, &"s".repeat(20));
        // A 240 ms pause mid-sentence is reported; speech goes on, and the next pause too.
        let first_end = t;
        let events = feed(&mut d, &mut t, "............");
        assert_eq!(events, vec![(9, TurnEvent::Paused { ended: first_end })]);
        feed(&mut d, &mut t, &"s".repeat(10));
        let last_end = t;
        let events = feed(&mut d, &mut t, &".".repeat(25));
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0], (9, TurnEvent::Paused { ended: last_end }));
        assert!(
            matches!(events[1], (24, TurnEvent::TurnEnded { ended, .. }) if ended == last_end),
            "{events:?}"
        );
    }

    #[test]
    fn talking_over_the_agent_is_a_barge_in_once_long_enough() {
        let start = Instant::now();
        let mut t = start;
        let mut d = TurnDetector::new(TurnConfig::default(), start);
        feed(&mut d, &mut t, &"s".repeat(20));
        feed(&mut d, &mut t, &".".repeat(25));
        d.agent_speaking();
        assert_eq!(d.state(), TurnState::AgentSpeaking);
        // A cough (100 ms) is not an interruption; 200 ms of speech is.
        assert!(feed(&mut d, &mut t, "sssss.....").is_empty());
        let at = t;
        let events = feed(&mut d, &mut t, "ssssssssss");
        assert_eq!(events, vec![(9, TurnEvent::BargeIn { at })]);
        assert_eq!(d.state(), TurnState::VisitorSpeaking);
        // The interruption is the start of the visitor's next turn.
        let events = feed(&mut d, &mut t, &".".repeat(25));
        assert!(
            matches!(events[..], [(_, TurnEvent::TurnEnded { started, .. })] if started == at),
            "{events:?}"
        );
    }

    #[test]
    fn without_interruptions_the_agent_keeps_the_floor() {
        let start = Instant::now();
        let mut t = start;
        let config = TurnConfig { interrupt_response: false, ..TurnConfig::default() };
        let mut d = TurnDetector::new(config, start);
        feed(&mut d, &mut t, &"s".repeat(20));
        feed(&mut d, &mut t, &".".repeat(25));
        d.agent_speaking();
        assert!(feed(&mut d, &mut t, &"s".repeat(50)).is_empty());
        assert_eq!(d.state(), TurnState::AgentSpeaking);
    }

    #[test]
    fn idle_prompts_once_then_times_out_and_speech_resets_it() {
        let start = Instant::now();
        let config = TurnConfig { idle_timeout_ms: Some(1000), ..TurnConfig::default() };
        let mut d = TurnDetector::new(config, start);
        assert_eq!(d.poll_timeout(), Some(start + Duration::from_secs(1)));
        assert_eq!(d.handle_timeout(start + Duration::from_millis(999)), None);
        let t1 = start + Duration::from_secs(1);
        assert_eq!(d.handle_timeout(t1), Some(TurnEvent::IdlePrompt));
        // The prompt is the agent's turn; when it has played, the clock starts again.
        d.agent_turn();
        assert_eq!(d.poll_timeout(), None, "no idle clock while the agent has the floor");
        d.agent_speaking();
        let t2 = t1 + Duration::from_millis(1500);
        d.agent_done(t2);
        assert_eq!(d.handle_timeout(t2 + Duration::from_secs(1)), Some(TurnEvent::IdleTimeout));

        // Speech before the timeout resets the prompt.
        let mut d = TurnDetector::new(config, start);
        assert_eq!(d.handle_timeout(t1), Some(TurnEvent::IdlePrompt));
        let mut t = t1;
        feed(&mut d, &mut t, &"s".repeat(20));
        feed(&mut d, &mut t, &".".repeat(25));
        d.agent_speaking();
        d.agent_done(t);
        assert_eq!(d.handle_timeout(t + Duration::from_secs(1)), Some(TurnEvent::IdlePrompt));
    }
}
