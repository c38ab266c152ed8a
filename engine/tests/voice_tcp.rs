//! Visitors whose networks drop UDP reach the server's passive ICE-TCP candidate: their STUN
//! checks arrive over TCP and are routed by the ufrag, the connection is bound to the call, and
//! DTLS and the echo run over it, with the answer's UDP candidate never used. No sockets.

mod common;

use common::{numbered, Net, SERVER_TCP};
use std::time::Duration;
use voxgate_engine::media::client::ClientPeer;
use voxgate_engine::media::{CallEvent, Transmit, Transport, VoiceAgent};

#[test]
fn the_answer_offers_a_passive_tcp_candidate_beside_udp() {
    let net = Net::new(VoiceAgent::Echo { delay: Duration::ZERO }, vec![numbered(50)]);
    let answer = &net.answers[0];
    assert!(answer.lines().any(|l| l.contains(" udp ") && l.contains("typ host")), "{answer}");
    let tcp = answer.lines().find(|l| l.contains(" tcp ")).expect("a tcp candidate");
    assert!(tcp.contains("typ host tcptype passive"), "{tcp}");
    assert_eq!(ClientPeer::server_tcp_candidate(answer), Some(SERVER_TCP.parse().unwrap()));
}

#[test]
fn visitors_over_tcp_connect_and_hear_every_frame() {
    let mut net = Net::new_tcp(VoiceAgent::Echo { delay: Duration::ZERO }, vec![numbered(50), numbered(50)]);
    net.run(Duration::from_secs(3));
    for (i, key) in net.keys.iter().enumerate() {
        assert!(
            net.events.iter().any(|(k, e, _)| k == key && *e == CallEvent::Connected),
            "call {i} connected over TCP"
        );
        let heard: Vec<u32> = net.visitors[i]
            .received
            .iter()
            .map(|(d, _)| u32::from_be_bytes(d[..4].try_into().unwrap()))
            .collect();
        assert_eq!(heard, (0..50).collect::<Vec<_>>(), "visitor {i} heard every frame in order");
    }
}

#[test]
fn a_closed_connection_is_no_longer_routed() {
    let mut net = Net::new_tcp(VoiceAgent::Echo { delay: Duration::ZERO }, vec![numbered(50)]);
    net.run_until(net.now + Duration::from_secs(3), |n| n.visitors[0].connected);
    assert!(net.visitors[0].connected);
    let addr = net.visitors[0].addr;
    // The same bytes from the same address over UDP are another remote, never bound.
    let rtp = [0x80, 0, 0, 1];
    let udp = net.with_server(|s, now, tx| s.handle_datagram(now, Transport::Udp, addr, &rtp, tx));
    assert!(!udp, "a UDP datagram from the TCP visitor's address is not routed");
    let routed = net.with_server(|s, now, tx| s.handle_datagram(now, Transport::Tcp, addr, &rtp, tx));
    assert!(routed, "the connection is bound to the call");
    net.with_server(|s, _, _: &mut dyn Transmit| s.forget_remote(Transport::Tcp, addr));
    let routed = net.with_server(|s, now, tx| s.handle_datagram(now, Transport::Tcp, addr, &rtp, tx));
    assert!(!routed, "after the connection closed nothing routes from it");
}
