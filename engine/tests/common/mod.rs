//! The shared harness of the engine's call tests: a server `Endpoint` and client peers on a
//! simulated zero-latency network with simulated time. Each visitor sends what its `script`
//! gives for each 20 ms frame once connected, and records every frame it receives with the
//! simulated time it arrived. No sockets, no sleeping.

#![allow(dead_code)]

pub mod talking;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use voxgate_engine::media::client::{ClientIo, ClientPeer};
use voxgate_engine::media::{
    check_offer, CallEvent, CallKey, CallMedia, Endpoint, IceCreds, MediaIdentity, Transmit, Transport,
    VoiceAgent,
};

pub const SERVER: &str = "10.0.0.1:5000";
/// The server's passive ICE-TCP candidate.
pub const SERVER_TCP: &str = "10.0.0.1:5001";

/// What a visitor sends in its `n`th frame after connecting (`None`: nothing this frame).
pub type Script = Box<dyn FnMut(u32) -> Option<Vec<u8>>>;

/// `count` 80-byte frames, each carrying its number (read back with [`seq`]).
#[allow(dead_code)]
pub fn numbered(count: u32) -> Script {
    Box::new(move |n| {
        (n < count).then(|| {
            let mut frame = vec![0u8; 80];
            frame[..4].copy_from_slice(&n.to_be_bytes());
            frame
        })
    })
}

/// The number a [`numbered`] frame carries.
#[allow(dead_code)]
pub fn seq(data: &[u8]) -> u32 {
    u32::from_be_bytes(data[..4].try_into().unwrap())
}

struct ToClients<'a>(&'a mut Vec<(Transport, SocketAddr, Vec<u8>)>);
impl Transmit for ToClients<'_> {
    fn transmit(&mut self, transport: Transport, to: SocketAddr, d: &[u8]) {
        self.0.push((transport, to, d.to_vec()));
    }
}

pub struct Visitor {
    pub addr: SocketAddr,
    /// How it reaches the server: UDP, or a TCP connection (one frame per packet).
    pub transport: Transport,
    pub peer: ClientPeer,
    pub deadline: Instant,
    pub connected: bool,
    /// Frames received, with when.
    pub received: Vec<(Vec<u8>, Instant)>,
    /// When each frame was sent.
    pub sent_at: Vec<Instant>,
    pub next_frame: Instant,
    pub out: Vec<Vec<u8>>,
    pub script: Script,
    /// Its network is down: what it sends and what is sent to it are lost.
    pub offline: bool,
}

pub struct ClientSide<'a> {
    pub out: &'a mut Vec<Vec<u8>>,
    pub connected: &'a mut bool,
    pub received: &'a mut Vec<(Vec<u8>, Instant)>,
}
impl ClientIo for ClientSide<'_> {
    fn transmit(&mut self, _to: SocketAddr, d: &[u8]) {
        self.out.push(d.to_vec());
    }
    fn connected(&mut self) {
        *self.connected = true;
    }
    fn disconnected(&mut self) {}
    fn frame(&mut self, data: &[u8], at: Instant) {
        self.received.push((data.to_vec(), at));
    }
}

impl Visitor {
    pub fn io(&mut self) -> (&mut ClientPeer, ClientSide<'_>) {
        (
            &mut self.peer,
            ClientSide { out: &mut self.out, connected: &mut self.connected, received: &mut self.received },
        )
    }
}

/// A server endpoint and its visitors.
pub struct Net {
    pub server: Endpoint,
    pub visitors: Vec<Visitor>,
    pub keys: Vec<CallKey>,
    pub answers: Vec<String>,
    pub events: Vec<(CallKey, CallEvent, Instant)>,
    pub now: Instant,
    wire: VecDeque<(Transport, SocketAddr, Vec<u8>)>,
}

impl Net {
    /// A server and one visitor per script, each call answered by `agent`, over UDP.
    pub fn new(agent: impl Into<CallMedia>, scripts: Vec<Script>) -> Net {
        Net::over(Transport::Udp, agent.into(), scripts)
    }

    /// Like [`Net::new`], with visitors that can reach only the server's TCP candidate.
    pub fn new_tcp(agent: VoiceAgent, scripts: Vec<Script>) -> Net {
        Net::over(Transport::Tcp, agent.into(), scripts)
    }

