//! A media endpoint: every call of one socket, their routes and their timers, sans-IO. This is
//! quinn-proto's Endpoint shape: the endpoint owns its calls and routes each datagram to one,
//! time is passed in, output goes to a [`Transmit`] sink, and what the driver must act on is
//! pulled with [`Endpoint::poll_event`] and [`Endpoint::poll_timeout`]. A driver (the server's
//! media worker, `voxgate-bare-echo`) only moves datagrams and time in and out.
//!
//! Timers are lazy: each call remembers the earliest deadline it has queued. Incoming packets
//! drive a call far more often than its deadlines fall due and mostly push its deadline later,
//! so a deadline that moves later queues nothing; one that fires early just drives the call
//! and queues its next deadline.

use crate::media::ice_restart::IceFragment;
use crate::media::identity::MediaIdentity;
use crate::media::peer::{CallMedia, PeerConfig, PeerError, PeerEvent, PeerIo, VoicePeer};
use crate::media::router::{CallKey, Route, Router};
use crate::media::transport::Transport;
use crate::talk::{AgentEvent, TalkEvent};
use slab::Slab;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use str0m::change::SdpOffer;
use str0m::IceCreds;

/// Where an endpoint's datagrams go: UDP to an address, or a frame on the TCP connection whose
/// far end is `destination`.
pub trait Transmit {
    fn transmit(&mut self, transport: Transport, destination: SocketAddr, datagram: &[u8]);
}

/// What happened to a call, for its owner to act on.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// ICE and DTLS are up; media flows.
    Connected,
    /// ICE connectivity was lost.
    Disconnected,
    /// The visitor closed the connection (DTLS close_notify or RTCP BYE).
    Closed,
    /// The visitor restarted ICE (a network change): the same call goes on over a new path.
    IceRestarted,
    /// Nothing came from the visitor since `since` (see [`crate::media::peer::TRANSPORT_SILENT`]).
    Silent { since: Instant },
    /// Packets come again after [`CallEvent::Silent`].
    Flowing,
    /// The peer failed and is no longer driven; close it.
    Failed(String),
    /// A visitor's Opus frame, for an external agent.
    VisitorAudio(Arc<[u8]>),
    /// What happened in a talking agent's conversation.
    Talk(TalkEvent),
    /// Whole Ogg pages of the call's recording, and its duration once they are written.
    Recorded { pages: Vec<u8>, duration_ms: u64 },
}

struct Call {
    serial: u32,
    peer: VoicePeer,
    /// The earliest deadline queued for this call, if any.
    scheduled: Option<Instant>,
    /// A drive failed: the call waits to be closed and is fed nothing more.
    failed: bool,
}

/// Every call on one local address.
pub struct Endpoint {
    identity: MediaIdentity,
    local: SocketAddr,
    local_tcp: Option<SocketAddr>,
    router: Router,
    calls: Slab<Call>,
    serial: u32,
    timers: BinaryHeap<Reverse<(Instant, CallKey)>>,
    events: VecDeque<(CallKey, CallEvent)>,
}

/// Hands a call's output to the endpoint's sink and event queue.
struct CallIo<'a, T: ?Sized> {
    out: &'a mut T,
    events: &'a mut VecDeque<(CallKey, CallEvent)>,
    key: CallKey,
}

impl<T: Transmit + ?Sized> PeerIo for CallIo<'_, T> {
    fn transmit(&mut self, transport: Transport, destination: SocketAddr, datagram: &[u8]) {
        self.out.transmit(transport, destination, datagram);
    }

    fn event(&mut self, event: PeerEvent) {
        let event = match event {
            PeerEvent::Connected => CallEvent::Connected,
            PeerEvent::Disconnected => CallEvent::Disconnected,
            PeerEvent::Closed => CallEvent::Closed,
            PeerEvent::Silent { since } => CallEvent::Silent { since },
            PeerEvent::Flowing => CallEvent::Flowing,
        };
        self.events.push_back((self.key, event));
    }

    fn audio(&mut self, frame: &Arc<[u8]>) {
        self.events.push_back((self.key, CallEvent::VisitorAudio(frame.clone())));
    }

    fn talk(&mut self, event: TalkEvent) {
        self.events.push_back((self.key, CallEvent::Talk(event)));
    }

    fn recorded(&mut self, pages: Vec<u8>, duration_ms: u64) {
        self.events.push_back((self.key, CallEvent::Recorded { pages, duration_ms }));
    }
}

impl Endpoint {
    /// An endpoint whose calls advertise `local` and present `identity`. `seed` keys the routing
    /// table's hashes (see [`Router::new`]).
    pub fn new(identity: MediaIdentity, local: SocketAddr, seed: u64) -> Endpoint {
        Endpoint {
            identity,
            local,
            local_tcp: None,
            router: Router::new(seed),
            calls: Slab::new(),
            serial: 0,
            timers: BinaryHeap::new(),
            events: VecDeque::new(),
        }
    }

