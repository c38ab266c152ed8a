//! The Realtime protocol, event by event, with no socket and no clock: a turn and its answer in
//! the GA and the beta event names, barge-in truncation and `response.cancel`, error events, a
//! socket that drops mid-answer, the provider's silence past the timeout, the fallback line kept
//! out of band, and events nobody knows (ignored, counted).

use base64::Engine;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use voxgate_engine::agent_voice::TurnStage;
use voxgate_engine::talk::realtime::{
    ClientEvent, ProviderEvent, RealtimeLines, RealtimeOutput, RealtimeProtocol,
};
use voxgate_engine::talk::AgentEvent;
use voxgate_engine::ErrorCode;

const TIMEOUT: Duration = Duration::from_secs(5);

fn lines() -> RealtimeLines {
    RealtimeLines {
        greeting: Some("Hello!".into()),
        fallback: "Sorry, say that again?".into(),
        idle_prompt: "Still there?".into(),
    }
}

/// A protocol on an open connection, its opening events drained.
fn open(now: Instant) -> RealtimeProtocol {
    let mut p = RealtimeProtocol::new(lines(), TIMEOUT);
    p.on_open(now, json!({"type": "realtime"}), false);
    let opened = drain(&mut p);
    assert_eq!(opened, vec![RealtimeOutput::Send(ClientEvent::SessionUpdate(json!({"type": "realtime"})))]);
    p
}

fn drain(p: &mut RealtimeProtocol) -> Vec<RealtimeOutput> {
    std::iter::from_fn(|| p.poll_output()).collect()
}

