//! The `builtin` voice against the real binary with real speech and no fakes: a visitor's
//! question spoken by espeak-ng in a voice that is not the agent's goes through Opus, the
//! server's turn detection, the PocketSphinx sidecar (listening for the agent's own words) and
//! the builtin text agent, and comes back as espeak-ng speech; both sides are in the transcript.
//! Needs a Python with PyPI's pocketsphinx, which scripts/test sets up and names in
//! VOXGATE_TEST_SPEECH_PYTHON.

use serde_json::json;
use std::time::Duration;
use voxgate_tests::speech::{
    listening_server, loudness, ready_recognizer, saying, speaker, speech_python, spoken,
};
use voxgate_tests::voice::VoiceCall;
use voxgate_tests::{Fixture, Server, ServerOptions, SITE};

#[test]
fn a_spoken_question_is_recognised_and_answered_in_speech_from_the_knowledge() {
    let f = listening_server();
    f.patch_agent(json!({
        "greeting": null,
        "knowledge": [
            {"title": "Shipping", "text": "Shipping costs five euros. Orders over fifty euros ship free."},
            {"title": "Returns", "text": "Returns are free within thirty days of delivery."},
            {"title": "Opening hours", "text": "The shop is open from nine to six on weekdays."}
        ],
        "voice": {"type": "builtin", "turn_detection": {"silence_duration_ms": 500}}
    }));
    let s = f.session(json!({"mode": "voice"}));
    let (url, token) = (s["webrtc_url"].as_str().unwrap(), s["session_token"].as_str().unwrap());
    let mut call =
        VoiceCall::offer_with_events(&f.api, url, SITE, token).expect("an offer with a data channel");
    call.script = Some(saying(spoken("How much does shipping cost?", "en-gb"), 10));

    let answered = call.run_until(Duration::from_secs(30), |c| {
        loudness(&c.received).iter().filter(|(rms, _)| *rms > 300.0).count() >= 50
    });
    let loud = loudness(&call.received).iter().filter(|(rms, _)| *rms > 300.0).count();
    assert!(answered, "a second of spoken answer came back: {loud} loud frames");

    let lines = f.transcript_during(&mut call, &s, Duration::from_secs(30), |t| {
        t.iter().any(|m| m["role"] == "agent")
    });
    let visitor = lines.iter().find(|m| m["role"] == "visitor").expect("the visitor's words");
    let heard = visitor["text"].as_str().unwrap_or_default();
    assert!(heard.contains("shipping"), "the question's key word was recognised: {lines:#?}");
    let agent = lines.iter().find(|m| m["role"] == "agent").expect("the agent's answer");
    assert!(
        agent["text"].as_str().unwrap_or_default().contains("five euros"),
        "the right passage: {lines:#?}"
    );
}

#[test]
fn without_the_recognizer_a_turn_fails_as_not_configured_and_the_fallback_is_spoken() {
    let f = Fixture::new();
    let ready = f.api.send(f.api.http.get(f.api.url("/readyz"))).expect(200).body;
    assert_eq!(ready["recognizer"]["status"], "off", "no --speech-python: {ready:#}");
    f.patch_agent(json!({"greeting": null, "voice": {"type": "builtin", "turn_detection": {"silence_duration_ms": 300}}}));
    let s = f.session(json!({"mode": "voice"}));
    let mut call = f.call(&s);
    call.script = Some(speaker(|n| (10..60).contains(&n)));
    let spoke = call.run_until(Duration::from_secs(20), |c| {
        loudness(&c.received).iter().filter(|(rms, _)| *rms > 300.0).count() >= 25
    });
    assert!(spoke, "the fallback line, spoken by espeak-ng, came back");
    let lines = f.transcript_during(&mut call, &s, Duration::from_secs(20), |t| {
        t.iter().any(|m| m["role"] == "agent")
    });
    let agent = lines.iter().find(|m| m["role"] == "agent").expect("the agent's line");
    assert_eq!(
        (&agent["status"], &agent["error_code"]),
        (&json!("failed"), &json!("agent_not_configured")),
        "{lines:#?}"
    );
    assert_eq!(agent["text"], "Sorry, I couldn't answer that just now. Could you say it again?");
}

#[test]
fn a_recognizer_that_dies_is_reported_and_started_again() {
    let server = Server::start_with(ServerOptions {
        extra_args: vec!["--speech-python".into(), speech_python()],
        ..ServerOptions::default()
    });
    let f = Fixture::on(server);
    let body = ready_recognizer(&f);
    let pid = body["recognizer"]["pid"].as_u64().unwrap_or_else(|| panic!("a pid: {body:#}"));
    let killed = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().expect("kill");
    assert!(killed.success());
    // Down (with why), then ready again as another process, without a restart of voxgate.
    let started = std::time::Instant::now();
    let mut saw_down = false;
    loop {
        let body = f.api.send(f.api.http.get(f.api.url("/readyz"))).expect(200).body;
        let r = &body["recognizer"];
        if r["status"] == "down" {
            saw_down = true;
            assert!(r["error"].as_str().is_some_and(|e| e.contains("exited")), "why it is down: {body:#}");
        }
        if r["status"] == "ready" && r["pid"].as_u64() != Some(pid) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not started again: {body:#}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(saw_down, "/readyz said the recognizer was down while it was");
}