    fn over(transport: Transport, agent: CallMedia, scripts: Vec<Script>) -> Net {
        let identity = MediaIdentity::generate().unwrap();
        let now = Instant::now();
        let server = Endpoint::new(identity.clone(), SERVER.parse().unwrap(), 42);
        let mut server = server.with_tcp(SERVER_TCP.parse().unwrap());
        let (mut visitors, mut keys, mut answers) = (Vec::new(), Vec::new(), Vec::new());
        for (i, script) in scripts.into_iter().enumerate() {
            let addr: SocketAddr = format!("10.0.0.{}:6000", i + 2).parse().unwrap();
            let (mut peer, offer) = match transport {
                Transport::Udp => ClientPeer::offer(&identity, addr, now).unwrap(),
                Transport::Tcp => ClientPeer::offer_tcp(&identity, now).unwrap(),
            };
            let offer = check_offer(&offer).unwrap();
            let ice = IceCreds { ufrag: format!("srvufrag{i}"), pass: format!("password-of-call-{i:08}") };
            let (key, answer) = server.accept(now, offer, ice, agent).unwrap();
            peer.accept_answer(&answer).unwrap();
            if transport == Transport::Tcp {
                // The visitor connects to the advertised candidate; its end of the connection
                // is its candidate.
                assert_eq!(ClientPeer::server_tcp_candidate(&answer), Some(SERVER_TCP.parse().unwrap()));
                peer.connected_tcp(addr).unwrap();
            }
            keys.push(key);
            answers.push(answer);
            visitors.push(Visitor {
                addr,
                transport,
                peer,
                deadline: now,
                connected: false,
                received: Vec::new(),
                sent_at: Vec::new(),
                next_frame: now,
                out: Vec::new(),
                script,
                offline: false,
            });
        }
        Net { server, visitors, keys, answers, events: Vec::new(), now, wire: VecDeque::new() }
    }

    /// Moves every datagram in flight until the network is quiet.
    pub fn deliver(&mut self) {
        loop {
            for v in &mut self.visitors {
                for d in v.out.drain(..) {
                    if !v.offline {
                        self.wire.push_back((v.transport, v.addr, d));
                    }
                }
            }
            let Some((transport, from, d)) = self.wire.pop_front() else { break };
            let mut replies = Vec::new();
            self.server.handle_datagram(self.now, transport, from, &d, &mut ToClients(&mut replies));
            self.deliver_to_visitors(replies);
        }
        while let Some((k, e)) = self.server.poll_event() {
            self.events.push((k, e, self.now));
        }
    }

    pub fn deliver_to_visitors(&mut self, replies: Vec<(Transport, SocketAddr, Vec<u8>)>) {
        let now = self.now;
        for (transport, to, d) in replies {
            let Some(v) =
                self.visitors.iter_mut().find(|v| v.addr == to && v.transport == transport && !v.offline)
            else {
                continue;
            };
            let from = match transport {
                Transport::Udp => SERVER,
                Transport::Tcp => SERVER_TCP,
            };
            let (peer, mut io) = v.io();
            let deadline = peer.receive(now, from.parse().unwrap(), &d, &mut io).unwrap();
            v.deadline = deadline;
        }
    }

    /// Runs the network for `for_` of simulated time.
    pub fn run(&mut self, for_: Duration) {
        let end = self.now + for_;
        self.run_until(end, |_| false);
    }

    /// Runs until `stop` holds (checked after every step) or `end`.
    pub fn run_until(&mut self, end: Instant, mut stop: impl FnMut(&Net) -> bool) {
        while self.now < end {
            self.deliver();
            if stop(self) {
                return;
            }
            let now = self.now;
            for v in &mut self.visitors {
                if v.connected && now >= v.next_frame {
                    let n = v.sent_at.len() as u32;
                    v.next_frame = now + Duration::from_millis(20);
                    v.sent_at.push(now);
                    match (v.script)(n) {
                        Some(payload) => {
                            let (peer, mut io) = v.io();
                            v.deadline = peer.send_frame(now, &payload, &mut io).unwrap();
                        }
                        None => v.peer.skip_frame(),
                    }
                }
            }
            self.deliver();
            let mut next = self.server.poll_timeout().unwrap_or(end).min(end);
            for v in &self.visitors {
                next = next.min(v.deadline);
                if v.connected {
                    next = next.min(v.next_frame);
                }
            }
            self.now = next.max(self.now + Duration::from_micros(100));
            let mut replies = Vec::new();
            self.server.handle_timeout(self.now, &mut ToClients(&mut replies));
            self.deliver_to_visitors(replies);
            let now = self.now;
            for v in &mut self.visitors {
                if now >= v.deadline {
                    let (peer, mut io) = v.io();
                    v.deadline = peer.timeout(now, &mut io).unwrap();
                }
            }
        }
    }

    /// Has the server's endpoint do something to a call now, with its output delivered.
    pub fn with_server<T>(&mut self, f: impl FnOnce(&mut Endpoint, Instant, &mut dyn Transmit) -> T) -> T {
        let mut replies = Vec::new();
        let now = self.now;
        let out = f(&mut self.server, now, &mut ToClients(&mut replies));
        self.deliver_to_visitors(replies);
        self.deliver();
        out
    }
}
