//! A `realtime` voice agent against the real binary and a scripted Realtime WebSocket: the
//! session is configured (instructions from the prompt and knowledge, voice, transcription,
//! the provider's turn detection off), the visitor's speech goes up as PCM16 24 kHz appends
//! while they have the floor, the end of their turn commits it and asks for a response whose
//! audio is played, and talking over it cancels the response and truncates its item to what was
//! played. The transcript holds the visitor's recognised words and the agent's, cut.

use serde_json::{json, Value};
use std::time::Duration;
use voxgate_tests::fake_provider::FakeProvider;
use voxgate_tests::speech::{loudness, speaker};
use voxgate_tests::Fixture;

const LONG_ANSWER: &str = "Shipping costs five euros within the country and twelve euros abroad. \
    Orders over fifty euros ship free, and express delivery arrives the next working day for nine euros more. \
    Returns are free within thirty days of delivery, and refunds reach your account within a week.";

fn events(fake: &FakeProvider) -> Vec<Value> {
    fake.seen_on("realtime").into_iter().map(|s| s["event"].clone()).collect()
}

#[test]
fn the_relay_carries_a_turn_both_ways_and_truncates_on_barge_in() {
    let fake = FakeProvider::start(&[
        "--stt-delay-ms",
        "10",
        "--first-audio-delay-ms",
        "10",
        "--answer",
        LONG_ANSWER,
    ]);
    let f = Fixture::new();
    f.patch_agent(json!({
        "prompt": "You help shoppers of a small shop.",
        "knowledge": [{"title": "Shipping", "text": "Shipping costs five euros."}],
        "voice": {"type": "realtime", "base_url": fake.base_url(), "model": "gpt-realtime", "voice": "marin",
                  "turn_detection": {"silence_duration_ms": 300, "prefix_padding_ms": 100, "interrupt_min_ms": 100}},
    }));
    let s = f.session(json!({"mode": "voice"}));
    let mut call = f.call(&s);
    call.script = Some(speaker(|n| (10..60).contains(&n)));
    let loud = |c: &voxgate_tests::voice::VoiceCall| {
        loudness(&c.received).iter().filter(|(r, _)| *r > 300.0).count()
    };
    assert!(call.run_until(Duration::from_secs(20), |c| loud(c) >= 100), "no reply audio from the relay");

    let barge_from = call.frames_sent();
    call.script = Some(speaker(move |n| n >= barge_from && n < barge_from + 40));
    let cut = call.run_until(Duration::from_secs(10), |_| {
        events(&fake).iter().any(|e| e["type"] == "conversation.item.truncate")
    });
    assert!(cut, "no truncate after the barge-in: {:#?}", events(&fake));

    let mut lines = Vec::new();
    let both = call.run_until(Duration::from_secs(15), |_| {
        lines = f.conversation(&s)["transcript"].as_array().cloned().unwrap_or_default();
        lines.iter().filter(|m| m["role"] == "visitor").count() >= 2
    });
    assert!(both, "the second turn was not transcribed: {lines:#?}");
    let roles: Vec<&str> = lines.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles[..3], ["visitor", "agent", "visitor"], "{lines:#?}");
    assert_eq!(lines[0]["text"], "How much does shipping cost?");
    assert_eq!(lines[1]["status"], "interrupted");
    let heard = lines[1]["text"].as_str().unwrap();
    assert!(
        !heard.is_empty() && LONG_ANSWER.starts_with(heard) && heard.len() < LONG_ANSWER.len(),
        "{heard:?}"
    );

    let sent = events(&fake);
    let kinds: Vec<&str> = sent.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds[0], "session.update", "{kinds:?}");
    let session = &sent[0]["session"];
    assert!(session["instructions"].as_str().unwrap().contains("You help shoppers"));
    assert!(session["instructions"].as_str().unwrap().contains("Shipping costs five euros."));
    assert_eq!(session["audio"]["input"]["format"], json!({"type": "audio/pcm", "rate": 24000}));
    assert_eq!(session["audio"]["input"]["turn_detection"], Value::Null);
    assert_eq!(session["audio"]["output"]["voice"], "marin");
    let appended: u64 = sent
        .iter()
        .filter(|e| e["type"] == "input_audio_buffer.append")
        .map(|e| e["audio"].as_u64().unwrap())
        .sum();
    assert!(
        appended > 48_000,
        "about a second of 24 kHz PCM16 before the first commit, got {appended} bytes"
    );
    let at = |kind: &str| {
        kinds.iter().position(|k| *k == kind).unwrap_or_else(|| panic!("no {kind} in {kinds:?}"))
    };
    // The first response asked for is the fallback line, out of band, kept for failures.
    assert_eq!(sent[at("response.create")]["response"]["conversation"], "none");
    let answer_asked = sent
        .iter()
        .position(|e| e["type"] == "response.create" && e["response"]["conversation"].is_null())
        .expect("a response for the turn");
    assert!(at("input_audio_buffer.commit") < answer_asked);
    assert!(answer_asked < at("response.cancel"));
    let truncate = sent.iter().find(|e| e["type"] == "conversation.item.truncate").unwrap();
    let played = truncate["audio_end_ms"].as_u64().unwrap();
    assert!((1500..6000).contains(&played), "about two seconds had played, not {played} ms");
    assert!(truncate["item_id"].as_str().unwrap().starts_with("item_out_"), "{truncate:#}");
}

