//! Every visitor's media on one thread: one non-blocking UDP socket per peer (the server tells
//! peers apart by address), polled with epoll, and one heap of deadlines for str0m timeouts and
//! the 20 ms frame clock. Frames carry a sequence number and their send time, so the echo's
//! round trip needs no lookup.

use crate::signaling::Signaled;
use hdrhistogram::Histogram;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use voxgate_engine::voice::client::{ClientIo, ClientPeer};

pub const WAKER: Token = Token(usize::MAX);
const FRAME_INTERVAL: Duration = Duration::from_millis(20);

/// Commands from the conductor.
pub enum Control {
    Add(Box<Signaled>),
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
    pub sent: u64,
    pub echoed: u64,
    pub connected: usize,
    pub failures: Vec<String>,
    pub jitter_us: Vec<f64>,
}

struct Slot {
    peer: ClientPeer,
    socket: UdpSocket,
    started: Instant,
    answered: Instant,
    deadline: Instant,
    scheduled: Option<Instant>,
    next_frame: Instant,
    connected: bool,
    dead: bool,
    seq: u32,
    sent: u64,
    echoed: u64,
    last_transit_us: Option<i64>,
    jitter_us: f64,
}

/// Collects a peer's output during one call.
struct Io<'a> {
    socket: &'a UdpSocket,
    connected: bool,
    disconnected: bool,
    echoes: &'a mut Vec<(u64, u64)>,
    /// Kernel receive time of the datagram being handled (CLOCK_REALTIME ns), if any.
    arrival_ns: u64,
}

impl ClientIo for Io<'_> {
    fn transmit(&mut self, destination: SocketAddr, datagram: &[u8]) {
        let _ = self.socket.send_to(datagram, destination);
    }
    fn connected(&mut self) {
        self.connected = true;
    }
    fn disconnected(&mut self) {
        self.disconnected = true;
    }
    fn frame(&mut self, data: &[u8], _received: Instant) {
        if data.len() >= 12 {
            let sent_ns = u64::from_be_bytes(data[4..12].try_into().unwrap_or([0; 8]));
            let arrival = if self.arrival_ns > 0 { self.arrival_ns } else { realtime_ns() };
            self.echoes.push((sent_ns, arrival));
        }
    }
}

/// The media thread's state.
pub struct MediaLoop {
    poll: Poll,
    rx: Receiver<Control>,
    slots: Vec<Option<Slot>>,
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    epoch: Instant,
    frame_bytes: usize,
    connect_timeout: Duration,
    sending: bool,
    live: Arc<Live>,
    result: MediaResult,
    echoes: Vec<(u64, u64)>,
}

