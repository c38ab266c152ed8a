//! Every visitor's media on one thread: peers multiplexed on a few UDP sockets (see `sockets`),
//! read in batches when epoll says a socket is readable, and one heap of deadlines for str0m
//! timeouts and the 20 ms frame clock. Datagrams leave in batches (see `outbox`), flushed after
//! every round of due frames and every receive batch. Frames carry a sequence number; each peer
//! remembers when its last frames left, so an echo's round trip starts at its departure.

use crate::outbox::{realtime_ns, Departed, Departure};
use crate::plan::{Plan, TalkPlan};
use crate::signaling::Signaled;
use crate::sockets::{PeerSocket, RecvBuffer};
use crate::speech::Voice;
use crate::talker::{Measured, Say, Talker};
use hdrhistogram::Histogram;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use voxgate_engine::media::client::{ClientIo, ClientPeer};

pub const WAKER: Token = Token(usize::MAX);
/// The deadline timer's token.
const TIMER: Token = Token(usize::MAX - 1);
const FRAME_INTERVAL: Duration = Duration::from_millis(20);
/// Departures a peer remembers: an echo later than this many frames is timed from the send
/// stamp in its payload instead.
const DEPARTURES: usize = 32;

/// Commands from the conductor.
pub enum Control {
    Add(Box<Signaled>),
    /// Every call's network changes: each peer moves to a new address and restarts ICE, its
    /// fragment going out through the `restarts` channel to be PATCHed.
    RestartAll,
    /// The server's answer to peer `index`'s restart (or why there was none).
    Restarted {
        index: usize,
        answer: Result<String, String>,
    },
    /// Stop sending frames (echoes still count).
    StopSending,
    /// Close every peer and return the results.
    Finish,
}

/// Counters the progress line reads while the run goes on.
#[derive(Default)]
pub struct Live {
    pub connected: AtomicUsize,
    pub failed: AtomicUsize,
    pub echoed: AtomicU64,
    pub sent: AtomicU64,
    /// Microseconds since the run's epoch when the last peer connected.
    pub last_connected_us: AtomicU64,
}

/// What the media thread measured.
pub struct MediaResult {
    pub rtt_us: Histogram<u64>,
    pub setup_us: Histogram<u64>,
    /// How late each frame went out against its 20 ms clock: the harness's own lag. RTT is
    /// timed from the actual send, so lag does not inflate it, but a large lag means the
    /// harness could not keep the offered load and the run says less about the server.
    pub frame_lag_us: Histogram<u64>,
    pub sent: u64,
    pub echoed: u64,
    pub connected: usize,
    pub failures: Vec<String>,
    pub jitter_us: Vec<f64>,
    /// Datagrams the harness's kernel refused to send (full send buffer).
    pub send_refused: u64,
    pub talk: TalkResult,
    /// From a call's network change to its first echo after the ICE restart.
    pub restart_us: Histogram<u64>,
    /// Restarts that failed, or got no echo before the run ended.
    pub restarts_failed: u64,
}

/// What talking visitors measured (with `--speech`).
pub struct TalkResult {
    /// End of the visitor's speech to the reply's first frame.
    pub response_us: Histogram<u64>,
    /// Barge-in speech began to the reply's last frame.
    pub barge_in_stop_us: Histogram<u64>,
    /// Silences inside replies longer than two frames.
    pub gaps_us: Histogram<u64>,
    pub questions: u64,
    pub unanswered: u64,
    pub reply_frames: u64,
    /// Reply frames missing from the RTP sequence.
    pub reply_lost: u64,
}

/// A peer's ICE restart for the HTTP side to PATCH: its call, token and new credentials.
pub struct RestartRequest {
    pub index: usize,
    pub location: String,
    pub token: String,
    pub fragment: String,
}

