//! Two voxgate nodes on one PostgreSQL: configuration saved on one applies on the other,
//! sessions are pinned to the node that carries them, usage adds up across nodes, and a node
//! that dies has its calls closed by the other within its lease.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use voxgate_tests::postgres::{create_key, fresh_database, node};
use voxgate_tests::voice::VoiceCall;
use voxgate_tests::{eventually, wall_clock, Fixture, SITE};

/// Node `a` with the workspace's agent and widget (made on `a`), and node `b` on the same
/// database with the same key and ids.
fn two_nodes(extra: &[&str]) -> (Fixture, Fixture) {
    let db = fresh_database();
    let a = node(&db, "a", extra);
    let b = node(&db, "b", extra);
    let a = Fixture::with_key(a, create_key(&db, "acme"));
    let b = a.on_node(b);
    (a, b)
}

fn usage_minutes(f: &Fixture) -> u64 {
    f.api.control("GET", "/v1/usage", &f.key, None).expect(200).body["usage"]["production"]["voice_minutes"]
        .as_u64()
        .unwrap()
}

fn minutes_of(record: &Value) -> u64 {
    record["calls"].as_array().unwrap().iter().map(|c| c["minutes"].as_u64().unwrap()).sum()
}

#[test]
fn a_widget_made_on_one_node_takes_sessions_on_the_other_and_names_that_node() {
    let (a, b) = two_nodes(&[]);
    // Made on a an instant ago, used on b at once.
    let s = b.session(json!({}));
    assert!(s["webrtc_url"].as_str().unwrap().starts_with(&b.server.url), "{s}");
    assert!(s["messages_url"].as_str().unwrap().starts_with(&b.server.url), "{s}");
    // Both nodes answer for it; its media runs on b.
    let sid = s["session_id"].as_str().unwrap();
    for f in [&a, &b] {
        let r = f.api.control("GET", &format!("/v1/sessions/{sid}"), &f.key, None).expect(200);
        assert_eq!(r.body["status"], "live");
    }
    let mut call = b.call(&s);
    call.expect_echoes(5, Duration::from_secs(10));
}

#[test]
fn a_session_carried_by_one_node_is_refused_on_the_other_as_misdirected() {
    let (a, b) = two_nodes(&[]);
    let s = a.session(json!({}));
    let token = s["session_token"].as_str().unwrap();
    let on_b = |url: &str| url.replacen(&a.server.url, &b.server.url, 1);
    let whip = on_b(s["webrtc_url"].as_str().unwrap());
    let refused = VoiceCall::offer(&b.api, &whip, SITE, token).err().expect("b refuses a's media");
    assert_eq!((refused.status, refused.code()), (421, "misdirected"), "{}", refused.text);
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("node a") && message.contains(&a.server.url), "{message}");
    let messages = on_b(s["messages_url"].as_str().unwrap());
    b.api.browser("GET", &messages, Some(SITE), Some(token)).expect_error(421, "misdirected");
    // The node that carries it serves it.
    let mut call = a.call(&s);
    call.expect_echoes(3, Duration::from_secs(10));
}

#[test]
fn removing_an_origin_on_one_node_ends_a_live_call_on_the_other_within_a_second() {
    let (a, b) = two_nodes(&[]);
    let s = a.session(json!({}));
    let mut call = a.call(&s);
    call.expect_echoes(5, Duration::from_secs(10));
    let saved = Instant::now();
    b.patch_widget(json!({"allowed_origins": ["https://elsewhere.example.com"]}));
    let ended = call.expect_server_hangup(Duration::from_secs(5));
    assert!(ended - saved <= Duration::from_secs(1), "ended {:?} after the save on b", ended - saved);
    assert_eq!(b.record(&s)["end_reason"], "origin_revoked");
}

