//! The agent's speech, played out one 20 ms frame every 20 ms: no bursts, no gaps while an
//! utterance has audio, and nothing at all while the agent is silent (no encoded silence).
//! Speech arrives in pieces (a synthesizer streams it, sentence by sentence) as items; the
//! playout says when each item starts and how much of it was played when it finished or was cut
//! short, which is how an interrupted answer is truncated to what the visitor heard.

use crate::audio::frame_samples;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Audio buffered before an item starts playing (unless it is complete already): enough to
/// ride out a synthesizer's uneven pace without a gap.
const START_BUFFER_FRAMES: usize = 3;

const FRAME: Duration = Duration::from_millis(20);

/// One utterance's id, chosen by whoever queues it.
pub type PlayoutItem = u64;

/// What the playout did, for the turn detector and the transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayoutEvent {
    /// The item's first frame went out.
    Started { item: PlayoutItem },
    /// The item played to its end.
    Finished { item: PlayoutItem, played_ms: u32 },
    /// Its audio ran out before it was complete: playback pauses until there is more.
    Underrun { item: PlayoutItem },
}

struct Queued {
    item: PlayoutItem,
    pcm: VecDeque<i16>,
    complete: bool,
    played: usize,
    started: bool,
}

/// A paced queue of the agent's PCM at one rate.
pub struct Playout {
    rate: u32,
    frame: usize,
    queue: VecDeque<Queued>,
    /// When the next frame is due, while playing.
    next_tick: Option<Instant>,
    events: VecDeque<PlayoutEvent>,
    underruns: u64,
    /// Held (an interruption being heard out): nothing plays, what comes is kept.
    held: bool,
}