/// A talking visitor's state beside its peer.
struct Talking {
    talker: Talker,
    /// The question as this visitor's browser encodes it for this server.
    voice: Voice,
    /// Frames of silence since its last speech: where it is in the silence's encoding.
    quiet_frames: usize,
    /// First and last RTP sequence of the replies, and frames received.
    reply_seq: Option<(u64, u64)>,
    reply_frames: u64,
}

struct Slot {
    peer: ClientPeer,
    /// Index of the socket that carries this peer.
    socket: usize,
    /// The peer's own address (its ICE candidate).
    local: SocketAddr,
    started: Instant,
    answered: Instant,
    deadline: Instant,
    scheduled: Option<Instant>,
    next_frame: Instant,
    connected: bool,
    dead: bool,
    seq: u32,
    /// When recent frames left, by `seq % DEPARTURES`: (seq, CLOCK_REALTIME ns).
    departures: [(u32, u64); DEPARTURES],
    sent: u64,
    echoed: u64,
    last_transit_us: Option<i64>,
    jitter_us: f64,
    talking: Option<Talking>,
    /// The call's resource and token (for an ICE restart).
    location: String,
    token: String,
    /// When its network changed, until its first echo after that.
    restarting: Option<Instant>,
}

/// An echo received: its frame's sequence number, the send stamp it carries, and when it
/// arrived (CLOCK_REALTIME ns).
struct Echo {
    seq: u32,
    stamped_ns: u64,
    arrival_ns: u64,
}

/// What peers' calls leave for the media loop to handle after them.
#[derive(Default)]
struct Pending {
    echoes: Vec<Echo>,
    /// Reply frames for a talking visitor: RTP sequence and arrival (CLOCK_REALTIME ns).
    replies: Vec<(u64, u64)>,
    /// Sockets with datagrams queued, to flush.
    dirty: Vec<usize>,
    /// Frames whose batch has left.
    departed: Vec<Departed>,
}

/// What the media loop lends a peer for one call: where its datagrams go and what it heard.
struct Io<'a> {
    socket: &'a PeerSocket,
    /// The socket's mio token.
    token: usize,
    local: SocketAddr,
    connected: bool,
    disconnected: bool,
    pending: &'a mut Pending,
    /// The frame being sent, which the next RTP datagram carries.
    departure: Option<Departure>,
    /// Kernel receive time of the datagram being handled (CLOCK_REALTIME ns), if any.
    arrival_ns: u64,
    /// The peer is a talking visitor: frames it receives are replies, not echoes.
    talking: bool,
}

impl<'a> Io<'a> {
    fn new(
        socket: &'a PeerSocket,
        token: usize,
        local: SocketAddr,
        pending: &'a mut Pending,
        arrival_ns: u64,
    ) -> Self {
        Io {
            socket,
            token,
            local,
            connected: false,
            disconnected: false,
            pending,
            departure: None,
            arrival_ns,
            talking: false,
        }
    }
}

/// Whether a datagram is RTP rather than RTCP, STUN or DTLS (RFC 5761's payload-type split).
fn is_rtp(datagram: &[u8]) -> bool {
    datagram.len() >= 12 && datagram[0] >> 6 == 2 && !(192..=223).contains(&datagram[1])
}

impl ClientIo for Io<'_> {
    fn transmit(&mut self, destination: SocketAddr, datagram: &[u8]) {
        let departure =
            if self.departure.is_some() && is_rtp(datagram) { self.departure.take() } else { None };
        if self.socket.send(self.local, destination, datagram, departure, &mut self.pending.departed) {
            self.pending.dirty.push(self.token);
        }
    }
    fn connected(&mut self) {
        self.connected = true;
    }
    fn disconnected(&mut self) {
        self.disconnected = true;
    }
    fn packet(&mut self, data: &[u8], seq: u64, received: Instant) {
        if self.talking {
            let arrival_ns = if self.arrival_ns > 0 { self.arrival_ns } else { realtime_ns() };
            self.pending.replies.push((seq, arrival_ns));
        } else {
            self.frame(data, received);
        }
    }
    fn frame(&mut self, data: &[u8], _received: Instant) {
        if data.len() >= 12 {
            let seq = u32::from_be_bytes(data[..4].try_into().unwrap_or([0; 4]));
            let stamped_ns = u64::from_be_bytes(data[4..12].try_into().unwrap_or([0; 8]));
            let arrival_ns = if self.arrival_ns > 0 { self.arrival_ns } else { realtime_ns() };
            self.pending.echoes.push(Echo { seq, stamped_ns, arrival_ns });
        }
    }
}

