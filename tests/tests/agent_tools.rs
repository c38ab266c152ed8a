//! Server tools in a text conversation, against the real binary: a model that asks for tools
//! (tests/src/upstream.rs), and a customer's backend that verifies every request's Standard
//! Webhooks signature with PyPI's `standardwebhooks` (tests/tools/tool_backend.py). Each tool
//! call is a `tool` line of the transcript; a tool that fails, hangs or answers too much is an
//! error the model reads, and the visitor still gets an answer.

use serde_json::{json, Value};
use voxgate_tests::dashboard::{create_user, Dashboard};
use voxgate_tests::text::{Answer, SseEvent};
use voxgate_tests::tool_backend::ToolBackend;
use voxgate_tests::upstream::Upstream;
use voxgate_tests::{Fixture, Server, ServerOptions, SITE};

const SECRET_ENV: &str = "VOXGATE_TEST_TOOL_SECRET";
/// A `whsec_` secret (24 random bytes, base64) as the customer's backend shares it.
const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

struct Setup {
    f: Fixture,
    upstream: Upstream,
    backend: ToolBackend,
}

fn server_tool(name: &str, url: &str, timeout_ms: u32) -> Value {
    json!({"type": "server", "name": name, "description": "Look up where an order is.",
           "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
           "url": url, "secret_env": SECRET_ENV, "timeout_ms": timeout_ms})
}

fn setup() -> Setup {
    let upstream = Upstream::start();
    let backend = ToolBackend::start(SECRET);
    let f = Fixture::on(Server::start_with(ServerOptions {
        env: vec![(SECRET_ENV.into(), SECRET.into())],
        ..Default::default()
    }));
    f.patch_agent(json!({
        "prompt": "You help {{customer_name}} with orders.",
        "greeting": "Hi {{customer_name}}!",
        "backend": {"type": "openai", "base_url": upstream.base_url, "model": "test-model"},
        "tools": [
            server_tool("check_order", &backend.tool_url("ok"), 5000),
            server_tool("broken_order", &backend.tool_url("fail"), 5000),
            server_tool("slow_order", &backend.tool_url("slow"), 300),
            server_tool("huge_order", &backend.tool_url("big"), 5000),
            server_tool("moved_order", &backend.tool_url("redirect"), 5000),
            {"type": "client", "name": "show_product", "description": "Show a product on the page.",
             "parameters": {"type": "object", "properties": {"sku": {"type": "string"}}}, "timeout_ms": 1000},
            {"type": "client", "name": "open_checkout", "description": "Open the checkout.", "timeout_ms": 1000},
        ],
    }));
    // The site runs show_product only: open_checkout is never offered in its sessions.
    f.patch_widget(json!({"page_actions": ["show_product"]}));
    Setup { f, upstream, backend }
}

struct Chat {
    url: String,
    token: String,
    session: Value,
}

fn chat(s: &Setup, body: Value) -> Chat {
    let session = s.f.session(body);
    Chat {
        url: session["messages_url"].as_str().unwrap().into(),
        token: session["session_token"].as_str().unwrap().into(),
        session,
    }
}

fn ask(s: &Setup, c: &Chat, text: &str) -> Vec<SseEvent> {
    Answer::ask(&s.f.api, &c.url, SITE, &c.token, text)
        .unwrap_or_else(|r| panic!("refused: {}", r.text))
        .rest()
}

fn completed(events: &[SseEvent]) -> String {
    let last = events.last().unwrap();
    assert_eq!(last.event, "response.completed", "{events:?}");
    last.data["text"].as_str().unwrap().to_string()
}

fn tool_lines(s: &Setup, c: &Chat) -> Vec<Value> {
    let record = s.f.conversation(&c.session);
    record["transcript"].as_array().unwrap().iter().filter(|m| m["role"] == "tool").cloned().collect()
}

