//! A text answer whose stream drops resumes with `Last-Event-ID` (`GET {messages_url}`): the
//! rest of the deltas, none twice, and `response.completed` once; a stream nobody resumes stops
//! after `--answer-resume-seconds`, recorded as interrupted. Ids name the answer and the event.

use serde_json::json;
use std::time::Duration;
use voxgate_tests::text::{Answer, SseEvent};
use voxgate_tests::{eventually, Fixture, Server, ServerOptions, SITE};

const FULL: &str = "We ship to every country in the EU within three working days.";

/// A session whose agent answers FULL a word every 200 ms (2.4 s), resumable for 1 s.
fn fixture() -> (Fixture, String, String) {
    let f = Fixture::on(Server::start_with(ServerOptions {
        extra_args: ["--builtin-word-delay-ms", "200", "--answer-resume-seconds", "1"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    }));
    f.patch_agent(json!({"knowledge": [{"title": "Shipping", "text": FULL}]}));
    let s = f.session(json!({"mode": "text"}));
    (f, s["messages_url"].as_str().unwrap().to_string(), s["session_token"].as_str().unwrap().to_string())
}

fn deltas(events: &[SseEvent]) -> String {
    events.iter().filter(|e| e.event == "response.delta").map(|e| e.data["text"].as_str().unwrap()).collect()
}

#[test]
fn a_stream_cut_after_three_deltas_resumes_with_the_whole_answer_exactly_once() {
    let (f, url, token) = fixture();
    let mut answer = Answer::ask(&f.api, &url, SITE, &token, "When do you ship to the EU?").unwrap();
    let mut got = vec![answer.next_event().unwrap()];
    assert_eq!(got[0].event, "message.created");
    while got.iter().filter(|e| e.event == "response.delta").count() < 3 {
        got.push(answer.next_event().expect("a delta"));
    }
    // The connection drops mid-answer.
    drop(answer);
    let last = got.last().unwrap().id.clone();
    let mut resumed =
        Answer::resume(&f.api, &url, SITE, &token, &last).unwrap_or_else(|r| panic!("{}", r.text));
    assert!(resumed.content_type.starts_with("text/event-stream"), "{}", resumed.content_type);
    let rest = resumed.rest();
    let all: Vec<SseEvent> = got.iter().chain(rest.iter()).cloned().collect();
    let completed: Vec<_> = all.iter().filter(|e| e.event == "response.completed").collect();
    assert_eq!(completed.len(), 1, "response.completed once: {all:?}");
    assert_eq!(completed[0].data["text"], FULL);
    assert_eq!(deltas(&all), FULL, "every delta once, in order");
    let numbers: Vec<u64> = all.iter().map(|e| e.id.rsplit_once('.').unwrap().1.parse().unwrap()).collect();
    assert_eq!(numbers, (1..=all.len() as u64).collect::<Vec<_>>(), "no event twice, none missing");
    // Recorded whole, not interrupted.
    let t = f.api.browser("GET", &url, Some(SITE), Some(&token)).expect(200).body;
    assert_eq!(
        (t["messages"][1]["status"].as_str(), t["messages"][1]["text"].as_str()),
        (Some("complete"), Some(FULL))
    );
    // Once resumed to its end, resuming again replays nothing new twice: the rest after its last id is empty.
    let again = Answer::resume(&f.api, &url, SITE, &token, &all.last().unwrap().id).unwrap().rest();
    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn a_bad_or_unknown_last_event_id_is_refused_and_an_abandoned_answer_is_interrupted() {
    let (f, url, token) = fixture();
    let r = Answer::resume(&f.api, &url, SITE, &token, "nonsense").err().expect("refused");
    assert_eq!((r.status, r.code()), (400, "invalid_request"), "{}", r.text);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("Last-Event-ID"), "{}", r.text);
    let r =
        Answer::resume(&f.api, &url, SITE, &token, "msg_0000000000000000000000.3").err().expect("refused");
    assert_eq!((r.status, r.code()), (404, "not_found"), "{}", r.text);
    let r =
        Answer::resume(&f.api, &url, "https://evil.example.com", &token, "msg_x.1").err().expect("refused");
    assert_eq!((r.status, r.code()), (403, "origin_not_allowed"), "{}", r.text);

    // Nobody comes back: after the resume window the answer stops, recorded as interrupted.
    let mut answer = Answer::ask(&f.api, &url, SITE, &token, "When do you ship to the EU?").unwrap();
    answer.next_event().unwrap();
    answer.next_event().unwrap();
    drop(answer);
    let t = eventually(Duration::from_secs(10), || {
        let t = f.api.browser("GET", &url, Some(SITE), Some(&token)).expect(200).body;
        (t["messages"][1]["status"] != "streaming").then_some(t)
    });
    assert_eq!(t["messages"][1]["status"], "interrupted", "{t}");
}
