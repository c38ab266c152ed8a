//! The webhook outbox survives what a server goes through: events owed when the server is
//! killed with `kill -9` are delivered after the restart, none twice; on two PostgreSQL nodes
//! each event is delivered once, whichever node's writer owed it. The receiver verifies every
//! delivery with PyPI's `standardwebhooks`.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use voxgate_tests::postgres::{create_key, fresh_database, node};
use voxgate_tests::tool_backend::WebhookReceiver;
use voxgate_tests::{eventually, Fixture, Server, ServerOptions};

const FLAGS: [&str; 3] = ["--allow-private-webhooks", "--webhook-retry-scale", "0.002"];

fn register(f: &Fixture, receiver: &WebhookReceiver) {
    receiver.register(f, json!(["conversation.ended"]));
}

/// Ends `n` sessions made through `f`; their session ids.
fn end_sessions(f: &Fixture, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let s = f.session(json!({"mode": "text"}));
            let sid = s["session_id"].as_str().unwrap().to_string();
            f.api.control("DELETE", &format!("/v1/sessions/{sid}"), &f.key, None).expect(200);
            sid
        })
        .collect()
}

/// Deliveries answered 200, by the session they report; every one verified.
fn delivered_by_session(receiver: &WebhookReceiver) -> HashMap<String, Vec<Value>> {
    let mut by: HashMap<String, Vec<Value>> = HashMap::new();
    for d in receiver.seen() {
        assert_eq!(d["verified"], true, "{d}");
        if d["status"] == 200 {
            by.entry(d["body"]["data"]["session_id"].as_str().unwrap().to_string()).or_default().push(d);
        }
    }
    by
}

#[test]
fn events_owed_at_a_kill_9_are_delivered_after_the_restart_none_twice() {
    let receiver = WebhookReceiver::start();
    let options = |data_dir| ServerOptions {
        data_dir,
        extra_args: FLAGS.map(String::from).to_vec(),
        ..Default::default()
    };
    let f = Fixture::on(Server::start_with(options(None)));
    register(&f, &receiver);
    // The receiver is down (503) while the conversations end: everything stays owed.
    receiver.control(json!({"fail": 1_000_000}));
    let sessions = end_sessions(&f, 6);
    eventually(Duration::from_secs(10), || (receiver.seen().len() >= 12).then_some(()));
    let pid = f.server.pid().to_string();
    std::process::Command::new("kill").args(["-KILL", &pid]).status().expect("kill -9");
    let Fixture { server, key, .. } = f;
    let data_dir = server.kill();
    receiver.control(json!({"fail": 0}));
    let _server = Server::start_with(options(Some(data_dir)));
    // A row leased mid-attempt at the kill waits out its 30 s lease.
    let delivered = eventually(Duration::from_secs(45), || {
        let by = delivered_by_session(&receiver);
        (by.len() == sessions.len()).then_some(by)
    });
    for sid in &sessions {
        let got = &delivered[sid];
        assert_eq!(got.len(), 1, "{sid} delivered once: {got:#?}");
        let id = &got[0]["webhook_id"];
        let attempts = receiver.seen().iter().filter(|d| &d["webhook_id"] == id).count();
        assert!(attempts >= 2, "{sid}: refused before the kill, delivered after it ({attempts} attempts)");
    }
    drop(key);
}

#[test]
fn on_two_postgresql_nodes_each_event_is_delivered_once() {
    let receiver = WebhookReceiver::start();
    let db = fresh_database();
    let a = Fixture::with_key(node(&db, "a", &FLAGS), create_key(&db, "acme"));
    let b_server = node(&db, "b", &FLAGS);
    let b = Fixture {
        api: b_server.client(),
        server: b_server,
        key: a.key.clone(),
        agent: a.agent.clone(),
        widget: a.widget.clone(),
    };
    register(&a, &receiver);
    let mut sessions = end_sessions(&a, 15);
    sessions.extend(end_sessions(&b, 15));
    let delivered = eventually(Duration::from_secs(20), || {
        let by = delivered_by_session(&receiver);
        (by.len() == sessions.len()).then_some(by)
    });
    for sid in &sessions {
        assert_eq!(delivered[sid].len(), 1, "{sid}: {:#?}", delivered[sid]);
    }
    // No attempt at all was made twice: both senders polled the same outbox.
    let mut ids: Vec<String> =
        receiver.seen().iter().map(|d| d["webhook_id"].as_str().unwrap().to_string()).collect();
    let all = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all, "every attempt has its own event");
}
