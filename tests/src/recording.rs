//! Recordings in tests: a visitor who speaks a tone for a while then keeps quiet, and an
//! independent decoder for what the server recorded (Xiph's `opusdec`, from Debian's
//! opus-tools, which scripts/test installs): the energy of each channel, 20 ms at a time.

use std::process::Command;
use voxgate_engine::audio::codec::OpusEncoder;

/// 20 ms Opus frames, as a browser sends them: a 440 Hz tone for the first `loud` frames, then
/// silence.
pub fn tone_then_silence(loud: u32) -> Box<dyn FnMut(u32) -> Vec<u8> + Send> {
    let mut encoder = OpusEncoder::browser_like(48_000).expect("encoder");
    Box::new(move |n| {
        let pcm: Vec<i16> = (0..960u32)
            .map(|i| {
                if n < loud {
                    let t = f64::from(n * 960 + i) / 48_000.0;
                    ((t * 440.0 * std::f64::consts::TAU).sin() * 9000.0) as i16
                } else {
                    0
                }
            })
            .collect();
        encoder.encode(&pcm).expect("encode").to_vec()
    })
}

/// The mean energy of each channel (visitor, agent) per 20 ms, and the channel count, decoded
/// by `opusdec`.
pub fn decode(ogg: &[u8]) -> (u16, Vec<[f64; 2]>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (input, output) = (dir.path().join("call.ogg"), dir.path().join("call.wav"));
    std::fs::write(&input, ogg).expect("write the recording");
    let opusdec = std::env::var("VOXGATE_TEST_OPUSDEC").unwrap_or_else(|_| "opusdec".into());
    let run = Command::new(&opusdec)
        .args(["--quiet", "--rate", "48000", "--force-wav"])
        .arg(&input)
        .arg(&output)
        .output()
        .unwrap_or_else(|e| panic!("{opusdec} runs (scripts/test installs opus-tools): {e}"));
    assert!(run.status.success(), "opusdec refused the recording: {}", String::from_utf8_lossy(&run.stderr));
    let mut wav = hound::WavReader::open(&output).expect("opusdec writes a WAV");
    let spec = wav.spec();
    let samples: Vec<i16> = wav.samples::<i16>().map(|s| s.expect("sample")).collect();
    let channels = usize::from(spec.channels);
    let per_slot = 960 * channels;
    let slots = samples
        .chunks(per_slot)
        .map(|chunk| {
            let energy = |c: usize| {
                let n = (chunk.len() / channels).max(1) as f64;
                chunk.iter().skip(c).step_by(channels).map(|s| f64::from(*s).powi(2)).sum::<f64>() / n
            };
            [energy(0), if channels > 1 { energy(1) } else { 0.0 }]
        })
        .collect();
    (spec.channels, slots)
}
