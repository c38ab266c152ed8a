//! Noise suppression for a visitor's turn before a recogniser hears it: RNNoise (nnnoiseless)
//! works on 10 ms frames at 48 kHz, so a turn at another rate goes up to 48 kHz, through it, and
//! back. It runs once per turn, off the media path.

use super::{AudioError, Resampler};
use nnnoiseless::DenoiseState;

/// The turn `pcm` (mono at `rate` Hz) with its steady background noise suppressed, at `rate`.
pub fn denoise(pcm: &[i16], rate: u32) -> Result<Vec<i16>, AudioError> {
    let mut up = Vec::with_capacity(pcm.len() * 48_000 / rate as usize + DenoiseState::FRAME_SIZE);
    let mut to_48k = Resampler::new(rate, 48_000)?;
    to_48k.push(pcm, &mut up)?;
    to_48k.flush(&mut up)?;
    let mut state = DenoiseState::new();
    let (mut input, mut output) = ([0f32; DenoiseState::FRAME_SIZE], [0f32; DenoiseState::FRAME_SIZE]);
    let mut clean = Vec::with_capacity(up.len());
    for chunk in up.chunks(DenoiseState::FRAME_SIZE) {
        input.fill(0.0);
        for (i, s) in chunk.iter().enumerate() {
            input[i] = f32::from(*s);
        }
        state.process_frame(&mut output, &input);
        clean.extend(output[..chunk.len()].iter().map(|s| s.clamp(-32768.0, 32767.0) as i16));
    }
    let mut back = Vec::with_capacity(pcm.len() + 1024);
    let mut to_rate = Resampler::new(48_000, rate)?;
    to_rate.push(&clean, &mut back)?;
    to_rate.flush(&mut back)?;
    back.truncate(pcm.len());
    Ok(back)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rms(pcm: &[i16]) -> f64 {
        (pcm.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / pcm.len().max(1) as f64).sqrt()
    }

    #[test]
    fn steady_noise_is_suppressed_and_the_length_kept() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let noise: Vec<i16> = (0..16_000 * 2).map(|_| rng.random_range(-600..600)).collect();
        let clean = denoise(&noise, 16_000).unwrap();
        assert_eq!(clean.len(), noise.len());
        // After RNNoise has heard a second of it, the hiss is mostly gone.
        let (before, after) = (rms(&noise[16_000..]), rms(&clean[16_000..]));
        assert!(after < before / 4.0, "noise RMS {before:.0} -> {after:.0}");
    }
}