/// The media thread's state.
pub struct MediaLoop {
    poll: Poll,
    /// Fires at the earliest deadline (see `arm`) when the frame clock is exact.
    timer: TimerFd,
    exact_clock: bool,
    send_batch: usize,
    armed: Option<Instant>,
    rx: Receiver<Control>,
    /// By mio token: the shared sockets first, then any a peer bound for itself.
    sockets: Vec<Option<PeerSocket>>,
    shared: usize,
    /// A peer's address to its slot.
    routes: HashMap<SocketAddr, usize>,
    buffer: Option<RecvBuffer>,
    slots: Vec<Option<Slot>>,
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    epoch: Instant,
    connect_timeout: Duration,
    sending: bool,
    live: Arc<Live>,
    result: MediaResult,
    pending: Pending,
    /// The frame being sent: its sequence number and send time change, its padding does not.
    frame: Vec<u8>,
    talk: Option<TalkPlan>,
    restarts: tokio::sync::mpsc::UnboundedSender<RestartRequest>,
}

impl MediaLoop {
    /// `shared` sockets carry the peers addressed on them (`Addressing::Loopback`).
    pub fn new(
        shared: Vec<PeerSocket>,
        plan: &Plan,
        rx: Receiver<Control>,
        live: Arc<Live>,
        epoch: Instant,
        restarts: tokio::sync::mpsc::UnboundedSender<RestartRequest>,
    ) -> std::io::Result<(MediaLoop, Arc<Waker>)> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let timer =
            TimerFd::new(ClockId::CLOCK_MONOTONIC, TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC)
                .map_err(std::io::Error::from)?;
        poll.registry().register(&mut SourceFd(&timer.as_fd().as_raw_fd()), TIMER, Interest::READABLE)?;
        let mut sockets = Vec::new();
        for (i, mut s) in shared.into_iter().enumerate() {
            poll.registry().register(&mut s.socket, Token(i), Interest::READABLE)?;
            sockets.push(Some(s));
        }
        let buffer = sockets.first().and_then(|s| s.as_ref()).map(PeerSocket::buffer);
        let hist = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
        let talk = TalkResult {
            response_us: hist(),
            barge_in_stop_us: hist(),
            gaps_us: hist(),
            questions: 0,
            unanswered: 0,
            reply_frames: 0,
            reply_lost: 0,
        };
        let result = MediaResult {
            talk,
            rtt_us: hist(),
            setup_us: hist(),
            frame_lag_us: hist(),
            sent: 0,
            echoed: 0,
            connected: 0,
            failures: Vec::new(),
            jitter_us: Vec::new(),
            send_refused: 0,
            restart_us: hist(),
            restarts_failed: 0,
        };
        Ok((
            MediaLoop {
                poll,
                timer,
                exact_clock: plan.exact_frame_clock,
                send_batch: plan.send_batch,
                armed: None,
                rx,
                shared: sockets.len(),
                sockets,
                routes: HashMap::new(),
                buffer,
                slots: Vec::new(),
                heap: BinaryHeap::new(),
                epoch,
                frame: vec![0; plan.frame_bytes],
                connect_timeout: plan.connect_timeout,
                sending: true,
                live,
                result,
                pending: Pending::default(),
                talk: plan.talk.clone(),
                restarts,
            },
            waker,
        ))
    }

    /// Runs until `Control::Finish`.
    pub fn run(mut self) -> MediaResult {
        let mut events = Events::with_capacity(1024);
        loop {
            loop {
                match self.rx.try_recv() {
                    Ok(Control::Add(s)) => self.add(*s),
                    Ok(Control::StopSending) => self.sending = false,
                    Ok(Control::RestartAll) => self.restart_all(),
                    Ok(Control::Restarted { index, answer }) => self.restarted(index, answer),
                    Ok(Control::Finish) | Err(TryRecvError::Disconnected) => return self.finish(),
                    Err(TryRecvError::Empty) => break,
                }
            }
            self.service_due();
            self.flush();
            // epoll's own timeout is whole milliseconds (rounded up); the exact clock arms a
            // timer for the deadline instead.
            let timeout = match self.heap.peek().map(|Reverse((at, _))| *at) {
                Some(at) if at <= Instant::now() => Duration::ZERO,
                Some(at) if self.exact_clock => {
                    self.arm(at);
                    Duration::from_millis(50)
                }
                Some(at) => at.saturating_duration_since(Instant::now()).min(Duration::from_millis(50)),
                None => Duration::from_millis(50),
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    self.result.failures.push(format!("poll: {e}"));
                    return self.finish();
                }
            }
            for event in events.iter() {
                if event.token() == TIMER {
                    // Edge-triggered: drain the expiry count so the next one signals again.
                    let _ = nix::unistd::read(&self.timer, &mut [0u8; 8]);
                    self.armed = None;
                    continue;
                }
                if event.token() == WAKER {
                    continue;
                }
                self.read(event.token().0);
            }
        }
    }

    /// Sends every queued datagram, and records when each frame among them left.
    fn flush(&mut self) {
        for token in self.pending.dirty.drain(..) {
            if let Some(socket) = self.sockets.get(token).and_then(Option::as_ref) {
                socket.flush(&mut self.pending.departed);
            }
        }
        for d in self.pending.departed.drain(..) {
            let Departure { slot, seq, due } = d.departure;
            let _ = self
                .result
                .frame_lag_us
                .record(d.at.saturating_duration_since(due).as_micros().max(1) as u64);
            if let Some(slot) = self.slots.get_mut(slot).and_then(Option::as_mut) {
                slot.departures[seq as usize % DEPARTURES] = (seq, d.realtime_ns);
                if let Some(t) = slot.talking.as_mut() {
                    t.talker.departed(seq, d.realtime_ns);
                }
            }
        }
    }

    /// Services every peer whose deadline (a frame to send, a str0m timeout) has come.
    fn service_due(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, i))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            if let Some(slot) = self.slots.get_mut(i).and_then(Option::as_mut) {
                if slot.scheduled == Some(at) {
                    slot.scheduled = None;
                    self.service(i, now);
                }
            }
        }
    }

    /// Sets the deadline timer to `at` unless it already fires at or before then. Sleeping on
    /// epoll's millisecond timeout instead sends each millisecond's due frames as one burst.
    fn arm(&mut self, at: Instant) {
        if self.armed.is_some_and(|armed| armed <= at && armed > Instant::now()) {
            return;
        }
        let wait = at.saturating_duration_since(Instant::now()).max(Duration::from_micros(1));
        if self
            .timer
            .set(Expiration::OneShot(TimeSpec::from_duration(wait)), TimerSetTimeFlags::empty())
            .is_ok()
        {
            self.armed = Some(at);
        }
    }

    fn add(&mut self, s: Signaled) {
        let index = s.index;
        let (socket, local) = match s.socket {
            // A peer with its own socket (not on loopback).
            Some(own) => {
                let token = self.shared + index;
                let mut socket = match PeerSocket::from_std(own, self.send_batch) {
                    Ok(s) => s,
                    Err(e) => return self.add_failed(format!("socket: {e}")),
                };
                if let Err(e) =
                    self.poll.registry().register(&mut socket.socket, Token(token), Interest::READABLE)
                {
                    return self.add_failed(format!("register: {e}"));
                }
                if self.buffer.is_none() {
                    self.buffer = Some(socket.buffer());
                }
                let local = socket.local_addr();
                if self.sockets.len() <= token {
                    self.sockets.resize_with(token + 1, || None);
                }
                self.sockets[token] = Some(socket);
                (token, local)
            }
            None => (s.shared_socket, s.local),
        };
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        self.routes.insert(local, index);
        let now = Instant::now();
        let talking = self.talk.as_ref().map(|t| {
            let ns = |d: Duration| d.as_nanos() as u64;
            // Visitors start asking at different moments, as people do.
            let first_pause = ns(t.pause) * (index as u64 % 16) / 16;
            Talking {
                talker: Talker::new(
                    realtime_ns(),
                    t.speech.len(),
                    t.barge_in.map(ns),
                    ns(t.pause),
                    first_pause,
                ),
                voice: t.speech.voice(s.peer.max_playback_rate(), s.peer.wants_dtx()).clone(),
                quiet_frames: 0,
                reply_seq: None,
                reply_frames: 0,
            }
        });
        self.slots[index] = Some(Slot {
            peer: s.peer,
            socket,
            local,
            started: s.started,
            answered: s.answered,
            deadline: now,
            scheduled: None,
            next_frame: now,
            connected: false,
            dead: false,
            seq: 0,
            departures: [(u32::MAX, 0); DEPARTURES],
            sent: 0,
            echoed: 0,
            last_transit_us: None,
            jitter_us: 0.0,
            talking,
            location: s.location,
            token: s.token,
            restarting: None,
        });
        self.service(index, now);
    }

    /// Moves every connected peer to a new loopback address (`127.1.x.y` to `127.2.x.y` and
    /// back: the next /16 over) and restarts its ICE; replies to the old address reach nobody.
    fn restart_all(&mut self) {
        let now = Instant::now();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Some(slot) = slot.as_mut().filter(|s| s.connected && !s.dead) else { continue };
            let SocketAddr::V4(old) = slot.local else { continue };
            let [a, b, c, d] = old.ip().octets();
            let moved = SocketAddr::from(([a, if b == 1 { 2 } else { 1 }, c, d], old.port()));
            let fragment = match slot.peer.restart_ice(moved) {
                Ok(f) => f,
                Err(_) => {
                    self.result.restarts_failed += 1;
                    continue;
                }
            };
            self.routes.remove(&slot.local);
            self.routes.insert(moved, i);
            slot.local = moved;
            slot.restarting = Some(now);
            let request = RestartRequest {
                index: i,
                location: slot.location.clone(),
                token: slot.token.clone(),
                fragment,
            };
            if self.restarts.send(request).is_err() {
                self.result.restarts_failed += 1;
            }
        }
    }

    /// The server answered peer `index`'s restart: its new credentials apply, checks begin.
    fn restarted(&mut self, index: usize, answer: Result<String, String>) {
        let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else { return };
        let applied = answer.and_then(|a| slot.peer.accept_restart(&a).map_err(|e| e.to_string()));
        if let Err(e) = applied {
            self.result.restarts_failed += 1;
            self.result.failures.push(e);
            slot.restarting = None;
            return;
        }
        slot.deadline = Instant::now();
        self.service(index, Instant::now());
    }

    fn add_failed(&mut self, reason: String) {
        self.result.failures.push(reason);
        self.live.failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads socket `token` dry, a batch at a time, handing each datagram to its peer. Frames
    /// that fall due meanwhile go out between batches: a long run of echoes must not hold them
    /// back (they would leave late, in a burst).
    fn read(&mut self, token: usize) {
        loop {
            let read = self.read_batch(token);
            self.flush();
            if read == 0 {
                return;
            }
            self.service_due();
            self.flush();
        }
    }

    /// Reads one batch from socket `token`; answers how many datagrams it read.
    fn read_batch(&mut self, token: usize) -> usize {
        let (Some(socket), Some(mut buffer)) =
            (self.sockets.get_mut(token).and_then(Option::take), self.buffer.take())
        else {
            return 0;
        };
        let n = socket.recv_batch(&mut buffer, |arrival, data| {
            let Some(&i) = self.routes.get(&arrival.to) else { return };
            let Some(slot) = self.slots.get_mut(i).and_then(Option::as_mut) else { return };
            let now = Instant::now();
            let mut io = Io::new(&socket, token, slot.local, &mut self.pending, arrival.arrival_ns);
            io.talking = slot.talking.is_some();
            match slot.peer.receive(now, arrival.from, data, &mut io) {
                Ok(d) => slot.deadline = d,
                Err(_) => slot.dead = true,
            }
            let (c, d) = (io.connected, io.disconnected);
            self.after_io(i, now, c, d);
        });
        self.sockets[token] = Some(socket);
        self.buffer = Some(buffer);
        n
    }

    /// Sends a due frame and feeds a due timeout, then reschedules.
    fn service(&mut self, i: usize, now: Instant) {
        let Some(slot) = self.slots.get_mut(i).and_then(Option::as_mut) else { return };
        if slot.dead {
            return;
        }
        let Some(socket) = self.sockets.get(slot.socket).and_then(Option::as_ref) else { return };
        let mut io = Io::new(socket, slot.socket, slot.local, &mut self.pending, 0);
        io.talking = slot.talking.is_some();
        if !slot.connected && now.duration_since(slot.answered) > self.connect_timeout {
            slot.dead = true;
            self.result.failures.push("connect timeout".into());
            self.live.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut sent_frame = false;
        if slot.connected && self.sending && now >= slot.next_frame {
            let said = slot.talking.as_mut().map(|t| match t.talker.next_frame(realtime_ns(), slot.seq) {
                Say::Speech { n, last } => {
                    if last {
                        self.result.talk.questions += 1;
                    }
                    t.quiet_frames = 0;
                    t.voice.frames[n].as_deref()
                }
                Say::Silence => {
                    t.quiet_frames += 1;
                    t.voice.silence.frame(t.quiet_frames - 1)
                }
            });
            let due = slot.next_frame;
            slot.next_frame += FRAME_INTERVAL;
            if slot.next_frame < now {
                slot.next_frame = now + FRAME_INTERVAL;
            }
            let frame: Option<&[u8]> = match said {
                Some(said) => said,
                None => {
                    let frame = &mut self.frame;
                    frame[..4].copy_from_slice(&slot.seq.to_be_bytes());
                    frame[4..12].copy_from_slice(&realtime_ns().to_be_bytes());
                    Some(frame)
                }
            };
            match frame {
                // A pause in sending (DTX): the RTP clock moves on, nothing leaves.
                None => slot.peer.skip_frame(),
                Some(frame) => {
                    // Its lag and the start of its round trip are taken when it leaves (see
                    // `flush`).
                    io.departure = Some(Departure { slot: i, seq: slot.seq, due });
                    slot.seq += 1;
                    slot.sent += 1;
                    sent_frame = true;
                    match slot.peer.send_frame(now, frame, &mut io) {
                        Ok(d) => slot.deadline = d,
                        Err(_) => slot.dead = true,
                    }
                }
            }
        }
        if now >= slot.deadline && !slot.dead {
            match slot.peer.timeout(now, &mut io) {
                Ok(d) => slot.deadline = d,
                Err(_) => slot.dead = true,
            }
        }
        let (c, d) = (io.connected, io.disconnected);
        if sent_frame {
            self.live.sent.fetch_add(1, Ordering::Relaxed);
        }
        self.after_io(i, now, c, d);
    }

    fn after_io(&mut self, i: usize, now: Instant, connected: bool, disconnected: bool) {
        let epoch = self.epoch;
        let Some(slot) = self.slots.get_mut(i).and_then(Option::as_mut) else { return };
        if connected && !slot.connected {
            slot.connected = true;
            slot.next_frame = now;
            self.result.connected += 1;
            let _ = self.result.setup_us.record(now.duration_since(slot.started).as_micros().max(1) as u64);
            self.live.connected.fetch_add(1, Ordering::Relaxed);
            self.live
                .last_connected_us
                .store(now.duration_since(epoch).as_micros() as u64, Ordering::Relaxed);
        }
        if disconnected && self.sending && !slot.dead {
            slot.dead = true;
            self.result.failures.push("server ended the call".into());
            self.live.failed.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(t) = slot.talking.as_mut() {
            let talk = &mut self.result.talk;
            for (seq, at) in self.pending.replies.drain(..) {
                t.talker.reply(at);
                t.reply_frames += 1;
                t.reply_seq = Some(match t.reply_seq {
                    None => (seq, seq),
                    Some((first, last)) => (first.min(seq), last.max(seq)),
                });
            }
            for m in t.talker.take_measured() {
                let us = |ns: u64| (ns / 1000).max(1);
                let _ = match m {
                    Measured::Response { ns } => talk.response_us.record(us(ns)),
                    Measured::BargeInStop { ns } => talk.barge_in_stop_us.record(us(ns)),
                    Measured::Gap { ns } => talk.gaps_us.record(us(ns)),
                    Measured::NoReply => {
                        talk.unanswered += 1;
                        Ok(())
                    }
                };
            }
        }
        if let Some(moved) = slot.restarting.filter(|_| !self.pending.echoes.is_empty()) {
            slot.restarting = None;
            let _ = self.result.restart_us.record(now.duration_since(moved).as_micros().max(1) as u64);
        }
        for echo in self.pending.echoes.drain(..) {
            let sent_ns = match slot.departures[echo.seq as usize % DEPARTURES] {
                (seq, left_ns) if seq == echo.seq && left_ns > 0 => left_ns,
                _ => echo.stamped_ns,
            };
            let transit = (echo.arrival_ns as i64 - sent_ns as i64) / 1000;
            let _ = self.result.rtt_us.record(transit.max(1) as u64);
            slot.echoed += 1;
            // RFC 3550 interarrival jitter over the round trip's transit time.
            if let Some(last) = slot.last_transit_us {
                let d = (transit - last).abs() as f64;
                slot.jitter_us += (d - slot.jitter_us) / 16.0;
            }
            slot.last_transit_us = Some(transit);
            self.live.echoed.fetch_add(1, Ordering::Relaxed);
        }
        if slot.dead {
            return;
        }
        let mut wake = slot.deadline;
        if slot.connected && self.sending {
            wake = wake.min(slot.next_frame);
        }
        if !slot.connected {
            wake = wake.min(slot.answered + self.connect_timeout + Duration::from_millis(1));
        }
        if slot.scheduled.is_none_or(|s| wake < s) {
            slot.scheduled = Some(wake);
            self.heap.push(Reverse((wake, i)));
        }
    }

    fn finish(mut self) -> MediaResult {
        let now = Instant::now();
        for slot in self.slots.iter_mut().flatten() {
            let Some(socket) = self.sockets.get(slot.socket).and_then(Option::as_ref) else { continue };
            let mut io = Io::new(socket, slot.socket, slot.local, &mut self.pending, 0);
            slot.peer.close(now, &mut io);
            self.result.sent += slot.sent;
            self.result.echoed += slot.echoed.min(slot.sent);
            if let Some(t) = &slot.talking {
                self.result.talk.reply_frames += t.reply_frames;
                if let Some((first, last)) = t.reply_seq {
                    self.result.talk.reply_lost += (last - first + 1).saturating_sub(t.reply_frames);
                }
            }
            if slot.connected {
                self.result.jitter_us.push(slot.jitter_us);
            }
            if slot.restarting.is_some() {
                self.result.restarts_failed += 1;
            }
        }
        self.flush();
        self.result.send_refused = self.sockets.iter().flatten().map(PeerSocket::refused).sum();
        self.result
    }
}
