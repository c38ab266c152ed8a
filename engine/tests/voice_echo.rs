//! Client peers and a server `Endpoint` on a simulated network with simulated time: routing by
//! ICE ufrag then by address, ICE-lite, DTLS, and Opus frames echoed back in order, with and
//! without an echo delay; a stranger's STUN is not routed; closing a call forgets its routes.
//! No sockets.

mod common;

use common::{numbered, seq, ClientSide, Net};
use std::net::SocketAddr;
use std::time::Duration;
use voxgate_engine::media::client::ClientPeer;
use voxgate_engine::media::{CallEvent, MediaIdentity, Transmit, Transport, VoiceAgent};

#[test]
fn frames_are_echoed_in_order_without_loss() {
    let mut net = Net::new(
        VoiceAgent::Echo { delay: Duration::ZERO },
        vec![numbered(100), numbered(100), numbered(100)],
    );
    net.run(Duration::from_secs(3));
    for (i, key) in net.keys.iter().enumerate() {
        assert!(
            net.events.iter().any(|(k, e, _)| k == key && *e == CallEvent::Connected),
            "call {i} connected"
        );
        assert!(net.server.is_connected(*key));
    }
    for v in &net.visitors {
        assert_eq!(v.received.len(), 100, "every frame comes back to its own visitor");
        for (i, (data, at)) in v.received.iter().enumerate() {
            assert_eq!(seq(data), i as u32, "in order");
            assert_eq!(data.len(), 80, "unchanged");
            let rtt = *at - v.sent_at[i];
            assert!(rtt < Duration::from_millis(5), "echo {i} took {rtt:?}");
        }
    }
}

#[test]
fn the_echo_waits_for_its_delay() {
    let delay = Duration::from_millis(500);
    let mut net = Net::new(VoiceAgent::Echo { delay }, vec![numbered(100)]);
    net.run(Duration::from_secs(3));
    let v = &net.visitors[0];
    assert!(v.received.len() >= 90, "most frames are back within the run: {}", v.received.len());
    for (data, at) in &v.received {
        let rtt = *at - v.sent_at[seq(data) as usize];
        assert!(rtt >= delay && rtt < delay + Duration::from_millis(5), "frame {}: {rtt:?}", seq(data));
    }
}

#[test]
fn a_stranger_cannot_take_over_a_call_and_a_closed_call_forgets_its_routes() {
    let mut net = Net::new(
        VoiceAgent::Echo { delay: Duration::ZERO },
        vec![Box::new(|n| (n < 10).then(|| vec![n as u8; 80]))],
    );
    net.run(Duration::from_secs(1));
    assert_eq!(net.visitors[0].received.len(), 10);
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
    let (mut out, mut connected, mut received) = (Vec::new(), false, Vec::new());
    let mut io = ClientSide { out: &mut out, connected: &mut connected, received: &mut received };
    intruder.timeout(net.now, &mut io).unwrap();
    intruder.timeout(net.now + Duration::from_millis(100), &mut io).unwrap();
    assert!(!out.is_empty(), "the intruder sends STUN binding requests");
    let routed = net.with_server(|server, now, tx| {
        let mut sent = Recorder(Vec::new());
        let routed = out
            .iter()
            .any(|request| server.handle_datagram(now, Transport::Udp, intruder_addr, request, &mut sent));
        assert!(sent.0.is_empty());
        let _ = tx;
        routed
    });
    assert!(!routed, "a request without the call's credentials is not routed");

    let key = net.keys[0];
    let (closed, replies) = net.with_server(|server, now, _| {
        let mut sent = Recorder(Vec::new());
        (server.close(key, now, &mut sent), sent.0.len())
    });
    assert!(closed && replies > 0, "BYE and close_notify go out at once");
    assert!(net.server.is_empty());
    let again = net.with_server(|server, now, tx| server.close(key, now, tx));
    assert!(!again, "closing twice is a no-op");
    let addr = net.visitors[0].addr;
    let routed = net.with_server(|server, now, tx| {
        server.handle_datagram(now, Transport::Udp, addr, &[0x80, 0, 0, 1], tx)
    });
    assert!(!routed, "the visitor's address is no longer routed");
    assert_eq!(net.server.poll_timeout(), None, "its timers are gone too");
}

struct Recorder(Vec<(SocketAddr, Vec<u8>)>);
impl Transmit for Recorder {
    fn transmit(&mut self, _transport: Transport, to: SocketAddr, d: &[u8]) {
        self.0.push((to, d.to_vec()));
    }
}
