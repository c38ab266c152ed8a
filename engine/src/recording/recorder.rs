//! `CallRecorder`: lays a call's two sides on one 20 ms timeline and writes it as Ogg Opus.
//!
//! Each side's packets take their slot from their RTP time (so network jitter and timer jitter
//! do not move them), anchored to when its first packet came. A slot is written once it is
//! `LATENESS_SLOTS` old, so a late packet still finds its place; a page goes out every second
//! of audio, so a crash loses at most that. A packet is kept as the sender's buffer (no copy)
//! until its slot is written straight into the page.

use super::framing::{is_one_slot, self_delimit, OpusFrames, SILENCE, SLOT_SAMPLES};
use super::ogg_opus::{opus_head, opus_tags};
use super::ogg_page::PageWriter;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Multistream packets (20 ms each) per Ogg page: one second.
pub const PAGE_PACKETS: u32 = 50;

const SLOT: Duration = Duration::from_millis(20);

/// How long a slot waits for late packets before it is written: 240 ms of jitter.
const LATENESS_SLOTS: u64 = 12;

/// How far ahead of the clock a side may queue (a bridge agent that sends a burst): 10 s.
const MAX_AHEAD_SLOTS: u64 = 500;

/// A sender whose RTP time runs this far (1 s) ahead of when its packets arrive is anchored
/// again where they arrive (a sender that reset or jumped its timestamps).
const REANCHOR_SLOTS: i64 = 50;

/// Who sent a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Visitor,
    Agent,
}

/// What a recording holds so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecordingStats {
    /// Duration of the whole pages handed out, in milliseconds.
    pub duration_ms: u64,
    pub visitor_packets: u64,
    pub agent_packets: u64,
    /// Packets that found no slot: too late, a duplicate, too far ahead, or a frame that does not
    /// fit 20 ms slots.
    pub dropped: u64,
}

/// One side's packets waiting for their slots, indexed from the recorder's next slot.
#[derive(Default)]
struct Lane {
    queue: VecDeque<Option<Arc<[u8]>>>,
    /// The last slot this side filled.
    last: Option<u64>,
    /// An RTP time, the slot it maps to, and the newest RTP time seen.
    anchor: Option<(u32, u64, u32)>,
}

/// The recording of one call, as Ogg pages to append to its file.
pub struct CallRecorder {
    started: Instant,
    pages: PageWriter,
    /// The first slot not yet written.
    next_slot: u64,
    lanes: [Lane; 2],
    stats: RecordingStats,
    finished: bool,
}

impl CallRecorder {
    /// Starts a recording whose time zero is `now`. `serial` names the Ogg stream (random, from
    /// the driver); `comments` go in its tags.
    pub fn new(now: Instant, serial: u32, comments: &[(&str, &str)]) -> CallRecorder {
        let mut pages = PageWriter::new(serial);
        // Each header alone on its page (RFC 7845 §3).
        pages.packet(0, |b| b.extend_from_slice(&opus_head()));
        pages.end_page(false);
        pages.packet(0, |b| b.extend_from_slice(&opus_tags(comments)));
        pages.end_page(false);
        CallRecorder {
            started: now,
            pages,
            next_slot: 0,
            lanes: [Lane::default(), Lane::default()],
            stats: RecordingStats::default(),
            finished: false,
        }
    }

    fn slot_at(&self, now: Instant) -> u64 {
        (now.saturating_duration_since(self.started).as_millis() / SLOT.as_millis()) as u64
    }

    /// A visitor's Opus packet, with its RTP time, received at `now`.
    pub fn visitor(&mut self, now: Instant, rtp_time: u32, packet: &Arc<[u8]>) {
        self.stats.visitor_packets += 1;
        self.timed(Side::Visitor, now, rtp_time, packet);
    }

    /// A packet the agent sent the visitor at `now`, with its RTP time.
    pub fn agent(&mut self, now: Instant, rtp_time: u32, packet: &Arc<[u8]>) {
        self.stats.agent_packets += 1;
        self.timed(Side::Agent, now, rtp_time, packet);
    }

