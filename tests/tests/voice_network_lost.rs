//! A call whose visitor's network goes silent waits out `--call-grace-seconds` instead of
//! ending: nothing is metered meanwhile, an ICE restart within the grace resumes the same call
//! with no minute counted twice, and past the grace it ends `network_lost` with its minutes
//! where the packets stopped. One "minute" is 3 s here; silence is noticed after 1 s.

use serde_json::json;
use std::time::{Duration, Instant};
use voxgate_tests::{eventually, Fixture, Server, ServerOptions, SITE};

/// A counter or gauge of the server's `/metrics`.
fn metric(f: &Fixture, name: &str) -> i64 {
    let metrics = f.api.send(f.api.http.get(f.api.url("/metrics"))).text;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(-1)
}

fn fixture(grace_seconds: &str) -> Fixture {
    Fixture::on(Server::start_with(ServerOptions {
        extra_args: ["--call-grace-seconds", grace_seconds, "--metering-minute-ms", "3000"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    }))
}

#[test]
fn a_visitor_silent_past_the_grace_ends_network_lost_with_minutes_where_packets_stopped() {
    let f = fixture("3");
    let s = f.session(json!({}));
    let mut call = f.call(&s);
    call.expect_echoes(5, Duration::from_secs(10));
    let connected = call.connected_at.unwrap();
    // Into the second minute (minutes start 0 s and 3 s after connecting), then silence 3.9 s
    // in: noticed a second later, before a third minute would start at 6 s.
    call.run_until(Duration::from_secs(10), |_| connected.elapsed() >= Duration::from_millis(3900));
    let silent = Instant::now();
    // From here the visitor sends and reads nothing: its network is gone.
    let v = eventually(Duration::from_secs(15), || {
        let v = f.record(&s);
        (!v["calls"][0]["end_reason"].is_null()).then_some(v)
    });
    let waited = silent.elapsed();
    assert_eq!(v["calls"][0]["end_reason"], "network_lost", "{v}");
    assert!(waited >= Duration::from_millis(2500), "the call waited out its grace, not {waited:?}");
    // Without the pause the call, live until about 6.9 s, would have started a third minute.
    assert_eq!(v["calls"][0]["minutes"], 2, "minutes stop where the packets stopped: {v}");
    assert_eq!(metric(&f, "voxgate_calls_waiting_for_network"), 0, "no call waits any more");
}

#[test]
fn a_restart_within_the_grace_resumes_the_same_call_with_no_minute_counted_twice() {
    let f = fixture("10");
    let s = f.session(json!({}));
    let token = s["session_token"].as_str().unwrap();
    let mut call = f.call(&s);
    call.expect_echoes(5, Duration::from_secs(10));
    let connected = call.connected_at.unwrap();
    // The visitor's network is gone for two seconds (the call notices after one), then it
    // restarts ICE from a new socket.
    std::thread::sleep(Duration::from_secs(2));
    let r = call.move_and_restart_ice(&f.api, SITE, token);
    assert_eq!(r.status, 200, "{}", r.text);
    let before = call.echoes.len();
    call.expect_echoes(before + 10, Duration::from_secs(10));
    let live = f.record(&s);
    assert!(live["calls"][0]["end_reason"].is_null(), "the call is still live: {live}");
    // Talk on to about 7 s after connecting, then hang up.
    call.run_until(Duration::from_secs(10), |_| connected.elapsed() >= Duration::from_secs(7));
    let lasted = connected.elapsed();
    call.hang_up(&f.api, SITE, token);
    let v = f.record_after_call_end(&s);
    let c = &v["calls"][0];
    assert_eq!(v["calls"].as_array().unwrap().len(), 1, "one call: {v}");
    assert_eq!(c["end_reason"], "client_hangup", "{v}");
    assert_eq!(c["reconnects"], 1, "{v}");
    assert_eq!(metric(&f, "voxgate_ice_restarts_total"), 1);
    assert_eq!(metric(&f, "voxgate_calls_waiting_for_network"), 0);
    // About 7 s with about 1-2 s unmetered: minutes started at 0, 3 and about 6 s of metered
    // time; the minute paused by the silence went on, not started again.
    let minutes = c["minutes"].as_u64().unwrap();
    let at_most = lasted.as_millis().div_ceil(3000) as u64;
    assert!((2..=at_most).contains(&minutes), "{minutes} minutes for {lasted:?} with a pause: {v}");
}