#[test]
fn a_session_ended_on_one_node_ends_on_the_node_that_carries_it() {
    let (a, b) = two_nodes(&[]);
    let s = a.session(json!({}));
    let sid = s["session_id"].as_str().unwrap();
    let mut call = a.call(&s);
    call.expect_echoes(5, Duration::from_secs(10));
    let ended = b.api.control("DELETE", &format!("/v1/sessions/{sid}"), &b.key, None).expect(200);
    assert_eq!(ended.body["end_reason"], "ended", "{}", ended.text);
    call.expect_server_hangup(Duration::from_secs(2));
    // And a refresh on b of a session a carries moves a's expiry: the call outlives its first token.
    let s = a.session(json!({"ttl_seconds": 2}));
    let sid = s["session_id"].as_str().unwrap();
    let mut call = a.call(&s);
    call.expect_echoes(3, Duration::from_secs(10));
    let r = b.api.control(
        "POST",
        &format!("/v1/sessions/{sid}/refresh"),
        &b.key,
        Some(json!({"ttl_seconds": 60})),
    );
    r.expect(200);
    let past_first_expiry = Instant::now() + Duration::from_millis(3000);
    call.run_until(Duration::from_secs(10), |c| {
        c.disconnected_at.is_some() || Instant::now() > past_first_expiry
    });
    assert!(call.disconnected_at.is_none(), "the call refreshed on b was ended at its first expiry");
}

#[test]
fn usage_from_calls_on_both_nodes_adds_up_exactly() {
    let (a, b) = two_nodes(&["--metering-minute-ms", "200"]);
    let sessions: Vec<(usize, Value)> = (0..4).map(|i| (i, [&a, &b][i % 2].session(json!({})))).collect();
    let mut calls: Vec<VoiceCall> = sessions.iter().map(|(i, s)| [&a, &b][i % 2].call(s)).collect();
    for call in calls.iter_mut() {
        call.expect_echoes(3, Duration::from_secs(10));
    }
    // Let each call run a few metered minutes, then end them all.
    std::thread::sleep(Duration::from_millis(900));
    for (i, s) in &sessions {
        let f = [&a, &b][i % 2];
        let sid = s["session_id"].as_str().unwrap();
        f.api.control("DELETE", &format!("/v1/sessions/{sid}"), &f.key, None).expect(200);
    }
    let total: u64 =
        sessions.iter().map(|(i, s)| minutes_of(&[&a, &b][i % 2].record_after_call_end(s))).sum();
    assert!(total >= 4, "every call was metered: {total}");
    assert_eq!(usage_minutes(&a), total);
    assert_eq!(usage_minutes(&b), total);
}

#[test]
fn when_a_node_dies_the_other_keeps_serving_and_closes_its_calls_within_the_lease() {
    let (a, b) = two_nodes(&["--metering-minute-ms", "200"]);
    let on_a: Vec<Value> = (0..3).map(|_| a.session(json!({}))).collect();
    let mut calls: Vec<VoiceCall> = on_a.iter().map(|s| a.call(s)).collect();
    for call in calls.iter_mut() {
        call.expect_echoes(3, Duration::from_secs(10));
    }
    // Minutes a reported before it dies.
    let reported = eventually(Duration::from_secs(5), || {
        let n = usage_minutes(&b);
        (n >= 3).then_some(n)
    });
    let Fixture { server, .. } = a;
    let killed = wall_clock::now_ms();
    server.kill();
    // b serves new sessions and calls at once.
    let s = b.session(json!({}));
    let mut call = b.call(&s);
    call.expect_echoes(5, Duration::from_secs(10));
    // a's calls are closed as server_restart once its lease (1 s) lapses, with their minutes.
    // The session's end is stamped when b closes them: that moment is measured, not how long
    // this test (b's own call in a debug build, on a busy machine) took to look.
    for s in &on_a {
        let record = eventually(Duration::from_secs(10), || {
            let r = b.record(s);
            r["calls"][0]["end_reason"].is_string().then_some(r)
        });
        assert_eq!(record["calls"][0]["end_reason"], "server_restart", "{record}");
        assert_eq!(record["end_reason"], "server_restart", "{record}");
        let closed = wall_clock::rfc3339_ms(record["ended_at"].as_str().unwrap_or_default()) - killed;
        assert!((0..=3000).contains(&closed), "closed {closed} ms after the kill (lease 1 s): {record}");
    }
    // With b's own call ended too, the ledger holds exactly what every call recorded.
    let sid = s["session_id"].as_str().unwrap();
    b.api.control("DELETE", &format!("/v1/sessions/{sid}"), &b.key, None).expect(200);
    let on_b = minutes_of(&b.record_after_call_end(&s));
    let after = usage_minutes(&b);
    let on_a: u64 = on_a.iter().map(|s| minutes_of(&b.record(s))).sum();
    assert!(on_a >= reported, "minutes reported before the kill are kept: {reported}, then {on_a}");
    assert_eq!(on_a + on_b, after, "each call's minutes match the ledger");
}

