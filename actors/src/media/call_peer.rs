//! A call's WebRTC peer as its media worker sees it. The worker's receive loop drives it
//! directly for every datagram, on the worker's thread: no mailbox envelope, no task wake-up and
//! no copy per packet. Its `VoiceSession` actor drives it for everything else (timers, the
//! agent's audio, trickle, hang-up) and hears from the receive loop only when a drive produced
//! something to act on: an event, a failure, or a deadline earlier than its armed timer.

use super::bridge::BridgeLink;
use super::voice_session::VoiceSession;
use super::worker::Worker;
use actix::{Addr, Message};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;
use voxgate_engine::voice::{PeerError, PeerEvent, PeerIo, VoicePeer};

/// The peer and what a drive needs beside it.
pub(crate) struct PeerState {
    pub peer: VoicePeer,
    /// The external agent's connection, for bridge calls: visitor audio goes there.
    pub bridge: Option<BridgeLink>,
    /// Remote addresses routed to this peer, removed from the routes when the call ends.
    pub remotes: Vec<SocketAddr>,
    /// The call is ending: datagrams are no longer fed to the peer.
    pub ended: bool,
    /// When the actor's timer fires, or a re-arm it has been asked for; `None` while none is.
    pub wake_by: Option<Instant>,
}

/// Shared by the worker's routes and the call's actor, on one thread.
pub(crate) struct CallPeer {
    pub state: RefCell<PeerState>,
    pub actor: Addr<VoiceSession>,
}

/// What a drive from the receive loop produced that only the actor can act on.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Drove {
    pub result: Result<Instant, PeerError>,
    pub events: Vec<PeerEvent>,
}

impl CallPeer {
    pub fn new(actor: Addr<VoiceSession>, peer: VoicePeer) -> CallPeer {
        CallPeer {
            state: RefCell::new(PeerState {
                peer,
                bridge: None,
                remotes: Vec::new(),
                ended: false,
                wake_by: None,
            }),
            actor,
        }
    }

    /// Feeds one datagram read by the worker. `new_address` marks one routed by our ICE ufrag
    /// from an address not yet bound to this peer: it is checked (STUN credentials) and, if it
    /// belongs, the address is routed here from now on.
    pub fn receive(
        self: &Rc<Self>,
        worker: &Rc<Worker>,
        source: SocketAddr,
        datagram: &[u8],
        now: Instant,
        new_address: bool,
    ) {
        let mut guard = self.state.borrow_mut();
        let state = &mut *guard;
        if state.ended {
            return;
        }
        if new_address {
            if !state.peer.accepts(now, source, datagram) {
                return;
            }
            worker.route_address(source, self.clone());
            state.remotes.push(source);
        }
        let mut events = Vec::new();
        let result = state.peer.receive(
            now,
            source,
            datagram,
            &mut SocketIo { worker, bridge: state.bridge.as_ref(), events: &mut events },
        );
        let notify = match &result {
            Ok(deadline) if events.is_empty() => {
                let earlier = state.wake_by.is_none_or(|at| *deadline < at);
                if earlier {
                    state.wake_by = Some(*deadline);
                }
                earlier
            }
            _ => true,
        };
        drop(guard);
        if notify {
            self.actor.do_send(Drove { result, events });
        }
    }
}

/// Sends on the worker's socket and collects events for after the drive.
pub(crate) struct SocketIo<'a> {
    pub worker: &'a Rc<Worker>,
    pub bridge: Option<&'a BridgeLink>,
    pub events: &'a mut Vec<PeerEvent>,
}

impl PeerIo for SocketIo<'_> {
    fn transmit(&mut self, destination: SocketAddr, datagram: &[u8]) {
        self.worker.send(destination, datagram);
    }
    fn event(&mut self, event: PeerEvent) {
        self.events.push(event);
    }
    fn audio(&mut self, frame: &[u8]) {
        if let Some(bridge) = self.bridge {
            bridge.audio(frame);
        }
    }
}
