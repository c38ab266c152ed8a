//! Ten questions about a shop, spoken by flite (not the agent's espeak-ng), each sent as Opus by
//! a str0m client through the real binary to the builtin voice with its PocketSphinx sidecar:
//! every visitor line names the question's key words, and every answer is the right passage,
//! both in the transcript and as speech of that passage's length. An off-topic question gets
//! the spoken fallback, and talking over an answer stops it. No fakes anywhere.

use serde_json::{json, Value};
use std::time::Duration;
use voxgate_tests::speech::{
    answered, captioned_call, listening_server, loudness, passage, saying, shop_agent, spoken,
};
use voxgate_tests::voice::VoiceCall;

/// Question, visitor voice, words its transcript must hold, title of the passage that answers.
type Question = (&'static str, &'static str, &'static [&'static str], &'static str);

const QUESTIONS: &[Question] = &[
    ("How much does shipping cost?", "flite:slt", &["shipping", "cost"], "Shipping"),
    ("Can I return an item?", "flite:rms", &["return"], "Returns"),
    ("Is the shop open on Sundays?", "flite:slt", &["shop", "sundays"], "Opening hours"),
    ("Can I pay by bank transfer?", "flite:rms", &["bank"], "Payment"),
    ("How long is the warranty?", "flite:slt", &["warranty"], "Warranty"),
    ("Do gift cards expire?", "flite:rms", &["gift", "expire"], "Gift cards"),
    ("Do your boots run small?", "flite:slt", &["boots", "small"], "Sizing"),
    ("How can I reach customer service?", "flite:rms", &["customer", "service"], "Customer service"),
    ("Are returns free?", "flite:slt", &["returns", "free"], "Returns"),
    ("What are the opening hours on Saturdays?", "flite:rms", &["opening", "hours"], "Opening hours"),
];

const OFF_TOPIC: &str = "What will the weather be like in Paris tomorrow?";

/// A reply frame louder than this is speech, not silence or Opus's comfort noise.
const LOUD: f64 = 300.0;

/// Frames of `text` that espeak-ng, the agent's voice, says loudly: how long its answer sounds.
fn loud_frames_of(text: &str) -> usize {
    let mut encoder = voxgate_engine::audio::OpusEncoder::browser_like(48_000).expect("an encoder");
    let frames: Vec<(Vec<u8>, std::time::Instant)> = spoken(text, "en-us")
        .iter()
        .map(|pcm| (encoder.encode(pcm).expect("encode").to_vec(), std::time::Instant::now()))
        .collect();
    loudness(&frames).iter().filter(|(rms, _)| *rms > LOUD).count()
}

#[test]
fn ten_spoken_questions_get_their_passages_and_an_off_topic_one_the_fallback() {
    let f = listening_server();
    let shop = shop_agent(&f);
    let mut asked: Vec<(Option<&Question>, Value, VoiceCall)> = Vec::new();
    for q in QUESTIONS {
        let s = f.session(json!({"mode": "voice"}));
        let mut c = captioned_call(&f, &s);
        c.script = Some(saying(spoken(q.0, q.1), 10));
        asked.push((Some(q), s, c));
    }
    let s = f.session(json!({"mode": "voice"}));
    let mut c = captioned_call(&f, &s);
    c.script = Some(saying(spoken(OFF_TOPIC, "flite:slt"), 10));
    asked.push((None, s, c));

    // All eleven visitors talk at once, each on its own thread.
    std::thread::scope(|scope| {
        for (_, _, c) in asked.iter_mut() {
            scope.spawn(move || c.run_until(Duration::from_secs(90), answered));
        }
    });

    // Every turn was recognised at the visitor's pause, and that result answered it.
    let metrics = f.api.send(f.api.http.get(f.api.url("/metrics"))).expect(200).text;
    let used = metrics
        .lines()
        .find_map(|l| l.strip_prefix("voxgate_voice_early_recognitions_total{outcome=\"used\"} "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert_eq!(used, Some(asked.len() as u64), "early recognitions used, one a turn:\n{metrics}");

    for (question, s, c) in asked.iter_mut() {
        let lines =
            f.transcript_during(c, s, Duration::from_secs(30), |t| t.iter().any(|m| m["role"] == "agent"));
        let visitor = lines.iter().find(|m| m["role"] == "visitor").map(|m| m["text"].as_str().unwrap_or(""));
        let agent = lines.iter().find(|m| m["role"] == "agent").expect("the agent's line");
        let said = agent["text"].as_str().unwrap_or_default();
        assert!(answered(c), "the answer finished playing: {lines:#?}");
        let loud = loudness(&c.received).iter().filter(|(rms, _)| *rms > LOUD).count();
        let expected = match question {
            Some((text, voice, words, title)) => {
                let heard = visitor.unwrap_or_else(|| panic!("{text:?} ({voice}) was heard: {lines:#?}"));
                for word in *words {
                    assert!(heard.contains(word), "{text:?} ({voice}) heard as {heard:?}, without {word:?}");
                }
                assert_eq!(said, passage(&shop, title), "{text:?} ({voice}) heard as {heard:?}");
                said
            }
            None => {
                assert!(
                    said.starts_with("Sorry, I didn't catch that. You can ask me about Shipping, Returns"),
                    "the off-topic question got the fallback, not a passage: {lines:#?}"
                );
                said
            }
        };
        assert_eq!(agent["status"], "complete", "{lines:#?}");
        // The audio is that answer's speech: as long as espeak-ng says it, give or take a third.
        let want = loud_frames_of(expected);
        assert!(
            loud * 3 >= want * 2 && loud * 3 <= want * 4,
            "{loud} loud reply frames for an answer espeak-ng says in {want}: {said:?}"
        );
    }
}

#[test]
fn talking_over_a_spoken_answer_stops_it() {
    let f = listening_server();
    let shop = shop_agent(&f);
    let s = f.session(json!({"mode": "voice"}));
    let mut c = captioned_call(&f, &s);
    c.script = Some(saying(spoken("Can I return an item?", "flite:slt"), 10));
    // A second of the answer, then the visitor talks over it.
    let speaking = c.run_until(Duration::from_secs(60), |c| {
        loudness(&c.received).iter().filter(|(rms, _)| *rms > LOUD).count() >= 50
    });
    assert!(speaking, "the answer did not play for a second");
    let barge_from = c.frames_sent();
    let mut interruption = saying(spoken("Wait, shipping please.", "flite:rms"), 0);
    let mut quiet = saying(Vec::new(), 0);
    c.script = Some(Box::new(move |n| if n >= barge_from { interruption(n - barge_from) } else { quiet(n) }));
    let stopped = c.run_until(Duration::from_secs(30), |c| {
        c.channel_events.iter().any(|e| e["type"] == "response.done" && e["status"] == "interrupted")
    });
    let lines = f.transcript_during(&mut c, &s, Duration::from_secs(30), |t| {
        t.iter().any(|m| m["role"] == "agent" && m["status"] == "interrupted")
    });
    let first = lines.iter().find(|m| m["role"] == "agent").expect("the first answer");
    assert_eq!(first["status"], "interrupted", "talking over the answer stopped it ({stopped}): {lines:#?}");
    let heard = first["text"].as_str().unwrap_or_default();
    let whole = passage(&shop, "Returns");
    assert!(
        !heard.is_empty() && whole.starts_with(heard) && heard.len() < whole.len(),
        "only the heard beginning of {whole:?} is kept: {heard:?}"
    );
}
