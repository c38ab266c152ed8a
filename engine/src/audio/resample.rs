//! Sample-rate conversion for speech that arrives at a rate other than the one it is used at
//! (a TTS voice at 22.05 kHz for a 24 kHz encoder, 16 kHz capture for a 24 kHz realtime
//! provider), with rubato's synchronous FFT resampler: fixed ratio, low delay, no allocation per
//! chunk. Input comes in any sizes; output comes as soon as a whole chunk is in.

use super::AudioError;
use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _};

/// A streaming converter of mono 16-bit PCM from one rate to another.
pub struct Resampler {
    from: u32,
    to: u32,
    inner: Option<Fft<f32>>,
    /// Input waiting for a whole chunk.
    pending: Vec<f32>,
    chunk_out: Vec<f32>,
    /// Output still to drop: the resampler's delay, silence that would only add latency.
    skip: usize,
    /// Samples taken in and given out since the start (or the last flush), so a flush gives
    /// out exactly the converted length.
    taken: u64,
    given: u64,
}

impl Resampler {
    /// Converts `from` Hz to `to` Hz, in chunks of about 20 ms. The same rate passes through.
    pub fn new(from: u32, to: u32) -> Result<Resampler, AudioError> {
        let error = |why: String| AudioError::Resample { from, to, why };
        let inner = if from == to {
            None
        } else {
            let chunk = (from / 50).max(1) as usize;
            Some(
                Fft::<f32>::new(from as usize, to as usize, chunk, 1, FixedSync::Input)
                    .map_err(|e| error(e.to_string()))?,
            )
        };
        let out_max = inner.as_ref().map_or(0, |r| r.output_frames_max());
        let skip = inner.as_ref().map_or(0, |r| r.output_delay());
        Ok(Resampler {
            from,
            to,
            inner,
            pending: Vec::new(),
            chunk_out: vec![0.0; out_max],
            skip,
            taken: 0,
            given: 0,
        })
    }

    pub fn rates(&self) -> (u32, u32) {
        (self.from, self.to)
    }

    /// Converts what it can of `input`, appending it to `out`; the rest waits for more.
    pub fn push(&mut self, input: &[i16], out: &mut Vec<i16>) -> Result<(), AudioError> {
        self.taken += input.len() as u64;
        self.convert(input, out)
    }

    fn convert(&mut self, input: &[i16], out: &mut Vec<i16>) -> Result<(), AudioError> {
        let Some(inner) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            self.given += input.len() as u64;
            return Ok(());
        };
        self.pending.extend(input.iter().map(|s| *s as f32 / 32768.0));
        let error = |why: String| AudioError::Resample { from: self.from, to: self.to, why };
        loop {
            let need = inner.input_frames_next();
            if self.pending.len() < need {
                return Ok(());
            }
            let chunk =
                InterleavedSlice::new(&self.pending[..need], 1, need).map_err(|e| error(e.to_string()))?;
            let frames_out = self.chunk_out.len();
            let mut output = InterleavedSlice::new_mut(&mut self.chunk_out, 1, frames_out)
                .map_err(|e| error(e.to_string()))?;
            let (used, made) =
                inner.process_into_buffer(&chunk, &mut output, None).map_err(|e| error(e.to_string()))?;
            let dropped = self.skip.min(made);
            self.skip -= dropped;
            out.extend(
                self.chunk_out[dropped..made].iter().map(|s| (s * 32768.0).clamp(-32768.0, 32767.0) as i16),
            );
            self.given += (made - dropped) as u64;
            self.pending.drain(..used);
        }
    }

    /// The rest of the utterance: everything taken in comes out, converted (the end of an
    /// utterance; the converter then starts afresh).
    pub fn flush(&mut self, out: &mut Vec<i16>) -> Result<(), AudioError> {
        let Some(inner) = self.inner.as_ref() else { return Ok(()) };
        let owed = (self.taken * self.to as u64 / self.from as u64).saturating_sub(self.given) as usize;
        // Silence pushes the tail through the resampler's delay.
        let padding = vec![0; inner.input_frames_next() * 2 + self.pending.len()];
        let mut tail = Vec::new();
        while tail.len() < owed {
            let before = tail.len();
            self.convert(&padding, &mut tail)?;
            if tail.len() == before {
                break;
            }
        }
        tail.truncate(owed);
        out.extend_from_slice(&tail);
        let fresh = Resampler::new(self.from, self.to)?;
        *self = fresh;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_of_audio_comes_out_a_second_long() {
        for (from, to) in [(22_050, 24_000), (16_000, 24_000), (24_000, 16_000), (48_000, 16_000)] {
            let mut r = Resampler::new(from, to).unwrap();
            let mut out = Vec::new();
            // In uneven pieces, as a synthesizer streams it.
            let input: Vec<i16> = (0..from as usize)
                .map(|i| ((i as f64 * 300.0 * std::f64::consts::TAU / from as f64).sin() * 9000.0) as i16)
                .collect();
            for piece in input.chunks(777) {
                r.push(piece, &mut out).unwrap();
            }
            r.flush(&mut out).unwrap();
            assert_eq!(out.len(), to as usize, "{from}->{to}: exactly a second");
            let peak = out.iter().map(|s| s.unsigned_abs()).max().unwrap();
            assert!(peak > 7000 && peak < 11000, "{from}->{to}: the tone keeps its level ({peak})");
        }
        let mut same = Resampler::new(24_000, 24_000).unwrap();
        let mut out = Vec::new();
        same.push(&[1, 2, 3], &mut out).unwrap();
        assert_eq!(out, [1, 2, 3]);
    }
}