    /// Places a packet by its RTP time, anchored where its side was first heard. A sender
    /// whose clock runs slow (its packets would fall behind the slots already written) or that
    /// jumps ahead is anchored again at the first free slot, so nothing in order is lost.
    fn timed(&mut self, side: Side, now: Instant, rtp_time: u32, packet: &Arc<[u8]>) {
        if self.finished {
            return;
        }
        let arrived = self.slot_at(now);
        let next_slot = self.next_slot;
        let lane = &mut self.lanes[side as usize];
        let in_order = lane.anchor.is_none_or(|(_, _, newest)| rtp_time.wrapping_sub(newest) as i32 > 0);
        let free = next_slot.max(lane.last.map_or(0, |l| l + 1));
        let (time, slot, _) = *lane.anchor.get_or_insert((rtp_time, arrived.max(free), rtp_time));
        let offset = i64::from(rtp_time.wrapping_sub(time) as i32) / i64::from(SLOT_SAMPLES);
        let mut at = slot as i64 + offset;
        if in_order && (at < next_slot as i64 || at > arrived as i64 + REANCHOR_SLOTS) {
            let slot = if at < next_slot as i64 { free } else { arrived.max(free) };
            lane.anchor = Some((rtp_time, slot, rtp_time));
            at = slot as i64;
        }
        if in_order {
            if let Some(anchor) = lane.anchor.as_mut() {
                anchor.2 = rtp_time;
            }
        }
        match u64::try_from(at) {
            Ok(at) => self.place(side, at, packet),
            Err(_) => self.stats.dropped += 1,
        }
        self.advance(now);
    }

    /// Puts a packet in its slot, or (a packet of several 20 ms pieces) in consecutive slots.
    fn place(&mut self, side: Side, first: u64, packet: &Arc<[u8]>) {
        if is_one_slot(packet) {
            return self.put(side, first, packet.clone());
        }
        let pieces = OpusFrames::parse(packet).and_then(|p| p.slots());
        let Ok(pieces) = pieces else {
            self.stats.dropped += 1;
            return;
        };
        for (i, piece) in pieces.into_iter().enumerate() {
            self.put(side, first + i as u64, piece.into());
        }
    }

    fn put(&mut self, side: Side, slot: u64, piece: Arc<[u8]>) {
        if slot < self.next_slot || slot >= self.next_slot + MAX_AHEAD_SLOTS {
            self.stats.dropped += 1;
            return;
        }
        let lane = &mut self.lanes[side as usize];
        let index = (slot - self.next_slot) as usize;
        if lane.queue.len() <= index {
            lane.queue.resize(index + 1, None);
        }
        match &mut lane.queue[index] {
            Some(_) => self.stats.dropped += 1,
            free => *free = Some(piece),
        }
        lane.last = Some(lane.last.map_or(slot, |l| l.max(slot)));
    }

    /// Writes every slot old enough that no late packet will still come for it.
    pub fn advance(&mut self, now: Instant) {
        let due = self.slot_at(now).saturating_sub(LATENESS_SLOTS);
        while !self.finished && self.next_slot < due {
            self.write_slot(false);
        }
    }

    /// Writes the next slot into the page: the visitor's packet (self-delimited) then the
    /// agent's, silence for a side that sent nothing. The page ends every second, and at `last`.
    fn write_slot(&mut self, last: bool) {
        let visitor = self.lanes[0].queue.pop_front().flatten();
        let agent = self.lanes[1].queue.pop_front().flatten();
        self.next_slot += 1;
        let granule = self.next_slot * u64::from(SLOT_SAMPLES);
        self.pages.packet(granule, |body| {
            let start = body.len();
            // Every queued piece passed `is_one_slot` or came out of `slots`: it frames.
            if self_delimit(visitor.as_deref().unwrap_or(&SILENCE), body).is_err() {
                body.truncate(start);
                let _ = self_delimit(&SILENCE, body);
            }
            body.extend_from_slice(agent.as_deref().unwrap_or(&SILENCE));
        });
        if last || self.pages.packets() >= PAGE_PACKETS {
            self.pages.end_page(last);
            self.stats.duration_ms = self.next_slot * SLOT.as_millis() as u64;
        }
    }

