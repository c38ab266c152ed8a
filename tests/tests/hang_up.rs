//! Hanging up in either order (RFC 9725): most stacks (aiortc, Chromium, Firefox, webrtc-rs)
//! close the peer connection first and then send the `DELETE`; GStreamer and werift `DELETE`
//! first. Both answer 200 while the session lives; only a call id the session never had is 404.

use serde_json::json;
use std::time::Duration;
use voxgate_tests::{eventually, Fixture, SITE};

#[test]
fn closing_the_peer_connection_first_then_deleting_is_200() {
    let f = Fixture::new();
    let s = f.session(json!({"mode": "voice"}));
    let token = s["session_token"].as_str().unwrap();
    let mut call = f.call(&s);
    call.expect_echoes(5, Duration::from_secs(20));
    call.close();
    // The server has ended the call on the visitor's close_notify before the DELETE arrives.
    let record = f.record_after_call_end(&s);
    assert_eq!(record["calls"][0]["end_reason"], "client_hangup", "{record}");
    f.api.browser("DELETE", &call.location, Some(SITE), Some(token)).expect(200);
    f.api.browser("DELETE", &call.location, Some(SITE), Some(token)).expect(200);
    // The session lives on and takes a new call.
    assert_eq!(f.record(&s)["status"], "live");
    let mut again = f.call(&s);
    again.expect_echoes(3, Duration::from_secs(20));
}

#[test]
fn closing_and_deleting_at_once_is_200() {
    let f = Fixture::new();
    let s = f.session(json!({"mode": "voice"}));
    let token = s["session_token"].as_str().unwrap();
    let mut call = f.call(&s);
    call.expect_echoes(3, Duration::from_secs(20));
    // The DELETE races the close_notify: whichever ends the call, the answer is 200.
    call.close();
    f.api.browser("DELETE", &call.location, Some(SITE), Some(token)).expect(200);
    let record = f.record_after_call_end(&s);
    let reason = record["calls"][0]["end_reason"].as_str().unwrap().to_string();
    assert_eq!(reason, "client_hangup", "{record}");
}

#[test]
fn deleting_first_is_200_and_the_visitor_hears_the_end() {
    let f = Fixture::new();
    let s = f.session(json!({"mode": "voice"}));
    let token = s["session_token"].as_str().unwrap();
    let mut call = f.call(&s);
    call.expect_echoes(3, Duration::from_secs(20));
    f.api.browser("DELETE", &call.location, Some(SITE), Some(token)).expect(200);
    call.expect_server_hangup(Duration::from_secs(10));
    let record = f.record_after_call_end(&s);
    assert_eq!(record["calls"][0]["end_reason"], "client_hangup", "{record}");
    f.api.browser("DELETE", &call.location, Some(SITE), Some(token)).expect(200);
}

#[test]
fn a_call_the_session_never_had_is_404() {
    let f = Fixture::new();
    let s = f.session(json!({"mode": "voice"}));
    let token = s["session_token"].as_str().unwrap();
    let webrtc = s["webrtc_url"].as_str().unwrap();
    let mut call = f.call(&s);
    call.expect_echoes(1, Duration::from_secs(20));
    for made_up in ["call_NoSuchCallEver0000000", "not-a-call-id", "call_"] {
        f.api
            .browser("DELETE", &format!("{webrtc}/{made_up}"), Some(SITE), Some(token))
            .expect_error(404, "not_found");
    }
    // Another session's call is not this session's, live or ended.
    let other = f.session(json!({"mode": "voice"}));
    let other_token = other["session_token"].as_str().unwrap();
    let foreign =
        call.location.replace(s["session_id"].as_str().unwrap(), other["session_id"].as_str().unwrap());
    f.api.browser("DELETE", &foreign, Some(SITE), Some(other_token)).expect_error(404, "not_found");
    call.close();
    f.record_after_call_end(&s);
    f.api.browser("DELETE", &foreign, Some(SITE), Some(other_token)).expect_error(404, "not_found");
    // The call itself was untouched by the refused DELETEs until its own close.
    let ended = eventually(Duration::from_secs(5), || {
        let r = f.record(&s);
        (r["calls"][0]["end_reason"] == "client_hangup").then_some(r)
    });
    assert_eq!(ended["calls"].as_array().unwrap().len(), 1);
}
