//! A client peer and a server `VoicePeer` on a simulated network with simulated time: ICE-lite,
//! DTLS, and Opus frames echoed back in order, with and without an echo delay. No sockets.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use voxgate_engine::voice::client::{ClientIo, ClientPeer};
use voxgate_engine::voice::demux::stun_local_ufrag;
use voxgate_engine::voice::{MediaIdentity, PeerConfig, PeerEvent, PeerIo, VoiceAgent, VoicePeer};

#[derive(Default)]
struct Wire {
    to_server: VecDeque<Vec<u8>>,
    to_client: VecDeque<Vec<u8>>,
    server_events: Vec<PeerEvent>,
    client_connected: bool,
    echoed: Vec<(Vec<u8>, Instant)>,
}

struct ServerSide<'a>(&'a mut Wire);
impl PeerIo for ServerSide<'_> {
    fn transmit(&mut self, _to: SocketAddr, d: &[u8]) {
        self.0.to_client.push_back(d.to_vec());
    }
    fn event(&mut self, e: PeerEvent) {
        self.0.server_events.push(e);
    }
}

struct ClientSide<'a>(&'a mut Wire);
impl ClientIo for ClientSide<'_> {
    fn transmit(&mut self, _to: SocketAddr, d: &[u8]) {
        self.0.to_server.push_back(d.to_vec());
    }
    fn connected(&mut self) {
        self.0.client_connected = true;
    }
    fn disconnected(&mut self) {}
    fn frame(&mut self, data: &[u8], at: Instant) {
        self.0.echoed.push((data.to_vec(), at));
    }
}

fn run_echo(echo_delay: Duration) -> (Wire, Vec<Instant>) {
    let server_addr: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let client_addr: SocketAddr = "10.0.0.2:6000".parse().unwrap();
    let identity = MediaIdentity::generate().unwrap();
    let start = Instant::now();
    let mut now = start;
    let (mut client, offer) = ClientPeer::offer(&identity, client_addr, now).unwrap();
    let config = PeerConfig {
        local_addr: server_addr,
        ufrag: "srvufrag1".into(),
        agent: VoiceAgent::Echo { delay: echo_delay },
    };
    let answered = VoicePeer::accept(&identity, &config, &offer, now).unwrap();
    assert!(answered.answer_sdp.contains("a=ice-lite"), "{}", answered.answer_sdp);
    assert!(answered.answer_sdp.contains("a=candidate:"), "the answer carries our candidate");
    assert!(answered.answer_sdp.contains("opus/48000"));
    let mut server = answered.peer;
    client.accept_answer(&answered.answer_sdp).unwrap();

    let mut wire = Wire::default();
    let mut client_deadline = client.timeout(now, &mut ClientSide(&mut wire)).unwrap();
    let mut server_deadline = now + Duration::from_secs(3600);
    let mut next_frame = start;
    let mut sent_at = Vec::new();
    let mut seq: u32 = 0;
    let end = start + Duration::from_secs(3);
    while now < end {
        // Deliver everything in flight (zero-latency links).
        while !wire.to_server.is_empty() || !wire.to_client.is_empty() {
            if let Some(d) = wire.to_server.pop_front() {
                if let Some(ufrag) = stun_local_ufrag(&d) {
                    assert_eq!(ufrag, "srvufrag1", "STUN is routed by our ufrag");
                    assert!(server.accepts(now, client_addr, &d));
                }
                server_deadline = server.receive(now, client_addr, &d, &mut ServerSide(&mut wire)).unwrap();
            }
            if let Some(d) = wire.to_client.pop_front() {
                client_deadline = client.receive(now, server_addr, &d, &mut ClientSide(&mut wire)).unwrap();
            }
        }
        if wire.client_connected && now >= next_frame && seq < 100 {
            let mut frame = vec![0u8; 80];
            frame[..4].copy_from_slice(&seq.to_be_bytes());
            sent_at.push(now);
            seq += 1;
            client_deadline = client.send_frame(now, &frame, &mut ClientSide(&mut wire)).unwrap();
            next_frame = now + Duration::from_millis(20);
            continue;
        }
        // Advance simulated time to the next thing that happens.
        let mut next = client_deadline.min(server_deadline).min(end);
        if wire.client_connected && seq < 100 {
            next = next.min(next_frame);
        }
        now = next.max(now + Duration::from_micros(100));
        if now >= server_deadline {
            server_deadline = server.timeout(now, &mut ServerSide(&mut wire)).unwrap();
        }
        if now >= client_deadline {
            client_deadline = client.timeout(now, &mut ClientSide(&mut wire)).unwrap();
        }
    }
    assert!(wire.server_events.contains(&PeerEvent::Connected));
    assert!(server.is_connected());
    let traffic = server.traffic();
    assert!(traffic.packets_in > 100 && traffic.packets_out > 100, "{traffic:?}");
    (wire, sent_at)
}

#[test]
fn frames_are_echoed_in_order_without_loss() {
    let (wire, sent_at) = run_echo(Duration::ZERO);
    assert_eq!(sent_at.len(), 100);
    assert_eq!(wire.echoed.len(), 100, "every frame comes back");
    for (i, (data, at)) in wire.echoed.iter().enumerate() {
        assert_eq!(u32::from_be_bytes(data[..4].try_into().unwrap()), i as u32, "in order");
        assert_eq!(data.len(), 80, "unchanged");
        assert!(*at - sent_at[i] < Duration::from_millis(5), "echo {i} took {:?}", *at - sent_at[i]);
    }
}

#[test]
fn the_echo_waits_for_its_delay() {
    let delay = Duration::from_millis(500);
    let (wire, sent_at) = run_echo(delay);
    assert!(wire.echoed.len() >= 90, "most frames are back within the run: {}", wire.echoed.len());
    for (i, (data, at)) in wire.echoed.iter().enumerate() {
        assert_eq!(u32::from_be_bytes(data[..4].try_into().unwrap()), i as u32);
        let rtt = *at - sent_at[i];
        assert!(rtt >= delay && rtt < delay + Duration::from_millis(5), "frame {i}: {rtt:?}");
    }
}
