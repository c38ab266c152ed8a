//! A talking visitor's side of the conversation, with time passed in: it asks its question,
//! then listens; the first frame of the reply after the end of its speech is the response
//! latency; gaps inside a reply are playout gaps; with a barge-in delay it talks over the reply
//! that long after it began and times how long the reply audio takes to stop. Then it pauses
//! and asks again. Times are CLOCK_REALTIME nanoseconds, as the harness stamps datagrams.

/// Silence inside a reply longer than this counts as a playout gap (two frames missing).
const GAP_NS: u64 = 60_000_000;
/// Silence this long after reply audio ends the reply.
const REPLY_END_NS: u64 = 600_000_000;
/// Silence this long after barge-in speech began, with no reply frame, means the reply stopped.
const STOPPED_NS: u64 = 300_000_000;
/// A question with no reply this long is unanswered.
const NO_REPLY_NS: u64 = 15_000_000_000;

/// What the visitor sends in its next frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Say {
    /// Frame `n` of the question; `last` marks its final frame.
    Speech {
        n: usize,
        last: bool,
    },
    Silence,
}

/// Something measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measured {
    /// End of the visitor's speech to the reply's first frame.
    Response {
        ns: u64,
    },
    /// Barge-in speech began to the reply's last frame.
    BargeInStop {
        ns: u64,
    },
    /// Silence inside a reply.
    Gap {
        ns: u64,
    },
    NoReply,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Pausing {
        until: u64,
    },
    Speaking {
        next: usize,
    },
    /// The question was asked; `ended` is when its last frame left, once known.
    Waiting {
        since: u64,
        ended: Option<u64>,
    },
    Replying {
        last: u64,
        barge_at: Option<u64>,
    },
    /// Talking over the reply since `started`; `last` is the reply's latest frame.
    BargingIn {
        started: u64,
        last: Option<u64>,
        next: usize,
    },
}

/// One visitor's turns.
pub struct Talker {
    phase: Phase,
    speech_frames: usize,
    barge_in_ns: Option<u64>,
    pause_ns: u64,
    measured: Vec<Measured>,
    /// The question's last frame in flight: its sequence number, to time its departure.
    last_speech_seq: Option<u32>,
}

impl Talker {
    pub fn new(
        now: u64,
        speech_frames: usize,
        barge_in_ns: Option<u64>,
        pause_ns: u64,
        first_pause_ns: u64,
    ) -> Talker {
        Talker {
            phase: Phase::Pausing { until: now + first_pause_ns },
            speech_frames: speech_frames.max(1),
            barge_in_ns,
            pause_ns,
            measured: Vec::new(),
            last_speech_seq: None,
        }
    }

    /// The next frame, sent as RTP sequence `seq` at `now`.
    pub fn next_frame(&mut self, now: u64, seq: u32) -> Say {
        self.tick(now);
        match &mut self.phase {
            Phase::Speaking { next } | Phase::BargingIn { next, .. } if *next < self.speech_frames => {
                let n = *next;
                *next += 1;
                let last = n + 1 == self.speech_frames;
                if last {
                    self.last_speech_seq = Some(seq);
                    if matches!(self.phase, Phase::Speaking { .. }) {
                        self.phase = Phase::Waiting { since: now, ended: None };
                    }
                }
                Say::Speech { n, last }
            }
            _ => Say::Silence,
        }
    }

    /// Frame `seq` left at `at`: if it ended the question, the response clock starts then.
    pub fn departed(&mut self, seq: u32, at: u64) {
        if self.last_speech_seq == Some(seq) {
            self.last_speech_seq = None;
            if let Phase::Waiting { ended, .. } = &mut self.phase {
                *ended = Some(at);
            }
        }
    }

