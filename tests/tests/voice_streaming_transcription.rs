//! A `pipeline` voice that hears through a streaming recogniser (the Realtime transcription
//! session, scripted), against the real binary: the visitor's speech streams up as PCM16
//! 24 kHz while they speak, a partial caption of their words reaches the widget's data channel
//! before their turn ends, and the committed turn's transcript is what the agent answers.

use serde_json::json;
use std::time::Duration;
use voxgate_tests::fake_provider::{chat_backend, pipeline_voice, FakeProvider};
use voxgate_tests::speech::speaker;
use voxgate_tests::voice::VoiceCall;
use voxgate_tests::{Fixture, SITE};

/// The visitor speaks from frame 10 to frame 160: three seconds.
const SPEECH_ENDS: u32 = 160;

#[test]
fn a_partial_caption_reaches_the_widget_before_the_turn_ends() {
    let fake = FakeProvider::start(&["--stt-delay-ms", "20", "--first-audio-delay-ms", "10"]);
    let f = Fixture::new();
    let mut voice = pipeline_voice(&fake, json!({"silence_duration_ms": 500, "prefix_padding_ms": 100}));
    voice["transcription"] = json!({"base_url": fake.base_url(), "model": "gpt-4o-transcribe", "language": "en", "streaming": true});
    let saved = f.patch_agent(json!({"backend": chat_backend(&fake), "voice": voice}));
    assert_eq!(saved["voice"]["transcription"]["streaming"], true, "{saved:#}");
    let s = f.session(json!({"mode": "voice"}));
    let (url, token) = (s["webrtc_url"].as_str().unwrap(), s["session_token"].as_str().unwrap());
    let mut call = VoiceCall::offer_with_events(&f.api, url, SITE, token).expect("offer with a data channel");
    call.script = Some(speaker(|n| (10..SPEECH_ENDS).contains(&n)));

    let partial = |c: &VoiceCall| {
        c.channel_events.iter().any(|e| e["type"] == "conversation.item.input_audio_transcription.delta")
    };
    assert!(
        call.run_until(Duration::from_secs(20), partial),
        "no partial caption: {:#?}",
        call.channel_events
    );
    let sent_by_then = call.frames_sent();
    let seen = fake.seen_on("transcription");
    assert!(
        sent_by_then < SPEECH_ENDS,
        "the partial caption came after the visitor stopped speaking (frame {sent_by_then})"
    );
    assert!(
        !seen.iter().any(|e| e["event"]["type"] == "input_audio_buffer.commit"),
        "the turn was committed before its partial caption came: {seen:#?}"
    );
    let first = call
        .channel_events
        .iter()
        .find(|e| e["type"] == "conversation.item.input_audio_transcription.delta")
        .expect("a delta");
    assert_eq!(first["delta"], "How ", "the transcript's first word, as the provider sent it");

    // The session was set up for transcription, heard PCM16 at 24 kHz, and the turn's end
    // committed it; its words are the visitor's line, and the agent answered them.
    let done = |c: &VoiceCall| c.channel_events.iter().any(|e| e["type"] == "response.done");
    assert!(call.run_until(Duration::from_secs(20), done), "no answer: {:#?}", call.channel_events);
    let lines = f.transcript_during(&mut call, &s, Duration::from_secs(20), |t| {
        t.iter().any(|m| m["role"] == "agent")
    });
    assert_eq!(lines[0]["role"], "visitor", "{lines:#?}");
    assert_eq!(lines[0]["text"], "How much does shipping cost?");
    let agent = lines.iter().find(|m| m["role"] == "agent").expect("an agent line");
    assert!(agent["text"].as_str().unwrap().contains("five euros"), "{agent:#}");

    let seen = fake.seen_on("transcription");
    let update = seen.iter().find(|e| e["event"]["type"] == "session.update").expect("a session.update");
    let session = &update["event"]["session"];
    assert_eq!(session["type"], "transcription", "{session:#}");
    assert_eq!(session["audio"]["input"]["format"]["rate"], 24_000);
    assert_eq!(session["audio"]["input"]["transcription"]["model"], "gpt-4o-transcribe");
    assert_eq!(session["audio"]["input"]["turn_detection"], serde_json::Value::Null);
    let appended: u64 = seen
        .iter()
        .filter(|e| e["event"]["type"] == "input_audio_buffer.append")
        .map(|e| e["event"]["audio"].as_u64().unwrap_or(0))
        .sum();
    assert!(appended >= 3 * 48_000, "three seconds of 24 kHz PCM16 went up, not {appended} bytes");
    assert_eq!(seen.iter().filter(|e| e["event"]["type"] == "input_audio_buffer.commit").count(), 1);
    assert!(fake.seen_on("stt").is_empty(), "no whole-turn transcription was asked for");
}
