//! Client peers and a server `Endpoint` on a simulated network with simulated time: routing by
//! ICE ufrag then by address, ICE-lite, DTLS, and Opus frames echoed back in order, with and
//! without an echo delay; a stranger's STUN is not routed; closing a call forgets its routes.
//! No sockets.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use voxgate_engine::voice::client::{ClientIo, ClientPeer};
use voxgate_engine::voice::{
    check_offer, CallEvent, CallKey, Endpoint, IceCreds, MediaIdentity, Transmit, VoiceAgent,
};

const SERVER: &str = "10.0.0.1:5000";

/// Datagrams in flight on a zero-latency network.
#[derive(Default)]
struct Wire {
    to_server: VecDeque<(SocketAddr, Vec<u8>)>,
}

struct ToClients<'a>(&'a mut Vec<(SocketAddr, Vec<u8>)>);
impl Transmit for ToClients<'_> {
    fn transmit(&mut self, to: SocketAddr, d: &[u8]) {
        self.0.push((to, d.to_vec()));
    }
}

struct Visitor {
    addr: SocketAddr,
    peer: ClientPeer,
    deadline: Instant,
    connected: bool,
    echoed: Vec<(Vec<u8>, Instant)>,
    sent_at: Vec<Instant>,
    next_frame: Instant,
    out: Vec<Vec<u8>>,
}

struct ClientSide<'a> {
    out: &'a mut Vec<Vec<u8>>,
    connected: &'a mut bool,
    echoed: &'a mut Vec<(Vec<u8>, Instant)>,
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
        self.echoed.push((data.to_vec(), at));
    }
}

impl Visitor {
    fn io(&mut self) -> (&mut ClientPeer, ClientSide<'_>) {
        (
            &mut self.peer,
            ClientSide { out: &mut self.out, connected: &mut self.connected, echoed: &mut self.echoed },
        )
    }
}

/// A server endpoint and `n` visitors, each sending 100 frames once connected.
struct Net {
    server: Endpoint,
    visitors: Vec<Visitor>,
    keys: Vec<CallKey>,
    answers: Vec<String>,
    events: Vec<(CallKey, CallEvent)>,
    now: Instant,
    frames: u32,
}

impl Net {
    fn new(n: usize, echo_delay: Duration) -> Net {
        let identity = MediaIdentity::generate().unwrap();
        let now = Instant::now();
        let mut server = Endpoint::new(identity.clone(), SERVER.parse().unwrap(), 42);
        let mut visitors = Vec::new();
        let mut keys = Vec::new();
        let mut answers = Vec::new();
        for i in 0..n {
            let addr: SocketAddr = format!("10.0.0.{}:6000", i + 2).parse().unwrap();
            let (mut peer, offer) = ClientPeer::offer(&identity, addr, now).unwrap();
            let offer = check_offer(&offer).unwrap();
            let ice = IceCreds { ufrag: format!("srvufrag{i}"), pass: format!("password-of-call-{i:08}") };
            let (key, answer) =
                server.accept(now, offer, ice, VoiceAgent::Echo { delay: echo_delay }).unwrap();
            assert!(answer.contains("a=ice-lite"), "{answer}");
            assert!(answer.contains("a=candidate:"), "the answer carries our candidate");
            assert!(answer.contains("opus/48000"));
            peer.accept_answer(&answer).unwrap();
            keys.push(key);
            answers.push(answer);
            visitors.push(Visitor {
                addr,
                peer,
                deadline: now,
                connected: false,
                echoed: Vec::new(),
                sent_at: Vec::new(),
                next_frame: now,
                out: Vec::new(),
            });
        }
        Net { server, visitors, keys, answers, events: Vec::new(), now, frames: 100 }
    }

    /// Moves every datagram in flight until the network is quiet.
    fn deliver(&mut self, wire: &mut Wire) {
        loop {
            for v in &mut self.visitors {
                for d in v.out.drain(..) {
                    wire.to_server.push_back((v.addr, d));
                }
            }
            let Some((from, d)) = wire.to_server.pop_front() else { break };
            let mut replies = Vec::new();
            self.server.handle_datagram(self.now, from, &d, &mut ToClients(&mut replies));
            self.deliver_to_visitors(replies);
        }
        while let Some(e) = self.server.poll_event() {
            self.events.push(e);
        }
    }

    fn deliver_to_visitors(&mut self, replies: Vec<(SocketAddr, Vec<u8>)>) {
        let now = self.now;
        for (to, d) in replies {
            let Some(v) = self.visitors.iter_mut().find(|v| v.addr == to) else { continue };
            let (peer, mut io) = v.io();
            let deadline = peer.receive(now, SERVER.parse().unwrap(), &d, &mut io).unwrap();
            v.deadline = deadline;
        }
    }

