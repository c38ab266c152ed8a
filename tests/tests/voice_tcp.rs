//! ICE over TCP end to end: a str0m client that can only use TCP reaches the real binary's
//! passive TCP candidate (RFC 6544, RFC 4571 framing), connects and hears every echo. A
//! connection that names no call is closed, and a worker holds at most its limit of them.

use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use voxgate_tests::voice::VoiceCall;
use voxgate_tests::{Fixture, Server, ServerOptions, SITE};

/// The value of an unlabelled (or fully labelled) sample in a Prometheus text page.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn metric(f: &Fixture, name: &str) -> f64 {
    let page = f.api.send(f.api.http.get(f.api.url("/metrics"))).text;
    sample(&page, name).unwrap_or(0.0)
}

/// Waits until `name` reads `want` (metrics are updated by the worker as things happen).
fn await_metric(f: &Fixture, name: &str, want: f64) {
    let end = Instant::now() + Duration::from_secs(20);
    let mut seen = metric(f, name);
    while seen != want && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
        seen = metric(f, name);
    }
    assert_eq!(seen, want, "{name}");
}

/// Whether the server closes `stream` (reads end) within a while.
fn closed_by_server(mut stream: TcpStream) -> bool {
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 64];
    matches!(stream.read(&mut buf), Ok(0) | Err(_)) && {
        // A timeout is an error too: tell it from a close.
        stream.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        !matches!(stream.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }
}

fn voice_session(f: &Fixture) -> (String, String) {
    let s = f.session(json!({"mode": "voice"}));
    (s["webrtc_url"].as_str().unwrap().to_string(), s["session_token"].as_str().unwrap().to_string())
}

#[test]
fn a_visitor_over_tcp_hears_every_echo() {
    let f = Fixture::new();
    let (url, token) = voice_session(&f);
    let mut call = VoiceCall::offer_tcp(&f.api, &url, SITE, &token).expect("offer answered");
    call.expect_echoes(50, Duration::from_secs(20));
    for (i, (seq, _)) in call.echoes.iter().enumerate() {
        assert_eq!(*seq, i as u32, "echoes come back in order, none lost");
    }
    assert_eq!(metric(&f, "voxgate_media_tcp_connections"), 1.0);
    f.api.browser("DELETE", &call.location, Some(SITE), Some(&token)).expect(200);
    drop(call);
    // The visitor's side closed: the worker forgets the connection.
    await_metric(&f, "voxgate_media_tcp_connections", 0.0);
    assert_eq!(metric(&f, "voxgate_media_tcp_closed_total{reason=\"remote\"}"), 1.0);
}

#[test]
fn a_connection_that_names_no_call_is_closed() {
    let f = Fixture::new();
    let (url, token) = voice_session(&f);
    let mut call = VoiceCall::offer_tcp(&f.api, &url, SITE, &token).expect("offer answered");
    call.expect_echoes(5, Duration::from_secs(20));
    let server: SocketAddr = call.server_tcp().unwrap();
    // An RTP-looking frame from a connection no STUN check ever bound.
    let mut stranger = TcpStream::connect(server).unwrap();
    stranger.write_all(&[0, 4, 0x80, 0, 0, 1]).unwrap();
    assert!(closed_by_server(stranger), "an unrouted frame closes its connection");
    // A frame whose length runs past what is sent, then silence, does not disturb the call.
    let mut partial = TcpStream::connect(server).unwrap();
    partial.write_all(&[0xff, 0xff, 1, 2, 3]).unwrap();
    await_metric(&f, "voxgate_media_tcp_closed_total{reason=\"unrouted\"}", 1.0);
    let before = call.echoes.len();
    call.expect_echoes(before + 20, Duration::from_secs(20));
    drop(partial);
}

#[test]
fn a_worker_holds_at_most_its_limit_of_connections() {
    let server = Server::start_with(ServerOptions {
        extra_args: ["--media-workers", "1", "--media-tcp-connections", "1"].map(String::from).to_vec(),
        ..ServerOptions::default()
    });
    let f = Fixture::on(server);
    let (url, token) = voice_session(&f);
    let mut call = VoiceCall::offer_tcp(&f.api, &url, SITE, &token).expect("offer answered");
    call.expect_echoes(5, Duration::from_secs(20));
    let extra = TcpStream::connect(call.server_tcp().unwrap()).unwrap();
    assert!(closed_by_server(extra), "a connection past the limit is closed at once");
    assert_eq!(metric(&f, "voxgate_media_tcp_closed_total{reason=\"limit\"}"), 1.0);
    let before = call.echoes.len();
    call.expect_echoes(before + 10, Duration::from_secs(20));
}

#[test]
fn no_tcp_candidate_when_turned_off() {
    let server = Server::start_with(ServerOptions {
        extra_args: ["--media-tcp-connections", "0"].map(String::from).to_vec(),
        ..ServerOptions::default()
    });
    let f = Fixture::on(server);
    let (url, token) = voice_session(&f);
    let mut call = VoiceCall::offer(&f.api, &url, SITE, &token).expect("offer answered");
    assert!(call.answer.contains(" udp "), "{}", call.answer);
    assert!(!call.answer.contains(" tcp "), "no TCP candidate: {}", call.answer);
    call.expect_echoes(5, Duration::from_secs(20));
}