impl Playout {
    pub fn new(rate: u32) -> Playout {
        Playout {
            rate,
            frame: frame_samples(rate),
            queue: VecDeque::new(),
            next_tick: None,
            events: VecDeque::new(),
            underruns: 0,
            held: false,
        }
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Frames paused for want of audio, since the start.
    pub fn underruns(&self) -> u64 {
        self.underruns
    }

    /// Whether anything is queued or playing.
    pub fn is_busy(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Queues `pcm` for `item` (`complete`: no more will come for it).
    pub fn push(&mut self, now: Instant, item: PlayoutItem, pcm: &[i16], complete: bool) {
        match self.queue.iter_mut().find(|q| q.item == item) {
            Some(q) => {
                q.pcm.extend(pcm);
                q.complete |= complete;
            }
            None => self.queue.push_back(Queued {
                item,
                pcm: VecDeque::from(pcm.to_vec()),
                complete,
                played: 0,
                started: false,
            }),
        }
        if self.next_tick.is_none() && !self.held && self.ready() {
            self.next_tick = Some(now);
        }
    }

    /// Whether the front item can play without running dry at once.
    fn ready(&self) -> bool {
        self.queue.front().is_some_and(|q| q.complete || q.pcm.len() >= self.frame * START_BUFFER_FRAMES)
    }

    /// When the next frame is due, while playing.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_tick
    }

    /// The frame due at `now`, if one is: exactly one per 20 ms of the clock that started with
    /// the utterance, so a late call never bursts (a frame more than one tick late moves the
    /// clock on instead of catching up).
    pub fn pull(&mut self, now: Instant) -> Option<(PlayoutItem, Vec<i16>)> {
        let due = self.next_tick?;
        if now < due {
            return None;
        }
        let Some(front) = self.queue.front_mut() else {
            self.next_tick = None;
            return None;
        };
        if front.pcm.len() < self.frame && !front.complete {
            // Ran dry mid-utterance: wait for more rather than play a gap of silence.
            self.underruns += 1;
            self.events.push_back(PlayoutEvent::Underrun { item: front.item });
            self.next_tick = None;
            return None;
        }
        let item = front.item;
        if !front.started {
            front.started = true;
            self.events.push_back(PlayoutEvent::Started { item });
        }
        let take = front.pcm.len().min(self.frame);
        // Copied slice by slice (collecting a drain goes sample by sample).
        let mut frame = Vec::with_capacity(self.frame);
        let (head, tail) = front.pcm.as_slices();
        let from_head = take.min(head.len());
        frame.extend_from_slice(&head[..from_head]);
        frame.extend_from_slice(&tail[..take - from_head]);
        front.pcm.drain(..take);
        front.played += take;
        frame.resize(self.frame, 0);
        if front.complete && front.pcm.is_empty() {
            let played_ms = (front.played as u64 * 1000 / self.rate as u64) as u32;
            self.events.push_back(PlayoutEvent::Finished { item, played_ms });
            self.queue.pop_front();
        }
        let next = due + FRAME;
        self.next_tick = if !self.ready_or_playing() {
            None
        } else if now >= next + FRAME {
            Some(now + FRAME)
        } else {
            Some(next)
        };
        Some((item, frame))
    }

    /// Whether playing goes on at the next tick: the current item has started, or the next
    /// one is ready to.
    fn ready_or_playing(&self) -> bool {
        self.queue.front().is_some_and(|q| q.started) || self.ready()
    }

    /// Stops at once (a barge-in): everything queued is dropped. Returns the item that was
    /// playing and how much of it was heard.
    pub fn stop(&mut self) -> Option<(PlayoutItem, u32)> {
        self.next_tick = None;
        self.held = false;
        let playing = self.playing();
        self.queue.clear();
        playing
    }

    /// Holds at once (the visitor may be interrupting): nothing plays until [`Playout::resume`],
    /// and what is queued or comes meanwhile is kept, to go on from the very sample it held at.
    /// Returns the item that was playing and how much of it had been heard.
    pub fn hold(&mut self) -> Option<(PlayoutItem, u32)> {
        self.held = true;
        self.next_tick = None;
        self.playing()
    }

    /// Plays on from where [`Playout::hold`] held (the interruption was nothing).
    pub fn resume(&mut self, now: Instant) {
        self.held = false;
        if self.next_tick.is_none() && self.ready_or_playing() {
            self.next_tick = Some(now);
        }
    }

    pub fn is_held(&self) -> bool {
        self.held
    }

    /// The item playing, and how much of it has been heard.
    fn playing(&self) -> Option<(PlayoutItem, u32)> {
        self.queue
            .front()
            .filter(|q| q.started)
            .map(|q| (q.item, (q.played as u64 * 1000 / self.rate as u64) as u32))
    }

    pub fn poll_event(&mut self) -> Option<PlayoutEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 24_000;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn one_frame_per_tick_then_silence() {
        let start = Instant::now();
        let mut p = Playout::new(RATE);
        p.push(start, 1, &vec![100; 24 * 70], true); // 70 ms: four frames, the last padded
        assert_eq!(p.poll_timeout(), Some(start));
        let mut frames = 0;
        let mut t = start;
        while let Some(due) = p.poll_timeout() {
            assert!(p.pull(due - ms(1)).is_none(), "nothing before its time");
            t = due;
            let (item, frame) = p.pull(t).expect("a frame at its tick");
            assert_eq!((item, frame.len()), (1, frame_samples(RATE)));
            frames += 1;
        }
        assert_eq!(frames, 4);
        assert_eq!(t, start + ms(60), "ticks 20 ms apart");
        assert_eq!(p.poll_event(), Some(PlayoutEvent::Started { item: 1 }));
        assert_eq!(p.poll_event(), Some(PlayoutEvent::Finished { item: 1, played_ms: 70 }));
        assert!(!p.is_busy());
        assert_eq!(p.pull(t + ms(20)), None, "silence sends nothing");
    }

    #[test]
    fn a_streamed_item_waits_for_a_small_buffer_and_a_late_pull_does_not_burst() {
        let start = Instant::now();
        let mut p = Playout::new(RATE);
        p.push(start, 7, &vec![1; 480], false);
        assert_eq!(p.poll_timeout(), None, "20 ms is not enough to start a streamed item");
        p.push(start + ms(5), 7, &vec![1; 480 * 4], false);
        assert_eq!(p.poll_timeout(), Some(start + ms(5)));
        assert!(p.pull(start + ms(5)).is_some());
        // A pull 50 ms late gets one frame, and the clock moves on from there.
        assert!(p.pull(start + ms(75)).is_some());
        assert_eq!(p.poll_timeout(), Some(start + ms(95)));
        assert!(p.pull(start + ms(75)).is_none());
    }

    #[test]
    fn running_dry_pauses_instead_of_playing_a_gap() {
        let start = Instant::now();
        let mut p = Playout::new(RATE);
        p.push(start, 3, &vec![1; 480 * 3], false);
        let mut t = start;
        for _ in 0..3 {
            assert!(p.pull(t).is_some());
            t += ms(20);
        }
        assert_eq!(p.pull(t), None);
        assert_eq!(p.underruns(), 1);
        assert_eq!(p.poll_timeout(), None);
        p.push(t + ms(30), 3, &vec![1; 480 * 3], true);
        assert_eq!(p.poll_timeout(), Some(t + ms(30)));
    }

    #[test]
    fn a_barge_in_stops_at_once_and_says_how_much_was_heard() {
        let start = Instant::now();
        let mut p = Playout::new(RATE);
        p.push(start, 5, &vec![1; 24_000], true);
        p.push(start, 6, &vec![1; 24_000], true);
        let mut t = start;
        for _ in 0..10 {
            p.pull(t).unwrap();
            t += ms(20);
        }
        assert_eq!(p.stop(), Some((5, 200)));
        assert!(!p.is_busy());
        assert_eq!(p.poll_timeout(), None);
        assert_eq!(p.pull(t), None);
        assert_eq!(p.stop(), None);
    }

    #[test]
    fn a_hold_keeps_everything_and_resumes_at_the_sample_it_held_at() {
        let start = Instant::now();
        let mut p = Playout::new(RATE);
        let pcm: Vec<i16> = (0..24_000).map(|i| (i % 30_000) as i16).collect();
        p.push(start, 5, &pcm, false);
        let mut t = start;
        for _ in 0..10 {
            p.pull(t).unwrap();
            t += ms(20);
        }
        assert_eq!(p.hold(), Some((5, 200)));
        assert!(p.is_held() && p.is_busy());
        assert_eq!(p.poll_timeout(), None);
        assert_eq!(p.pull(t), None, "nothing plays while held");
        p.push(t, 5, &[7; 480], true);
        assert_eq!(p.poll_timeout(), None, "audio that comes while held waits");
        p.resume(t + ms(700));
        assert_eq!(p.poll_timeout(), Some(t + ms(700)));
        let (item, frame) = p.pull(t + ms(700)).unwrap();
        assert_eq!((item, frame[0]), (5, 4800), "the sample after the last one heard");
        assert_eq!(p.stop(), Some((5, 220)));
    }

    #[test]
    fn items_play_back_to_back() {
        let start = Instant::now();
        let mut p = Playout::new(RATE);
        p.push(start, 1, &vec![1; 480], true);
        p.push(start, 2, &vec![2; 480], true);
        let (a, _) = p.pull(start).unwrap();
        let (b, _) = p.pull(start + ms(20)).unwrap();
        assert_eq!((a, b), (1, 2));
        let events: Vec<_> = std::iter::from_fn(|| p.poll_event()).collect();
        assert_eq!(
            events,
            [
                PlayoutEvent::Started { item: 1 },
                PlayoutEvent::Finished { item: 1, played_ms: 20 },
                PlayoutEvent::Started { item: 2 },
                PlayoutEvent::Finished { item: 2, played_ms: 20 }
            ]
        );
    }
}
