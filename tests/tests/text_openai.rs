//! The `openai` agent backend against a local OpenAI-compatible server started by the test: a
//! streamed answer with the prompt, knowledge and history sent upstream, and each failure path
//! (HTTP 500, no answer, a stalled stream, a malformed chunk) ending in an `error` event.

use serde_json::{json, Value};
use voxgate_tests::text::{Answer, SseEvent};
use voxgate_tests::upstream::Upstream;
use voxgate_tests::{Fixture, Server, ServerOptions, SITE};

const KEY_ENV: &str = "VOXGATE_TEST_UPSTREAM_KEY";

struct Setup {
    f: Fixture,
    upstream: Upstream,
    url: String,
    token: String,
}

fn setup() -> Setup {
    let upstream = Upstream::start();
    let f = Fixture::on(Server::start_with(ServerOptions {
        extra_args: vec!["--agent-timeout-ms".into(), "400".into()],
        env: vec![(KEY_ENV.into(), "sk-test-123".into())],
        ..Default::default()
    }));
    let agent = f.patch_agent(json!({
                "prompt": "You are the shop's helpful assistant.",
                "knowledge": [{"title": "Shipping", "text": "Express shipping costs 9 euros."},
                              {"title": "Returns", "text": "Returns are free within 30 days."}],
                "backend": {"type": "openai", "base_url": upstream.base_url, "model": "test-model", "api_key_env": KEY_ENV},
            }));
    assert!(!agent.to_string().contains("sk-test-123"), "the key is never returned: {agent}");
    let s = f.session(json!({"mode": "text"}));
    let (url, token) =
        (s["messages_url"].as_str().unwrap().into(), s["session_token"].as_str().unwrap().into());
    Setup { f, upstream, url, token }
}

fn ask(s: &Setup, text: &str) -> Vec<SseEvent> {
    Answer::ask(&s.f.api, &s.url, SITE, &s.token, text)
        .unwrap_or_else(|r| panic!("refused: {}", r.text))
        .rest()
}

fn transcript(s: &Setup) -> Vec<Value> {
    let t = s.f.api.browser("GET", &s.url, Some(SITE), Some(&s.token)).expect(200).body;
    t["messages"].as_array().unwrap().clone()
}

#[test]
fn a_streamed_answer_comes_from_the_upstream_with_context_and_history() {
    let s = setup();
    let events = ask(&s, "How much is express shipping?");
    let deltas: Vec<&str> = events
        .iter()
        .filter(|e| e.event == "response.delta")
        .map(|e| e.data["text"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, ["Hello", " from", " upstream."], "{events:?}");
    let last = events.last().unwrap();
    assert_eq!(
        (last.event.as_str(), last.data["text"].as_str()),
        ("response.completed", Some("Hello from upstream."))
    );

    let seen = s.upstream.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer sk-test-123"));
    let body = &seen[0].body;
    assert_eq!((body["model"].as_str(), body["stream"].as_bool()), (Some("test-model"), Some(true)));
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    let system = messages[0]["content"].as_str().unwrap();
    assert!(system.starts_with("You are the shop's helpful assistant."), "{system}");
    assert!(system.contains("Express shipping costs 9 euros."), "the best passage is in context: {system}");
    assert_eq!(
        messages.last().unwrap(),
        &json!({"role": "user", "content": "How much is express shipping?"})
    );

    // The next turn carries the conversation so far.
    ask(&s, "And returns?");
    let seen = s.upstream.requests();
    let roles: Vec<&str> =
        seen[1].body["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(seen[1].body["messages"][2]["content"], "Hello from upstream.");
}

/// Asks `text` and returns the error event's code and message, checking nothing else followed.
fn failing(s: &Setup, text: &str) -> (String, String) {
    let events = ask(s, text);
    let last = events.last().unwrap_or_else(|| panic!("no events for {text}"));
    assert_eq!(last.event, "error", "{text}: {events:?}");
    assert!(events.iter().all(|e| e.event != "response.completed"), "{events:?}");
    (last.data["code"].as_str().unwrap().into(), last.data["message"].as_str().unwrap().into())
}

#[test]
fn upstream_failures_end_in_an_error_event_never_a_hung_stream() {
    let s = setup();
    let (code, message) = failing(&s, "fail");
    assert_eq!(code, "agent_error");
    assert!(message.contains("500") && message.contains("overloaded"), "{message}");

    let (code, message) = failing(&s, "hang");
    assert_eq!(code, "agent_timeout", "{message}");

    let events = ask(&s, "stall");
    assert!(events.iter().any(|e| e.event == "response.delta" && e.data["text"] == "Let me"), "{events:?}");
    assert_eq!(events.last().unwrap().data["code"], "agent_timeout", "{events:?}");

    let (code, message) = failing(&s, "garble");
    assert_eq!(code, "agent_error");
    assert!(message.contains("malformed chunk"), "{message}");

    // Each failed answer is recorded with what arrived, and the session goes on.
    let agents: Vec<(String, String)> = transcript(&s)
        .iter()
        .filter(|m| m["role"] == "agent")
        .map(|m| (m["status"].as_str().unwrap().into(), m["text"].as_str().unwrap().into()))
        .collect();
    let expected: Vec<(String, String)> =
        [("failed", ""), ("failed", ""), ("failed", "Let me"), ("failed", "Half")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    assert_eq!(agents, expected);
    let events = ask(&s, "hello again");
    assert_eq!(events.last().unwrap().event, "response.completed");
}

#[test]
fn a_missing_key_variable_keeps_the_agent_from_taking_sessions() {
    let upstream = Upstream::start();
    let f = Fixture::new();
    f.patch_agent(json!({"backend": {"type": "openai", "base_url": upstream.base_url, "model": "m", "api_key_env": "VOXGATE_TEST_UNSET_KEY"}}));
    let r = f.api.control(
        "POST",
        &format!("/v1/widgets/{}/sessions", f.widget),
        &f.key,
        Some(json!({"mode": "text"})),
    );
    let r = r.expect_error(409, "agent_not_configured");
    assert!(r.text.contains("VOXGATE_TEST_UNSET_KEY"), "{}", r.text);
}
