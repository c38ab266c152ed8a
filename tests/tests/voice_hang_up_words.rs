//! A hang-up in the middle of a long spoken answer keeps the words played so far, marked
//! interrupted, against the real binary (a `pipeline` voice, its providers faked): the share of
//! the sentence's words that the audio the visitor received covers, to the word.

use serde_json::json;
use std::time::Duration;
use voxgate_engine::audio::OpusEncoder;
use voxgate_tests::fake_provider::{chat_backend, pipeline_voice, FakeProvider};
use voxgate_tests::speech::spoken;
use voxgate_tests::{eventually, Fixture, SITE};

/// One long sentence of 21 words; the fake says it at 55 ms a character (6.5 s).
const ANSWER: &str = "Shipping within the country takes two working days and costs five euros unless the order is over fifty euros in total.";

#[test]
fn a_hang_up_mid_answer_keeps_the_words_played_so_far() {
    let fake = FakeProvider::start(&[
        "--stt-delay-ms",
        "20",
        "--first-audio-delay-ms",
        "10",
        "--answer",
        ANSWER,
        "--transcript",
        "How much does shipping cost?",
    ]);
    let f = Fixture::new();
    f.patch_agent(
        json!({"greeting": null, "backend": chat_backend(&fake), "voice": pipeline_voice(&fake, json!({}))}),
    );
    let s = f.session(json!({"mode": "voice"}));
    let mut call = f.call(&s);
    let question = spoken("How much does shipping cost?", "en-us");
    let mut encoder = OpusEncoder::browser_like(48_000).expect("opus encoder");
    call.script = Some(Box::new(move |n| {
        let pcm =
            n.checked_sub(10).and_then(|i| question.get(i as usize).cloned()).unwrap_or_else(|| vec![0; 960]);
        encoder.encode(&pcm).expect("encode").to_vec()
    }));
    // About 2.6 s of the answer, then the visitor hangs up.
    assert!(call.run_until(Duration::from_secs(20), |c| c.received.len() >= 130), "the answer plays");
    let played_ms = call.received.len() as u64 * 20;
    call.hang_up(&f.api, SITE, s["session_token"].as_str().unwrap());

    let line = eventually(Duration::from_secs(10), || {
        let c = f.conversation(&s);
        c["transcript"].as_array()?.iter().find(|m| m["role"] == "agent").cloned()
    });
    assert_eq!(line["status"], "interrupted", "{line}");
    let kept = line["text"].as_str().unwrap();
    assert!(!kept.is_empty() && ANSWER.starts_with(kept), "{kept:?}");
    // The words the played audio covers (in proportion to the sentence's length); a frame or
    // two may have played after the last one the visitor read before hanging up.
    let total_ms = ANSWER.len() as u64 * 55;
    let expected = ANSWER.split_whitespace().count() as u64 * played_ms / total_ms;
    let words = kept.split_whitespace().count() as u64;
    assert!(
        (expected..=expected + 1).contains(&words),
        "{words} words kept ({kept:?}) for {played_ms} of {total_ms} ms: expected {expected}"
    );
}
