//! A talking agent's idle timeout: with nobody speaking for `idle_timeout_ms`, the agent asks
//! once whether the visitor is still there (in speech, recorded), then ends the call with
//! `idle_timeout`.

use serde_json::json;
use std::time::Duration;
use voxgate_tests::fake_provider::{pipeline_voice, FakeProvider};
use voxgate_tests::speech::{loudness, speaker};
use voxgate_tests::Fixture;

#[test]
fn an_idle_visitor_is_asked_once_then_the_call_ends() {
    let fake = FakeProvider::start(&["--first-audio-delay-ms", "10", "--speech-ms-per-char", "25"]);
    let f = Fixture::new();
    f.patch_agent(json!({"voice": pipeline_voice(&fake, json!({"idle_timeout_ms": 1000}))}));
    let s = f.session(json!({"mode": "voice"}));
    let mut call = f.call(&s);
    call.script = Some(speaker(|_| false));
    let connected = call.run_until(Duration::from_secs(10), |c| c.connected_at.is_some());
    assert!(connected);
    let ended = call.expect_server_hangup(Duration::from_secs(15));
    let since_connect = ended - call.connected_at.unwrap();
    assert!(
        since_connect >= Duration::from_millis(2000),
        "asked after 1 s, gave up 1 s after that: {since_connect:?}"
    );

    let prompt: Vec<_> = loudness(&call.received).into_iter().filter(|(rms, _)| *rms > 300.0).collect();
    assert!(prompt.len() >= 20, "the prompt was not heard ({} loud frames)", prompt.len());
    let asked_after = prompt[0].1 - call.connected_at.unwrap();
    assert!(asked_after >= Duration::from_millis(1000), "asked too early: {asked_after:?}");

    let record = f.record_after_call_end(&s);
    assert_eq!(record["calls"][0]["end_reason"], "idle_timeout", "{record:#}");
    let lines = f.transcript_during(&mut call, &s, Duration::from_secs(5), |t| !t.is_empty());
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!((&lines[0]["role"], &lines[0]["text"]), (&json!("agent"), &json!("Are you still there?")));
    assert_eq!(lines[0]["status"], "complete");
    assert_eq!(fake.seen_on("tts").iter().filter(|t| t["input"] == "Are you still there?").count(), 1);
}
