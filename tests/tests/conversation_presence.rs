//! What a conversation's record says happened: the modes it used (not those its widget
//! allows), its call count and first line, and its end when the visitor left. A conversation
//! with no live call and no message for `--conversation-idle-seconds` ends as `visitor_left`;
//! a later message on its still-valid token reopens it, and a live call holds it open however
//! long the call lasts.

use serde_json::{json, Value};
use std::time::Duration;
use voxgate_tests::text::Answer;
use voxgate_tests::{eventually, Fixture, Server, ServerOptions, SITE};

/// A server whose conversations end after `idle` seconds without a call or a message.
fn fixture(idle: &str) -> Fixture {
    let f = Fixture::on(Server::start_with(ServerOptions {
        extra_args: vec!["--conversation-idle-seconds".into(), idle.into()],
        ..Default::default()
    }));
    f.patch_widget(json!({"modes": ["voice", "text"]}));
    f
}

fn ask(f: &Fixture, s: &Value, question: &str) {
    let (url, token) = (s["messages_url"].as_str().unwrap(), s["session_token"].as_str().unwrap());
    let events = Answer::ask(&f.api, url, SITE, token, question).expect("message taken").rest();
    assert_eq!(events.last().map(|e| e.event.as_str()), Some("response.completed"), "{events:?}");
}

fn summary(f: &Fixture, s: &Value) -> Value {
    let page = f.api.control("GET", "/v1/conversations?limit=100", &f.key, None).expect(200).body;
    page["conversations"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["session_id"] == s["session_id"]).cloned())
        .unwrap_or_else(|| panic!("no conversation for {}: {page:#}", s["session_id"]))
}

fn ids(f: &Fixture, query: &str) -> Vec<Value> {
    let page = f.api.control("GET", &format!("/v1/conversations{query}"), &f.key, None).expect(200).body;
    page["conversations"].as_array().unwrap().iter().map(|c| c["session_id"].clone()).collect()
}

#[test]
fn a_conversation_records_the_modes_it_used_its_calls_and_its_first_line() {
    let f = fixture("120");
    // Both modes allowed; only text used.
    let typed = f.session(json!({}));
    ask(&f, &typed, "How does   voice\nwork?");
    // Both allowed; only a call.
    let called = f.session(json!({}));
    let mut call = f.call(&called);
    call.expect_echoes(10, Duration::from_secs(20));
    call.hang_up(&f.api, SITE, called["session_token"].as_str().unwrap()).expect(200);
    f.record_after_call_end(&called);
    // Both allowed; nothing used yet.
    let untouched = f.session(json!({}));

    let t = summary(&f, &typed);
    assert_eq!((&t["modes"], &t["allowed_modes"]), (&json!(["text"]), &json!(["voice", "text"])), "{t:#}");
    assert_eq!((t["calls"].as_u64(), t["snippet"].as_str()), (Some(0), Some("How does voice work?")));
    let c = summary(&f, &called);
    assert_eq!((&c["modes"], c["calls"].as_u64()), (&json!(["voice"]), Some(1)), "{c:#}");
    let u = summary(&f, &untouched);
    assert_eq!((&u["modes"], &u["snippet"]), (&json!([]), &Value::Null), "{u:#}");

    assert_eq!(ids(&f, "?mode=voice"), vec![called["session_id"].clone()], "only the call used voice");
    assert_eq!(ids(&f, "?mode=text"), vec![typed["session_id"].clone()], "only the chat used text");
}

#[test]
fn a_conversation_ends_when_its_visitor_left_and_a_later_message_reopens_it() {
    let f = fixture("0.5");
    let s = f.session(json!({"mode": "text"}));
    ask(&f, &s, "Hello?");
    let ended = eventually(Duration::from_secs(10), || {
        let r = f.record(&s);
        (r["status"] == "ended").then_some(r)
    });
    assert_eq!(ended["end_reason"], "visitor_left", "{ended:#}");
    assert_eq!(summary(&f, &s)["end_reason"], "visitor_left");
    // The transcript can still be read on the token, and the session stays ended.
    let (url, token) = (s["messages_url"].as_str().unwrap(), s["session_token"].as_str().unwrap());
    let read = f.api.browser("GET", url, Some(SITE), Some(token)).expect(200).body;
    assert_eq!(read["messages"].as_array().map(Vec::len), Some(2), "{read:#}");
    assert_eq!(f.record(&s)["status"], "ended");

    // A message on the live token reopens the same conversation.
    ask(&f, &s, "Still there?");
    let reopened = f.record(&s);
    assert_eq!((reopened["status"].as_str(), &reopened["end_reason"]), (Some("live"), &Value::Null));
    let record = f.conversation(&s);
    assert_eq!(record["transcript"].as_array().map(Vec::len), Some(4), "one conversation: {record:#}");
    let metrics = f.api.send(f.api.http.get(f.api.url("/metrics"))).expect(200).text;
    assert!(metrics.contains("voxgate_sessions_reopened_total{mode=\"text\"} 1"), "{metrics}");
    assert!(metrics.contains("voxgate_sessions_ended_total{mode=\"text\",reason=\"visitor_left\"} 1"));
    // And it ends again once the visitor is quiet.
    eventually(Duration::from_secs(10), || (f.record(&s)["end_reason"] == "visitor_left").then_some(()));
}

#[test]
fn a_live_call_holds_the_conversation_open_and_its_end_starts_the_idle_clock() {
    let f = fixture("0.5");
    let s = f.session(json!({"mode": "voice"}));
    let mut call = f.call(&s);
    // Two seconds of echoes: four idle times with no message.
    call.expect_echoes(100, Duration::from_secs(30));
    assert_eq!(f.record(&s)["status"], "live", "the call is the visitor's presence");
    call.hang_up(&f.api, SITE, s["session_token"].as_str().unwrap()).expect(200);
    let ended = eventually(Duration::from_secs(10), || {
        let r = f.record(&s);
        (r["status"] == "ended").then_some(r)
    });
    assert_eq!(ended["end_reason"], "visitor_left", "{ended:#}");
    assert_eq!(ended["calls"][0]["end_reason"], "client_hangup", "{ended:#}");
}

#[test]
fn the_idle_time_is_checked() {
    let out = voxgate_tests::voxgate(&["serve", "--conversation-idle-seconds", "0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--conversation-idle-seconds must be between 0.1 and 86400"), "{err}");
}
