//! Tools in a talking call, against the real binary: the `pipeline` voice's model (the fake
//! provider, `--tool-call`) asks for a tool; a slow server tool gets the filler line said once
//! and the answer's speech follows the tool's result; a page action goes to the visitor's page
//! on the call's data channel as OpenAI Realtime's `response.function_call_arguments.done` and
//! comes back as a `function_call_output` item; `end_call` ends the call as `agent_ended`
//! after the answer's last words.

use serde_json::{json, Value};
use std::time::Duration;
use voxgate_tests::fake_provider::{chat_backend, pipeline_voice, FakeProvider};
use voxgate_tests::speech::speaker;
use voxgate_tests::tool_backend::ToolBackend;
use voxgate_tests::voice::VoiceCall;
use voxgate_tests::{Fixture, Server, ServerOptions, SITE};

const SECRET_ENV: &str = "VOXGATE_TEST_TOOL_SECRET";
const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const FILLER: &str = "One moment, I'm checking that.";

fn fake(tool: &str, arguments: &str) -> FakeProvider {
    FakeProvider::start(&[
        "--stt-delay-ms",
        "20",
        "--first-token-delay-ms",
        "10",
        "--first-audio-delay-ms",
        "10",
        "--tool-call",
        tool,
        "--tool-arguments",
        arguments,
    ])
}

fn fixture() -> Fixture {
    Fixture::on(Server::start_with(ServerOptions {
        env: vec![(SECRET_ENV.into(), SECRET.into())],
        ..Default::default()
    }))
}

/// Starts a call with a data channel in which the visitor asks one question.
fn ask(f: &Fixture, s: &Value) -> VoiceCall {
    let (url, token) = (s["webrtc_url"].as_str().unwrap(), s["session_token"].as_str().unwrap());
    let mut call = VoiceCall::offer_with_events(&f.api, url, SITE, token).expect("offer with a data channel");
    call.script = Some(speaker(|n| (10..60).contains(&n)));
    call
}