fn agent_events(outputs: &[RealtimeOutput]) -> Vec<AgentEvent> {
    outputs
        .iter()
        .filter_map(|o| match o {
            RealtimeOutput::Agent(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn sent(outputs: &[RealtimeOutput]) -> Vec<ClientEvent> {
    outputs
        .iter()
        .filter_map(|o| match o {
            RealtimeOutput::Send(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn event(value: serde_json::Value) -> ProviderEvent {
    ProviderEvent::parse(&value.to_string()).expect("a well-formed event")
}

fn audio(samples: &[i16]) -> String {
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The tag our `response.create` carried (the answer it asks for).
fn asked_tag(outputs: &[RealtimeOutput]) -> String {
    sent(outputs)
        .into_iter()
        .find_map(|e| match e {
            ClientEvent::CreateResponse { tag, .. } => Some(tag),
            _ => None,
        })
        .expect("a response was asked for")
}

/// A turn is committed and answered; returns the answer's tag.
fn turn(p: &mut RealtimeProtocol, now: Instant) -> String {
    p.on_turn(now, now - Duration::from_secs(2));
    let out = drain(p);
    assert_eq!(sent(&out)[0], ClientEvent::Commit);
    asked_tag(&out)
}

#[test]
fn a_turn_is_committed_and_its_answer_plays_in_the_ga_names() {
    let t0 = Instant::now();
    let mut p = open(t0);
    p.on_audio(vec![1, 2, 3]);
    assert_eq!(sent(&drain(&mut p)), vec![ClientEvent::Append(vec![1, 2, 3])]);
    let tag = turn(&mut p, t0);
    let answer: u64 = tag.parse().expect("an answer's tag is its number");
    assert_eq!(p.current(), Some(answer));
    assert_eq!(p.poll_timeout(), Some(t0 + TIMEOUT));

    let t1 = t0 + Duration::from_millis(300);
    p.on_event(t1, event(json!({"type": "response.created", "response": {"id": "resp_1", "metadata": {"voxgate_answer": tag}}})));
    p.on_event(t1, event(json!({"type": "conversation.item.input_audio_transcription.completed", "transcript": " Do you ship? "})));
    p.on_event(t1, event(json!({"type": "response.output_audio_transcript.delta", "response_id": "resp_1", "item_id": "item_a", "delta": "Yes."})));
    p.on_event(t1, event(json!({"type": "response.output_audio.delta", "response_id": "resp_1", "item_id": "item_a", "delta": audio(&[7, -7])})));
    p.on_event(
        t1,
        event(json!({"type": "response.output_audio.done", "response_id": "resp_1", "item_id": "item_a"})),
    );
    p.on_event(
        t1,
        event(json!({"type": "response.done", "response": {"id": "resp_1", "status": "completed"}})),
    );
    let out = drain(&mut p);
    assert!(out.contains(&RealtimeOutput::FirstAudio(Duration::from_millis(300))), "{out:?}");
    let events = agent_events(&out);
    let item = match &events[1] {
        AgentEvent::Text { answer: a, item, text } if *a == answer && text == "Yes." => *item,
        other => panic!("the answer's words first: {other:?}"),
    };
    assert_eq!(
        events,
        vec![
            AgentEvent::VisitorSaid { text: "Do you ship?".into(), started: t0 - Duration::from_secs(2) },
            AgentEvent::Text { answer, item, text: "Yes.".into() },
            AgentEvent::Speech { answer, item, pcm: vec![7, -7], complete: false },
            AgentEvent::Speech { answer, item, pcm: vec![], complete: true },
            AgentEvent::Done { answer },
        ]
    );
    assert_eq!(p.current(), None);
    assert_eq!(p.poll_timeout(), None);
}

#[test]
fn the_beta_names_play_the_same_answer() {
    let t0 = Instant::now();
    let mut p = open(t0);
    let tag = turn(&mut p, t0);
    p.on_event(
        t0,
        event(
            json!({"type": "response.created", "response": {"id": "r", "metadata": {"voxgate_answer": tag}}}),
        ),
    );
    p.on_event(t0, event(json!({"type": "response.audio_transcript.delta", "response_id": "r", "item_id": "i", "delta": "Hi"})));
    p.on_event(
        t0,
        event(
            json!({"type": "response.audio.delta", "response_id": "r", "item_id": "i", "delta": audio(&[5])}),
        ),
    );
    p.on_event(t0, event(json!({"type": "response.audio.done", "response_id": "r", "item_id": "i"})));
    let kinds: Vec<&'static str> = agent_events(&drain(&mut p))
        .iter()
        .map(|e| match e {
            AgentEvent::Text { .. } => "text",
            AgentEvent::Speech { complete: false, .. } => "audio",
            AgentEvent::Speech { complete: true, .. } => "audio done",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["text", "audio", "audio done"]);
}

#[test]
fn a_barge_in_cancels_the_answer_truncates_what_played_and_ignores_what_comes_late() {
    let t0 = Instant::now();
    let mut p = open(t0);
    let tag = turn(&mut p, t0);
    p.on_event(t0, event(json!({"type": "response.created", "response": {"id": "r1", "metadata": {"voxgate_answer": tag}}})));
    p.on_event(t0, event(json!({"type": "response.output_audio.delta", "response_id": "r1", "item_id": "item_x", "delta": audio(&[1; 48])})));
    let item = match agent_events(&drain(&mut p)).as_slice() {
        [AgentEvent::Speech { item, .. }] => *item,
        other => panic!("{other:?}"),
    };

    p.on_barge_in(Some((item, 640)));
    assert_eq!(
        sent(&drain(&mut p)),
        vec![ClientEvent::Cancel, ClientEvent::Truncate { item_id: "item_x".into(), audio_end_ms: 640 }]
    );
    let text = ClientEvent::Truncate { item_id: "item_x".into(), audio_end_ms: 640 }.to_json();
    let truncate: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(truncate["type"], "conversation.item.truncate");
    assert_eq!(truncate["audio_end_ms"], 640);
    assert_eq!(truncate["content_index"], 0);
    assert_eq!(p.current(), None, "nothing is awaited after a barge-in");

    // The cancelled response's last deltas, and a late `response.created` of its answer.
    p.on_event(t0, event(json!({"type": "response.output_audio.delta", "response_id": "r1", "item_id": "item_x", "delta": audio(&[1; 48])})));
    p.on_event(t0, event(json!({"type": "response.created", "response": {"id": "r0", "metadata": {"voxgate_answer": tag}}})));
    p.on_event(t0, event(json!({"type": "response.output_audio.delta", "response_id": "r0", "item_id": "item_y", "delta": audio(&[1; 48])})));
    p.on_event(t0, event(json!({"type": "response.done", "response": {"id": "r1", "status": "cancelled"}})));
    assert_eq!(drain(&mut p), vec![], "nothing of the cancelled answer reaches the call");

    // A barge-in with nothing being answered cancels nothing.
    p.on_barge_in(None);
    assert_eq!(drain(&mut p), vec![]);
}

#[test]
fn an_error_event_fails_the_answer_and_the_fallback_line_is_asked_for_once() {
    let t0 = Instant::now();
    let mut p = open(t0);
    let tag = turn(&mut p, t0);
    let answer: u64 = tag.parse().unwrap();
    p.on_event(
        t0,
        event(json!({"type": "error", "error": {"code": "server_error", "message": "overloaded"}})),
    );
    let out = drain(&mut p);
    assert_eq!(
        out[0],
        RealtimeOutput::Failed {
            answer,
            code: ErrorCode::AgentError,
            message: "the realtime provider failed: overloaded".into()
        }
    );
    assert!(matches!(
        &agent_events(&out)[0],
        AgentEvent::Failed { answer: a, stage: TurnStage::Realtime, code: ErrorCode::AgentError, .. } if *a == answer
    ));
    // The same answer, asked again as the fallback line.
    match sent(&out).as_slice() {
        [ClientEvent::CreateResponse { tag: t, response }] => {
            assert_eq!(*t, tag);
            assert!(response["instructions"].as_str().unwrap().contains("Sorry, say that again?"));
        }
        other => panic!("{other:?}"),
    }
    // It fails too: the answer ends, with nothing asked again.
    p.on_event(t0, event(json!({"type": "error", "error": {"message": "still overloaded"}})));
    let out = drain(&mut p);
    assert_eq!(sent(&out), vec![]);
    assert_eq!(agent_events(&out).last(), Some(&AgentEvent::Done { answer }));
}

#[test]
fn a_failed_response_says_the_kept_fallback_line_and_a_late_cancel_error_is_no_failure() {
    let t0 = Instant::now();
    let mut p = open(t0);
    p.set_kept_fallback(Some(Arc::from(vec![3i16; 10])));
    let tag = turn(&mut p, t0);
    let answer: u64 = tag.parse().unwrap();
    p.on_event(
        t0,
        event(json!({"type": "error", "error": {"code": "response_cancel_not_active", "message": "no"}})),
    );
    assert_eq!(drain(&mut p), vec![]);

    p.on_event(
        t0,
        event(
            json!({"type": "response.created", "response": {"id": "r", "metadata": {"voxgate_answer": tag}}}),
        ),
    );
    p.on_event(
        t0,
        event(json!({"type": "response.done", "response": {"id": "r", "status": "failed",
        "status_details": {"error": {"message": "quota"}}}})),
    );
    let events = agent_events(&drain(&mut p));
    assert!(
        matches!(&events[0], AgentEvent::Failed { message, .. } if message.contains("quota")),
        "{events:?}"
    );
    assert!(
        matches!(&events[1], AgentEvent::Text { answer: a, text, .. } if *a == answer && text == "Sorry, say that again?")
    );
    assert!(matches!(&events[2], AgentEvent::Speech { pcm, complete: true, .. } if pcm.len() == 10));
    assert_eq!(events[3], AgentEvent::Done { answer });
}

#[test]
fn a_socket_that_drops_mid_answer_ends_it_and_the_next_turn_waits_for_a_new_connection() {
    let t0 = Instant::now();
    let mut p = open(t0);
    let tag = turn(&mut p, t0);
    let answer: u64 = tag.parse().unwrap();
    p.on_event(
        t0,
        event(
            json!({"type": "response.created", "response": {"id": "r", "metadata": {"voxgate_answer": tag}}}),
        ),
    );
    p.on_event(t0, event(json!({"type": "response.output_audio.delta", "response_id": "r", "item_id": "i", "delta": audio(&[1; 4])})));
    drain(&mut p);

    p.on_closed();
    let out = drain(&mut p);
    assert!(
        matches!(&out[0], RealtimeOutput::Failed { answer: a, code: ErrorCode::AgentError, .. } if *a == answer)
    );
    assert_eq!(agent_events(&out).last(), Some(&AgentEvent::Done { answer }));
    assert!(!p.is_live());
    assert_eq!(p.poll_timeout(), None, "no timer runs for a connection that is gone");

    // Until the driver connects again, the call's audio and turns go nowhere.
    p.on_audio(vec![1]);
    p.on_turn(t0, t0);
    p.on_barge_in(None);
    assert_eq!(drain(&mut p), vec![]);
    p.on_closed();
    assert_eq!(drain(&mut p), vec![], "a second close reports nothing");

    // Reconnected: the session is set again and turns flow.
    p.on_open(t0, json!({}), false);
    assert_eq!(sent(&drain(&mut p)), vec![ClientEvent::SessionUpdate(json!({}))]);
    let next: u64 = turn(&mut p, t0).parse().unwrap();
    assert!(next > answer);
}

#[test]
fn a_provider_silent_past_the_timeout_fails_the_answer_and_it_is_cancelled() {
    let t0 = Instant::now();
    let mut p = open(t0);
    let tag = turn(&mut p, t0);
    let answer: u64 = tag.parse().unwrap();
    // Any event resets the wait.
    let t1 = t0 + Duration::from_secs(3);
    p.on_event(t1, event(json!({"type": "rate_limits.updated"})));
    assert_eq!(p.poll_timeout(), Some(t1 + TIMEOUT));
    p.handle_timeout(t1 + TIMEOUT - Duration::from_millis(1));
    assert_eq!(drain(&mut p), vec![], "not yet due");

    p.handle_timeout(t1 + TIMEOUT);
    let out = drain(&mut p);
    assert!(matches!(&out[0], RealtimeOutput::Failed { answer: a, code: ErrorCode::AgentTimeout, message }
        if *a == answer && message.contains("5000 ms")));
    assert_eq!(sent(&out)[0], ClientEvent::Cancel);
    assert!(
        matches!(&sent(&out)[1], ClientEvent::CreateResponse { tag: t, .. } if *t == tag),
        "the fallback line"
    );
}

#[test]
fn the_fallback_line_is_kept_out_of_band_and_lost_with_its_connection() {
    let t0 = Instant::now();
    let mut p = RealtimeProtocol::new(lines(), TIMEOUT);
    p.on_open(t0, json!({}), true);
    let out = drain(&mut p);
    match &sent(&out)[1] {
        ClientEvent::CreateResponse { tag, response } => {
            assert_eq!(tag, "keep");
            assert_eq!(response["conversation"], "none");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.current(), None, "keeping a line awaits no answer");
    p.on_event(t0, event(json!({"type": "response.created", "response": {"id": "k", "metadata": {"voxgate_answer": "keep"}}})));
    p.on_event(t0, event(json!({"type": "response.output_audio.delta", "response_id": "k", "item_id": "i", "delta": audio(&[9, 9])})));
    p.on_event(t0, event(json!({"type": "response.done", "response": {"id": "k", "status": "completed"}})));
    assert_eq!(drain(&mut p), vec![RealtimeOutput::Keep(vec![9, 9])], "kept, not played");

    let mut p = RealtimeProtocol::new(lines(), TIMEOUT);
    p.on_open(t0, json!({}), true);
    drain(&mut p);
    p.on_closed();
    assert_eq!(drain(&mut p), vec![RealtimeOutput::AbandonKeep]);
}

#[test]
fn greetings_and_idle_prompts_are_lines_and_an_idle_prompt_waits_for_an_answer_on_its_way() {
    let t0 = Instant::now();
    let mut p = open(t0);
    p.on_connected(t0);
    let out = drain(&mut p);
    assert!(matches!(&sent(&out)[0], ClientEvent::CreateResponse { response, .. }
        if response["instructions"].as_str().unwrap().ends_with("Hello!")));
    p.on_idle_prompt(t0);
    assert_eq!(drain(&mut p), vec![], "the greeting is still on its way");
}

#[test]
fn an_unknown_event_type_is_ignored_and_counted_and_malformed_ones_are_named() {
    let t0 = Instant::now();
    let mut p = open(t0);
    p.on_event(t0, event(json!({"type": "response.brand_new_thing", "x": 1})));
    p.on_event(t0, event(json!({"type": "session.updated"})));
    assert_eq!(drain(&mut p), vec![]);
    assert_eq!(p.unknown_events(), 2);

    assert!(ProviderEvent::parse("not json").unwrap_err().0.contains("not JSON"));
    assert!(ProviderEvent::parse("{}").unwrap_err().0.contains("no \"type\""));
    let bad =
        json!({"type": "response.output_audio.delta", "response_id": "r", "item_id": "i", "delta": "***"});
    assert!(ProviderEvent::parse(&bad.to_string()).unwrap_err().0.contains("not base64"));
    let missing = json!({"type": "response.output_audio.delta", "delta": audio(&[1])});
    assert!(ProviderEvent::parse(&missing.to_string()).unwrap_err().0.contains("response_id"));

    // A malformed event during an answer fails it, as an error event does.
    let tag = turn(&mut p, t0);
    let e = ProviderEvent::parse("{").unwrap_err();
    p.on_malformed(t0, e);
    let out = drain(&mut p);
    assert!(matches!(&out[0], RealtimeOutput::Failed { answer, message, .. }
        if answer.to_string() == tag && message.contains("not JSON")));
}

#[test]
fn the_visitors_words_as_they_are_heard_become_partial_captions() {
    let t0 = Instant::now();
    let mut p = open(t0);
    p.on_event(t0, event(json!({"type": "conversation.item.input_audio_transcription.delta", "item_id": "in_1", "delta": "Do you "})));
    p.on_event(t0, event(json!({"type": "conversation.item.input_audio_transcription.delta", "item_id": "in_1", "delta": ""})));
    p.on_event(
        t0,
        event(json!({"type": "conversation.item.input_audio_transcription.failed", "item_id": "in_1",
        "error": {"message": "inaudible"}})),
    );
    assert_eq!(agent_events(&drain(&mut p)), vec![AgentEvent::VisitorPartial { delta: "Do you ".into() }]);
    assert_eq!(p.unknown_events(), 0);
}

/// The model calls a tool: the driver is asked to run it, the answer waits (no `Done`), and the
/// output goes back as a `function_call_output` item before the answer is asked for again.
#[test]
fn a_function_call_runs_the_tool_and_the_answer_goes_on_with_its_output() {
    let t0 = Instant::now();
    let mut p = open(t0);
    let tag = turn(&mut p, t0);
    let answer: u64 = tag.parse().unwrap();
    p.on_event(t0, event(json!({"type": "response.created", "response": {"id": "resp_1", "metadata": {"voxgate_answer": tag}}})));
    p.on_event(t0, event(json!({"type": "response.function_call_arguments.done", "response_id": "resp_1",
        "item_id": "fc_1", "call_id": "call_9", "name": "check_order", "arguments": "{\"order_id\":\"A1\"}"})));
    p.on_event(
        t0,
        event(json!({"type": "response.done", "response": {"id": "resp_1", "status": "completed"}})),
    );
    let out = drain(&mut p);
    let call = out
        .iter()
        .find_map(|o| match o {
            RealtimeOutput::CallTool { answer: a, call } if *a == answer => Some(call.clone()),
            _ => None,
        })
        .expect("the driver is asked to run the tool");
    assert_eq!((call.call_id.as_str(), call.name.as_str()), ("call_9", "check_order"));
    assert_eq!(call.arguments, "{\"order_id\":\"A1\"}");
    assert!(
        !agent_events(&out).contains(&AgentEvent::Done { answer }),
        "the answer waits for the tool: {out:?}"
    );
    assert!(p.tools_running(answer));

    let t1 = t0 + Duration::from_millis(50);
    p.on_tool_output(t1, answer, "call_9".into(), "{\"status\":\"shipped\"}".into());
    let out = drain(&mut p);
    let sent = sent(&out);
    assert_eq!(
        sent[0],
        ClientEvent::FunctionCallOutput {
            call_id: "call_9".into(),
            output: "{\"status\":\"shipped\"}".into()
        }
    );
    let wire: serde_json::Value = serde_json::from_str(&sent[0].to_json()).unwrap();
    assert_eq!(wire["item"]["type"], "function_call_output");
    assert!(matches!(&sent[1], ClientEvent::CreateResponse { tag: t, .. } if *t == tag), "{sent:?}");
    assert!(!p.tools_running(answer));
    assert_eq!(p.current(), Some(answer));
}

/// The visitor talks over an answer whose tool is still running: the tool's output is dropped,
/// never sent to the provider, and no new response is asked for.
#[test]
fn a_barge_in_drops_the_output_of_a_tool_still_running() {
    let t0 = Instant::now();
    let mut p = open(t0);
    let tag = turn(&mut p, t0);
    let answer: u64 = tag.parse().unwrap();
    p.on_event(t0, event(json!({"type": "response.created", "response": {"id": "resp_1", "metadata": {"voxgate_answer": tag}}})));
    p.on_event(
        t0,
        event(json!({"type": "response.function_call_arguments.done", "response_id": "resp_1",
        "item_id": "fc_1", "call_id": "call_9", "name": "check_order", "arguments": "{}"})),
    );
    drain(&mut p);
    p.on_barge_in(None);
    drain(&mut p);
    p.on_tool_output(t0, answer, "call_9".into(), "{}".into());
    assert_eq!(drain(&mut p), vec![], "a stale tool output is dropped");
}