#[test]
fn a_question_that_needs_a_server_tool_is_answered_from_its_signed_result() {
    let s = setup();
    let c =
        chat(&s, json!({"mode": "text", "metadata": {"crm": "42"}, "variables": {"customer_name": "Ana"}}));
    let events = ask(&s, &c, r#"call check_order {"order_id": "A-17"}"#);
    let answer = completed(&events);
    assert!(answer.contains(r#""status":"shipped""#) && answer.contains("A-17"), "{answer}");
    assert!(!events.iter().any(|e| e.event == "error"), "{events:?}");

    // The customer's backend verified the signature independently, and got the context.
    let seen = s.backend.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["verified"], true, "{seen:?}");
    let body = &seen[0]["body"];
    assert_eq!(body["tool"], "check_order");
    assert_eq!(body["call_id"], "call_0");
    assert_eq!(body["arguments"], json!({"order_id": "A-17"}));
    assert_eq!(body["session_id"], c.session["session_id"]);
    assert_eq!(body["metadata"], json!({"crm": "42"}));
    assert_eq!(body["variables"], json!({"customer_name": "Ana"}));
    assert!(body["conversation_id"].as_str().unwrap().starts_with("cnv_"), "{body}");
    assert!(seen[0]["webhook_id"].as_str().unwrap().starts_with("msg_"));

    // The model was offered the tools, then read the result as a `tool` message.
    let requests = s.upstream.requests();
    assert_eq!(requests.len(), 2);
    let offered: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(offered[0], "check_order");
    let messages = requests[1].body["messages"].as_array().unwrap();
    let n = messages.len();
    assert_eq!(messages[n - 2]["tool_calls"][0]["function"]["name"], "check_order");
    assert_eq!(messages[n - 1]["role"], "tool");
    assert_eq!(messages[n - 1]["tool_call_id"], "call_0");
    // Variables filled the prompt.
    assert_eq!(messages[0]["content"], "You help Ana with orders.");

    // The transcript: the visitor, the tool call, then the answer.
    let record = s.f.conversation(&c.session);
    let roles: Vec<&str> =
        record["transcript"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["visitor", "tool", "agent"], "{record}");
    let tool = &record["transcript"][1]["tool"];
    assert_eq!((tool["name"].as_str(), tool["type"].as_str()), (Some("check_order"), Some("server")));
    assert_eq!(tool["arguments"], json!({"order_id": "A-17"}));
    assert_eq!(tool["result"]["status"], "shipped");
    assert!(tool["duration_ms"].as_u64().is_some());
    assert_eq!(record["variables"], json!({"customer_name": "Ana"}));
    assert_eq!(record["warnings"], json!([]));

    // A follow-up carries the earlier call in the history.
    ask(&s, &c, "thanks");
    let last = s.upstream.requests().pop().unwrap();
    let history = last.body["messages"].as_array().unwrap();
    assert!(history.iter().any(|m| m["role"] == "tool" && m["tool_call_id"] == "call_0"), "{history:?}");

    // The dashboard's conversation view shows the call, its result and the variables.
    create_user(&s.f.server, "acme", "owner@example.com", "a long enough password");
    let d = Dashboard::sign_in(&s.f.server, "owner@example.com", "a long enough password");
    let conversation = record["id"].as_str().unwrap();
    let page = d.get(&format!("/dashboard/conversations/{conversation}")).text;
    assert!(
        page.contains(r#"data-tool="server"><code>check_order({&#34;order_id&#34;:&#34;A-17&#34;})</code>"#),
        "{page}"
    );
    assert!(page.contains("shipped"), "{page}");
    assert!(page.contains("data-variables") && page.contains("Ana"), "{page}");

    // Metrics count the call.
    let metrics = s.f.api.send(s.f.api.http.get(s.f.api.url("/metrics"))).text;
    assert!(metrics.contains(r#"voxgate_agent_tool_calls_total{outcome="ok",type="server"} 1"#), "{metrics}");
    assert!(metrics.contains("voxgate_agent_tool_seconds_count{type=\"server\"} 1"), "{metrics}");
}

#[test]
fn a_tool_that_fails_hangs_answers_too_much_or_redirects_still_gets_the_visitor_an_answer() {
    let s = setup();
    let c = chat(&s, json!({"mode": "text"}));
    for (tool, expected) in [
        ("broken_order", "500"),
        ("slow_order", "did not answer within 300 ms"),
        ("huge_order", "larger than 65536 bytes"),
        ("moved_order", "302"),
        ("no_such_tool", "there is no tool named"),
    ] {
        let events = ask(&s, &c, &format!(r#"call {tool} {{"order_id": "B-2"}}"#));
        let answer = completed(&events);
        assert!(answer.starts_with("The tool said: {\"error\":"), "{tool}: {answer}");
        assert!(answer.contains(expected), "{tool}: {answer}");
    }
    let lines = tool_lines(&s, &c);
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().all(|l| l["status"] == "failed" && l["tool"]["error"].is_string()), "{lines:?}");
    // A malformed argument list never reaches the backend.
    let before = s.backend.seen().len();
    let answer = completed(&ask(&s, &c, "call check_order {oops"));
    assert!(answer.contains("not valid JSON"), "{answer}");
    assert_eq!(s.backend.seen().len(), before);
}

#[test]
fn a_model_that_keeps_calling_tools_is_made_to_answer_after_five_rounds() {
    let s = setup();
    let c = chat(&s, json!({"mode": "text"}));
    let answer = completed(&ask(&s, &c, r#"loop check_order {"order_id": "C-3"}"#));
    assert_eq!(answer, "Enough tools.");
    assert_eq!(s.backend.seen().len(), 5);
    let requests = s.upstream.requests();
    assert_eq!(requests.len(), 6);
    assert_eq!(requests[5].body["tool_choice"], "none");
}

#[test]
fn variables_fill_the_prompt_and_greeting_and_unknown_ones_are_warned_about() {
    let s = setup();
    // Validated with the field named.
    for (variables, field) in [
        (json!(["Ana"]), "variables"),
        (json!({"customer name": "Ana"}), "variables.customer name"),
        (json!({"customer_name": {"first": "Ana"}}), "variables.customer_name"),
        (json!({"customer_name": "x".repeat(1025)}), "variables.customer_name"),
    ] {
        let r = s.f.api.control(
            "POST",
            &format!("/v1/widgets/{}/sessions", s.f.widget),
            &s.f.key,
            Some(json!({"variables": variables})),
        );
        let r = r.expect_error(400, "invalid_request");
        assert_eq!(r.body["error"]["field"], field, "{}", r.text);
    }
    // The browser's values never carry them.
    let c = chat(&s, json!({"mode": "text", "variables": {"customer_name": "Ana", "tier": "gold"}}));
    assert!(!c.session.to_string().contains("gold"), "{}", c.session);
    let transcript = s.f.api.browser("GET", &c.url, Some(SITE), Some(&c.token)).expect(200);
    assert!(!transcript.text.contains("gold"), "{}", transcript.text);
    assert_eq!(transcript.body["greeting"], "Hi Ana!");

    // A session without the variable: left empty, and a warning on the record.
    let c = chat(&s, json!({"mode": "text"}));
    let transcript = s.f.api.browser("GET", &c.url, Some(SITE), Some(&c.token)).expect(200);
    assert_eq!(transcript.body["greeting"], "Hi !");
    ask(&s, &c, "hello");
    let system = &s.upstream.requests().pop().unwrap().body["messages"][0]["content"];
    assert_eq!(system, "You help  with orders.");
    let record = s.f.conversation(&c.session);
    let warnings = record["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].as_str().unwrap().contains("prompt uses {{customer_name}}"), "{warnings:?}");
}

#[test]
fn tools_are_validated_and_refused_on_an_agent_without_a_model() {
    let f = Fixture::new();
    let r = f.api.control(
        "PATCH",
        &format!("/v1/agents/{}", f.agent),
        &f.key,
        Some(json!({"tools": [{"type": "end_call"}]})),
    );
    let r = r.expect_error(400, "invalid_request");
    assert_eq!(r.body["error"]["field"], "tools", "{}", r.text);
    assert!(r.text.contains("builtin backend has no model"), "{}", r.text);
    let r = f.api.control(
        "PATCH",
        &format!("/v1/agents/{}", f.agent),
        &f.key,
        Some(json!({"backend": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
                    "tools": [{"type": "server", "name": "x", "description": "d", "url": "https://e.example/x",
                               "secret_env": "S", "parameters": {"type": "object", "required": ["id"]}}]})),
    );
    let r = r.expect_error(400, "invalid_request");
    assert_eq!(r.body["error"]["field"], "tools[0].parameters.required", "{}", r.text);
}

/// What the page posts beside the messages URL.
fn tool_result(s: &Setup, c: &Chat, body: Value) -> voxgate_tests::Reply {
    let url = c.url.replace("/messages", "/tool-results");
    s.f.api.send(
        s.f.api
            .http
            .post(s.f.api.url(&url))
            .header("Origin", SITE)
            .header("Authorization", format!("Bearer {}", c.token))
            .json(&body),
    )
}

#[test]
fn a_page_action_goes_to_the_page_as_an_event_and_its_result_comes_back() {
    let s = setup();
    let c = chat(&s, json!({"mode": "text"}));
    let mut answer = Answer::ask(&s.f.api, &c.url, SITE, &c.token, r#"call show_product {"sku": "BIKE-9"}"#)
        .unwrap_or_else(|r| panic!("refused: {}", r.text));
    let call = std::iter::from_fn(|| answer.next_event())
        .find(|e| e.event == "tool.call")
        .expect("a tool.call event");
    assert_eq!(call.data["name"], "show_product");
    assert_eq!(call.data["arguments"], json!({"sku": "BIKE-9"}));
    assert_eq!(call.data["timeout_ms"], 1000);
    let call_id = call.data["call_id"].as_str().unwrap().to_string();

    // Bad answers are refused with the field named, and lose nothing.
    let r = tool_result(&s, &c, json!({"result": 1})).expect_error(400, "invalid_request");
    assert_eq!(r.body["error"]["field"], "call_id");
    let r = tool_result(&s, &c, json!({"call_id": "nope", "result": 1})).expect_error(404, "not_found");
    assert_eq!(r.body["error"]["field"], "call_id");
    tool_result(&s, &c, json!({"call_id": call_id, "result": "x".repeat(70_000)}))
        .expect_error(413, "payload_too_large");
    let r = s.f.api.send(
        s.f.api
            .http
            .post(s.f.api.url(&c.url.replace("/messages", "/tool-results")))
            .header("Origin", SITE)
            .json(&json!({})),
    );
    assert_eq!(r.status, 401, "{}", r.text);

    tool_result(&s, &c, json!({"call_id": call_id, "result": {"shown": true}})).expect(200);
    let rest = answer.rest();
    let text = completed(&rest);
    assert_eq!(text, r#"The tool said: {"shown":true}"#);
    let lines = tool_lines(&s, &c);
    assert_eq!(lines[0]["tool"]["type"], "client");
    assert_eq!(lines[0]["tool"]["result"], json!({"shown": true}));
    // A second answer for the same call is refused: it is no longer waiting.
    tool_result(&s, &c, json!({"call_id": call_id, "result": 2})).expect_error(404, "not_found");
}

#[test]
fn a_page_without_the_action_or_that_never_answers_lets_the_agent_go_on() {
    let s = setup();
    let c = chat(&s, json!({"mode": "text"}));
    // The page answers at once that it has no handler (as the widget does).
    let mut answer =
        Answer::ask(&s.f.api, &c.url, SITE, &c.token, r#"call show_product {"sku": "X"}"#).unwrap();
    let call = std::iter::from_fn(|| answer.next_event()).find(|e| e.event == "tool.call").unwrap();
    tool_result(&s, &c, json!({"call_id": call.data["call_id"], "error": "not available on this page"}))
        .expect(200);
    assert!(completed(&answer.rest()).contains("not available on this page"));

    // A page that never answers: the model hears a timeout after the tool's timeout_ms.
    let events = ask(&s, &c, r#"call show_product {"sku": "Y"}"#);
    assert!(events.iter().any(|e| e.event == "tool.call"));
    assert!(completed(&events).contains("did not answer within 1000 ms"), "{events:?}");

    // An action the widget does not run is never offered, so never sent to the page.
    let events = ask(&s, &c, r#"call open_checkout {}"#);
    assert!(!events.iter().any(|e| e.event == "tool.call"), "{events:?}");
    assert!(completed(&events).contains("there is no tool named"), "{events:?}");
    let offered = s.upstream.requests().last().unwrap().body["tools"].clone();
    assert!(!offered.to_string().contains("open_checkout"), "{offered}");
    assert!(offered.to_string().contains("show_product"), "{offered}");
}