/// A realtime provider that fails a response, then drops the connection: each turn is recorded
/// as failed and answered with the fallback line (kept as audio when the call connected), and
/// after the drop the next turn connects again and is answered.
#[test]
fn provider_errors_and_a_dropped_connection_end_the_turn_with_the_fallback_line() {
    const FALLBACK: &str = "Sorry, I couldn't answer that just now. Could you say it again?";
    let fake = FakeProvider::start(&[
        "--stt-delay-ms",
        "10",
        "--first-audio-delay-ms",
        "10",
        "--speech-ms-per-char",
        "25",
    ]);
    let f = Fixture::new();
    f.patch_agent(json!({
        "voice": {"type": "realtime", "base_url": fake.base_url(), "model": "gpt-realtime",
                  "turn_detection": {"silence_duration_ms": 300, "prefix_padding_ms": 100}},
    }));
    let s = f.session(json!({"mode": "voice"}));
    let mut call = f.call(&s);
    call.script = Some(speaker(|_| false));
    let kept = call.run_until(Duration::from_secs(10), |_| {
        fake.seen_on("realtime_done").iter().any(|d| d["metadata"]["voxgate_answer"] == "keep")
    });
    assert!(kept, "the fallback line was not asked for out of band: {:#?}", fake.seen());
    let keep = events(&fake).into_iter().find(|e| e["type"] == "response.create").unwrap();
    assert_eq!(keep["response"]["conversation"], "none", "{keep:#}");

    let loud = |c: &voxgate_tests::voice::VoiceCall| {
        loudness(&c.received).iter().filter(|(r, _)| *r > 300.0).count()
    };
    for (agent_lines, (mode, status)) in
        [("fail", "failed"), ("drop", "failed"), ("ok", "complete")].into_iter().enumerate()
    {
        fake.modes(json!({"realtime": mode}));
        let (from, heard_before) = (call.frames_sent() + 5, loud(&call));
        call.script = Some(speaker(move |n| n >= from && n < from + 40));
        let mut lines = Vec::new();
        let answered = call.run_until(Duration::from_secs(20), |c| {
            lines = f.conversation(&s)["transcript"].as_array().cloned().unwrap_or_default();
            lines.iter().filter(|m| m["role"] == "agent").count() > agent_lines && loud(c) > heard_before + 25
        });
        assert!(answered, "realtime {mode}: no answer; transcript {lines:#?}");
        let line = lines.iter().rev().find(|m| m["role"] == "agent").unwrap();
        assert_eq!(line["status"], status, "realtime {mode}: {line:#}");
        if status == "failed" {
            assert_eq!(line["error_code"], "agent_error");
            assert_eq!(line["text"], FALLBACK);
        }
    }
    let connects = events(&fake).iter().filter(|e| e["type"] == "session.update").count();
    assert_eq!(connects, 2, "the dropped connection was opened again once");
    assert!(call.disconnected_at.is_none(), "the call stayed up");
}