impl MediaLoop {
    pub fn new(
        frame_bytes: usize,
        connect_timeout: Duration,
        rx: Receiver<Control>,
        live: Arc<Live>,
        epoch: Instant,
    ) -> std::io::Result<(MediaLoop, Arc<Waker>)> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let hist = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
        let result = MediaResult {
            rtt_us: hist(),
            setup_us: hist(),
            sent: 0,
            echoed: 0,
            connected: 0,
            failures: Vec::new(),
            jitter_us: Vec::new(),
        };
        Ok((
            MediaLoop {
                poll,
                rx,
                slots: Vec::new(),
                heap: BinaryHeap::new(),
                epoch,
                frame_bytes,
                connect_timeout,
                sending: true,
                live,
                result,
                echoes: Vec::new(),
            },
            waker,
        ))
    }

    /// Runs until `Control::Finish`.
    pub fn run(mut self) -> MediaResult {
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; 2048];
        loop {
            loop {
                match self.rx.try_recv() {
                    Ok(Control::Add(s)) => self.add(*s),
                    Ok(Control::StopSending) => self.sending = false,
                    Ok(Control::Finish) | Err(TryRecvError::Disconnected) => return self.finish(),
                    Err(TryRecvError::Empty) => break,
                }
            }
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
            let timeout = self
                .heap
                .peek()
                .map(|Reverse((at, _))| at.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_millis(50))
                .min(Duration::from_millis(50));
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    self.result.failures.push(format!("poll: {e}"));
                    return self.finish();
                }
            }
            for event in events.iter() {
                if event.token() == WAKER {
                    continue;
                }
                self.read(event.token().0, &mut buf);
            }
        }
    }

    fn add(&mut self, s: Signaled) {
        let index = s.index;
        enable_rx_timestamps(&s.socket);
        let mut socket = UdpSocket::from_std(s.socket);
        if let Err(e) = self.poll.registry().register(&mut socket, Token(index), Interest::READABLE) {
            self.result.failures.push(format!("register: {e}"));
            self.live.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        let now = Instant::now();
        self.slots[index] = Some(Slot {
            peer: s.peer,
            socket,
            started: s.started,
            answered: s.answered,
            deadline: now,
            scheduled: None,
            next_frame: now,
            connected: false,
            dead: false,
            seq: 0,
            sent: 0,
            echoed: 0,
            last_transit_us: None,
            jitter_us: 0.0,
        });
        self.service(index, now);
    }

    fn read(&mut self, i: usize, buf: &mut [u8]) {
        loop {
            let Some(slot) = self.slots.get_mut(i).and_then(Option::as_mut) else { return };
            match recv_timestamped(&slot.socket, buf) {
                Ok((n, from, arrival_ns)) => {
                    let now = Instant::now();
                    let mut io = Io {
                        socket: &slot.socket,
                        connected: false,
                        disconnected: false,
                        echoes: &mut self.echoes,
                        arrival_ns,
                    };
                    match slot.peer.receive(now, from, &buf[..n], &mut io) {
                        Ok(d) => slot.deadline = d,
                        Err(_) => slot.dead = true,
                    }
                    let (c, d) = (io.connected, io.disconnected);
                    self.after_io(i, now, c, d);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => return,
            }
        }
    }

    /// Sends a due frame and feeds a due timeout, then reschedules.
    fn service(&mut self, i: usize, now: Instant) {
        let Some(slot) = self.slots.get_mut(i).and_then(Option::as_mut) else { return };
        if slot.dead {
            return;
        }
        let mut io = Io {
            socket: &slot.socket,
            connected: false,
            disconnected: false,
            echoes: &mut self.echoes,
            arrival_ns: 0,
        };
        if !slot.connected && now.duration_since(slot.answered) > self.connect_timeout {
            slot.dead = true;
            self.result.failures.push("connect timeout".into());
            self.live.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut sent_frame = false;
        if slot.connected && self.sending && now >= slot.next_frame {
            let mut frame = vec![0u8; self.frame_bytes];
            frame[..4].copy_from_slice(&slot.seq.to_be_bytes());
            frame[4..12].copy_from_slice(&realtime_ns().to_be_bytes());
            slot.seq += 1;
            slot.sent += 1;
            sent_frame = true;
            slot.next_frame += FRAME_INTERVAL;
            if slot.next_frame < now {
                slot.next_frame = now + FRAME_INTERVAL;
            }
            match slot.peer.send_frame(now, &frame, &mut io) {
                Ok(d) => slot.deadline = d,
                Err(_) => slot.dead = true,
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
        for (sent_ns, arrival_ns) in self.echoes.drain(..) {
            let transit = (arrival_ns as i64 - sent_ns as i64) / 1000;
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
            let mut io = Io {
                socket: &slot.socket,
                connected: false,
                disconnected: false,
                echoes: &mut self.echoes,
                arrival_ns: 0,
            };
            slot.peer.close(now, &mut io);
            self.result.sent += slot.sent;
            self.result.echoed += slot.echoed.min(slot.sent);
            if slot.connected {
                self.result.jitter_us.push(slot.jitter_us);
            }
        }
        self.result
    }
}

/// CLOCK_REALTIME in nanoseconds: the clock kernel receive timestamps use.
fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Asks the kernel to timestamp each datagram as it arrives (SO_TIMESTAMPNS), so a busy
/// harness does not count its own queueing as server latency.
fn enable_rx_timestamps(socket: &std::net::UdpSocket) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket fd and a correctly sized int option.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            &on as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// recvmsg with the kernel's receive timestamp (0 if none came with the datagram).
fn recv_timestamped(socket: &UdpSocket, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr, u64)> {
    use std::os::fd::AsRawFd;
    // SAFETY: every pointer handed to recvmsg refers to live, correctly sized local buffers,
    // and the control messages are walked with the libc CMSG macros within `control`.
    unsafe {
        let mut addr: libc::sockaddr_storage = std::mem::zeroed();
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() };
        let mut control = [0u8; 64];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = &mut addr as *mut _ as *mut libc::c_void;
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = control.len() as _;
        let n = libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT);
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut arrival = 0u64;
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SO_TIMESTAMPNS {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::timespec);
                arrival = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        let from = match addr.ss_family as libc::c_int {
            libc::AF_INET => {
                let a = &*(&addr as *const _ as *const libc::sockaddr_in);
                SocketAddr::from((u32::from_be(a.sin_addr.s_addr).to_be_bytes(), u16::from_be(a.sin_port)))
            }
            libc::AF_INET6 => {
                let a = &*(&addr as *const _ as *const libc::sockaddr_in6);
                SocketAddr::from((a.sin6_addr.s6_addr, u16::from_be(a.sin6_port)))
            }
            _ => return Err(std::io::Error::other("unknown address family")),
        };
        Ok((n as usize, from, arrival))
    }
}
