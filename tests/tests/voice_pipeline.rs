//! A `pipeline` voice agent against the real binary, its providers faked: a visitor speaks, the
//! agent answers in speech (audio with energy comes back), and the conversation holds both
//! sides' words with offsets. Talking over the answer stops its audio at once and stores the
//! agent's turn cut to what was played.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use voxgate_tests::dashboard::{create_user, Dashboard};
use voxgate_tests::fake_provider::{chat_backend, pipeline_voice, FakeProvider};
use voxgate_tests::speech::{loudness, speaker};
use voxgate_tests::voice::VoiceCall;
use voxgate_tests::{Fixture, SITE};

/// A frame of reply speech, not the codec's noise floor.
const LOUD: f64 = 300.0;

const LONG_ANSWER: &str = "Shipping costs five euros within the country and twelve euros abroad. \
    Orders over fifty euros ship free, and express delivery arrives the next working day for nine euros more. \
    Returns are free within thirty days of delivery, and refunds reach your account within a week.";

fn loud_frames(frames: &[(Vec<u8>, Instant)]) -> Vec<Instant> {
    loudness(frames).into_iter().filter(|(rms, _)| *rms > LOUD).map(|(_, at)| at).collect()
}

fn setup(agent: Value) -> (Fixture, Value) {
    let f = Fixture::new();
    f.patch_agent(agent);
    let s = f.session(json!({"mode": "voice"}));
    (f, s)
}

