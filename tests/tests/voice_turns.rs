//! Turn-taking that waits, against the real binary with the end-of-turn model (Smart Turn v3.2
//! and the sentence-end table, `--turn-model`): a visitor who pauses 900 ms mid-sentence ("I
//! need help with my ... order from last week.") gets one answer to the whole sentence with
//! `semantic` turn detection (the words heard at the pause do not end a sentence), where the
//! silence rule alone cuts in at the pause; and with the model missing, `semantic` turns still
//! end at the silence rule.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use voxgate_tests::fake_provider::{chat_backend, pipeline_voice, FakeProvider};
use voxgate_tests::speech::{saying, spoken_ssml};
use voxgate_tests::{Fixture, Server, ServerOptions, SITE};

const PAUSED: &str = r#"<speak>I need help with my <break time="900ms"/> order from last week.</speak>"#;

fn turn_model() -> String {
    std::env::var("VOXGATE_TEST_TURN_MODEL")
        .expect("VOXGATE_TEST_TURN_MODEL names the end-of-turn model's directory (scripts/test installs it)")
}

/// The visitor's lines once every turn has been answered: the call runs for the sentence and
/// at least as long again as the longest wait a turn can take (3 s), and until its last
/// answer has been played whole.
fn visitor_lines(f: &Fixture, fake: &FakeProvider, turn_detection: Value) -> Vec<Value> {
    f.patch_agent(json!({
        "greeting": null,
        "backend": chat_backend(fake),
        "voice": pipeline_voice(fake, turn_detection),
    }));
    let s = f.session(json!({"mode": "voice"}));
    let mut call = f.call(&s);
    let frames = spoken_ssml(PAUSED, "en-us");
    let window = frames.len() as u32 + 10 + 250;
    call.script = Some(saying(frames, 10));
    let deadline = Instant::now() + Duration::from_secs(60);
    let transcript = loop {
        call.run_until(Duration::from_millis(500), |_| false);
        let lines = f.conversation(&s)["transcript"].as_array().cloned().unwrap_or_default();
        let answered = lines.last().is_some_and(|m| m["role"] == "agent" && m["status"] == "complete");
        if call.frames_sent() >= window && answered {
            break lines;
        }
        assert!(Instant::now() < deadline, "the visitor was not answered: {lines:#?}");
    };
    call.hang_up(&f.api, SITE, s["session_token"].as_str().unwrap());
    transcript.into_iter().filter(|m| m["role"] == "visitor").collect()
}

/// How many turns ended by each decision so far (`voxgate_voice_end_of_turn_seconds_count`).
fn decisions(f: &Fixture, decision: &str) -> u64 {
    let metrics = f.api.send(f.api.http.get(f.api.url("/metrics"))).text;
    let series = format!("voxgate_voice_end_of_turn_seconds_count{{decision=\"{decision}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&series)).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[test]
fn a_pause_mid_sentence_gets_one_answer_with_the_model_and_two_without() {
    // The recogniser hears the words so far at each pause: at the 900 ms one, then at the end.
    let fake = FakeProvider::start(&[
        "--stt-delay-ms",
        "20",
        "--first-audio-delay-ms",
        "10",
        "--transcripts",
        "I need help with my|I need help with my order from last week.",
    ]);
    let server = Server::start_with(ServerOptions {
        extra_args: vec!["--turn-model".into(), turn_model()],
        ..Default::default()
    });
    let f = Fixture::on(server);
    let semantic = visitor_lines(&f, &fake, json!({"type": "semantic", "silence_duration_ms": 500}));
    assert_eq!(semantic.len(), 1, "one turn for the whole sentence: {semantic:#?}");
    assert_eq!(semantic[0]["text"], "I need help with my order from last week.");
    // The words decided: "...with my" is not finished, "...last week." is. The silence rule
    // never cut in, and the turn did not wait for the longest wait.
    assert_eq!(decisions(&f, "silence"), 0);
    assert_eq!(decisions(&f, "words"), 1);
    assert_eq!(fake.seen_on("stt").len(), 2, "recognised at each pause, the last one used for the turn");
    let silence_only = visitor_lines(&f, &fake, json!({"type": "server_vad", "silence_duration_ms": 500}));
    assert!(silence_only.len() >= 2, "the silence rule cuts in at the 900 ms pause: {silence_only:#?}");
    assert!(decisions(&f, "silence") >= 2);
}

#[test]
fn without_the_model_semantic_turns_end_at_the_silence_rule() {
    let fake = FakeProvider::start(&["--stt-delay-ms", "20", "--first-audio-delay-ms", "10"]);
    let f = Fixture::new();
    let lines = visitor_lines(&f, &fake, json!({"type": "semantic", "silence_duration_ms": 500}));
    assert!(lines.len() >= 2, "no model: the silence rule decides, and cuts in: {lines:#?}");
    assert!(decisions(&f, "silence") >= 2);
    assert_eq!(decisions(&f, "model") + decisions(&f, "words") + decisions(&f, "max_wait"), 0);
}
