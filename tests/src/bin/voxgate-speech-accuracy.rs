//! The builtin voice's accuracy benchmark (scripts/bench-speech-accuracy): every question of
//! a spoken-question set (bench/spoken-questions.json, a shop; bench/spoken-names.json, a
//! bike rental whose words the recogniser's dictionary lacks), in two flite voices, clean and over continuous white noise, is
//! asked on its own call through the real binary (Opus, turn detection, the PocketSphinx
//! sidecar, the builtin agent, espeak-ng), and the agent's answer is sorted into right passage,
//! fallback ("Sorry, I didn't catch that..."), or wrong passage. Off-topic questions are right
//! when they get the fallback. Prints a table per condition and writes the answers as JSON.
//!
//!   voxgate-speech-accuracy [--set bench/spoken-questions.json] [--snr-db 20] [--parallel 6] [--json PATH]
//!
//! Needs VOXGATE_TEST_SPEECH_PYTHON (a Python with pocketsphinx) and the debug binary built, as
//! the tests do.

use serde_json::{json, Value};
use std::time::Duration;
use voxgate_tests::speech::{
    answered, captioned_call, listening_server, passage, saying, saying_in_noise, spoken, spoken_set_agent,
};
use voxgate_tests::voice::VoiceCall;
use voxgate_tests::Fixture;

const VOICES: &[&str] = &["flite:slt", "flite:rms"];
const FALLBACK: &str = "Sorry, I didn't catch that.";

struct Ask {
    voice: &'static str,
    noise_db: Option<f64>,
    text: String,
    /// The passage that answers it; `None` for an off-topic question.
    passage: Option<String>,
}

fn flag(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// A call on a new session, its visitor about to ask `a`.
fn dial(f: &Fixture, a: &Ask, seed: u64) -> (Value, VoiceCall) {
    let s = f.session(json!({"mode": "voice"}));
    let mut c = captioned_call(f, &s);
    let frames = spoken(&a.text, a.voice);
    c.script = Some(match a.noise_db {
        Some(db) => saying_in_noise(frames, 10, db, seed),
        None => saying(frames, 10),
    });
    (s, c)
}

/// The visitor's line and the agent's, once the agent has one.
fn lines_of(f: &Fixture, s: &Value) -> (String, String) {
    let lines = f.transcript_when(s, Duration::from_secs(30), |t| t.iter().any(|m| m["role"] == "agent"));
    let line = |role: &str| {
        lines.iter().find(|m| m["role"] == role).and_then(|m| m["text"].as_str()).unwrap_or("").to_string()
    };
    (line("visitor"), line("agent"))
}

fn main() {
    let snr_db: f64 = flag("--snr-db").and_then(|v| v.parse().ok()).unwrap_or(20.0);
    let parallel: usize = flag("--parallel").and_then(|v| v.parse().ok()).unwrap_or(6).max(1);
    let json_path = flag("--json").unwrap_or_else(|| "target/bench/speech-accuracy.json".into());
    let set_path = flag("--set").unwrap_or_else(|| "bench/spoken-questions.json".into());
    let set = std::fs::read_to_string(&set_path).unwrap_or_else(|e| panic!("{set_path}: {e}"));
    let f = listening_server();
    let shop = spoken_set_agent(&f, &set);
    let mut asks = Vec::new();
    for noise_db in [None, Some(snr_db)] {
        for voice in VOICES {
            for q in shop["questions"].as_array().expect("questions") {
                let text = q["text"].as_str().expect("a question").to_string();
                let passage = Some(q["passage"].as_str().expect("a passage title").to_string());
                asks.push(Ask { voice, noise_db, text, passage });
            }
            for q in shop["off_topic"].as_array().expect("off-topic questions") {
                let text = q.as_str().expect("a question").to_string();
                asks.push(Ask { voice, noise_db, text, passage: None });
            }
        }
    }
    let mut results: Vec<(String, String)> = Vec::with_capacity(asks.len());
    for (batch_no, batch) in asks.chunks(parallel).enumerate() {
        let mut calls: Vec<(Value, VoiceCall)> =
            batch.iter().enumerate().map(|(i, a)| dial(&f, a, (batch_no * parallel + i) as u64)).collect();
        // The batch's visitors talk at once, each on its own thread.
        std::thread::scope(|scope| {
            for (_, c) in calls.iter_mut() {
                scope.spawn(move || {
                    c.run_until(Duration::from_secs(60), answered);
                    c.close();
                });
            }
        });
        results.extend(calls.iter().map(|(s, _)| lines_of(&f, s)));
        eprint!("\r{} of {} asked", results.len(), asks.len());
    }
    eprintln!();

    let mut rows = Vec::new();
    println!(
        "{:<10} {:>6} | {:>13} {:>9} {:>6} | {:>16} {:>6}",
        "voice", "noise", "right passage", "fallback", "wrong", "off-topic: fallback", "answered"
    );
    for noise_db in [None, Some(snr_db)] {
        for voice in VOICES {
            let (mut right, mut fallback, mut wrong, mut off_ok, mut off_wrong, mut questions, mut off) =
                (0, 0, 0, 0, 0, 0, 0);
            for (a, (heard, said)) in asks.iter().zip(&results) {
                if a.voice != *voice || a.noise_db != noise_db {
                    continue;
                }
                let verdict = match &a.passage {
                    Some(title) => {
                        questions += 1;
                        if said == passage(&shop, title) {
                            right += 1;
                            "right"
                        } else if said.starts_with(FALLBACK) {
                            fallback += 1;
                            "fallback"
                        } else {
                            wrong += 1;
                            "wrong"
                        }
                    }
                    None => {
                        off += 1;
                        if said.starts_with(FALLBACK) {
                            off_ok += 1;
                            "fallback"
                        } else {
                            off_wrong += 1;
                            "wrong"
                        }
                    }
                };
                rows.push(
                    json!({"voice": voice, "snr_db": noise_db, "question": a.text, "passage": a.passage,
                                 "heard": heard, "answer": said, "verdict": verdict}),
                );
            }
            let noise = noise_db.map_or("none".to_string(), |db| format!("{db} dB"));
            println!(
                "{voice:<10} {noise:>6} | {right:>6} of {questions:<3} {fallback:>9} {wrong:>6} | {off_ok:>11} of {off:<4} {off_wrong:>8}"
            );
        }
    }
    let total = |v: &str, off: bool| {
        rows.iter().filter(|r| r["verdict"] == v && r["passage"].is_null() == off).count()
    };
    let questions = rows.iter().filter(|r| !r["passage"].is_null()).count();
    println!(
        "all: {} of {questions} right ({:.1} %), {} fallback, {} wrong; off-topic: {} fallback, {} answered with a passage",
        total("right", false),
        100.0 * total("right", false) as f64 / questions.max(1) as f64,
        total("fallback", false),
        total("wrong", false),
        total("fallback", true),
        total("wrong", true),
    );
    if let Some(dir) = std::path::Path::new(&json_path).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let report: Value = json!({"snr_db": snr_db, "answers": rows});
    match std::fs::write(&json_path, serde_json::to_vec_pretty(&report).unwrap_or_default()) {
        Ok(()) => println!("answers: {json_path}"),
        Err(e) => eprintln!("could not write {json_path}: {e}"),
    }
}
