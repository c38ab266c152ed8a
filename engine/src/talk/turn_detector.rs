//! Turn-taking: who has the floor, decided from voice activity 20 ms at a time.
//!
//! `Listening` -> `VisitorSpeaking` once the visitor has spoken for `prefix_padding_ms` -> end of
//! turn after `silence_duration_ms` of silence -> `AgentThinking` -> `AgentSpeaking` when the
//! agent's audio starts -> `Listening` when it has all played. The visitor talking over the agent
//! (thinking or speaking) for `interrupt_min_ms` is a barge-in: the visitor has the floor again.
//! Left alone in `Listening` for `idle_timeout_ms`, the agent prompts once, then gives up.
//! Settings are named after OpenAI Realtime's `server_vad`.
//!
//! With a semantic stage (`TurnConfig::semantic`), a silence of `min_silence_ms` asks the
//! end-of-turn model (`TurnEvent::Judge`) whether the visitor has finished: "finished" ends the
//! turn at once, "not finished" waits for more up to `max_wait_ms` of silence, and no answer
//! (the model missing, busy or slow) leaves the decision to the silence rule above.

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
    /// How long an interruption holds the agent for words the recogniser accepts; with none,
    /// the agent resumes where it paused. `None`: an interruption stops the agent at once.
    pub false_interruption_ms: Option<u32>,
    /// Silence on both sides after which the agent prompts once, then ends the call.
    pub idle_timeout_ms: Option<u32>,
    /// Silence inside the visitor's turn, shorter than `silence_duration_ms`, after which the
    /// detector reports a pause: the turn has likely ended, so recognition can start before
    /// the silence confirms it. `None`: no pauses reported. Not an agent setting.
    pub pause_ms: Option<u32>,
    /// The end-of-turn model's say; `None`: silence alone ends a turn (`server_vad`).
    pub semantic: Option<SemanticTurn>,
}

/// How the end-of-turn model takes part (`voice.turn_detection.type: semantic`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SemanticTurn {
    /// Silence after which the model is asked; a turn it judges finished ends there.
    pub min_silence_ms: u32,
    /// The longest silence a turn the model judges unfinished waits for more speech.
    pub max_wait_ms: u32,
    /// The model's probability of "finished" at or above which the turn ends.
    pub finished_at: f32,
    /// The visitor's words at each pause will be judged too ([`TurnDetector::words_judged`]):
    /// they decide, and the audio model only when they do not come before the silence rule's
    /// deadline.
    pub words: bool,
}

impl Default for SemanticTurn {
    fn default() -> Self {
        SemanticTurn { min_silence_ms: 200, max_wait_ms: 3000, finished_at: 0.5, words: false }
    }
}

/// What ended a visitor's turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnDecision {
    /// The silence rule (`silence_duration_ms`): no model, or no answer from it in time.
    Silence,
    /// The end-of-turn model judged the visitor finished by their voice.
    Model,
    /// The visitor's words at the pause ended a sentence.
    Words,
    /// The model judged the visitor unfinished, and they stayed silent `max_wait_ms`.
    MaxWait,
    /// The turn was too long to wait for (`end_turn`).
    Forced,
}

impl TurnDecision {
    pub const ALL: [TurnDecision; 5] = [
        TurnDecision::Silence,
        TurnDecision::Model,
        TurnDecision::Words,
        TurnDecision::MaxWait,
        TurnDecision::Forced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TurnDecision::Silence => "silence",
            TurnDecision::Model => "model",
            TurnDecision::Words => "words",
            TurnDecision::MaxWait => "max_wait",
            TurnDecision::Forced => "forced",
        }
    }
}

/// The model's verdict on the current silence.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    Pending,
    Finished,
    Unfinished,
    /// No answer will come (missing, busy, late or failed).
    None,
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
            false_interruption_ms: Some(1500),
            idle_timeout_ms: None,
            pause_ms: None,
            semantic: None,
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
    /// The visitor spoke over the agent from `started` to `ended`, too briefly to interrupt
    /// (`interrupt_min_ms`): an "mm" or an "uh-huh", kept as a backchannel if it was words.
    SpokeOver { started: Instant, ended: Instant },
    /// Ask the end-of-turn model whether the visitor, whose speech ended at `ended`, has
    /// finished; answer with [`TurnDetector::judged`] and this `id`. Past `deadline` the
    /// silence rule has decided, and an answer is of no use.
    Judge { id: u64, ended: Instant, deadline: Instant },
}

