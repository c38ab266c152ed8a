//! A visitor whose network changes mid-call restarts ICE through `PATCH` on the call's
//! `Location` with `If-Match: *` (RFC 9725 §4.3): the same call echoes again from a new socket,
//! the record shows one call with one reconnect, and the ICE session's `ETag` guards trickles.

use serde_json::json;
use std::time::{Duration, Instant};
use voxgate_tests::{Fixture, Server, ServerOptions, SITE};

const NO_UFRAG: &str =
    "a=ice-pwd:0123456789012345678901\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n";

#[test]
fn a_visitor_on_a_new_socket_restarts_ice_and_the_same_call_echoes_again() {
    // A metered minute is a second here: the restart must neither count one twice nor start over.
    let f = Fixture::on(Server::start_with(ServerOptions {
        extra_args: ["--metering-minute-ms", "1000"].map(String::from).to_vec(),
        ..Default::default()
    }));
    let s = f.session(json!({}));
    let token = s["session_token"].as_str().unwrap();
    let mut call = f.call(&s);
    call.expect_echoes(10, Duration::from_secs(10));
    let first_tag = call.etag.clone().expect("the answer carries the ICE session's ETag");

    let r = call.move_and_restart_ice(&f.api, SITE, token);
    assert_eq!(r.status, 200, "{}", r.text);
    let restarted = Instant::now();
    assert_eq!(r.header("content-type"), Some("application/trickle-ice-sdpfrag"));
    assert!(r.text.contains("a=ice-ufrag:") && r.text.contains("a=ice-pwd:"), "{}", r.text);
    assert!(r.text.contains("a=candidate:"), "the server's candidates: {}", r.text);
    let new_tag = call.etag.clone().expect("a new ETag");
    assert_ne!(new_tag, first_tag);

    let before = call.echoes.len();
    assert!(call.run_until(Duration::from_secs(10), |c| c.echoes.len() > before), "echo resumes");
    let resumed = restarted.elapsed();
    assert!(resumed < Duration::from_secs(1), "echo audio flowed again {resumed:?} after the restart");
    call.expect_echoes(before + 10, Duration::from_secs(10));

    // The old ICE session's tag is stale; the new one takes trickles.
    let stale = call.patch(
        &f.api,
        SITE,
        token,
        &first_tag,
        "a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n",
    );
    assert_eq!((stale.status, stale.code()), (412, "precondition_failed"), "{}", stale.text);
    let fresh =
        call.patch(&f.api, SITE, token, &new_tag, "a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n");
    assert_eq!(fresh.status, 204, "{}", fresh.text);

    // Past the restart's second into a few more: minutes go on from the call's first connect.
    let connected = call.connected_at.unwrap();
    call.run_until(Duration::from_secs(10), |_| connected.elapsed() >= Duration::from_millis(3500));
    let lasted = connected.elapsed();
    call.hang_up(&f.api, SITE, token);
    let record = f.record_after_call_end(&s);
    let calls = record["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "one call in the record: {record}");
    assert_eq!(calls[0]["reconnects"], 1, "{record}");
    let minutes = calls[0]["minutes"].as_u64().unwrap();
    let started = lasted.as_millis().div_ceil(1000) as u64;
    assert!(
        (started..=started + 1).contains(&minutes),
        "{minutes} minutes for a call of {lasted:?} (a minute started each second, none twice)"
    );
}

#[test]
fn a_restart_without_credentials_is_invalid_sdp_and_a_stranger_cannot_restart() {
    let f = Fixture::new();
    let s = f.session(json!({}));
    let token = s["session_token"].as_str().unwrap();
    let mut call = f.call(&s);
    call.expect_echoes(3, Duration::from_secs(10));

    let r = call.patch(&f.api, SITE, token, "*", NO_UFRAG);
    assert_eq!((r.status, r.code()), (400, "invalid_sdp"), "{}", r.text);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("a=ice-ufrag"), "{message}");
    // Same token and origin rules as the offer.
    let r = call.patch(&f.api, "https://evil.example.com", token, "*", NO_UFRAG);
    assert_eq!((r.status, r.code()), (403, "origin_not_allowed"), "{}", r.text);
    // Nothing was lost: the call goes on.
    let before = call.echoes.len();
    call.expect_echoes(before + 3, Duration::from_secs(10));
}