    /// Also offers every call a passive ICE-TCP candidate at `addr` (where the driver listens
    /// and frames per RFC 4571), for visitors whose networks drop UDP.
    pub fn with_tcp(mut self, addr: SocketAddr) -> Endpoint {
        self.local_tcp = Some(addr);
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The passive TCP candidate's address, if calls offer one.
    pub fn local_tcp_addr(&self) -> Option<SocketAddr> {
        self.local_tcp
    }

    /// Live calls.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Answers a checked offer with a new call using our ICE credentials `ice` (the driver
    /// draws them at random); returns the call's key and the SDP answer.
    pub fn accept(
        &mut self,
        now: Instant,
        offer: SdpOffer,
        ice: IceCreds,
        media: impl Into<CallMedia>,
    ) -> Result<(CallKey, String), PeerError> {
        let ufrag = ice.ufrag.clone();
        let CallMedia { agent, recording } = media.into();
        let config = PeerConfig { local_addr: self.local, tcp_addr: self.local_tcp, ice, agent, recording };
        let answered = VoicePeer::accept(&self.identity, &config, offer, now)?;
        self.serial = self.serial.wrapping_add(1);
        let slot = self.calls.vacant_entry();
        let key = CallKey { index: slot.key() as u32, serial: self.serial };
        self.router.add(&ufrag, key).map_err(|e| PeerError::Setup(e.to_string()))?;
        slot.insert(Call { serial: key.serial, peer: answered.peer, scheduled: Some(now), failed: false });
        // A first drive at once: str0m's own timers start from it.
        self.timers.push(Reverse((now, key)));
        Ok((key, answered.answer_sdp))
    }

    fn call_mut(calls: &mut Slab<Call>, key: CallKey) -> Option<&mut Call> {
        calls.get_mut(key.index as usize).filter(|c| c.serial == key.serial)
    }

    /// Routes one received datagram (or TCP frame) to its call and drives it. False when it
    /// belongs to no call (noise, or a STUN request whose credentials do not match).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        transport: Transport,
        source: SocketAddr,
        datagram: &[u8],
        out: &mut (impl Transmit + ?Sized),
    ) -> bool {
        let remote = (transport, source);
        let key = match self.router.route(remote, datagram) {
            None => return false,
            Some(Route::Bound(key)) => key,
            Some(Route::Unbound(key)) => {
                let accepted = Self::call_mut(&mut self.calls, key)
                    .is_some_and(|c| !c.failed && c.peer.accepts(now, transport, source, datagram));
                if !accepted {
                    return false;
                }
                self.router.bind(remote, key);
                key
            }
        };
        let Some(call) = Self::call_mut(&mut self.calls, key) else {
            return false;
        };
        if call.failed {
            return false;
        }
        let mut io = CallIo { out, events: &mut self.events, key };
        let driven = call.peer.receive(now, transport, source, datagram, &mut io);
        Self::after_drive(&mut self.timers, &mut self.events, call, key, driven);
        true
    }

    /// Forgets a remote that is gone (its TCP connection closed): nothing more routes from it.
    pub fn forget_remote(&mut self, transport: Transport, source: SocketAddr) {
        self.router.unbind((transport, source));
    }