#[test]
fn a_node_whose_listener_is_cut_off_reconnects_and_applies_what_it_missed() {
    let (a, b) = two_nodes(&[]);
    let s = a.session(json!({}));
    let mut call = a.call(&s);
    call.expect_echoes(5, Duration::from_secs(10));
    // Cut a's listener off, as a database restart or a network blip would.
    let db = voxgate_tests::postgres::database_of(&a);
    let mut admin = voxgate_tests::postgres::connect(&db);
    let cut = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = 'voxgate-listener-a' AND datname = current_database()",
            &[],
        )
        .unwrap();
    assert_eq!(cut.len(), 1, "a's listener was found and cut off");
    // A save on b right away lands while a reconnects or just after: either way a applies it
    // (by rereading everything once it listens again, or by hearing it) within a second.
    let saved = Instant::now();
    b.patch_widget(json!({"allowed_origins": ["https://elsewhere.example.com"]}));
    let ended = call.expect_server_hangup(Duration::from_secs(5));
    assert!(ended - saved <= Duration::from_secs(1), "applied {:?} after the save", ended - saved);
    let metrics = a.api.send(a.api.http.get(a.api.url("/metrics"))).text;
    let reconnects = metrics
        .lines()
        .find_map(|l| l.strip_prefix("voxgate_cluster_listener_reconnects_total{node=\"a\"} "))
        .and_then(|v| v.parse::<f64>().ok());
    assert_eq!(reconnects, Some(1.0), "{metrics}");
    let ready = a.api.send(a.api.http.get(a.api.url("/readyz"))).expect(200);
    assert_eq!((ready.body["cluster"].as_str(), ready.body["node"].as_str()), (Some("listening"), Some("a")));
}

#[test]
fn a_key_revoked_from_the_command_line_is_refused_on_every_node_within_a_second() {
    let (a, b) = two_nodes(&[]);
    // Both nodes have used (and keep) the key.
    for f in [&a, &b] {
        f.api.control("GET", "/v1/widgets", &f.key, None).expect(200);
    }
    let db = voxgate_tests::postgres::database_of(&a);
    let listed = voxgate_tests::voxgate(&["keys", "list", "--database-url", &db]);
    let listing = String::from_utf8(listed.stdout).unwrap();
    let id =
        listing.lines().find_map(|l| l.split_whitespace().next().filter(|w| w.starts_with("key_"))).unwrap();
    let revoked = voxgate_tests::voxgate(&["keys", "revoke", "--database-url", &db, id]);
    assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
    let at = Instant::now();
    for f in [&a, &b] {
        eventually(Duration::from_secs(1), || {
            let r = f.api.control("GET", "/v1/widgets", &f.key, None);
            (r.status == 401).then_some(())
        });
    }
    assert!(
        at.elapsed() <= Duration::from_secs(1),
        "refused everywhere {:?} after the revocation",
        at.elapsed()
    );
}

#[test]
fn saves_of_one_widget_on_two_nodes_at_once_lose_nothing() {
    let (a, b) = two_nodes(&[]);
    let path = format!("/v1/widgets/{}", a.widget);
    let saves = 20;
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..saves {
                a.api.control("PATCH", &path, &a.key, Some(json!({"name": format!("a{i}")}))).expect(200);
            }
        });
        s.spawn(|| {
            for i in 0..saves {
                let patch = json!({"appearance": {"title": format!("b{i}")}});
                b.api.control("PATCH", &path, &b.key, Some(patch)).expect(200);
            }
        });
    });
    // Every save counted once, and the last of each node's changes both kept.
    let last = saves - 1;
    for f in [&a, &b] {
        let w = eventually(Duration::from_secs(1), || {
            let w = f.api.control("GET", &path, &f.key, None).expect(200).body;
            (w["version"] == 1 + 2 * saves).then_some(w)
        });
        assert_eq!(w["name"], format!("a{last}"), "{w}");
        assert_eq!(w["appearance"]["title"], format!("b{last}"), "{w}");
    }
}
