//! Voice end to end with a Rust str0m client over real UDP on loopback: WHIP offer, echo, hang-up.

use serde_json::json;
use std::time::Duration;
use voxgate_tests::voice::VoiceCall;
use voxgate_tests::{Fixture, SITE};

#[test]
fn echo_round_trip_then_hang_up() {
    let f = Fixture::new();
    let s = f.session(json!({"mode": "voice"}));
    let token = s["session_token"].as_str().unwrap();
    let url = s["webrtc_url"].as_str().unwrap();
    let mut call = VoiceCall::offer(&f.api, url, SITE, token).expect("offer answered");
    assert!(call.location.contains("/webrtc/call_"), "{}", call.location);
    call.expect_echoes(50, Duration::from_secs(20));
    for (i, (seq, rtt)) in call.echoes.iter().enumerate() {
        assert_eq!(*seq, i as u32, "echoes come back in order, none lost");
        assert!(*rtt < Duration::from_millis(200), "echo {seq} took {rtt:?}");
    }
    let metrics = f.api.send(f.api.http.get(f.api.url("/metrics"))).text;
    assert!(metrics.contains("voxgate_media_packets_total{direction=\"in\"}"), "{metrics}");
    assert!(metrics.contains("voxgate_ice_connect_duration_seconds_count 1"), "{metrics}");

    f.api.browser("DELETE", &call.location, Some(SITE), Some(token)).expect(200);
    // The call is over: hanging up again is done already, and a new offer is accepted.
    f.api.browser("DELETE", &call.location, Some(SITE), Some(token)).expect(200);
    let mut again = VoiceCall::offer(&f.api, url, SITE, token).expect("a new call after hang-up");
    again.expect_echoes(5, Duration::from_secs(20));
}

#[test]
fn a_second_offer_while_a_call_is_live_is_refused() {
    let f = Fixture::new();
    let s = f.session(json!({}));
    let token = s["session_token"].as_str().unwrap();
    let url = s["webrtc_url"].as_str().unwrap();
    let _call = VoiceCall::offer(&f.api, url, SITE, token).expect("first offer");
    let second = VoiceCall::offer(&f.api, url, SITE, token).err().expect("second offer refused");
    assert_eq!((second.status, second.code()), (409, "session_busy"), "{}", second.text);
}

#[test]
fn bad_offers_are_refused_with_reasons() {
    let f = Fixture::new();
    let s = f.session(json!({}));
    let token = s["session_token"].as_str().unwrap();
    let url = s["webrtc_url"].as_str().unwrap();
    let post = |ct: &str, body: String| {
        f.api.send(
            f.api
                .http
                .post(url)
                .header("Origin", SITE)
                .header("Authorization", format!("Bearer {token}"))
                .header("Content-Type", ct)
                .body(body),
        )
    };
    let r = post("application/sdp", "hello".into()).expect_error(400, "invalid_sdp");
    assert!(r.text.contains("v=0"), "{}", r.text);
    let video = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n";
    let r = post("application/sdp", video.into()).expect_error(400, "invalid_sdp");
    assert!(r.text.contains("m=audio"), "{}", r.text);
    let pcmu = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let r = post("application/sdp", pcmu.into()).expect_error(400, "invalid_sdp");
    assert!(r.text.contains("Opus"), "{}", r.text);
    assert_eq!(r.header("access-control-allow-origin"), Some(SITE), "the page can read why");
    post("application/json", "{}".into()).expect_error(415, "unsupported_media_type");
    post("application/sdp", format!("v=0\r\n{}", "a=x\r\n".repeat(20_000)))
        .expect_error(413, "payload_too_large");

    // A text-only session cannot call; a refused origin gets no CORS headers.
    let text = f.session(json!({"mode": "text"}));
    let webrtc = format!("{}/v1/sessions/{}/webrtc", f.server.url, text["session_id"].as_str().unwrap());
    let r = VoiceCall::offer(&f.api, &webrtc, SITE, text["session_token"].as_str().unwrap()).err().unwrap();
    assert_eq!((r.status, r.code()), (403, "mode_not_enabled"));
    let r = VoiceCall::offer(&f.api, url, "https://evil.test", token).err().unwrap();
    assert_eq!((r.status, r.code()), (403, "origin_not_allowed"));
    assert!(r.header("access-control-allow-origin").is_none());
}

#[test]
fn preflight_exposes_location_for_hang_up() {
    let f = Fixture::new();
    let s = f.session(json!({}));
    let url = s["webrtc_url"].as_str().unwrap();
    let r = f.api.preflight(url, SITE, "POST").expect(204);
    assert_eq!(r.header("access-control-allow-methods"), Some("POST, PATCH, DELETE"));
    assert!(r.header("access-control-expose-headers").unwrap().contains("Location"));
}