/// A frame of no speech inside this many is still part of a run of speech (VAD flickers).
const HANGOVER_FRAMES: u32 = 2;

/// The shortest run of speech over the agent worth hearing out (60 ms; shorter is a click).
const SPOKE_OVER_MIN_FRAMES: u32 = 3;

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
    /// The model's judgement of the current silence, and the id of the last request.
    judging: Option<(u64, Verdict)>,
    /// The words' judgement of the current silence: the end of the speech judged, and the
    /// probability that the visitor has finished (`None`: no words were heard).
    words: Option<(Instant, Option<f32>)>,
    judge_id: u64,
    /// What ended the last turn.
    decision: TurnDecision,
}

/// One 20 ms frame of the visitor's audio, in time.
pub(crate) const FRAME: Duration = Duration::from_millis(20);

/// The silence from `last` (the end of the last speech) to `end` (the end of the frame just
/// heard), to the nearest whole frame. Frames are stamped by when their packets arrived, and a
/// packet arrives a little early or late: 25 frames of silence that arrived within 499.6 ms
/// are the 500 ms they hold, not 480 ms and a wait for one frame more (which ended about half
/// of all turns 20 ms late).
fn silence_between(last: Instant, end: Instant) -> Duration {
    let frame = FRAME.as_micros();
    let frames = (end.saturating_duration_since(last).as_micros() + frame / 2) / frame;
    FRAME * u32::try_from(frames).unwrap_or(u32::MAX)
}

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
            judging: None,
            words: None,
            judge_id: 0,
            decision: TurnDecision::Silence,
        }
    }

    /// What ended the visitor's last turn.
    pub fn last_decision(&self) -> TurnDecision {
        self.decision
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
        // A run of speech that ended with this frame: when it began, and its frames.
        let mut ended_run = None;
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
            // The visitor went on: a judgement of the silence before no longer counts.
            self.judging = None;
            self.words = None;
        } else if self.run_start.is_some() {
            self.quiet_frames += 1;
            if self.quiet_frames > HANGOVER_FRAMES {
                ended_run = self.run_start.take().map(|start| (start, self.run_frames));
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
                let silence = silence_between(last, at + FRAME);
                if !speech {
                    if let Some(decided) = self.decide(silence) {
                        return Some(self.turn_ends(last, decided));
                    }
                    if let Some(ask) = self.ask_model(silence, last) {
                        return Some(ask);
                    }
                }
                let pause = self.config.pause_ms.map(|ms| Duration::from_millis(ms.into()));
                if !speech && !self.paused && pause.is_some_and(|p| silence >= p) {
                    self.paused = true;
                    return Some(TurnEvent::Paused { ended: last });
                }
                None
            }
            TurnState::AgentThinking | TurnState::AgentSpeaking => {
                let interrupting = Self::frames(self.config.interrupt_min_ms);
                if let Some((started, frames)) = ended_run {
                    let brief = (SPOKE_OVER_MIN_FRAMES..interrupting).contains(&frames);
                    let ended = self.last_speech_end?;
                    return brief.then_some(TurnEvent::SpokeOver { started, ended });
                }
                let start = self.run_start?;
                if self.config.interrupt_response && self.run_frames >= interrupting {
                    self.visitor_takes_the_floor(start);
                    return Some(TurnEvent::BargeIn { at: start });
                }
                None
            }
        }
    }

    /// Whether a silence this long ends the turn, and what decides it.
    fn decide(&self, silence: Duration) -> Option<TurnDecision> {
        let ms = |ms: u32| Duration::from_millis(ms.into());
        let by_silence = silence >= ms(self.config.silence_duration_ms);
        let Some(semantic) = self.config.semantic else {
            return by_silence.then_some(TurnDecision::Silence);
        };
        match self.verdict(by_silence) {
            Some(Verdict::Finished) => Some(self.finished_by()),
            Some(Verdict::Unfinished) => {
                (silence >= ms(semantic.max_wait_ms)).then_some(TurnDecision::MaxWait)
            }
            Some(Verdict::Pending | Verdict::None) | None => by_silence.then_some(TurnDecision::Silence),
        }
    }

    /// What the current silence is judged: by the visitor's words when they came; while they
    /// are awaited, nothing until the silence rule's deadline (`past_deadline`); else by the
    /// audio model.
    fn verdict(&self, past_deadline: bool) -> Option<Verdict> {
        let semantic = self.config.semantic?;
        match self.words_now() {
            Some((_, Some(p))) if p >= semantic.finished_at => Some(Verdict::Finished),
            Some((_, Some(_))) => Some(Verdict::Unfinished),
            None if semantic.words && !past_deadline => self.judging.map(|_| Verdict::Pending),
            // No words heard, or none in time: the audio model's verdict.
            Some((_, None)) | None => self.judging.map(|(_, v)| v),
        }
    }

    /// The visitor's words at the pause after speech that ended at `ended`, judged: the
    /// probability that they have finished, or `None` when no words were heard. Finished ends
    /// the turn at once if the visitor is still silent; words of an earlier silence are ignored.
    pub fn words_judged(&mut self, ended: Instant, finished: Option<f32>) -> Option<TurnEvent> {
        let semantic = self.config.semantic?;
        if self.state != TurnState::VisitorSpeaking || Some(ended) != self.last_speech_end || !semantic.words
        {
            return None;
        }
        let last = self.last_speech_end?;
        self.words = Some((ended, finished));
        let by = self.finished_by();
        (self.verdict(false) == Some(Verdict::Finished)).then(|| self.turn_ends(last, by))
    }

    /// The words' judgement of the current silence, if they came (not one of an earlier one).
    fn words_now(&self) -> Option<(Instant, Option<f32>)> {
        self.words.filter(|(ended, _)| Some(*ended) == self.last_speech_end)
    }

    /// Who judged the current silence finished: the words when they were heard, else the voice.
    fn finished_by(&self) -> TurnDecision {
        if self.words_now().is_some_and(|(_, p)| p.is_some()) {
            TurnDecision::Words
        } else {
            TurnDecision::Model
        }
    }

    /// Asks the model, once per silence, when the silence reaches `min_silence_ms`.
    fn ask_model(&mut self, silence: Duration, last: Instant) -> Option<TurnEvent> {
        let semantic = self.config.semantic?;
        if self.judging.is_some() || silence < Duration::from_millis(semantic.min_silence_ms.into()) {
            return None;
        }
        self.judge_id += 1;
        self.judging = Some((self.judge_id, Verdict::Pending));
        let deadline = last + Duration::from_millis(self.config.silence_duration_ms.into());
        Some(TurnEvent::Judge { id: self.judge_id, ended: last, deadline })
    }

    /// The model's answer to `Judge { id }`: the probability that the visitor has finished, or
    /// `None` when it gave none. A "finished" ends the turn at once if the visitor is still
    /// silent; an answer to an earlier silence is ignored.
    pub fn judged(&mut self, id: u64, finished: Option<f32>, _now: Instant) -> Option<TurnEvent> {
        let semantic = self.config.semantic?;
        let (asked, Verdict::Pending) = self.judging? else { return None };
        if asked != id || self.state != TurnState::VisitorSpeaking {
            return None;
        }
        let verdict = match finished {
            Some(p) if p >= semantic.finished_at => Verdict::Finished,
            Some(_) => Verdict::Unfinished,
            None => Verdict::None,
        };
        self.judging = Some((id, verdict));
        let last = self.last_speech_end?;
        // With words to come, they decide (or, past the deadline, this).
        let by = self.finished_by();
        (self.verdict(false) == Some(Verdict::Finished)).then(|| self.turn_ends(last, by))
    }

    fn turn_ends(&mut self, last: Instant, decided: TurnDecision) -> TurnEvent {
        let started = self.turn_start.take().unwrap_or(last);
        self.state = TurnState::AgentThinking;
        self.run_start = None;
        self.run_frames = 0;
        self.judging = None;
        self.words = None;
        self.decision = decided;
        TurnEvent::TurnEnded { started, ended: last }
    }

    /// Ends the visitor's turn now, whatever the silence (a turn too long to wait for).
    pub fn end_turn(&mut self, now: Instant) -> Option<TurnEvent> {
        if self.state != TurnState::VisitorSpeaking {
            return None;
        }
        let last = self.last_speech_end.unwrap_or(now).min(now);
        self.turn_start.get_or_insert(now);
        Some(self.turn_ends(last, TurnDecision::Forced))
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

    /// Whether a frame of silence now could change anything: a run of speech is open (its
    /// hangover counts down), or the visitor has the floor (the silence may end their turn).
    pub fn hears_silence(&self) -> bool {
        self.run_start.is_some() || self.state == TurnState::VisitorSpeaking
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
    fn frames_that_arrive_a_little_early_still_end_the_turn_on_the_25th() {
        let start = Instant::now();
        let mut t = start;
        let mut d = TurnDetector::new(TurnConfig::default(), start);
        feed(&mut d, &mut t, &"s".repeat(20));
        let last_speech_end = t;
        // Each silent frame is stamped by its packet's arrival: here 0.4 ms early.
        let mut ended = None;
        for i in 0..30u32 {
            let at = t + FRAME * i - Duration::from_micros(400);
            if let Some(e) = d.on_frame(at, false) {
                ended = Some((i, e));
                break;
            }
        }
        assert_eq!(ended, Some((24, TurnEvent::TurnEnded { started: start, ended: last_speech_end })));
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
        // 100 ms of speech is not an interruption, but heard out as a backchannel; a 40 ms
        // click is nothing; 200 ms of speech interrupts.
        let mm = t;
        let events = feed(&mut d, &mut t, "sssss.....");
        let ended = mm + FRAME * 5;
        assert_eq!(events, vec![(7, TurnEvent::SpokeOver { started: mm, ended })]);
        assert!(feed(&mut d, &mut t, "ss.....").is_empty());
        assert_eq!(d.state(), TurnState::AgentSpeaking);
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

    fn semantic() -> TurnDetector {
        let config = TurnConfig { semantic: Some(SemanticTurn::default()), ..TurnConfig::default() };
        TurnDetector::new(config, Instant::now())
    }

    #[test]
    fn a_finished_turn_ends_when_the_model_says_so_not_at_the_silence_rule() {
        let mut d = semantic();
        let mut t = Instant::now();
        feed(&mut d, &mut t, &"s".repeat(20));
        let ended = t;
        // 200 ms of silence asks the model once.
        let events = feed(&mut d, &mut t, &".".repeat(12));
        assert_eq!(
            events,
            vec![(9, TurnEvent::Judge { id: 1, ended, deadline: ended + Duration::from_millis(500) })]
        );
        let done = d.judged(1, Some(0.9), t);
        assert!(matches!(done, Some(TurnEvent::TurnEnded { ended: e, .. }) if e == ended), "{done:?}");
        assert_eq!((d.state(), d.last_decision()), (TurnState::AgentThinking, TurnDecision::Model));
        // A second answer to the same question changes nothing.
        assert_eq!(d.judged(1, Some(0.9), t), None);
    }

    #[test]
    fn an_unfinished_turn_waits_through_a_long_pause_and_stays_one_turn() {
        let mut d = semantic();
        let mut t = Instant::now();
        let started = t;
        feed(&mut d, &mut t, &"s".repeat(20));
        feed(&mut d, &mut t, &".".repeat(10));
        assert_eq!(d.judged(1, Some(0.1), t), None, "not finished: wait");
        // A 900 ms pause passes the silence rule's 500 ms without ending the turn.
        assert!(feed(&mut d, &mut t, &".".repeat(35)).is_empty());
        assert_eq!(d.state(), TurnState::VisitorSpeaking);
        // They go on; the next silence is judged again, finished, and ends one turn.
        feed(&mut d, &mut t, &"s".repeat(20));
        let ended = t;
        let events = feed(&mut d, &mut t, &".".repeat(10));
        assert_eq!(
            events,
            vec![(9, TurnEvent::Judge { id: 2, ended, deadline: ended + Duration::from_millis(500) })]
        );
        assert_eq!(d.judged(1, Some(0.9), t), None, "an answer about the earlier silence is ignored");
        let done = d.judged(2, Some(0.7), t).expect("ends");
        assert_eq!(done, TurnEvent::TurnEnded { started, ended });
    }

    #[test]
    fn without_an_answer_the_silence_rule_decides_and_an_unfinished_turn_ends_at_max_wait() {
        let mut d = semantic();
        let mut t = Instant::now();
        feed(&mut d, &mut t, &"s".repeat(20));
        // The model never answers (missing or slow): 500 ms of silence ends the turn.
        let events = feed(&mut d, &mut t, &".".repeat(25));
        assert!(
            matches!(events[..], [(9, TurnEvent::Judge { .. }), (24, TurnEvent::TurnEnded { .. })]),
            "{events:?}"
        );
        assert_eq!(d.last_decision(), TurnDecision::Silence);
        // The model says it has no answer: the same.
        let mut d = semantic();
        feed(&mut d, &mut t, &"s".repeat(20));
        feed(&mut d, &mut t, &".".repeat(10));
        assert_eq!(d.judged(1, None, t), None);
        let events = feed(&mut d, &mut t, &".".repeat(15));
        assert!(matches!(events[..], [(14, TurnEvent::TurnEnded { .. })]), "{events:?}");
        // Unfinished and silent for 3 s: the turn ends there.
        let mut d = semantic();
        feed(&mut d, &mut t, &"s".repeat(20));
        feed(&mut d, &mut t, &".".repeat(10));
        d.judged(1, Some(0.2), t);
        let events = feed(&mut d, &mut t, &".".repeat(140));
        assert!(matches!(events[..], [(139, TurnEvent::TurnEnded { .. })]), "{events:?}");
        assert_eq!(d.last_decision(), TurnDecision::MaxWait);
    }

    fn semantic_with_words() -> TurnDetector {
        let semantic = SemanticTurn { words: true, ..SemanticTurn::default() };
        TurnDetector::new(TurnConfig { semantic: Some(semantic), ..TurnConfig::default() }, Instant::now())
    }

    #[test]
    fn the_words_at_a_pause_decide_over_the_voice_and_the_voice_decides_without_them() {
        // "I need help with my": the voice sounds finished, the words do not; the visitor goes on.
        let mut d = semantic_with_words();
        let mut t = Instant::now();
        feed(&mut d, &mut t, &"s".repeat(20));
        let ended = t;
        feed(&mut d, &mut t, &".".repeat(10));
        assert_eq!(d.judged(1, Some(0.9), t), None, "the words are awaited");
        assert_eq!(d.words_judged(ended, Some(0.01)), None);
        assert!(feed(&mut d, &mut t, &".".repeat(45)).is_empty(), "unfinished: waits past 500 ms");
        // "...order from last week.": finished words end the turn, before the voice answers.
        feed(&mut d, &mut t, &"s".repeat(20));
        let ended = t;
        feed(&mut d, &mut t, &".".repeat(10));
        assert_eq!(d.words_judged(ended - FRAME, Some(0.99)), None, "words about other speech are ignored");
        let done = d.words_judged(ended, Some(0.99)).expect("finished words end the turn");
        assert!(matches!(done, TurnEvent::TurnEnded { ended: e, .. } if e == ended));
        assert_eq!(d.last_decision(), TurnDecision::Words);

        // Nothing recognised (a cough): the voice's verdict stands.
        let mut d = semantic_with_words();
        feed(&mut d, &mut t, &"s".repeat(20));
        let ended = t;
        feed(&mut d, &mut t, &".".repeat(10));
        assert_eq!(d.judged(1, Some(0.9), t), None);
        assert!(matches!(d.words_judged(ended, None), Some(TurnEvent::TurnEnded { .. })));
        assert_eq!(d.last_decision(), TurnDecision::Model);

        // No words by the silence rule's deadline: the voice's "finished" ends it there.
        let mut d = semantic_with_words();
        feed(&mut d, &mut t, &"s".repeat(20));
        feed(&mut d, &mut t, &".".repeat(10));
        assert_eq!(d.judged(1, Some(0.9), t), None);
        let events = feed(&mut d, &mut t, &".".repeat(15));
        assert!(matches!(events[..], [(14, TurnEvent::TurnEnded { .. })]), "{events:?}");
        assert_eq!(d.last_decision(), TurnDecision::Model);
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