fn said(fake: &FakeProvider) -> Vec<String> {
    fake.seen_on("tts").iter().map(|t| t["input"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_slow_tool_gets_the_filler_line_once_and_the_answer_follows_its_result() {
    let fake = fake("check_order", r#"{"order_id":"A-17"}"#);
    let backend = ToolBackend::start(SECRET);
    let f = fixture();
    f.patch_agent(json!({
        "backend": chat_backend(&fake),
        "voice": pipeline_voice(&fake, json!({"silence_duration_ms": 300, "prefix_padding_ms": 100})),
        "filler_after_ms": 300,
        "tools": [{"type": "server", "name": "check_order", "description": "Where is an order?",
                   "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
                   "url": backend.tool_url("slow"), "secret_env": SECRET_ENV, "timeout_ms": 6000}],
    }));
    let s = f.session(json!({"mode": "voice"}));
    let mut call = ask(&f, &s);
    let answered = call
        .run_until(Duration::from_secs(30), |_| said(&fake).iter().any(|t| t.starts_with("The tool said")));
    assert!(answered, "no answer after the tool: {:?}", said(&fake));
    let lines = f.transcript_during(&mut call, &s, Duration::from_secs(20), |t| {
        t.iter().any(|m| m["role"] == "agent" && m["text"].as_str().unwrap_or("").contains("The tool said"))
    });
    let spoken = said(&fake);
    let fillers = spoken.iter().filter(|t| *t == FILLER).count();
    assert_eq!(fillers, 1, "the filler is said once: {spoken:?}");
    let filler_at = spoken.iter().position(|t| t == FILLER).unwrap();
    let answer_at = spoken.iter().position(|t| t.starts_with("The tool said")).unwrap();
    assert!(filler_at < answer_at, "{spoken:?}");
    assert!(spoken[answer_at].contains(r#""status":"shipped""#), "{spoken:?}");
    assert_eq!(backend.seen()[0]["verified"], true);

    // The transcript: the question, the tool call (in the call, with its offset), the answer.
    let tool = lines.iter().find(|m| m["role"] == "tool").unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(tool["tool"]["name"], "check_order");
    assert!(tool["tool"]["duration_ms"].as_u64().unwrap() >= 2900, "{tool}");
    let answer = lines.iter().rev().find(|m| m["role"] == "agent").unwrap();
    assert!(answer["latency"]["tool"].as_u64().unwrap() >= 2900, "the turn's tool stage: {answer}");
    assert_eq!(tool["call_id"], lines[0]["call_id"]);
    assert!(tool["offset_ms"].as_i64().unwrap() > lines[0]["offset_ms"].as_i64().unwrap());
    call.close();
}

#[test]
fn a_page_action_goes_over_the_data_channel_and_its_result_comes_back() {
    let fake = fake("show_product", r#"{"sku":"BIKE-9"}"#);
    let f = fixture();
    f.patch_agent(json!({
        "backend": chat_backend(&fake),
        "voice": pipeline_voice(&fake, json!({"silence_duration_ms": 300, "prefix_padding_ms": 100})),
        "tools": [{"type": "client", "name": "show_product", "description": "Show a product.",
                   "parameters": {"type": "object", "properties": {"sku": {"type": "string"}}}}],
    }));
    f.patch_widget(json!({"page_actions": ["show_product"]}));
    let s = f.session(json!({"mode": "voice"}));
    let mut call = ask(&f, &s);
    let asked = call.run_until(Duration::from_secs(20), |c| {
        c.channel_events.iter().any(|e| e["type"] == "response.function_call_arguments.done")
    });
    assert!(asked, "no page action on the data channel: {:#?}", call.channel_events);
    let event = call
        .channel_events
        .iter()
        .find(|e| e["type"] == "response.function_call_arguments.done")
        .unwrap()
        .clone();
    assert_eq!(event["name"], "show_product");
    assert_eq!(
        serde_json::from_str::<Value>(event["arguments"].as_str().unwrap()).unwrap(),
        json!({"sku": "BIKE-9"})
    );
    // The page answers as an OpenAI Realtime client does.
    let output = json!({"type": "conversation.item.create",
                        "item": {"type": "function_call_output", "call_id": event["call_id"], "output": "{\"shown\":true}"}});
    assert!(call.send_event(&output));
    let answered = call
        .run_until(Duration::from_secs(20), |_| said(&fake).iter().any(|t| t.starts_with("The tool said")));
    assert!(answered, "{:?}", said(&fake));
    assert!(said(&fake).iter().any(|t| t == r#"The tool said: {"shown":true}."#), "{:?}", said(&fake));
    let lines = f
        .transcript_during(&mut call, &s, Duration::from_secs(10), |t| t.iter().any(|m| m["role"] == "tool"));
    let tool = lines.iter().find(|m| m["role"] == "tool").unwrap();
    assert_eq!(
        (tool["tool"]["type"].as_str(), &tool["tool"]["result"]),
        (Some("client"), &json!({"shown": true}))
    );
    call.close();
}

#[test]
fn end_call_ends_the_call_as_agent_ended_after_the_last_words() {
    let fake = fake("end_call", "{}");
    let f = fixture();
    f.patch_agent(json!({
        "backend": chat_backend(&fake),
        "voice": pipeline_voice(&fake, json!({"silence_duration_ms": 300, "prefix_padding_ms": 100})),
        "tools": [{"type": "end_call"}],
    }));
    let s = f.session(json!({"mode": "voice"}));
    let mut call = ask(&f, &s);
    call.expect_server_hangup(Duration::from_secs(30));
    let record = f.record_after_call_end(&s);
    let ended = record["calls"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(ended["end_reason"], "agent_ended", "{record:#}");
    // The last words were said and kept whole before the hang-up.
    let lines = f.transcript_during(&mut call, &s, Duration::from_secs(10), |t| {
        t.iter().any(|m| m["role"] == "agent")
    });
    let last = lines.iter().rev().find(|m| m["role"] == "agent").unwrap();
    assert_eq!(last["text"], r#"The tool said: {"ending":true}."#, "{lines:#?}");
    assert_eq!(last["status"], "complete", "{lines:#?}");
}

/// A `realtime` voice: the scripted Realtime server asks for the tool in its answer
/// (`response.function_call_arguments.done`); voxgate runs it, sends the output back as a
/// `function_call_output` item and asks for the answer again, whose audio follows the result.
#[test]
fn a_realtime_call_runs_the_tool_the_model_asks_for_and_answers_from_its_result() {
    let fake = fake("check_order", r#"{"order_id":"R-5"}"#);
    let backend = ToolBackend::start(SECRET);
    let f = fixture();
    f.patch_agent(json!({
        "voice": {"type": "realtime", "base_url": fake.base_url(), "model": "gpt-realtime",
                  "turn_detection": {"silence_duration_ms": 300, "prefix_padding_ms": 100}},
        "tools": [{"type": "server", "name": "check_order", "description": "Where is an order?",
                   "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
                   "url": backend.tool_url("ok"), "secret_env": SECRET_ENV}],
    }));
    let s = f.session(json!({"mode": "voice"}));
    let mut call = ask(&f, &s);
    let lines = |f: &Fixture| f.conversation(&s)["transcript"].as_array().cloned().unwrap_or_default();
    let answered = call.run_until(Duration::from_secs(30), |_| {
        lines(&f)
            .iter()
            .any(|m| m["role"] == "agent" && m["text"].as_str().unwrap_or("").contains("The tool said"))
    });
    assert!(answered, "{:#?}", lines(&f));
    let events: Vec<Value> = fake.seen_on("realtime").into_iter().map(|s| s["event"].clone()).collect();
    let update = events.iter().find(|e| e["type"] == "session.update").unwrap();
    assert_eq!(update["session"]["tools"][0]["name"], "check_order", "{update}");
    let output = events
        .iter()
        .find(|e| e["type"] == "conversation.item.create" && e["item"]["type"] == "function_call_output")
        .unwrap_or_else(|| panic!("no function_call_output: {events:#?}"));
    let result: Value = serde_json::from_str(output["item"]["output"].as_str().unwrap()).unwrap();
    assert_eq!((result["order_id"].as_str(), result["status"].as_str()), (Some("R-5"), Some("shipped")));
    let at = |pred: &dyn Fn(&Value) -> bool| events.iter().position(pred).unwrap();
    assert!(
        at(&|e| e["type"] == "conversation.item.create")
            < events.iter().rposition(|e| e["type"] == "response.create").unwrap(),
        "the answer is asked for again after the output: {events:#?}"
    );
    let all = lines(&f);
    let tool = all.iter().find(|m| m["role"] == "tool").unwrap_or_else(|| panic!("{all:#?}"));
    assert_eq!(tool["tool"]["result"]["status"], "shipped");
    assert_eq!(backend.seen()[0]["verified"], true);
    call.close();
}
