//! A speaking visitor for talking-agent tests: Opus frames of a voiced, speech-like sound when
//! it talks and of silence when it does not (a browser sends both), and the agent's reply
//! decoded to measure its loudness.

use std::time::Instant;
use voxgate_engine::audio::{OpusDecoder, OpusEncoder};

/// A voiced 20 ms frame at 48 kHz: a 150 Hz buzz with harmonics, as a vowel is.
pub fn vowel(n: u32) -> Vec<i16> {
    (0..960)
        .map(|i| {
            let t = (n as usize * 960 + i) as f64 / 48_000.0;
            let s: f64 =
                (1..=12).map(|h| (t * 150.0 * h as f64 * std::f64::consts::TAU).sin() / h as f64).sum();
            (s * 5000.0) as i16
        })
        .collect()
}

/// A visitor's frames: speech in the frames `speaking` says, silence in the others.
pub fn speaker(speaking: impl Fn(u32) -> bool + Send + 'static) -> Box<dyn FnMut(u32) -> Vec<u8> + Send> {
    let mut encoder = OpusEncoder::browser_like(48_000).expect("opus encoder");
    Box::new(move |n| {
        let pcm = if speaking(n) { vowel(n) } else { vec![0; 960] };
        encoder.encode(&pcm).expect("encode").to_vec()
    })
}

/// The reply frames' loudness: each frame decoded, with its RMS and when it came.
pub fn loudness(frames: &[(Vec<u8>, Instant)]) -> Vec<(f64, Instant)> {
    let mut decoder = OpusDecoder::new(48_000).expect("opus decoder");
    frames
        .iter()
        .filter_map(|(payload, at)| {
            let pcm = decoder.decode(payload).ok()?;
            let rms =
                (pcm.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / pcm.len().max(1) as f64).sqrt();
            Some((rms, *at))
        })
        .collect()
}

/// `text` spoken by a synthesiser, as 20 ms frames of 48 kHz PCM (the last one padded): a
/// synthetic visitor for the builtin voice, whose own voice is espeak-ng's. `voice` is
/// `flite:NAME` (flite's `slt`, `rms`, `awb`, `kal16`) or an espeak-ng voice (`en-gb`).
pub fn spoken(text: &str, voice: &str) -> Vec<Vec<i16>> {
    frames_of(synthesised(text, voice, false))
}

/// `ssml` (`<speak>...<break time="900ms"/>...</speak>`) spoken by espeak-ng in `voice`, as
/// [`spoken`]: a pause inside a sentence that keeps the sentence's intonation.
pub fn spoken_ssml(ssml: &str, voice: &str) -> Vec<Vec<i16>> {
    frames_of(synthesised(ssml, voice, true))
}

fn synthesised(text: &str, voice: &str, ssml: bool) -> Vec<u8> {
    match voice.strip_prefix("flite:") {
        Some(name) => {
            let file = tempfile::Builder::new().suffix(".wav").tempfile().expect("a temp file");
            let out = std::process::Command::new("flite")
                .args(["-voice", name, "-t", text, "-o"])
                .arg(file.path())
                .output()
                .expect("flite runs (scripts/test installs it)");
            assert!(out.status.success(), "flite failed: {}", String::from_utf8_lossy(&out.stderr));
            std::fs::read(file.path()).expect("flite's WAV")
        }
        None => {
            let out = std::process::Command::new("espeak-ng")
                .args(if ssml { &["-m", "--stdout", "-v"][..] } else { &["--stdout", "-v"][..] })
                .args([voice, text])
                .output()
                .expect("espeak-ng runs (scripts/test installs it)");
            assert!(out.status.success(), "espeak-ng failed: {}", String::from_utf8_lossy(&out.stderr));
            out.stdout
        }
    }
}

/// A synthesiser's WAV as 20 ms frames of 48 kHz PCM (the last one padded).
fn frames_of(wav: Vec<u8>) -> Vec<Vec<i16>> {
    // espeak-ng streams its WAV with a placeholder length: read samples until the bytes end.
    let reader = hound::WavReader::new(std::io::Cursor::new(wav)).expect("a WAV");
    let rate = reader.spec().sample_rate;
    let pcm: Vec<i16> = reader.into_samples::<i16>().map_while(Result::ok).collect();
    let mut resampler = voxgate_engine::audio::Resampler::new(rate, 48_000).expect("a resampler");
    let mut at_48k = Vec::new();
    resampler.push(&pcm, &mut at_48k).expect("resample");
    resampler.flush(&mut at_48k).expect("resample");
    at_48k
        .chunks(960)
        .map(|c| {
            let mut frame = c.to_vec();
            frame.resize(960, 0);
            frame
        })
        .collect()
}

/// A visitor who says `frames` after `lead` frames of silence, then stays silent.
pub fn saying(frames: Vec<Vec<i16>>, lead: u32) -> Box<dyn FnMut(u32) -> Vec<u8> + Send> {
    let mut encoder = OpusEncoder::browser_like(48_000).expect("opus encoder");
    Box::new(move |n| {
        let pcm =
            n.checked_sub(lead).and_then(|i| frames.get(i as usize)).cloned().unwrap_or_else(|| vec![0; 960]);
        encoder.encode(&pcm).expect("encode").to_vec()
    })
}

