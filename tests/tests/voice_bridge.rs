//! The voice bridge (docs/BRIDGE.md): a small external agent over WebSocket receives the call's
//! start, its events and the visitor's frames, and plays frames and a text turn back.

use serde_json::{json, Value};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;
use tungstenite::Message;
use voxgate_tests::voice::VoiceCall;
use voxgate_tests::{Fixture, SITE};

/// What the bridge peer saw.
#[derive(Debug, Default)]
struct Seen {
    events: Vec<Value>,
    frames: usize,
}

/// A bridge agent that plays every visitor frame back, says one text turn, and, if
/// `hang_up_after` is set, hangs up after that many frames.
fn start_bridge(hang_up_after: Option<usize>) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/agent", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(stream).unwrap();
        let mut seen = Seen::default();
        loop {
            match ws.read() {
                Ok(Message::Text(t)) => seen.events.push(serde_json::from_str(&t).unwrap()),
                Ok(Message::Binary(frame)) => {
                    seen.frames += 1;
                    if seen.frames == 1 {
                        ws.send(Message::text(
                            json!({"type": "text", "text": "hello from the bridge"}).to_string(),
                        ))
                        .unwrap();
                    }
                    if hang_up_after == Some(seen.frames) {
                        ws.send(Message::text(json!({"type": "hangup"}).to_string())).unwrap();
                    } else {
                        ws.send(Message::Binary(frame)).unwrap();
                    }
                }
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let _ = tx.send(seen);
    });
    (url, rx)
}

fn bridge_fixture(url: &str) -> Fixture {
    let f = Fixture::new();
    let agent = f
        .api
        .control(
            "POST",
            "/v1/agents",
            &f.key,
            Some(json!({"name": "Bridge", "backend": {"type": "bridge", "url": url}})),
        )
        .expect(201);
    let id = agent.body["id"].as_str().unwrap();
    f.api
        .control("PATCH", &format!("/v1/widgets/{}", f.widget), &f.key, Some(json!({"agent_id": id})))
        .expect(200);
    f
}

#[test]
fn a_call_streams_through_the_bridge_both_ways() {
    let (url, seen) = start_bridge(None);
    let f = bridge_fixture(&url);
    let s = f.session(json!({"metadata": {"customer": "c-7"}}));
    let token = s["session_token"].as_str().unwrap();
    let mut call = VoiceCall::offer(&f.api, s["webrtc_url"].as_str().unwrap(), SITE, token).unwrap();
    call.expect_echoes(20, Duration::from_secs(10));
    for (i, (seq, _)) in call.echoes.iter().enumerate() {
        assert_eq!(*seq, i as u32, "the bridge's frames play in order");
    }
    call.hang_up(&f.api, SITE, token).expect(200);
    let seen = seen.recv_timeout(Duration::from_secs(10)).expect("the bridge connection closed");
    let start = &seen.events[0];
    assert_eq!(start["type"], "session.start");
    assert_eq!(start["session_id"], s["session_id"]);
    assert_eq!(start["metadata"]["customer"], "c-7");
    assert_eq!(start["audio"]["codec"], "opus");
    assert!(seen.events.iter().any(|e| e["type"] == "call.connected"));
    let ended = seen.events.iter().find(|e| e["type"] == "call.ended").expect("call.ended");
    assert_eq!(ended["reason"], "client_hangup");
    assert!(seen.frames >= 20);
    // The agent's text turn is on the transcript.
    let transcript =
        f.api.browser("GET", s["messages_url"].as_str().unwrap(), Some(SITE), Some(token)).expect(200);
    let messages = transcript.body["messages"].as_array().unwrap();
    assert!(
        messages.iter().any(|m| m["role"] == "agent" && m["text"] == "hello from the bridge"),
        "{}",
        transcript.text
    );
}

#[test]
fn the_agent_can_hang_up() {
    let (url, seen) = start_bridge(Some(10));
    let f = bridge_fixture(&url);
    let s = f.session(json!({}));
    let mut call = f.call(&s);
    call.expect_server_hangup(Duration::from_secs(10));
    let seen = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(seen.events.last().unwrap()["reason"], "agent_hangup");
    let v = f.record_after_call_end(&s);
    assert_eq!(v["calls"][0]["end_reason"], "agent_hangup");
}

#[test]
fn an_unreachable_bridge_ends_the_call_with_agent_error() {
    // A port with nothing listening.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let f = bridge_fixture(&format!("ws://127.0.0.1:{port}/agent"));
    let s = f.session(json!({}));
    let mut call = f.call(&s);
    call.expect_server_hangup(Duration::from_secs(10));
    let v = f.record_after_call_end(&s);
    assert_eq!(v["calls"][0]["end_reason"], "agent_error");
}