    fn run(&mut self, for_: Duration) {
        let mut wire = Wire::default();
        let end = self.now + for_;
        while self.now < end {
            self.deliver(&mut wire);
            let now = self.now;
            let frames = self.frames;
            for v in &mut self.visitors {
                if v.connected && now >= v.next_frame && (v.sent_at.len() as u32) < frames {
                    let mut frame = vec![0u8; 80];
                    frame[..4].copy_from_slice(&(v.sent_at.len() as u32).to_be_bytes());
                    v.sent_at.push(now);
                    let (peer, mut io) = v.io();
                    v.deadline = peer.send_frame(now, &frame, &mut io).unwrap();
                    v.next_frame = now + Duration::from_millis(20);
                }
            }
            self.deliver(&mut wire);
            // Advance simulated time to the next thing that happens.
            let mut next = self.server.poll_timeout().unwrap_or(end).min(end);
            for v in &self.visitors {
                next = next.min(v.deadline);
                if v.connected && (v.sent_at.len() as u32) < frames {
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
}

#[test]
fn frames_are_echoed_in_order_without_loss() {
    let mut net = Net::new(3, Duration::ZERO);
    net.run(Duration::from_secs(3));
    for (i, key) in net.keys.iter().enumerate() {
        assert!(net.events.contains(&(*key, CallEvent::Connected)), "call {i} connected");
        assert!(net.server.is_connected(*key));
    }
    for v in &net.visitors {
        assert_eq!(v.sent_at.len(), 100);
        assert_eq!(v.echoed.len(), 100, "every frame comes back to its own visitor");
        for (i, (data, at)) in v.echoed.iter().enumerate() {
            assert_eq!(u32::from_be_bytes(data[..4].try_into().unwrap()), i as u32, "in order");
            assert_eq!(data.len(), 80, "unchanged");
            assert!(*at - v.sent_at[i] < Duration::from_millis(5), "echo {i} took {:?}", *at - v.sent_at[i]);
        }
    }
}

#[test]
fn the_echo_waits_for_its_delay() {
    let delay = Duration::from_millis(500);
    let mut net = Net::new(1, delay);
    net.run(Duration::from_secs(3));
    let v = &net.visitors[0];
    assert!(v.echoed.len() >= 90, "most frames are back within the run: {}", v.echoed.len());
    for (i, (data, at)) in v.echoed.iter().enumerate() {
        assert_eq!(u32::from_be_bytes(data[..4].try_into().unwrap()), i as u32);
        let rtt = *at - v.sent_at[i];
        assert!(rtt >= delay && rtt < delay + Duration::from_millis(5), "frame {i}: {rtt:?}");
    }
}

#[test]
fn a_stranger_cannot_take_over_a_call_and_a_closed_call_forgets_its_routes() {
    let mut net = Net::new(1, Duration::ZERO);
    net.frames = 10;
    net.run(Duration::from_secs(1));
    assert_eq!(net.visitors[0].echoed.len(), 10);
    // Someone who knows the call's ufrag but not its password: their STUN requests name the
    // call, and fail its credentials check.
    let intruder_addr: SocketAddr = "10.9.9.9:7000".parse().unwrap();
    let (mut intruder, offer) =
        ClientPeer::offer(&MediaIdentity::generate().unwrap(), intruder_addr, net.now).unwrap();
    let mid_of = |sdp: &str| sdp.lines().find_map(|l| l.strip_prefix("a=mid:")).unwrap().trim().to_string();
    let pwd = net.answers[0].lines().find_map(|l| l.strip_prefix("a=ice-pwd:")).unwrap().trim().to_string();
    let (ours, theirs) = (mid_of(&net.answers[0]), mid_of(&offer));
    let forged = net.answers[0]
        .replace(&format!("a=ice-pwd:{pwd}"), "a=ice-pwd:a-wrong-password-guess-xx")
        .replace(&format!("a=mid:{ours}\r\n"), &format!("a=mid:{theirs}\r\n"))
        .replace(&format!("BUNDLE {ours}\r\n"), &format!("BUNDLE {theirs}\r\n"));
    intruder.accept_answer(&forged).unwrap();
    let (mut out, mut connected, mut echoed) = (Vec::new(), false, Vec::new());
    let mut io = ClientSide { out: &mut out, connected: &mut connected, echoed: &mut echoed };
    intruder.timeout(net.now, &mut io).unwrap();
    intruder.timeout(net.now + Duration::from_millis(100), &mut io).unwrap();
    assert!(!out.is_empty(), "the intruder sends STUN binding requests");
    let mut replies = Vec::new();
    for request in &out {
        let routed =
            net.server.handle_datagram(net.now, intruder_addr, request, &mut ToClients(&mut replies));
        assert!(!routed, "a request without the call's credentials is not routed");
    }
    assert!(replies.is_empty());

    let key = net.keys[0];
    let mut replies = Vec::new();
    assert!(net.server.close(key, net.now, &mut ToClients(&mut replies)));
    assert!(!replies.is_empty(), "BYE and close_notify go out at once");
    assert!(net.server.is_empty());
    assert!(!net.server.close(key, net.now, &mut ToClients(&mut Vec::new())), "closing twice is a no-op");
    let routed = net.server.handle_datagram(
        net.now,
        net.visitors[0].addr,
        &[0x80, 0, 0, 1],
        &mut ToClients(&mut replies),
    );
    assert!(!routed, "the visitor's address is no longer routed");
    assert_eq!(net.server.poll_timeout(), None, "its timers are gone too");
}