/// A visitor in a noisy room: says `frames` after `lead` frames, over white noise that never
/// stops, `snr_db` below the speech's loudness (seeded, so a run repeats exactly).
pub fn saying_in_noise(
    frames: Vec<Vec<i16>>,
    lead: u32,
    snr_db: f64,
    seed: u64,
) -> Box<dyn FnMut(u32) -> Vec<u8> + Send> {
    use rand::{Rng, SeedableRng};
    let voiced: Vec<f64> =
        frames.iter().flatten().filter(|s| s.unsigned_abs() > 64).map(|s| f64::from(*s)).collect();
    let speech_rms = (voiced.iter().map(|s| s * s).sum::<f64>() / voiced.len().max(1) as f64).sqrt();
    let sigma = speech_rms / 10f64.powf(snr_db / 20.0);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut encoder = OpusEncoder::browser_like(48_000).expect("opus encoder");
    Box::new(move |n| {
        let speech = n.checked_sub(lead).and_then(|i| frames.get(i as usize));
        let pcm: Vec<i16> = (0..960)
            .map(|i| {
                // Box-Muller: a normal sample from two uniform ones.
                let (u, v): (f64, f64) = (rng.random::<f64>().max(f64::MIN_POSITIVE), rng.random());
                let noise = sigma * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
                let s = speech.map_or(0.0, |f| f64::from(f[i]));
                (s + noise).clamp(-32768.0, 32767.0) as i16
            })
            .collect();
        encoder.encode(&pcm).expect("encode").to_vec()
    })
}

/// The Python with PyPI's pocketsphinx that the builtin voice's tests give the server
/// (`--speech-python`); scripts/test sets it up in target/speech-venv.
pub fn speech_python() -> String {
    std::env::var("VOXGATE_TEST_SPEECH_PYTHON").expect(
        "VOXGATE_TEST_SPEECH_PYTHON names a Python with pocketsphinx 5 (scripts/test sets it up in target/speech-venv)",
    )
}

/// A server whose builtin voice can listen, once its recogniser reports ready in `/readyz`.
pub fn listening_server() -> crate::Fixture {
    let server = crate::Server::start_with(crate::ServerOptions {
        extra_args: vec!["--speech-python".into(), speech_python()],
        ..crate::ServerOptions::default()
    });
    let f = crate::Fixture::on(server);
    let body = ready_recognizer(&f);
    assert_eq!(body["recognizer"]["status"], "ready", "the recognizer started: {body:#}");
    f
}

/// `/readyz` once the recogniser is ready (or after a minute, for the caller to report).
pub fn ready_recognizer(f: &crate::Fixture) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let body = f.api.send(f.api.http.get(f.api.url("/readyz"))).expect(200).body;
        if body["recognizer"]["status"] == "ready" || started.elapsed() > std::time::Duration::from_secs(60) {
            return body;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The builtin voice's benchmark shop (bench/spoken-questions.json): knowledge, questions with
/// the titles of their passages, and off-topic questions.
pub const SHOP: &str = include_str!("../../bench/spoken-questions.json");

/// Gives the fixture's agent the shop's knowledge and the builtin voice (turns end after 500 ms
/// of silence); the shop, parsed.
pub fn shop_agent(f: &crate::Fixture) -> serde_json::Value {
    spoken_set_agent(f, SHOP)
}

/// Gives the fixture's agent the knowledge of a spoken-question set (the JSON of
/// bench/spoken-questions.json's shape) and the builtin voice (turns end after 500 ms of
/// silence); the set, parsed.
pub fn spoken_set_agent(f: &crate::Fixture, set: &str) -> serde_json::Value {
    let set: serde_json::Value = serde_json::from_str(set).expect("a spoken-question set");
    f.patch_agent(serde_json::json!({
        "greeting": null,
        "knowledge": set["knowledge"],
        "voice": {"type": "builtin", "turn_detection": {"silence_duration_ms": 500}}
    }));
    set
}

/// The text of the shop's passage titled `title`.
pub fn passage<'a>(shop: &'a serde_json::Value, title: &str) -> &'a str {
    let found = shop["knowledge"].as_array().and_then(|k| k.iter().find(|k| k["title"] == title));
    found.and_then(|k| k["text"].as_str()).unwrap_or_else(|| panic!("no passage {title}"))
}

/// Whether the call's agent finished an answer (its `response.done` caption came).
pub fn answered(c: &crate::voice::VoiceCall) -> bool {
    c.channel_events.iter().any(|e| e["type"] == "response.done")
}

/// A call on session `s` that opens the captions' data channel.
pub fn captioned_call(f: &crate::Fixture, s: &serde_json::Value) -> crate::voice::VoiceCall {
    let (url, token) = (s["webrtc_url"].as_str().unwrap_or(""), s["session_token"].as_str().unwrap_or(""));
    crate::voice::VoiceCall::offer_with_events(&f.api, url, crate::SITE, token)
        .expect("an offer with a data channel")
}
