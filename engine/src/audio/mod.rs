//! Audio as samples, sans-IO: Opus in and out, sample-rate conversion and noise suppression.
//! What the samples mean to a conversation (voice activity, turns, playout) is `crate::talk`.

pub mod codec;
pub mod denoise;
pub mod resample;

pub use codec::{is_dtx, BrowserDtx, OpusDecoder, OpusEncoder};
pub use denoise::denoise;
pub use resample::Resampler;

/// One frame of the call's audio: 20 ms, as WebRTC carries Opus.
pub const FRAME_MS: u32 = 20;

/// Samples in one 20 ms frame at `rate` Hz.
pub const fn frame_samples(rate: u32) -> usize {
    (rate / 1000 * FRAME_MS) as usize
}

/// Why audio could not be processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudioError {
    #[error("Opus: {0}")]
    Opus(String),
    #[error("resampling {from} Hz to {to} Hz: {why}")]
    Resample { from: u32, to: u32, why: String },
    #[error("voice activity detection refused a {0}-sample frame")]
    Vad(usize),
}
