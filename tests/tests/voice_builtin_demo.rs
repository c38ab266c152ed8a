//! The demo agent's own questions, spoken: its knowledge (`http/src/demo-knowledge.json`) is
//! full of words the recogniser's dictionary lacks ("voxgate", "WebRTC", "allowlist"), which
//! the sidecar pronounces from espeak-ng's phonemes. Each question, in two flite voices, goes
//! through the real binary to the builtin voice; every answer is the question's passage or the
//! honest fallback, never another passage, and "What is voxgate?" is heard and answered.

use serde_json::{json, Value};
use std::time::Duration;
use voxgate_tests::speech::{answered, captioned_call, listening_server, saying, spoken};
use voxgate_tests::voice::VoiceCall;

const DEMO_KNOWLEDGE: &str = include_str!("../../http/src/demo-knowledge.json");

/// Question and the title of the passage that answers it (`None`: off-topic).
const QUESTIONS: &[(&str, Option<&str>)] = &[
    ("What is voxgate?", Some("What voxgate is")),
    ("What does voxgate do?", Some("What voxgate is")),
    ("How does voice work?", Some("Voice")),
    ("Which origins may embed the widget?", Some("Origins")),
    ("Are conversations recorded?", Some("Privacy")),
    ("How does text chat work?", Some("Text chat")),
    ("What is the capital of Peru?", None),
];

const VOICES: &[&str] = &["flite:slt", "flite:rms"];
const FALLBACK: &str = "Sorry, I didn't catch that.";

#[test]
fn the_demos_questions_get_their_passage_or_the_fallback_never_another_passage() {
    let knowledge: Value = serde_json::from_str(DEMO_KNOWLEDGE).expect("the demo's knowledge");
    let f = listening_server();
    f.patch_agent(json!({
        "greeting": null,
        "knowledge": knowledge,
        "voice": {"type": "builtin", "turn_detection": {"silence_duration_ms": 500}}
    }));
    let passage = |title: &str| -> String {
        let found = knowledge.as_array().and_then(|k| k.iter().find(|k| k["title"] == title));
        found.and_then(|k| k["text"].as_str()).unwrap_or_default().to_string()
    };
    let mut asked: Vec<(&str, Option<&str>, &str, Value, VoiceCall)> = Vec::new();
    for voice in VOICES {
        for (text, title) in QUESTIONS {
            let s = f.session(json!({"mode": "voice"}));
            let mut c = captioned_call(&f, &s);
            c.script = Some(saying(spoken(text, voice), 10));
            asked.push((text, *title, voice, s, c));
        }
    }
    std::thread::scope(|scope| {
        for (.., c) in asked.iter_mut() {
            scope.spawn(move || c.run_until(Duration::from_secs(90), answered));
        }
    });

    let mut right = Vec::new();
    for (text, title, voice, s, c) in asked.iter_mut() {
        let lines =
            f.transcript_during(c, s, Duration::from_secs(30), |t| t.iter().any(|m| m["role"] == "agent"));
        let line = |role: &str| {
            lines
                .iter()
                .find(|m| m["role"] == role)
                .and_then(|m| m["text"].as_str())
                .unwrap_or("")
                .to_string()
        };
        let (heard, said) = (line("visitor"), line("agent"));
        println!("{voice} {text:?} heard as {heard:?}: {said:?}");
        match title {
            Some(title) if said == passage(title) => right.push((*text, *voice)),
            Some(title) => assert!(
                said.starts_with(FALLBACK),
                "{text:?} ({voice}), heard as {heard:?}, got neither {title:?} nor the fallback: {said:?}"
            ),
            None => assert!(said.starts_with(FALLBACK), "{text:?} ({voice}) got a passage: {said:?}"),
        }
    }
    for voice in VOICES {
        assert!(
            right.contains(&("What is voxgate?", voice)),
            "\"What is voxgate?\" ({voice}) was answered: {right:?}"
        );
    }
    let in_scope = QUESTIONS.iter().filter(|q| q.1.is_some()).count() * VOICES.len();
    assert!(right.len() * 3 >= in_scope * 2, "{} of {in_scope} right: {right:?}", right.len());
}
