//! Talking over the agent, against the real binary (a `pipeline` voice, its providers faked):
//! an "uh-huh" (espeak-ng) during the answer neither ends it nor starts a new turn, and is kept
//! as the visitor's backchannel line; a cough-like burst of noise (250 ms) holds the agent,
//! which then resumes its sentence where it held. Either way the whole answer plays once and is
//! recorded complete. The fake recogniser says, in turn: the question, "Uh-huh.", the
//! question, nothing.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use voxgate_engine::audio::OpusEncoder;
use voxgate_tests::fake_provider::{chat_backend, pipeline_voice, FakeProvider};
use voxgate_tests::speech::spoken;
use voxgate_tests::{Fixture, SITE};

const SENTENCES: [&str; 2] =
    ["Shipping costs five euros here and twelve abroad.", "Orders over fifty euros ship free."];

fn whole_answer() -> String {
    SENTENCES.join(" ")
}

/// The fake's speech: 55 ms a character, sentence by sentence, in whole 20 ms frames.
fn answer_frames() -> usize {
    SENTENCES.iter().map(|s| (s.len() * 55).div_ceil(20)).sum()
}

/// A cough-like burst: 250 ms of loud noise, seeded.
fn burst() -> Vec<Vec<i16>> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    (0..13).map(|_| (0..960).map(|_| rng.random_range(-9000..9000)).collect()).collect()
}

/// One call: the visitor asks, and 1.5 s into the spoken answer says `over`. Returns the
/// call's transcript once the answer is recorded, the agent's frames and the longest gap
/// between two of them.
fn talk_over(f: &Fixture, over: Vec<Vec<i16>>) -> (Vec<Value>, usize, Duration) {
    let s = f.session(json!({"mode": "voice"}));
    let mut call = f.call(&s);
    let question = spoken("How much does shipping cost?", "en-us");
    let over_from = Arc::new(AtomicU32::new(u32::MAX));
    let from = over_from.clone();
    let mut encoder = OpusEncoder::browser_like(48_000).expect("opus encoder");
    call.script = Some(Box::new(move |n| {
        let start = from.load(Ordering::Relaxed);
        let pcm = match (n.checked_sub(10), n.checked_sub(start)) {
            (_, Some(i)) if (i as usize) < over.len() => over[i as usize].clone(),
            (Some(i), _) if (i as usize) < question.len() => question[i as usize].clone(),
            _ => vec![0; 960],
        };
        encoder.encode(&pcm).expect("encode").to_vec()
    }));
    // 1.5 s into the answer, the visitor talks over it.
    call.run_until(Duration::from_secs(20), |c| c.received.len() >= 75);
    over_from.store(call.frames_sent(), Ordering::Relaxed);
    let transcript = f.transcript_during(&mut call, &s, Duration::from_secs(20), |t| {
        t.iter().any(|m| m["role"] == "agent")
    });
    let gap = call.received.windows(2).map(|w| w[1].1 - w[0].1).max().unwrap_or_default();
    let frames = call.received.len();
    call.hang_up(&f.api, SITE, s["session_token"].as_str().unwrap());
    (transcript, frames, gap)
}

fn counter(f: &Fixture, name: &str) -> u64 {
    let metrics = f.api.send(f.api.http.get(f.api.url("/metrics"))).text;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn agent_line(transcript: &[Value]) -> &Value {
    let agent: Vec<&Value> = transcript.iter().filter(|m| m["role"] == "agent").collect();
    assert_eq!(agent.len(), 1, "one answer, no new turn: {transcript:#?}");
    agent[0]
}

#[test]
fn an_uh_huh_is_kept_and_a_cough_is_resumed_from_and_neither_ends_the_answer() {
    let fake = FakeProvider::start(&[
        "--stt-delay-ms",
        "20",
        "--first-audio-delay-ms",
        "10",
        "--answer",
        &whole_answer(),
        "--transcripts",
        "How much does shipping cost?|Uh-huh.|How much does shipping cost?|",
    ]);
    let f = Fixture::new();
    f.patch_agent(json!({
        "greeting": null,
        "backend": chat_backend(&fake),
        "voice": pipeline_voice(&fake, json!({})),
    }));
    let whole = answer_frames();

    let (transcript, frames, gap) = talk_over(&f, spoken("uh-huh", "en-us"));
    let answer = agent_line(&transcript);
    assert_eq!(
        (answer["status"].as_str(), answer["text"].as_str()),
        (Some("complete"), Some(whole_answer().as_str()))
    );
    let backchannel: Vec<&Value> = transcript.iter().filter(|m| m["status"] == "backchannel").collect();
    assert_eq!(backchannel.len(), 1, "{transcript:#?}");
    assert_eq!((&backchannel[0]["role"], &backchannel[0]["text"]), (&json!("visitor"), &json!("Uh-huh.")));
    assert!(
        frames >= whole && frames <= whole + 2,
        "the whole answer played once: {frames} of {whole} frames"
    );
    assert_eq!(fake.seen_on("chat").len(), 1, "the uh-huh was not answered");
    assert_eq!(counter(&f, "voxgate_voice_backchannels_total"), 1);
    assert_eq!(counter(&f, "voxgate_voice_barge_ins_total"), 0);
    eprintln!("uh-huh: the agent held for at most {gap:?}");

    let (transcript, frames, gap) = talk_over(&f, burst());
    let answer = agent_line(&transcript);
    assert_eq!(
        (answer["status"].as_str(), answer["text"].as_str()),
        (Some("complete"), Some(whole_answer().as_str()))
    );
    assert!(transcript.iter().all(|m| m["status"] != "backchannel"), "{transcript:#?}");
    assert!(
        frames >= whole && frames <= whole + 2,
        "resumed, nothing skipped or repeated: {frames} of {whole}"
    );
    assert!(gap >= Duration::from_millis(300), "the burst held the agent: {gap:?}");
    assert_eq!(counter(&f, "voxgate_voice_false_interruptions_total"), 1);
    assert_eq!(counter(&f, "voxgate_voice_barge_ins_total"), 0);
    assert_eq!(fake.seen_on("chat").len(), 2, "one answer per call");
}
