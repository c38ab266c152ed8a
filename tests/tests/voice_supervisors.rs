//! Calls end when a supervisor says so: token expiry and origin revocation within 1 s, and two
//! media workers both carry calls.

use serde_json::json;
use std::time::{Duration, Instant};
use voxgate_tests::wall_clock::{rfc3339_ms, unix_ms};
use voxgate_tests::{Fixture, Server, ServerOptions};

#[test]
fn a_call_ends_within_a_second_of_token_expiry() {
    let f = Fixture::new();
    let s = f.session(json!({"ttl_seconds": 3}));
    let mut call = f.call(&s);
    call.expect_echoes(5, Duration::from_secs(10));
    let ended_at = unix_ms(call.expect_server_hangup(Duration::from_secs(10)));
    let expires_at = rfc3339_ms(s["expires_at"].as_str().unwrap());
    let late = ended_at - expires_at;
    assert!((-50..=1000).contains(&late), "the call ended {late} ms after expires_at");
    assert_eq!(f.record(&s)["end_reason"], "token_expired");
}

#[test]
fn refreshing_keeps_the_call_past_the_first_expiry() {
    let f = Fixture::new();
    let s = f.session(json!({"ttl_seconds": 2}));
    let sid = s["session_id"].as_str().unwrap();
    let mut call = f.call(&s);
    call.expect_echoes(3, Duration::from_secs(10));
    f.api
        .control("POST", &format!("/v1/sessions/{sid}/refresh"), &f.key, Some(json!({"ttl_seconds": 60})))
        .expect(200);
    let first_expiry = rfc3339_ms(s["expires_at"].as_str().unwrap());
    // Keep talking until well past the first expiry: echoes keep coming, no hang-up.
    let ok = call.run_until(Duration::from_secs(10), |c| {
        c.disconnected_at.is_some() || unix_ms(Instant::now()) > first_expiry + 1500
    });
    assert!(ok && call.disconnected_at.is_none(), "the refreshed call was ended");
    let before = call.echoes.len();
    call.expect_echoes(before + 10, Duration::from_secs(5));
}

#[test]
fn saving_an_allowlist_without_the_calls_origin_ends_it_within_a_second() {
    let f = Fixture::new();
    let s = f.session(json!({}));
    let mut call = f.call(&s);
    call.expect_echoes(5, Duration::from_secs(10));
    let saved = Instant::now();
    f.api
        .control(
            "PATCH",
            &format!("/v1/widgets/{}", f.widget),
            &f.key,
            Some(json!({"allowed_origins": ["https://elsewhere.example.com"]})),
        )
        .expect(200);
    let ended = call.expect_server_hangup(Duration::from_secs(5));
    assert!(ended - saved <= Duration::from_secs(1), "ended {:?} after the save", ended - saved);
    assert_eq!(f.record(&s)["end_reason"], "origin_revoked");
}

#[test]
fn ending_the_session_from_the_backend_ends_the_call() {
    let f = Fixture::new();
    let s = f.session(json!({}));
    let mut call = f.call(&s);
    call.expect_echoes(3, Duration::from_secs(10));
    let sid = s["session_id"].as_str().unwrap();
    f.api.control("DELETE", &format!("/v1/sessions/{sid}"), &f.key, None).expect(200);
    call.expect_server_hangup(Duration::from_secs(5));
}

#[test]
fn two_media_workers_both_carry_calls() {
    let server = Server::start_with(ServerOptions {
        extra_args: vec!["--media-workers".into(), "2".into()],
        ..Default::default()
    });
    let f = Fixture::on(server);
    let mut calls = Vec::new();
    for _ in 0..2 {
        let s = f.session(json!({}));
        let call = f.call(&s);
        calls.push(call);
    }
    for call in &mut calls {
        call.expect_echoes(10, Duration::from_secs(10));
    }
    let metrics = f.api.send(f.api.http.get(f.api.url("/metrics"))).text;
    assert!(metrics.contains("voxgate_media_worker_active_peers{worker=\"0\"} 1"), "{metrics}");
    assert!(metrics.contains("voxgate_media_worker_active_peers{worker=\"1\"} 1"), "{metrics}");
}
