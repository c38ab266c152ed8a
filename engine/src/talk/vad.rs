//! Voice activity: WebRTC's detector (libfvad, through `webrtc-vad`) on 20 ms frames of 16 kHz
//! audio, behind an energy floor. WebRTC's VAD is a Gaussian mixture over a few sub-bands: a few
//! microseconds a frame (docs/BENCHMARKS.md), which is what lets one worker listen to hundreds of
//! calls; a neural detector (Silero) hears better in noise but costs about a millisecond a frame
//! and needs an ONNX runtime this project cannot install from a registry.

use crate::audio::{frame_samples, AudioError};

/// The rate the detector listens at.
pub const VAD_RATE: u32 = 16_000;

/// Quieter than this (RMS, in 16-bit units; about -54 dBFS) is silence whatever WebRTC's
/// detector says: line noise and a muted microphone's dither are not speech.
const ENERGY_FLOOR: f64 = 65.0;

/// A frame this far below the speaker's recent peak (35 dB, in amplitude) is the tail of their
/// speech, not more of it: the first frame after a word decodes with the codec's ringing in it,
/// and WebRTC's detector calls that speech, which would end every turn a frame late.
const RELATIVE_FLOOR: f64 = 1.0 / 56.0;

/// How fast the recent peak fades, per 20 ms frame (35 dB in about four seconds).
const PEAK_DECAY: f64 = 0.98;

/// libfvad's state: a heap struct reached only through `&mut`, with no thread-affine or global
/// state, so moving it between threads is sound (the crate does not say so itself).
struct Fvad(webrtc_vad::Vad);

// SAFETY: see above; a `VoiceDetector` is used by one thread at a time (it is `!Sync`).
unsafe impl Send for Fvad {}

/// Says whether each 20 ms frame of 16 kHz audio holds speech.
pub struct VoiceDetector {
    vad: Fvad,
    /// The loudest recent speech frame's RMS, fading.
    peak: f64,
}

impl VoiceDetector {
    /// `threshold` is OpenAI Realtime's `server_vad.threshold` (0 to 1: higher needs louder,
    /// clearer speech), mapped onto WebRTC's four aggressiveness modes.
    pub fn new(threshold: f32) -> VoiceDetector {
        use webrtc_vad::VadMode;
        let mode = match threshold {
            t if t < 0.25 => VadMode::Quality,
            t if t < 0.5 => VadMode::LowBitrate,
            t if t < 0.75 => VadMode::Aggressive,
            _ => VadMode::VeryAggressive,
        };
        VoiceDetector {
            vad: Fvad(webrtc_vad::Vad::new_with_rate_and_mode(webrtc_vad::SampleRate::Rate16kHz, mode)),
            peak: 0.0,
        }
    }

    /// Whether `frame` (20 ms at 16 kHz) is speech.
    pub fn is_speech(&mut self, frame: &[i16]) -> Result<bool, AudioError> {
        if frame.len() != frame_samples(VAD_RATE) {
            return Err(AudioError::Vad(frame.len()));
        }
        let level = rms(frame);
        self.peak *= PEAK_DECAY;
        if level < ENERGY_FLOOR || level < self.peak * RELATIVE_FLOOR {
            return Ok(false);
        }
        let speech = self.vad.0.is_voice_segment(frame).map_err(|()| AudioError::Vad(frame.len()))?;
        if speech {
            self.peak = self.peak.max(level);
        }
        Ok(speech)
    }
}

/// Root mean square of `samples`.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|s| (*s as f64) * (*s as f64)).sum::<f64>() / samples.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A voiced, speech-like frame: a 150 Hz buzz with harmonics, as a vowel is.
    fn vowel(frame: usize, at: usize) -> Vec<i16> {
        (0..frame)
            .map(|i| {
                let t = (at + i) as f64 / VAD_RATE as f64;
                let s: f64 =
                    (1..=12).map(|h| (t * 150.0 * h as f64 * std::f64::consts::TAU).sin() / h as f64).sum();
                (s * 5000.0) as i16
            })
            .collect()
    }

    #[test]
    fn a_vowel_is_speech_and_silence_is_not() {
        let mut vad = VoiceDetector::new(0.5);
        let n = frame_samples(VAD_RATE);
        let mut speech = 0;
        for f in 0..25 {
            speech += vad.is_speech(&vowel(n, f * n)).unwrap() as usize;
        }
        assert!(speech >= 20, "{speech} of 25 voiced frames heard as speech");
        for _ in 0..25 {
            assert!(!vad.is_speech(&vec![0; n]).unwrap());
        }
        let hiss: Vec<i16> = (0..n).map(|i| ((i * 7919) % 61) as i16 - 30).collect();
        // Right after loud speech, a frame 40 dB down (a codec's ringing) is not speech.
        let mut fresh = VoiceDetector::new(0.5);
        for f in 0..10 {
            assert!(fresh.is_speech(&vowel(n, f * n)).unwrap());
        }
        let ringing: Vec<i16> = vowel(n, 10 * n).iter().map(|s| s / 100).collect();
        assert!(!fresh.is_speech(&ringing).unwrap());
        assert!(!vad.is_speech(&hiss).unwrap(), "quiet noise is under the energy floor");
        assert_eq!(vad.is_speech(&[0; 10]), Err(AudioError::Vad(10)));
    }
}
