//! The load-test harness's talking visitors against the real binary and a `pipeline` agent on the
//! fake provider: each visitor speaks a question from a WAV file, the harness times end of speech
//! to the first reply frame, and with `--barge-in-ms` it talks over each reply and times how
//! long the reply audio takes to stop.

use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use voxgate_tests::fake_provider::{chat_backend, pipeline_voice, FakeProvider};
use voxgate_tests::speech::vowel;
use voxgate_tests::{workspace_bin, Fixture, SITE};

const LONG_ANSWER: &str = "Shipping costs five euros within the country and twelve euros abroad. \
    Orders over fifty euros ship free, and express delivery arrives the next working day for nine euros more. \
    Returns are free within thirty days of delivery, and refunds reach your account within a week.";

/// A second of a vowel at 48 kHz, with silence either side as a synthesiser leaves it.
fn question_wav(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut wav = hound::WavWriter::create(path, spec).expect("create the WAV");
    let frames =
        (0..10).map(|_| vec![0i16; 960]).chain((0..50).map(vowel)).chain((0..10).map(|_| vec![0; 960]));
    for sample in frames.flatten() {
        wav.write_sample(sample).expect("write a sample");
    }
    wav.finalize().expect("finish the WAV");
}

fn number(v: &Value, path: &str) -> f64 {
    path.split('.').fold(v, |v, k| &v[k]).as_f64().unwrap_or_else(|| panic!("{path} missing: {v:#}"))
}

/// Runs `visitors` talking visitors for `duration` with `extra` flags; returns the JSON report.
fn talk(fake: &FakeProvider, visitors: &str, duration: &str, extra: &[&str]) -> Value {
    let f = Fixture::new();
    f.patch_agent(json!({
        "greeting": null,
        "backend": chat_backend(fake),
        "voice": pipeline_voice(fake, json!({"silence_duration_ms": 300, "prefix_padding_ms": 100, "interrupt_min_ms": 100})),
    }));
    let dir = tempfile::tempdir().expect("a temp dir");
    let (wav, report) = (dir.path().join("question.wav"), dir.path().join("run.json"));
    question_wav(&wav);
    let out = Command::new(workspace_bin("voxgate-loadtest"))
        .args(["--target", &f.server.url, "--api-key", &f.key, "--widget", &f.widget, "--origin", SITE])
        .args(["--voice", visitors, "--rate", "20", "--duration", duration, "--talk-pause", "300ms"])
        .args(["--speech", wav.to_str().unwrap(), "--json", report.to_str().unwrap()])
        .args(extra)
        .output()
        .expect("voxgate-loadtest runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "harness failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("talk:"), "a talk line in the table: {stdout}");
    serde_json::from_slice(&std::fs::read(&report).expect("the JSON report")).expect("JSON")
}

#[test]
fn talking_visitors_are_answered_and_timed_from_the_end_of_their_speech() {
    let fake = FakeProvider::start(&[
        "--stt-delay-ms",
        "20",
        "--first-token-delay-ms",
        "20",
        "--first-audio-delay-ms",
        "10",
    ]);
    let run = talk(&fake, "3", "8s", &[]);
    let t = &run["voice"]["talk"];
    assert_eq!(number(&run, "voice.ok"), 3.0, "{run:#}");
    let (asked, unanswered) = (number(t, "questions"), number(t, "unanswered"));
    assert!(asked >= 3.0, "each visitor asked at least once: {t:#}");
    assert!(unanswered <= 3.0 && asked - unanswered >= 3.0, "questions still open at the end only: {t:#}");
    // 300 ms of silence ends a turn, then the fake's 50 ms of delays: at least that, and no more
    // than a loaded test machine adds.
    let (p50, max) = (number(t, "response_ms.p50"), number(t, "response_ms.max"));
    assert!((300.0..5_000.0).contains(&p50) && p50 <= max, "response p50 {p50} ms, max {max} ms: {t:#}");
    assert!(number(t, "response_ms.samples") >= 3.0, "{t:#}");
    assert!(number(t, "reply_frames") >= 3.0 * 50.0, "a second or more of reply per visitor: {t:#}");
    assert_eq!(number(t, "reply_frames_lost"), 0.0, "loopback loses nothing: {t:#}");
    assert_eq!(t["barge_in_ms"], Value::Null, "{t:#}");
    // The provider heard one transcription request per answered question.
    assert!(fake.seen_on("stt").len() as f64 >= asked - unanswered, "{t:#}");
}

#[test]
fn barging_in_stops_each_reply_and_the_harness_times_it() {
    let fake = FakeProvider::start(&[
        "--stt-delay-ms",
        "20",
        "--first-token-delay-ms",
        "20",
        "--answer",
        LONG_ANSWER,
    ]);
    let run = talk(&fake, "2", "8s", &["--barge-in-ms", "800"]);
    let t = &run["voice"]["talk"];
    assert_eq!(t["barge_in_ms"], 800, "{t:#}");
    let stops = number(t, "barge_in_stop_ms.samples");
    assert!(stops >= 2.0, "each visitor talked over a reply at least once: {t:#}");
    // The agent stops once it has heard `interrupt_min_ms` (100 ms) of the barge-in.
    let (p50, max) = (number(t, "barge_in_stop_ms.p50"), number(t, "barge_in_stop_ms.max"));
    assert!((40.0..2_000.0).contains(&p50) && p50 <= max, "stopped in p50 {p50} ms, max {max} ms: {t:#}");
}
