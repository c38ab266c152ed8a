//! A visitor whose network changes mid-call (a new address) restarts ICE with new credentials
//! (RFC 9725 §4.3): the server answers with its own, routes the visitor's checks from the new
//! address by the new ufrag, and the same call echoes again, its DTLS session and media kept.
//! Simulated network and time, no sockets.

mod common;

use common::{numbered, seq, Net};
use std::time::Duration;
use voxgate_engine::media::{CallEvent, IceFragment, VoiceAgent};

/// The visitor, now at `moved`, restarts ICE: its fragment to the server, the server's answer
/// applied. The answer, as the server sent it.
fn restart(net: &mut Net, key: voxgate_engine::media::CallKey, moved: std::net::SocketAddr) -> String {
    let offer = net.visitors[0].peer.restart_ice(moved).unwrap();
    let fragment = IceFragment::parse(&offer).unwrap();
    let answer = net.with_server(|server, now, _| server.restart_ice(key, now, &fragment)).unwrap().unwrap();
    net.visitors[0].peer.accept_restart(&answer).unwrap();
    answer
}

#[test]
fn a_visitor_on_a_new_address_restarts_ice_and_the_same_call_echoes_again() {
    let mut net = Net::new(VoiceAgent::Echo { delay: Duration::ZERO }, vec![numbered(250)]);
    net.run(Duration::from_secs(1));
    let key = net.keys[0];
    let before = net.visitors[0].received.len();
    assert!(before > 40, "echoes before the change: {before}");
    let old_ufrag = net.server.ice_ufrag(key).unwrap().to_string();

    // The network changes: the visitor's packets now come from elsewhere, and it restarts ICE.
    let moved = "10.9.9.9:7000".parse().unwrap();
    net.visitors[0].addr = moved;
    let answer = restart(&mut net, key, moved);
    let ours = IceFragment::parse(&answer).unwrap();
    assert_ne!(ours.ufrag, old_ufrag, "new server credentials");
    assert_eq!(net.server.ice_ufrag(key), Some(ours.ufrag.as_str()), "the call's ICE session tag moves on");
    assert!(answer.contains("a=ice-lite") && answer.contains("a=candidate:"), "{answer}");
    let restarted = net.now;

    net.run(Duration::from_secs(2));
    let v = &net.visitors[0];
    let after: Vec<_> = v.received[before..].iter().filter(|(_, at)| *at > restarted).collect();
    assert!(after.len() > 40, "the same call echoes again from the new address: {} frames", after.len());
    let first = after.first().unwrap().1 - restarted;
    assert!(first < Duration::from_secs(1), "audio flows again {first:?} after the restart");
    assert!(seq(&after.last().unwrap().0) >= 140, "frames sent after the change come back");
    assert!(net.server.is_connected(key));
    let ends =
        net.events.iter().filter(|(_, e, _)| matches!(e, CallEvent::Closed | CallEvent::Failed(_))).count();
    assert_eq!(ends, 0, "the call never ended: {:?}", net.events);
    assert_eq!(net.server.len(), 1, "one call, not a second");
}

#[test]
fn a_restart_for_a_closed_call_is_no_such_call() {
    let mut net = Net::new(VoiceAgent::Echo { delay: Duration::ZERO }, vec![numbered(250)]);
    net.run(Duration::from_millis(500));
    let key = net.keys[0];
    let fragment = IceFragment::parse("a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n").unwrap();
    assert!(net.with_server(|s, now, out| s.close(key, now, out)));
    assert!(net.with_server(|s, now, _| s.restart_ice(key, now, &fragment)).is_none(), "no such call");
    assert_eq!(net.server.ice_ufrag(key), None);
}

#[test]
fn a_visitor_gone_quiet_is_reported_silent_once_and_flowing_again_after_the_restart() {
    let mut net = Net::new(VoiceAgent::Echo { delay: Duration::ZERO }, vec![numbered(250)]);
    net.run(Duration::from_secs(1));
    let key = net.keys[0];
    let silent = |net: &Net| -> Vec<_> {
        net.events
            .iter()
            .filter_map(|(_, e, at)| matches!(e, CallEvent::Silent { .. }).then_some(*at))
            .collect()
    };
    // The visitor's network goes down: to the call, silence.
    net.visitors[0].offline = true;
    let last = net.visitors[0].sent_at.last().copied().unwrap();
    net.run(Duration::from_millis(2500));
    let noticed = silent(&net);
    assert_eq!(noticed.len(), 1, "reported once: {:?}", net.events);
    let since = net.events.iter().find_map(|(_, e, _)| match e {
        CallEvent::Silent { since } => Some(*since),
        _ => None,
    });
    assert!(since.unwrap() <= last + Duration::from_millis(20), "since the last packet that arrived");
    assert!(noticed[0] - since.unwrap() >= Duration::from_secs(1), "after a second of nothing");
    assert!(!net.events.iter().any(|(_, e, _)| *e == CallEvent::Flowing));

    // It comes back elsewhere, and restarts ICE.
    let moved = "10.9.9.9:7000".parse().unwrap();
    net.visitors[0].addr = moved;
    net.visitors[0].offline = false;
    restart(&mut net, key, moved);
    net.run(Duration::from_secs(1));
    let flowing = net.events.iter().filter(|(_, e, _)| *e == CallEvent::Flowing).count();
    assert_eq!(flowing, 1, "packets again: {:?}", net.events);
    assert_eq!(silent(&net).len(), 1, "and not silent again");
}
