//! What each step of a talking call's audio costs per 20 ms frame, for callgrind:
//!
//! ```sh
//! cargo build --release -p voxgate-engine --example audio_cost
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/audio.out target/release/examples/audio_cost
//! callgrind_annotate --inclusive=yes /tmp/audio.out | grep -E 'audio_cost::(decode|vad|encode|resample|energy)'
//! ```
//!
//! Each step runs over the same 1,000 frames (20 s) of a speech-like signal; dividing a step's
//! inclusive instructions by 1,000 gives its cost per frame.

use std::hint::black_box;
use voxgate_engine::audio::{frame_samples, OpusDecoder, OpusEncoder, Resampler};
use voxgate_engine::talk::VoiceDetector;

const FRAMES: u32 = 1000;

fn speech(rate: u32, n: u32) -> Vec<i16> {
    let len = frame_samples(rate);
    (0..len)
        .map(|i| {
            let t = (n as usize * len + i) as f64 / rate as f64;
            let s: f64 =
                (1..=12).map(|h| (t * 150.0 * h as f64 * std::f64::consts::TAU).sin() / h as f64).sum();
            (s * 5000.0) as i16
        })
        .collect()
}

#[inline(never)]
fn encode(encoder: &mut OpusEncoder, frames: &[Vec<i16>]) -> Vec<Vec<u8>> {
    frames.iter().map(|f| encoder.encode(f).unwrap().to_vec()).collect()
}

/// What the visitor's browser does (not the server's cost; kept apart from `encode`).
#[inline(never)]
fn encode_visitor(encoder: &mut OpusEncoder, frames: &[Vec<i16>]) -> Vec<Vec<u8>> {
    frames.iter().map(|f| encoder.encode(f).unwrap().to_vec()).collect()
}

#[inline(never)]
fn decode(decoder: &mut OpusDecoder, packets: &[Vec<u8>]) -> Vec<Vec<i16>> {
    packets.iter().map(|p| decoder.decode(p).unwrap().to_vec()).collect()
}

#[inline(never)]
fn vad(detector: &mut VoiceDetector, frames: &[Vec<i16>]) -> usize {
    frames.iter().filter(|f| detector.is_speech(f).unwrap()).count()
}

#[inline(never)]
fn energy(frames: &[Vec<i16>]) -> usize {
    frames.iter().filter(|f| voxgate_engine::talk::vad::rms(f) > 500.0).count()
}

#[inline(never)]
fn resample(r: &mut Resampler, frames: &[Vec<i16>]) -> usize {
    let mut out = Vec::new();
    for f in frames {
        r.push(f, &mut out).unwrap();
    }
    out.len()
}

fn main() {
    // The visitor's side: 48 kHz speech encoded as a browser would, decoded at 16 kHz.
    let visitor: Vec<Vec<i16>> = (0..FRAMES).map(|n| speech(48_000, n)).collect();
    let packets = encode_visitor(&mut OpusEncoder::browser_like(48_000).unwrap(), &visitor);
    let heard = decode(&mut OpusDecoder::new(16_000).unwrap(), &packets);
    let speech_frames = vad(&mut VoiceDetector::new(0.5), &heard);
    let loud = energy(&heard);
    // A realtime provider's stream: 16 kHz to 24 kHz.
    let streamed = resample(&mut Resampler::new(16_000, 24_000).unwrap(), &heard);
    // The agent's side: 24 kHz speech encoded for the visitor.
    let agent: Vec<Vec<i16>> = (0..FRAMES).map(|n| speech(24_000, n)).collect();
    let sent = encode(&mut OpusEncoder::new(24_000).unwrap(), &agent);
    black_box((speech_frames, loud, streamed, sent.len()));
    println!("{FRAMES} frames: {speech_frames} heard as speech, {loud} loud, {streamed} samples streamed");
}
