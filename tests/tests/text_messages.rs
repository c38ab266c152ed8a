//! Text mode end to end: a visitor message answered by the builtin agent over SSE, the
//! transcript, busy and oversized messages, a visitor leaving mid-answer, and preview fair use.

use serde_json::{json, Value};
use std::time::Duration;
use voxgate_tests::text::{Answer, SseEvent};
use voxgate_tests::{eventually, Fixture, Server, ServerOptions, SITE};

const SHIPPING: &str = "We ship to every country in the EU within three working days.\n\n\
Express shipping costs 9 euros and arrives the next working day.";
const RETURNS: &str = "Returns are free within 30 days. Print the return label from your account page.";

/// A fixture whose agent knows about shipping and returns.
fn fixture(opts: ServerOptions) -> Fixture {
    let f = Fixture::on(Server::start_with(opts));
    f.patch_agent(json!({
        "greeting": "Hello! Ask me about shipping or returns.",
        "knowledge": [{"title": "Shipping", "text": SHIPPING}, {"title": "Returns", "text": RETURNS}],
    }));
    f
}

fn text_session(f: &Fixture, body: Value) -> (String, String) {
    let s = f.session(body);
    (s["messages_url"].as_str().unwrap().to_string(), s["session_token"].as_str().unwrap().to_string())
}

fn ask(f: &Fixture, url: &str, token: &str, text: &str) -> Vec<SseEvent> {
    let mut answer =
        Answer::ask(&f.api, url, SITE, token, text).unwrap_or_else(|r| panic!("message refused: {}", r.text));
    assert!(answer.content_type.starts_with("text/event-stream"), "{}", answer.content_type);
    answer.rest()
}

/// The completed answer, after checking the stream's shape: created, deltas, completed.
fn completed_text(events: &[SseEvent]) -> String {
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names.first(), Some(&"message.created"), "{events:?}");
    assert_eq!(names.last(), Some(&"response.completed"), "{events:?}");
    assert!(names[1..names.len() - 1].iter().all(|n| *n == "response.delta"), "{names:?}");
    assert!(names.len() > 3, "the answer streams in several deltas: {names:?}");
    // Each id is the answer's message id and the event's number: what Last-Event-ID resumes after.
    let answer = events.last().unwrap().data["message_id"].as_str().unwrap().to_string();
    let ids: Vec<u64> = events
        .iter()
        .map(|e| {
            let (of, n) = e.id.rsplit_once('.').expect("answer.number");
            assert_eq!(of, answer, "{}", e.id);
            n.parse().expect("a number")
        })
        .collect();
    assert_eq!(ids, (1..=events.len() as u64).collect::<Vec<_>>(), "ids count up from 1");
    let joined: String =
        events[1..events.len() - 1].iter().map(|e| e.data["text"].as_str().unwrap()).collect();
    let completed = events.last().unwrap().data["text"].as_str().unwrap().to_string();
    assert_eq!(joined, completed, "the deltas join to the completed text");
    assert!(events.last().unwrap().data["message_id"].as_str().unwrap().starts_with("msg_"));
    completed
}

