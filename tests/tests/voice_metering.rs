//! Voice metering: each started minute is committed as it starts; an allowance ends the call at
//! the start of the minute that does not fit; previews count only toward their fair use; a
//! graceful shutdown ends calls cleanly and loses no usage. One "minute" is 1 s here.

use serde_json::json;
use std::time::Duration;
use voxgate_tests::voice::VoiceCall;
use voxgate_tests::{Fixture, Server, ServerOptions, SITE};

fn server(args: &[&str]) -> Server {
    Server::start_with(ServerOptions {
        extra_args: args.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
}

fn usage(f: &Fixture) -> serde_json::Value {
    f.api.control("GET", "/v1/usage", &f.key, None).expect(200).body
}

#[test]
fn a_one_minute_allowance_ends_the_call_after_its_first_minute() {
    let f = Fixture::on(server(&["--voice-minutes-per-month", "1", "--metering-minute-ms", "1000"]));
    let s = f.session(json!({}));
    let token = s["session_token"].as_str().unwrap();
    let mut call = VoiceCall::offer(&f.api, s["webrtc_url"].as_str().unwrap(), SITE, token).unwrap();
    call.expect_echoes(5, Duration::from_secs(10));
    let connected = call.connected_at.unwrap();
    let ended = call.expect_server_hangup(Duration::from_secs(10));
    let lasted = ended - connected;
    assert!(
        lasted >= Duration::from_millis(800) && lasted < Duration::from_millis(3000),
        "the call lasted {lasted:?}"
    );

    let v = f.record_after_call_end(&s);
    assert_eq!(v["end_reason"], "quota_exceeded");
    assert_eq!(v["calls"][0]["minutes"], 1);
    assert_eq!(v["calls"][0]["end_reason"], "quota_exceeded");
    assert!(v["calls"][0]["connected_at"].is_string());

    let u = usage(&f);
    assert_eq!(u["usage"]["production"]["voice_minutes"], 1, "{u}");
    assert_eq!(u["current_period"]["production"]["voice_minutes"]["used"], 1);
    assert_eq!(u["current_period"]["production"]["voice_minutes"]["limit"], 1);
    // The allowance is spent: no new voice session, and no new call on a voice+text session.
    let path = format!("/v1/widgets/{}/sessions", f.widget);
    f.api.control("POST", &path, &f.key, Some(json!({"mode": "voice"}))).expect_error(429, "quota_exceeded");
    let both = f.session(json!({}));
    let r = VoiceCall::offer(
        &f.api,
        both["webrtc_url"].as_str().unwrap(),
        SITE,
        both["session_token"].as_str().unwrap(),
    )
    .err()
    .expect("refused");
    assert_eq!((r.status, r.code()), (429, "quota_exceeded"), "{}", r.text);
}

#[test]
fn previews_count_only_toward_their_fair_use() {
    let f = Fixture::on(server(&["--preview-voice-minutes-per-day", "1", "--metering-minute-ms", "1000"]));
    let s = f.session(json!({"preview": true}));
    let mut call = f.call(&s);
    call.expect_echoes(3, Duration::from_secs(10));
    call.expect_server_hangup(Duration::from_secs(10));
    let v = f.record_after_call_end(&s);
    assert_eq!(v["end_reason"], "fair_use_exceeded");
    let u = usage(&f);
    assert_eq!(u["usage"]["preview"]["voice_minutes"], 1, "{u}");
    assert_eq!(u["usage"]["production"]["voice_minutes"], 0, "{u}");
    // Production calls are unaffected by the spent preview allowance.
    let p = f.session(json!({}));
    let mut call = f.call(&p);
    call.expect_echoes(3, Duration::from_secs(10));
}

#[test]
fn a_graceful_shutdown_ends_calls_and_loses_no_usage() {
    let f = Fixture::new();
    let s = f.session(json!({"ttl_seconds": 600}));
    let sid = s["session_id"].as_str().unwrap().to_string();
    let mut call = f.call(&s);
    call.expect_echoes(5, Duration::from_secs(10));
    // The first minute is committed as it starts.
    let u = voxgate_tests::eventually(Duration::from_secs(5), || {
        let u = usage(&f);
        (u["usage"]["production"]["voice_minutes"] == 1).then_some(u)
    });
    let Fixture { server, key, .. } = f;
    let stopper = std::thread::spawn(move || server.stop());
    call.expect_server_hangup(Duration::from_secs(10));
    let data_dir = stopper.join().unwrap();

    let server = Server::start_with(ServerOptions { data_dir: Some(data_dir), ..Default::default() });
    let api = server.client();
    let after = api.control("GET", "/v1/usage", &key, None).expect(200).body;
    assert_eq!(after["usage"], u["usage"], "usage survives the restart unchanged");
    let v = api.control("GET", &format!("/v1/sessions/{sid}"), &key, None).expect(200).body;
    assert_eq!(v["calls"][0]["end_reason"], "server_shutdown", "{v}");
    assert_eq!(v["calls"][0]["minutes"], 1);
}

#[test]
fn usage_rejects_bad_bounds() {
    let f = Fixture::new();
    let r =
        f.api.control("GET", "/v1/usage?from=yesterday", &f.key, None).expect_error(400, "invalid_request");
    assert_eq!(r.body["error"]["field"], "from");
    f.api
        .control("GET", "/v1/usage?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", &f.key, None)
        .expect_error(400, "invalid_request");
}