    /// A reply frame arrived at `at`.
    pub fn reply(&mut self, at: u64) {
        match &mut self.phase {
            Phase::Waiting { since, ended } => {
                let from = ended.unwrap_or(*since);
                self.measured.push(Measured::Response { ns: at.saturating_sub(from) });
                let barge_at = self.barge_in_ns.map(|n| at + n);
                self.phase = Phase::Replying { last: at, barge_at };
            }
            Phase::Replying { last, .. } => {
                let gap = at.saturating_sub(*last);
                if gap > GAP_NS {
                    self.measured.push(Measured::Gap { ns: gap });
                }
                *last = at;
            }
            Phase::BargingIn { last, .. } => *last = Some(at.max(last.unwrap_or(0))),
            // A greeting or an idle prompt: not a reply to anything the visitor asked.
            Phase::Pausing { .. } | Phase::Speaking { .. } => {}
        }
    }

    /// Moves on by the clock: a reply that ended, a barge-in that is due, a pause that is over.
    pub fn tick(&mut self, now: u64) {
        match self.phase {
            Phase::Pausing { until } if now >= until => self.phase = Phase::Speaking { next: 0 },
            Phase::Waiting { since, .. } if now.saturating_sub(since) > NO_REPLY_NS => {
                self.measured.push(Measured::NoReply);
                self.phase = Phase::Pausing { until: now + self.pause_ns };
            }
            Phase::Replying { barge_at: Some(at), .. } if now >= at => {
                self.phase = Phase::BargingIn { started: now, last: None, next: 0 };
            }
            Phase::Replying { last, .. } if now.saturating_sub(last) > REPLY_END_NS => {
                self.phase = Phase::Pausing { until: last + REPLY_END_NS + self.pause_ns };
            }
            Phase::BargingIn { started, last, next } => {
                let quiet_since = last.unwrap_or(started);
                if now.saturating_sub(quiet_since) > STOPPED_NS {
                    let stop = last.map_or(0, |l| l.saturating_sub(started));
                    self.measured.push(Measured::BargeInStop { ns: stop });
                    // The rest of the question, then its reply.
                    self.phase = if next < self.speech_frames {
                        Phase::Speaking { next }
                    } else {
                        Phase::Waiting { since: now, ended: Some(now) }
                    };
                }
            }
            _ => {}
        }
    }

    pub fn take_measured(&mut self) -> impl Iterator<Item = Measured> + '_ {
        self.measured.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// Runs the talker frame by frame until `until_ms`, with reply frames every 20 ms in
    /// `[from, to)` ms; returns what it measured.
    fn run(t: &mut Talker, until_ms: u64, replies: &[(u64, u64)]) -> Vec<Measured> {
        let mut out = Vec::new();
        for (seq, ms) in (0..until_ms).step_by(20).enumerate() {
            let now = ms * MS;
            if let Say::Speech { last: true, .. } = t.next_frame(now, seq as u32) {
                t.departed(seq as u32, now + MS);
            }
            if replies.iter().any(|(a, b)| (*a..*b).contains(&ms)) {
                t.reply(now + 5 * MS);
            }
            out.extend(t.take_measured());
        }
        out
    }

    #[test]
    fn the_response_is_timed_from_the_last_speech_frame_leaving() {
        // 10 frames of speech from 100 ms (the last leaves at 281 ms), reply from 1 s.
        let mut t = Talker::new(0, 10, None, 10_000 * MS, 100 * MS);
        let m = run(&mut t, 3000, &[(1000, 2000)]);
        assert_eq!(m, [Measured::Response { ns: 1005 * MS - 281 * MS }]);
    }

    #[test]
    fn a_gap_inside_a_reply_is_counted_and_a_barge_in_is_timed_to_the_last_reply_frame() {
        let mut t = Talker::new(0, 10, None, 10_000 * MS, 0);
        let m = run(&mut t, 3000, &[(1000, 1400), (1500, 2000)]);
        assert_eq!(m[1], Measured::Gap { ns: 120 * MS });

        let mut t = Talker::new(0, 10, Some(500 * MS), 10_000 * MS, 0);
        // The reply starts at 1 s; the barge-in starts at 1.5 s; the reply stops at 1.66 s.
        let m = run(&mut t, 4000, &[(1000, 1660)]);
        assert!(matches!(m[0], Measured::Response { .. }));
        assert_eq!(m[1], Measured::BargeInStop { ns: 1645 * MS - 1520 * MS });
    }
}