    /// Writes everything queued and ends the stream. Nothing is recorded after.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        let queued = self.lanes.iter().map(|l| l.queue.len()).max().unwrap_or(0);
        for _ in 1..queued {
            self.write_slot(false);
        }
        // The last page carries the end-of-stream flag, on a slot of its own if none is queued.
        self.write_slot(true);
        self.finished = true;
    }

    /// Ogg pages completed since the last call, to append to the file in order.
    pub fn poll_pages(&mut self) -> Option<Vec<u8>> {
        self.pages.take()
    }

    pub fn stats(&self) -> RecordingStats {
        self.stats
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 20 ms tone (or silence) as Opus.
    fn frame(encoder: &mut opus::Encoder, loud: bool) -> Arc<[u8]> {
        let pcm: Vec<i16> =
            (0..960).map(|i| if loud { ((i as f32 * 0.06).sin() * 9000.0) as i16 } else { 0 }).collect();
        encoder.encode_vec(&pcm, 4000).unwrap().into()
    }

    /// Decodes a recording with libopus through the `ogg` reader: (left, right) energy per slot.
    fn decode(file: &[u8]) -> Vec<(f64, f64)> {
        let mut reader = ogg::PacketReader::new(std::io::Cursor::new(file));
        let head = reader.read_packet_expected().unwrap();
        assert_eq!(&head.data[..8], b"OpusHead");
        assert_eq!(head.data[9], 2, "two channels");
        let tags = reader.read_packet_expected().unwrap();
        assert_eq!(&tags.data[..8], b"OpusTags");
        let mut decoder = opus::MSDecoder::new(48_000, 2, 0, &[0, 1]).unwrap();
        let mut out = Vec::new();
        let mut pcm = vec![0i16; 960 * 2];
        while let Some(p) = reader.read_packet().unwrap() {
            assert_eq!(decoder.decode(&p.data, &mut pcm, false).unwrap(), 960);
            let energy =
                |c: usize| pcm.iter().skip(c).step_by(2).map(|s| f64::from(*s).powi(2)).sum::<f64>() / 960.0;
            out.push((energy(0), energy(1)));
        }
        out
    }

    #[test]
    fn each_side_plays_in_its_own_channel_at_its_time() {
        let t0 = Instant::now();
        let mut rec = CallRecorder::new(t0, 7, &[("VOXGATE_CALL", "c1")]);
        let mut visitor = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        let mut agent = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        let mut file = Vec::new();
        // 0-1 s: the visitor speaks; 1-2 s: the agent answers while the visitor is quiet.
        for i in 0..100u32 {
            let now = t0 + SLOT * i;
            rec.visitor(now, 1000 + i * 960, &frame(&mut visitor, i < 50));
            if i >= 50 {
                rec.agent(now, i * 960, &frame(&mut agent, true));
            }
            if let Some(pages) = rec.poll_pages() {
                file.extend(pages);
            }
        }
        rec.finish();
        file.extend(rec.poll_pages().unwrap());
        let slots = decode(&file);
        assert_eq!(slots.len(), 100);
        let (first, second) = slots.split_at(50);
        let loud = 1e5;
        assert!(first[5..45].iter().all(|(l, r)| *l > loud && *r < loud / 100.0), "{:?}", &first[..10]);
        assert!(second[5..45].iter().all(|(l, r)| *l < loud / 100.0 && *r > loud), "{:?}", &second[..10]);
        let stats = rec.stats();
        assert_eq!(
            (stats.duration_ms, stats.visitor_packets, stats.agent_packets, stats.dropped),
            (2000, 100, 50, 0)
        );
    }

    #[test]
    fn jitter_does_not_move_the_visitor_and_late_packets_are_dropped() {
        let t0 = Instant::now();
        let mut rec = CallRecorder::new(t0, 1, &[]);
        let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        let rtp = |i: u32| (u32::MAX - 2000).wrapping_add(i * 960);
        // Ten packets arrive in one burst after 200 ms: each still goes to its RTP slot.
        for i in 0..10 {
            rec.visitor(t0 + Duration::from_millis(200), rtp(i), &frame(&mut enc, true));
        }
        assert_eq!(rec.lanes[0].queue.iter().filter(|s| s.is_some()).count(), 10);
        assert_eq!(
            rec.lanes[0].last,
            Some(19),
            "anchored at the burst's arrival, in RTP order across the wrap"
        );
        // A packet for a slot already written is too late.
        let later = t0 + Duration::from_millis(800);
        rec.advance(later);
        assert_eq!(rec.next_slot, 28);
        rec.visitor(later, rtp(0), &frame(&mut enc, true));
        assert_eq!(rec.stats().dropped, 1);
        // A duplicate of a queued slot is dropped too; garbage is not recorded.
        rec.visitor(later, rtp(25), &frame(&mut enc, true));
        rec.visitor(later, rtp(25), &frame(&mut enc, true));
        rec.agent(later, 0, &Arc::from(&[0xFFu8][..]));
        assert_eq!(rec.stats().dropped, 3);
        // A sender that resets its clock is re-anchored where it is heard, not dropped.
        rec.visitor(later, 500_000_000, &frame(&mut enc, true));
        assert_eq!(rec.stats().dropped, 3);
        assert_eq!(rec.lanes[0].anchor, Some((500_000_000, 40, 500_000_000)));
    }

    #[test]
    fn a_sender_whose_clock_runs_slow_loses_nothing() {
        let t0 = Instant::now();
        let mut rec = CallRecorder::new(t0, 5, &[]);
        let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        // A packet every 24 ms of wall time, each 20 ms of RTP time: after a few seconds its RTP
        // time is far behind the slots already written.
        for i in 0..250u32 {
            rec.agent(t0 + Duration::from_millis(24) * i, i * 960, &frame(&mut enc, true));
        }
        rec.finish();
        let stats = rec.stats();
        assert_eq!((stats.agent_packets, stats.dropped), (250, 0));
        // Timer jitter does not leave holes: every packet in one slot, back to back.
        let mut file = Vec::new();
        while let Some(p) = rec.poll_pages() {
            file.extend(p);
        }
        let loud = decode(&file).iter().filter(|(_, r)| *r > 1e5).count();
        assert!(loud >= 245, "{loud} of 250 slots loud");
    }

    #[test]
    fn a_recording_cut_short_is_still_a_valid_file() {
        let t0 = Instant::now();
        let mut rec = CallRecorder::new(t0, 3, &[]);
        let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        let mut file = rec.poll_pages().unwrap();
        for i in 0..200u32 {
            rec.agent(t0 + SLOT * i, i * 960, &frame(&mut enc, true));
            if let Some(p) = rec.poll_pages() {
                file.extend(p);
            }
        }
        // Never finished (a crash): whole pages were handed out every second.
        let cut = &file[..file.len() - 5];
        assert_eq!(rec.stats().duration_ms, 3000);
        assert_eq!(super::super::written_duration_ms(&file), 3000);
        assert_eq!(super::super::written_duration_ms(cut), 2000, "a torn page is not counted");
        let slots = decode(&file);
        assert!(slots.len() >= 150 && slots.len().is_multiple_of(PAGE_PACKETS as usize), "{}", slots.len());
    }

    #[test]
    fn an_empty_recording_still_ends_its_stream() {
        let mut rec = CallRecorder::new(Instant::now(), 9, &[]);
        rec.finish();
        let file = rec.poll_pages().unwrap();
        assert_eq!(decode(&file).len(), 1);
        rec.agent(Instant::now(), 0, &Arc::from(&SILENCE[..]));
        assert!(rec.poll_pages().is_none(), "nothing after the end");
    }
}

#[cfg(test)]
mod cost {
    use super::*;

    /// What recording costs a call per 20 ms slot (a visitor packet, an agent packet and the
    /// slot written): `cargo test --release -p voxgate-engine --lib recording_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn recording_cost_per_slot() {
        let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        let pcm: Vec<i16> = (0..960).map(|i| ((i as f32 * 0.06).sin() * 9000.0) as i16).collect();
        let packet: std::sync::Arc<[u8]> = enc.encode_vec(&pcm, 4000).unwrap().into();
        let t0 = Instant::now();
        let mut rec = CallRecorder::new(t0, 1, &[]);
        let n = 200_000u32;
        let started = std::time::Instant::now();
        let mut bytes = 0;
        for i in 0..n {
            let now = t0 + SLOT * i;
            rec.visitor(now, i * 960, &packet);
            rec.agent(now, i * 960, &packet);
            if let Some(p) = rec.poll_pages() {
                bytes += p.len();
            }
        }
        let per = started.elapsed() / n;
        eprintln!("{per:?} per slot ({bytes} bytes)");
    }
}
