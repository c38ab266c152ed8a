//! A `pipeline` voice agent whose providers fail: a speech-to-text 500, a speech-to-text that
//! never answers (past `--agent-timeout-ms`), a malformed body, and a speech provider that fails
//! (the fallback line is then said from the audio kept when the call started). Each turn ends
//! with a recorded error code and the fallback line, in speech; the call stays up, and the next
//! turn, with the providers back, is answered.

use serde_json::{json, Value};
use std::time::Duration;
use voxgate_tests::fake_provider::{pipeline_voice, FakeProvider};
use voxgate_tests::speech::{loudness, speaker};
use voxgate_tests::voice::VoiceCall;
use voxgate_tests::{Fixture, Server, ServerOptions};

const FALLBACK: &str = "Sorry, I couldn't answer that just now. Could you say it again?";

fn loud(call: &VoiceCall) -> usize {
    loudness(&call.received).iter().filter(|(rms, _)| *rms > 300.0).count()
}

/// The visitor says one sentence; returns the agent's line that answers it, once the answer
/// has played, and how many loud frames it brought.
fn turn(f: &Fixture, s: &Value, call: &mut VoiceCall) -> (Value, usize) {
    let agent_lines = |t: &[Value]| t.iter().filter(|m| m["role"] == "agent").count();
    let before = agent_lines(&f.conversation(s)["transcript"].as_array().cloned().unwrap_or_default());
    let (from, heard_before) = (call.frames_sent() + 5, loud(call));
    call.script = Some(speaker(move |n| n >= from && n < from + 40));
    let mut lines = Vec::new();
    let recorded = call.run_until(Duration::from_secs(20), |_| {
        lines = f.conversation(s)["transcript"].as_array().cloned().unwrap_or_default();
        agent_lines(&lines) > before
    });
    assert!(recorded, "no agent line for the turn; transcript: {lines:#?}");
    let line = lines.iter().rev().find(|m| m["role"] == "agent").cloned().unwrap();
    (line, loud(call) - heard_before)
}

#[test]
fn each_provider_failure_is_recorded_and_answered_with_the_fallback_line_and_the_call_goes_on() {
    let fake = FakeProvider::start(&[
        "--stt-delay-ms",
        "10",
        "--first-audio-delay-ms",
        "10",
        "--speech-ms-per-char",
        "25",
    ]);
    let server = Server::start_with(ServerOptions {
        extra_args: vec!["--agent-timeout-ms".into(), "700".into()],
        ..Default::default()
    });
    let f = Fixture::on(server);
    f.patch_agent(json!({
        "knowledge": [{"title": "Shipping", "text": "Shipping costs five euros. Orders over fifty euros ship free."}],
        "voice": pipeline_voice(&fake, json!({"silence_duration_ms": 300, "prefix_padding_ms": 100})),
    }));
    let s = f.session(json!({"mode": "voice"}));
    let mut call = f.call(&s);
    call.script = Some(speaker(|_| false));
    // The fallback line is made ready as the call connects.
    let ready = call
        .run_until(Duration::from_secs(10), |_| fake.seen_on("tts").iter().any(|t| t["input"] == FALLBACK));
    assert!(ready, "the fallback line was not synthesised at connect");

    for (mode, code) in [("fail", "agent_error"), ("hang", "agent_timeout"), ("garble", "agent_error")] {
        fake.modes(json!({"stt": mode}));
        let (line, frames) = turn(&f, &s, &mut call);
        assert_eq!(line["status"], "failed", "stt {mode}: {line:#}");
        assert_eq!(line["error_code"], code, "stt {mode}: {line:#}");
        assert_eq!(line["text"], FALLBACK, "stt {mode}");
        assert!(frames > 50, "stt {mode}: the fallback line was not heard ({frames} loud frames)");
    }

    fake.modes(json!({"stt": "ok", "tts": "fail"}));
    let (line, frames) = turn(&f, &s, &mut call);
    assert_eq!((&line["status"], &line["error_code"]), (&json!("failed"), &json!("agent_error")), "{line:#}");
    assert_eq!(line["text"], FALLBACK);
    assert!(frames > 50, "the kept fallback line was not heard ({frames} loud frames)");

    fake.modes(json!({"tts": "ok"}));
    let (line, frames) = turn(&f, &s, &mut call);
    assert_eq!(line["status"], "complete", "{line:#}");
    assert!(line["text"].as_str().unwrap().contains("five euros"));
    assert!(frames > 50);
    assert!(call.disconnected_at.is_none(), "the call stayed up through every failure");

    let metrics = f.api.send(f.api.http.get(f.api.url("/metrics"))).expect(200).text;
    for (series, n) in [
        (r#"voxgate_voice_provider_errors_total{backend="pipeline",code="agent_error",stage="stt"}"#, 2),
        (r#"voxgate_voice_provider_errors_total{backend="pipeline",code="agent_timeout",stage="stt"}"#, 1),
        (r#"voxgate_voice_provider_errors_total{backend="pipeline",code="agent_error",stage="tts"}"#, 1),
    ] {
        assert!(metrics.contains(&format!("{series} {n}")), "{series} is not {n}:\n{metrics}");
    }
    assert!(metrics.contains(r#"voxgate_voice_turn_seconds_count{stage="end_of_speech_to_first_audio"}"#));
}
