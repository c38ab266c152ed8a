//! The end-of-turn model's input: Whisper-style log-mel features of the last 8 s of the
//! visitor's turn (16 kHz), as `transformers.WhisperFeatureExtractor(chunk_length=8)` makes
//! them and Smart Turn v3 was trained on: zero-mean unit-variance audio, a 400-point periodic
//! Hann window every 160 samples over reflect-padded audio, an 80-band Slaney mel filterbank,
//! `log10`, the last frame dropped, floored 8 below the maximum and scaled to about [-1, 1].

use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// The model hears 16 kHz audio.
pub const SAMPLE_RATE: usize = 16_000;
/// The last 8 s of a turn; a shorter turn is padded with silence in front.
pub const WINDOW_SAMPLES: usize = 8 * SAMPLE_RATE;
pub const MEL_BANDS: usize = 80;
/// Frames of features: one per 10 ms of the window.
pub const FRAMES: usize = WINDOW_SAMPLES / HOP;

const N_FFT: usize = 400;
const HOP: usize = 160;
const BINS: usize = N_FFT / 2 + 1;
const MEL_FLOOR: f64 = 1e-10;
const VARIANCE_EPS: f64 = 1e-7;

/// Computes the features; holds the FFT plan, window and filterbank (made once per thread).
pub struct LogMel {
    fft: Arc<dyn RealToComplex<f64>>,
    window: Vec<f64>,
    /// Each band's non-zero weights: (first bin, weights).
    bands: Vec<(usize, Vec<f64>)>,
}

impl Default for LogMel {
    fn default() -> Self {
        LogMel::new()
    }
}

fn hz_to_mel(hz: f64) -> f64 {
    if hz >= 1000.0 {
        15.0 + (hz / 1000.0).ln() * (27.0 / 6.4f64.ln())
    } else {
        3.0 * hz / 200.0
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel >= 15.0 {
        1000.0 * ((6.4f64.ln() / 27.0) * (mel - 15.0)).exp()
    } else {
        200.0 * mel / 3.0
    }
}

/// The Slaney-normalised triangular filterbank, as librosa and transformers build it.
fn filterbank() -> Vec<(usize, Vec<f64>)> {
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE as f64 / 2.0));
    let edges: Vec<f64> =
        (0..MEL_BANDS + 2).map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (MEL_BANDS + 1) as f64)).collect();
    let bin_hz = |b: usize| (SAMPLE_RATE / 2) as f64 * b as f64 / (BINS - 1) as f64;
    (0..MEL_BANDS)
        .map(|m| {
            let (left, center, right) = (edges[m], edges[m + 1], edges[m + 2]);
            let norm = 2.0 / (right - left);
            let weights: Vec<(usize, f64)> = (0..BINS)
                .map(|b| {
                    let f = bin_hz(b);
                    let up = (f - left) / (center - left);
                    let down = (right - f) / (right - center);
                    (b, up.min(down).max(0.0) * norm)
                })
                .filter(|(_, w)| *w > 0.0)
                .collect();
            let first = weights.first().map_or(0, |(b, _)| *b);
            (first, weights.into_iter().map(|(_, w)| w).collect())
        })
        .collect()
}

impl LogMel {
    pub fn new() -> LogMel {
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(N_FFT);
        // Periodic Hann (torch.hann_window): the symmetric one of N + 1 points, its last dropped.
        let window = (0..N_FFT)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64).cos())
            .collect();
        LogMel { fft, window, bands: filterbank() }
    }

    /// The features of `turn` (16 kHz, about [-1, 1]): `MEL_BANDS` rows of `FRAMES`, row-major.
    pub fn features(&self, turn: &[f32]) -> Vec<f32> {
        // The last 8 s, silence in front of a shorter turn; then zero mean, unit variance.
        let mut x = vec![0f64; WINDOW_SAMPLES];
        let kept = &turn[turn.len().saturating_sub(WINDOW_SAMPLES)..];
        for (d, s) in x[WINDOW_SAMPLES - kept.len()..].iter_mut().zip(kept) {
            *d = f64::from(*s);
        }
        let mean = x.iter().sum::<f64>() / x.len() as f64;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / x.len() as f64;
        let scale = 1.0 / (var + VARIANCE_EPS).sqrt();
        x.iter_mut().for_each(|v| *v = (*v - mean) * scale);
        // Reflect-padded by half a window on each side (the edge sample not repeated).
        let pad = N_FFT / 2;
        let mut padded = Vec::with_capacity(WINDOW_SAMPLES + 2 * pad);
        padded.extend((1..=pad).rev().map(|i| x[i]));
        padded.extend_from_slice(&x);
        padded.extend((1..=pad).map(|i| x[WINDOW_SAMPLES - 1 - i]));

        let mut frame = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut power = vec![0f64; BINS];
        let mut log = vec![0f64; MEL_BANDS * FRAMES];
        for f in 0..FRAMES {
            let start = f * HOP;
            for ((d, s), w) in frame.iter_mut().zip(&padded[start..start + N_FFT]).zip(&self.window) {
                *d = s * w;
            }
            // Sizes come from the plan: the transform cannot fail.
            let _ = self.fft.process(&mut frame, &mut spectrum);
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (m, (first, weights)) in self.bands.iter().enumerate() {
                let e: f64 = weights.iter().zip(&power[*first..]).map(|(w, p)| w * p).sum();
                log[m * FRAMES + f] = e.max(MEL_FLOOR).log10();
            }
        }
        let top = log.iter().copied().fold(f64::MIN, f64::max);
        log.iter().map(|v| ((v.max(top - 8.0) + 4.0) / 4.0) as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values of pipecat's reference (`compute_whisper_log_mel_features`, numpy) for 3 s of a
    /// chirp and a tone, padded to 8 s.
    #[test]
    fn features_match_the_reference_implementation() {
        let n = 3 * SAMPLE_RATE;
        let turn: Vec<f32> = (0..n)
            .map(|i| {
                let t = i as f64 / SAMPLE_RATE as f64;
                let tau = 2.0 * std::f64::consts::PI;
                (0.3 * (tau * (200.0 + 300.0 * t) * t).sin() + 0.05 * (tau * 3000.0 * t).sin()) as f32
            })
            .collect();
        let f = LogMel::new().features(&turn);
        assert_eq!(f.len(), MEL_BANDS * FRAMES);
        let at = |m: usize, k: usize| f[m * FRAMES + k];
        for (m, k, want) in [
            (0, 0, -0.218_398_38),
            (10, 400, -0.218_398_38),
            (40, 799, 0.728_416_44),
            (79, 500, 0.217_574_69),
            (20, 650, 0.191_319_8),
            (5, 700, -0.218_398_38),
        ] {
            assert!((at(m, k) - want).abs() < 2e-3, "[{m}][{k}] = {} against {want}", at(m, k));
        }
        let mean = f.iter().map(|v| f64::from(*v)).sum::<f64>() / f.len() as f64;
        assert!((mean - -0.133_413_88).abs() < 1e-3, "mean {mean}");
    }

    #[test]
    fn a_turn_longer_than_the_window_keeps_its_end() {
        let long: Vec<f32> = (0..10 * SAMPLE_RATE)
            .map(|i| if i < SAMPLE_RATE { 0.5 } else { ((i as f32) * 0.1).sin() * 0.2 })
            .collect();
        let end = LogMel::new().features(&long[2 * SAMPLE_RATE..]);
        assert_eq!(LogMel::new().features(&long), end);
    }
}