#[test]
fn the_builtin_agent_quotes_its_knowledge_or_says_it_does_not_know() {
    let f = fixture(ServerOptions::default());
    let (url, token) = text_session(&f, json!({"mode": "text"}));
    let events = ask(&f, &url, &token, "How much does express shipping cost?");
    assert_eq!(events[0].data["text"], "How much does express shipping cost?");
    assert_eq!(events[0].data["role"], "visitor");
    let answer = completed_text(&events);
    assert_eq!(
        answer, "Express shipping costs 9 euros and arrives the next working day.",
        "the passage itself"
    );
    assert_eq!(
        events.last().unwrap().data["source"],
        "Shipping",
        "the source is named apart from the answer"
    );

    let events = ask(&f, &url, &token, "Where do I print the return label?");
    let answer = completed_text(&events);
    assert!(answer.contains("Print the return label from your account page"), "{answer}");
    assert_eq!(events.last().unwrap().data["source"], "Returns");

    let events = ask(&f, &url, &token, "Who painted the Mona Lisa?");
    assert_eq!(completed_text(&events), "I don't know that yet.");
    assert!(events.last().unwrap().data["source"].is_null());
    // Sharing one weak word with a passage ("cost") is not an answer.
    let events = ask(&f, &url, &token, "How much does it cost per month?");
    assert_eq!(completed_text_or_short(&events), "I don't know that yet.");

    let transcript = f.api.browser("GET", &url, Some(SITE), Some(&token)).expect(200).body;
    let messages = transcript["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["visitor", "agent", "visitor", "agent", "visitor", "agent", "visitor", "agent"]);
    assert!(messages.iter().all(|m| m["status"] == "complete"), "{transcript}");
    assert_eq!(messages[5]["text"], "I don't know that yet.");
    assert_eq!(messages[1]["source"], "Shipping", "the transcript keeps the source: {transcript}");
    assert!(messages[5].get("source").is_none());
}

/// A session whose answer has begun to stream and goes on for seconds (200 ms between words):
/// its fixture, messages URL, token, and the answer read up to its first delta.
fn answer_in_progress() -> (Fixture, String, String, Answer) {
    let f = fixture(ServerOptions {
        // A visitor who leaves is one not back within half a second (tests/tests/text_resume.rs
        // has one who comes back).
        extra_args: ["--builtin-word-delay-ms", "200", "--answer-resume-seconds", "0.5"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    });
    let (url, token) = text_session(&f, json!({"mode": "text"}));
    let mut answer =
        Answer::ask(&f.api, &url, SITE, &token, "When do you ship to the EU?").expect("accepted");
    assert_eq!(answer.next_event().unwrap().event, "message.created");
    assert_eq!(answer.next_event().unwrap().event, "response.delta");
    (f, url, token, answer)
}

#[test]
fn a_second_message_while_an_answer_streams_is_busy_and_a_visitor_leaving_interrupts_it() {
    let (f, url, token, answer) = answer_in_progress();
    let busy = Answer::ask(&f.api, &url, SITE, &token, "Hello?").err().expect("refused while streaming");
    assert_eq!((busy.status, busy.code()), (409, "session_busy"), "{}", busy.text);
    drop(answer);

    // The partial answer is recorded as interrupted, and the session takes messages again.
    let transcript = eventually(Duration::from_secs(10), || {
        let t = f.api.browser("GET", &url, Some(SITE), Some(&token)).expect(200).body;
        (t["messages"][1]["status"] != "streaming").then_some(t)
    });
    let agent = &transcript["messages"][1];
    assert_eq!(
        (agent["role"].as_str(), agent["status"].as_str()),
        (Some("agent"), Some("interrupted")),
        "{transcript}"
    );
    let partial = agent["text"].as_str().unwrap();
    let full = "We ship to every country in the EU within three working days.";
    assert!(!partial.is_empty() && partial.len() < full.len() && full.starts_with(partial), "{partial:?}");
    let events = ask(&f, &url, &token, "Hi");
    assert_eq!(completed_text_or_short(&events), "Hello! Ask me about shipping or returns.");
}

/// Like `completed_text`, for answers short enough to come in few deltas.
fn completed_text_or_short(events: &[SseEvent]) -> String {
    assert_eq!(events.last().unwrap().event, "response.completed", "{events:?}");
    events.last().unwrap().data["text"].as_str().unwrap().to_string()
}

#[test]
fn bad_messages_are_refused_with_reasons() {
    let f = fixture(ServerOptions::default());
    let (url, token) = text_session(&f, json!({"mode": "text"}));
    let big = "a".repeat(4097);
    let r = Answer::ask(&f.api, &url, SITE, &token, &big).err().expect("too large");
    assert_eq!((r.status, r.code()), (413, "payload_too_large"), "{}", r.text);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("4097"), "{}", r.text);
    let r = Answer::post(&f.api, &url, SITE, &token, "{\"txt\": \"hi\"}".into()).err().expect("no text");
    assert_eq!(
        (r.status, r.code(), r.body["error"]["field"].as_str()),
        (400, "invalid_request", Some("text"))
    );
    let r = Answer::post(&f.api, &url, SITE, &token, "not json".into()).err().expect("not json");
    assert_eq!((r.status, r.code()), (400, "invalid_request"));
    let r = Answer::ask(&f.api, &url, SITE, &token, "   ").err().expect("blank");
    assert_eq!((r.status, r.code()), (400, "invalid_request"));
    let r = Answer::ask(&f.api, &url, "https://evil.example", &token, "hi").err().expect("wrong origin");
    assert_eq!((r.status, r.code()), (403, "origin_not_allowed"));
    // Nothing refused reached the transcript.
    let t = f.api.browser("GET", &url, Some(SITE), Some(&token)).expect(200).body;
    assert_eq!(t["messages"], json!([]), "{t}");
    // A voice-only session takes no text.
    let s = f.session(json!({"mode": "voice"}));
    assert_eq!(s["messages_url"], Value::Null, "a voice-only session has no messages_url");
    let url = format!("/v1/sessions/{}/messages", s["session_id"].as_str().unwrap());
    let token = s["session_token"].as_str().unwrap();
    let r = Answer::ask(&f.api, &url, SITE, token, "hi").err().expect("voice only");
    assert_eq!((r.status, r.code()), (403, "mode_not_enabled"), "{}", r.text);
}

#[test]
fn preview_messages_count_toward_fair_use_only() {
    let f = fixture(ServerOptions {
        extra_args: vec!["--preview-text-messages-per-day".into(), "2".into()],
        ..Default::default()
    });
    let (url, token) = text_session(&f, json!({"mode": "text", "preview": true}));
    for _ in 0..2 {
        completed_text_or_short(&ask(&f, &url, &token, "Hi"));
    }
    let r = Answer::ask(&f.api, &url, SITE, &token, "Hi").err().expect("over the preview fair use");
    assert_eq!((r.status, r.code()), (429, "fair_use_exceeded"), "{}", r.text);
    let u = f.api.control("GET", "/v1/usage", &f.key, None).expect(200).body;
    assert_eq!(u["usage"]["preview"]["text_messages"], 2, "{u}");
    assert_eq!(u["usage"]["production"]["text_messages"], 0, "{u}");
    // Production sessions are not held back by the preview allowance.
    let (url, token) = text_session(&f, json!({"mode": "text"}));
    completed_text_or_short(&ask(&f, &url, &token, "Hi"));
    let u = f.api.control("GET", "/v1/usage", &f.key, None).expect(200).body;
    assert_eq!(u["usage"]["production"]["text_messages"], 1, "{u}");
}

#[test]
fn the_transcript_and_usage_survive_a_restart() {
    let f = fixture(ServerOptions::default());
    let (url, token) = text_session(&f, json!({"mode": "text"}));
    let answer = completed_text(&ask(&f, &url, &token, "How much does express shipping cost?"));
    let usage_before = f.api.control("GET", "/v1/usage", &f.key, None).expect(200).body["usage"].clone();
    let Fixture { server, key, .. } = f;
    let data_dir = server.stop();
    let server = Server::start_with(ServerOptions { data_dir: Some(data_dir), ..Default::default() });
    let api = server.client();
    let t = api.browser(
        "GET",
        &url.replace(&url[..url.find("/v1/").unwrap()], &api.base),
        Some(SITE),
        Some(&token),
    );
    let t = t.expect(200).body;
    let texts: Vec<&str> =
        t["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["How much does express shipping cost?", answer.as_str()]);
    let usage_after = api.control("GET", "/v1/usage", &key, None).expect(200).body["usage"].clone();
    assert_eq!(usage_before, usage_after);
    assert_eq!(usage_after["production"]["text_messages"], 1);
}

#[test]
fn a_graceful_shutdown_mid_answer_records_the_partial_answer() {
    let (f, url, token, mut answer) = answer_in_progress();
    let Fixture { server, .. } = f;
    let data_dir = server.stop();
    let rest = answer.rest();
    let last = rest.last().expect("the stream ends with an event");
    assert_eq!((last.event.as_str(), last.data["code"].as_str()), ("error", Some("unavailable")), "{rest:?}");

    let server = Server::start_with(ServerOptions { data_dir: Some(data_dir), ..Default::default() });
    let api = server.client();
    let url = format!("{}{}", api.base, &url[url.find("/v1/").unwrap()..]);
    let t = api.browser("GET", &url, Some(SITE), Some(&token)).expect(200).body;
    let agent = &t["messages"][1];
    assert_eq!(
        (agent["role"].as_str(), agent["status"].as_str()),
        (Some("agent"), Some("interrupted")),
        "{t}"
    );
    assert!(
        "We ship to every country in the EU".starts_with(agent["text"].as_str().unwrap().trim_end()),
        "{t}"
    );
}

#[test]
fn an_idle_answer_stream_gets_keep_alive_comments() {
    use std::io::{BufRead, BufReader};
    // A minute between words: after its first word the stream is idle but for keep-alives.
    let f = fixture(ServerOptions {
        extra_args: vec![
            "--builtin-word-delay-ms".into(),
            "60000".into(),
            "--sse-keep-alive-ms".into(),
            "100".into(),
        ],
        ..Default::default()
    });
    let (url, token) = text_session(&f, json!({"mode": "text"}));
    let res = f
        .api
        .http
        .post(&url)
        .header("Origin", SITE)
        .header("Authorization", format!("Bearer {token}"))
        .json(&json!({"text": "When do you ship?"}))
        .send()
        .unwrap();
    let mut lines = BufReader::new(res).lines();
    let mut seen_delta = false;
    let comments_after_delta = loop {
        let line = lines.next().expect("the stream stays open").unwrap();
        if line.starts_with("event: response.delta") {
            seen_delta = true;
        } else if seen_delta && line.starts_with(':') {
            break line;
        }
    };
    assert!(comments_after_delta.starts_with(':'), "{comments_after_delta}");
}

#[test]
fn a_message_nobody_can_answer_is_neither_metered_nor_recorded() {
    let f = fixture(ServerOptions::default());
    let (url, token) = text_session(&f, json!({"mode": "text"}));
    f.api.control("DELETE", &format!("/v1/agents/{}", f.agent), &f.key, None).expect(200);
    let r = Answer::ask(&f.api, &url, SITE, &token, "Hello?").err().expect("no agent to answer");
    assert_eq!((r.status, r.code()), (409, "agent_missing"), "{}", r.text);
    let u = f.api.control("GET", "/v1/usage", &f.key, None).expect(200).body;
    assert_eq!(u["usage"]["production"]["text_messages"], 0, "{u}");
    let t = f.api.browser("GET", &url, Some(SITE), Some(&token)).expect(200).body;
    assert_eq!(t["messages"], json!([]), "{t}");
}