    /// Drives every call whose deadline is due by `now`.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut (impl Transmit + ?Sized)) {
        while let Some(&Reverse((at, key))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(call) = Self::call_mut(&mut self.calls, key) else {
                continue;
            };
            if call.scheduled != Some(at) {
                continue; // superseded by an earlier deadline
            }
            call.scheduled = None;
            if call.failed {
                continue;
            }
            let mut io = CallIo { out: &mut *out, events: &mut self.events, key };
            let driven = call.peer.timeout(now, &mut io);
            Self::after_drive(&mut self.timers, &mut self.events, call, key, driven);
        }
    }

    /// When [`Endpoint::handle_timeout`] next has work; `None` with no calls.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, key))) = self.timers.peek() {
            let live = Self::call_mut(&mut self.calls, key).is_some_and(|c| c.scheduled == Some(at));
            if live {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    /// The next thing a call's owner must act on.
    pub fn poll_event(&mut self) -> Option<(CallKey, CallEvent)> {
        self.events.pop_front()
    }

    /// Drives `key`'s peer with `input` (unless it failed) and schedules what it asks for. False
    /// for no such call.
    fn drive_call<T: Transmit + ?Sized>(
        &mut self,
        key: CallKey,
        out: &mut T,
        input: impl FnOnce(&mut VoicePeer, &mut CallIo<'_, T>) -> Result<Instant, PeerError>,
    ) -> bool {
        let Some(call) = Self::call_mut(&mut self.calls, key) else {
            return false;
        };
        if !call.failed {
            let mut io = CallIo { out, events: &mut self.events, key };
            let driven = input(&mut call.peer, &mut io);
            Self::after_drive(&mut self.timers, &mut self.events, call, key, driven);
        }
        true
    }

    /// Plays one 20 ms Opus frame of an external agent on `key`. False for no such call.
    pub fn play(
        &mut self,
        key: CallKey,
        now: Instant,
        frame: &[u8],
        out: &mut (impl Transmit + ?Sized),
    ) -> bool {
        self.drive_call(key, out, |peer, io| peer.play(now, frame, io))
    }

    /// What the talking agent of `key` did, stamped with the barge-ins it had seen (see
    /// [`crate::talk::Talk::on_agent`]). False for no such call.
    pub fn agent(
        &mut self,
        key: CallKey,
        now: Instant,
        epoch: u64,
        event: AgentEvent,
        out: &mut (impl Transmit + ?Sized),
    ) -> bool {
        self.drive_call(key, out, |peer, io| peer.agent(now, epoch, event, io))
    }

    /// The end-of-turn model's answer for `key` (see [`VoicePeer::turn_judged`]). False for no
    /// such call.
    pub fn turn_judged(
        &mut self,
        key: CallKey,
        now: Instant,
        id: u64,
        finished: Option<f32>,
        out: &mut (impl Transmit + ?Sized),
    ) -> bool {
        self.drive_call(key, out, |peer, io| peer.turn_judged(now, id, finished, io))
    }

    /// Adds trickled candidates to `key`; how many were added, `None` for no such call.
    pub fn add_remote_candidates(&mut self, key: CallKey, now: Instant, sdpfrag: &str) -> Option<usize> {
        let call = Self::call_mut(&mut self.calls, key)?;
        let added = call.peer.add_remote_candidates(sdpfrag);
        if added > 0 && call.scheduled.is_none_or(|at| now < at) {
            // New candidates may start connectivity checks: drive the call at once.
            call.scheduled = Some(now);
            self.timers.push(Reverse((now, key)));
        }
        Some(added)
    }

    /// Restarts ICE for `key` with the visitor's `fragment` (see [`VoicePeer::restart_ice`]):
    /// our answering fragment, `None` for no such call.
    pub fn restart_ice(
        &mut self,
        key: CallKey,
        now: Instant,
        fragment: &IceFragment,
    ) -> Option<Result<String, PeerError>> {
        let call = Self::call_mut(&mut self.calls, key)?;
        if call.failed {
            return None;
        }
        let answer = match call.peer.restart_ice(fragment) {
            Ok(answer) => answer,
            Err(e) => return Some(Err(e)),
        };
        if let Err(e) = self.router.rekey(key, call.peer.ice_ufrag()) {
            return Some(Err(PeerError::Setup(e.to_string())));
        }
        // The restart starts new checks and timers: drive the call at once.
        if call.scheduled.is_none_or(|at| now < at) {
            call.scheduled = Some(now);
            self.timers.push(Reverse((now, key)));
        }
        self.events.push_back((key, CallEvent::IceRestarted));
        Some(Ok(answer))
    }

    /// `key`'s current ICE ufrag: it tags the call's ICE session (WHIP's `ETag`).
    pub fn ice_ufrag(&self, key: CallKey) -> Option<&str> {
        self.calls.get(key.index as usize).filter(|c| c.serial == key.serial).map(|c| c.peer.ice_ufrag())
    }

    /// Whether `key` has connected.
    pub fn is_connected(&self, key: CallKey) -> bool {
        self.calls.get(key.index as usize).is_some_and(|c| c.serial == key.serial && c.peer.is_connected())
    }

    /// Ends `key`: RTCP BYE and DTLS close_notify go out now, and the call, its routes and its
    /// pending events are gone, but for the last pages of its recording. False for no such call.
    pub fn close(&mut self, key: CallKey, now: Instant, out: &mut (impl Transmit + ?Sized)) -> bool {
        if Self::call_mut(&mut self.calls, key).is_none() {
            return false;
        }
        let mut call = self.calls.remove(key.index as usize);
        let mut closing = VecDeque::new();
        let mut io = CallIo { out, events: &mut closing, key };
        if call.failed {
            call.peer.finish_recording(&mut io);
        } else {
            call.peer.close(now, &mut io);
        }
        self.router.remove(key);
        // What outlives the call: its recording's last pages, and its transcript's last lines
        // (an answer cut off by the end, with the words played up to the cut).
        let kept =
            |e: &CallEvent| matches!(e, CallEvent::Recorded { .. } | CallEvent::Talk(TalkEvent::Line(_)));
        self.events.retain(|(k, e)| *k != key || kept(e));
        self.events.extend(closing.into_iter().filter(|(_, e)| kept(e)));
        true
    }

    fn after_drive(
        timers: &mut BinaryHeap<Reverse<(Instant, CallKey)>>,
        events: &mut VecDeque<(CallKey, CallEvent)>,
        call: &mut Call,
        key: CallKey,
        driven: Result<Instant, PeerError>,
    ) {
        match driven {
            Ok(deadline) => {
                if call.scheduled.is_none_or(|at| deadline < at) {
                    call.scheduled = Some(deadline);
                    timers.push(Reverse((deadline, key)));
                }
            }
            Err(e) => {
                call.failed = true;
                events.push_back((key, CallEvent::Failed(e.to_string())));
            }
        }
    }
}