#[test]
fn a_spoken_question_gets_a_spoken_answer_and_both_sides_are_recorded() {
    let fake = FakeProvider::start(&["--stt-delay-ms", "20", "--first-audio-delay-ms", "10"]);
    let (f, s) = setup(json!({
        "knowledge": [{"title": "Shipping", "text": "Shipping costs five euros. Orders over fifty euros ship free."}],
        "voice": pipeline_voice(&fake, json!({"silence_duration_ms": 300, "prefix_padding_ms": 100})),
    }));
    let (url, token) = (s["webrtc_url"].as_str().unwrap(), s["session_token"].as_str().unwrap());
    let mut call = VoiceCall::offer_with_events(&f.api, url, SITE, token).expect("offer with a data channel");
    // One second of speech after 200 ms, then silence.
    call.script = Some(speaker(|n| (10..60).contains(&n)));
    let answered = call.run_until(Duration::from_secs(20), |c| loud_frames(&c.received).len() >= 25);
    assert!(answered, "no spoken answer: {} frames came back", call.received.len());

    let lines = f.transcript_during(&mut call, &s, Duration::from_secs(20), |t| {
        t.iter().any(|m| m["role"] == "agent")
    });
    assert_eq!(lines[0]["role"], "visitor", "{lines:#?}");
    assert_eq!(lines[0]["text"], "How much does shipping cost?");
    assert_eq!(lines[0]["status"], "complete");
    let agent = lines.iter().find(|m| m["role"] == "agent").expect("an agent line");
    assert!(agent["text"].as_str().unwrap().contains("five euros"), "{agent:#}");
    assert_eq!(agent["status"], "complete");
    let call_id = lines[0]["call_id"].as_str().expect("a voice line names its call");
    assert_eq!(agent["call_id"], call_id);
    let (heard_at, said_at) = (lines[0]["offset_ms"].as_i64().unwrap(), agent["offset_ms"].as_i64().unwrap());
    assert!((100..600).contains(&heard_at), "the visitor spoke about 200 ms in, not at {heard_at} ms");
    assert!(said_at > heard_at + 1000, "the answer started after the question ({said_at} ms)");
    // The answer's line keeps how long its turn took, stage by stage.
    let latency = &agent["latency"];
    let stage = |name: &str| latency[name].as_u64().unwrap_or_else(|| panic!("no {name} in {latency}"));
    assert!(stage("stt") >= 20, "the fake's 20 ms: {latency}");
    assert!(stage("first_token") < 2000 && stage("first_audio") >= 10, "{latency}");
    let waited = stage("end_of_speech_to_first_audio");
    assert!((300..5000).contains(&waited), "300 ms of silence, then the providers: {latency}");
    assert!(waited >= stage("stt") + stage("first_audio"), "{latency}");
    assert!(lines[0].get("latency").is_none(), "a visitor's line has none");
    // The dashboard shows the stages per turn, and the conversation's p50/p95 wait.
    create_user(&f.server, "acme", "owner@example.com", "a long enough password");
    let d = Dashboard::sign_in(&f.server, "owner@example.com", "a long enough password");
    let conversation = f.conversation(&s)["id"].as_str().unwrap().to_string();
    let page = d.get(&format!("/dashboard/conversations/{conversation}")).text;
    assert!(page.contains(&format!("data-latency>waited {waited} ms · stt")), "{page}");
    assert!(
        page.contains(&format!("data-turn-waits>p50 {waited} ms, p95 {waited} ms over 1 answered turns")),
        "{page}"
    );
    // And per agent, over a period: through the API and on the agent's latency page.
    let per_agent = f
        .api
        .control("GET", &format!("/v1/agents/{}/latency?days=7", f.agent), &f.key, None)
        .expect(200)
        .body;
    assert_eq!(per_agent["turns"], 1, "{per_agent}");
    assert_eq!(per_agent["stages"]["end_of_speech_to_first_audio"], json!([waited, waited]), "{per_agent}");
    f.api
        .control("GET", &format!("/v1/agents/{}/latency?days=400", f.agent), &f.key, None)
        .expect_error(400, "invalid_request");
    let page = d.get(&format!("/dashboard/agents/{}/latency?days=30", f.agent)).text;
    assert!(
        page.contains(&format!("<td>{waited} ms</td>"))
            && page.contains("1 answered turns in calls, the last 30 days"),
        "{page}"
    );

    // What the providers were asked: a WAV of the turn, then each sentence as PCM.
    let stt = fake.seen_on("stt");
    assert_eq!(stt.len(), 1, "{stt:#?}");
    assert!(stt[0]["bytes"].as_u64().unwrap() > 32_000, "a second of 16 kHz audio, as WAV");
    let said: Vec<String> = fake
        .seen_on("tts")
        .iter()
        .filter(|t| t["input"] != "Sorry, I couldn't answer that just now. Could you say it again?")
        .map(|t| t["input"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(said, ["Shipping costs five euros.", "Orders over fifty euros ship free."]);
    assert!(fake.seen_on("tts").iter().all(|t| t["response_format"] == "pcm"));

    // Captions came over the data channel, in the order things happened.
    let done = call.run_until(Duration::from_secs(10), |c| {
        c.channel_events.iter().any(|e| e["type"] == "response.done")
    });
    assert!(done, "no response.done caption: {:#?}", call.channel_events);
    let kinds: Vec<&str> = call.channel_events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let at = |kind: &str| {
        kinds.iter().position(|k| *k == kind).unwrap_or_else(|| panic!("no {kind} in {kinds:?}"))
    };
    assert!(
        at("input_audio_buffer.speech_started") < at("conversation.item.input_audio_transcription.completed")
    );
    assert!(
        at("conversation.item.input_audio_transcription.completed")
            < at("response.output_audio_transcript.delta")
    );
    let heard =
        &call.channel_events[at("conversation.item.input_audio_transcription.completed")]["transcript"];
    assert_eq!(heard, "How much does shipping cost?");
    let deltas: String = call
        .channel_events
        .iter()
        .filter(|e| e["type"] == "response.output_audio_transcript.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, agent["text"].as_str().unwrap(), "the captions spell the answer as recorded");
    let finished = &call.channel_events[at("response.done")];
    assert_eq!((&finished["status"], &finished["transcript"]), (&json!("complete"), &agent["text"]));
}

#[test]
fn talking_over_the_answer_stops_it_and_keeps_only_what_was_heard() {
    let fake = FakeProvider::start(&[
        "--stt-delay-ms",
        "20",
        "--first-token-delay-ms",
        "20",
        "--answer",
        LONG_ANSWER,
    ]);
    let (f, s) = setup(json!({
        "prompt": "You answer questions about a shop.",
        "backend": chat_backend(&fake),
        "voice": pipeline_voice(&fake, json!({"silence_duration_ms": 300, "prefix_padding_ms": 100, "interrupt_min_ms": 100})),
    }));
    let mut call = f.call(&s);
    call.script = Some(speaker(|n| (10..60).contains(&n)));
    // Two seconds into the answer, the visitor talks over it.
    let speaking = call.run_until(Duration::from_secs(20), |c| loud_frames(&c.received).len() >= 100);
    assert!(speaking, "the answer did not play for two seconds");
    let barge_from = call.frames_sent();
    call.script = Some(speaker(move |n| n >= barge_from && n < barge_from + 40));
    let started = Instant::now();
    // The visitor talks for 800 ms: no new answer can start in the 600 ms watched.
    call.run_until(Duration::from_millis(600), |_| false);
    // The frame that completed `interrupt_min_ms` of speech left 100 ms after the first.
    let detector_could_fire = started + Duration::from_millis(100);
    let last = *loud_frames(&call.received).last().unwrap();
    let after = last.saturating_duration_since(detector_could_fire);
    assert!(after <= Duration::from_millis(100), "reply audio went on {after:?} after the barge-in");

    let lines = f.transcript_during(&mut call, &s, Duration::from_secs(10), |t| {
        t.iter().any(|m| m["role"] == "agent")
    });
    let agent = lines.iter().find(|m| m["role"] == "agent").unwrap();
    assert_eq!(agent["status"], "interrupted", "{lines:#?}");
    let heard = agent["text"].as_str().unwrap();
    assert!(
        !heard.is_empty() && LONG_ANSWER.starts_with(heard),
        "{heard:?} is not a beginning of the answer"
    );
    assert!(heard.len() < LONG_ANSWER.len() / 2, "two seconds is not half the answer: {heard:?}");

    // The visitor's second turn is answered with the cut answer in the history.
    call.run_until(Duration::from_secs(10), |_| fake.seen_on("chat").len() >= 2);
    let chats = fake.seen_on("chat");
    assert_eq!(chats.len(), 2, "{chats:#?}");
    assert_eq!(chats[1]["messages"], 4, "system, visitor, the heard answer, visitor");
}

/// One conversation, whatever the channel: a call's agent is asked with what was typed before
/// it, and a message typed after the call is asked with what was said in it. The fake model
/// logs the history each answer was asked with.
#[test]
fn a_call_hears_what_was_typed_before_it_and_a_later_message_hears_the_call() {
    let fake = FakeProvider::start(&["--stt-delay-ms", "20", "--first-audio-delay-ms", "10"]);
    let f = Fixture::new();
    f.patch_widget(json!({"modes": ["voice", "text"]}));
    f.patch_agent(json!({
        "prompt": "You are the shop's assistant.",
        "backend": chat_backend(&fake),
        "voice": pipeline_voice(&fake, json!({"silence_duration_ms": 300, "prefix_padding_ms": 100})),
    }));
    let s = f.session(json!({}));
    let (messages, token) = (s["messages_url"].as_str().unwrap(), s["session_token"].as_str().unwrap());
    let typed = voxgate_tests::text::Answer::ask(&f.api, messages, SITE, token, "Do you ship to Norway?")
        .expect("a typed question")
        .rest();
    assert_eq!(typed.last().map(|e| e.event.as_str()), Some("response.completed"), "{typed:?}");

    // The call: the visitor asks (the fake hears "How much does shipping cost?").
    let mut call = VoiceCall::offer_with_events(&f.api, s["webrtc_url"].as_str().unwrap(), SITE, token)
        .expect("an offer");
    call.script = Some(speaker(|n| (10..60).contains(&n)));
    let answered = call.run_until(Duration::from_secs(20), |c| loud_frames(&c.received).len() >= 25);
    assert!(answered, "no spoken answer");
    let chats = fake.seen_on("chat");
    assert_eq!(chats.len(), 2, "{chats:#?}");
    let asked: Vec<&str> =
        chats[1]["history"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert!(asked[0].starts_with("system: You are the shop's assistant."), "{asked:#?}");
    assert_eq!(
        asked[1..],
        [
            "user: Do you ship to Norway?",
            "assistant: Shipping costs five euros. Orders over fifty euros ship free.",
            "user: How much does shipping cost?"
        ],
        "the call's first turn is asked with the typed exchange before it"
    );
    // The whole answer plays (its caption's response.done), then the visitor hangs up.
    let done = call.run_until(Duration::from_secs(20), |c| {
        c.channel_events.iter().any(|e| e["type"] == "response.done" && e["status"] == "complete")
    });
    assert!(done, "the spoken answer played to its end");
    call.hang_up(&f.api, SITE, token).expect(200);
    f.record_after_call_end(&s);

    // A message typed after the call is asked with what was said in it.
    voxgate_tests::text::Answer::ask(&f.api, messages, SITE, token, "And to Sweden?").expect("asked").rest();
    let chats = fake.seen_on("chat");
    let asked: Vec<&str> =
        chats[2]["history"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert!(asked.contains(&"user: How much does shipping cost?"), "the spoken question: {asked:#?}");
    assert_eq!(asked.last(), Some(&"user: And to Sweden?"));
    assert!(
        asked.contains(&"assistant: Shipping costs five euros. Orders over fifty euros ship free.")
            && asked.len() == 6,
        "system, two typed lines, two spoken lines, the new question: {asked:#?}"
    );
}
