//! The spoken question a talking visitor asks: a WAV file (made at benchmark time, for example
//! with espeak-ng) encoded once into 20 ms Opus frames at 48 kHz as a browser encodes them, and
//! one frame of encoded silence for the rest of the time (a browser sends audio all call long).
//! It is encoded twice: full band, and limited to wideband for a server whose answer asks for
//! `maxplaybackrate=16000` (a browser honours that).

use std::path::Path;
use std::sync::Arc;
use voxgate_engine::audio::{OpusEncoder, Resampler};

const RATE: u32 = 48_000;
const FRAME: usize = 960;
/// Samples quieter than this (about -40 dBFS) are silence.
const SILENCE: u16 = 330;

/// One encoding of the question.
#[derive(Clone)]
pub struct Voice {
    pub frames: Arc<Vec<Vec<u8>>>,
    pub silence: Arc<Vec<u8>>,
}

/// The question, shared by every visitor.
#[derive(Clone)]
pub struct Speech {
    full_band: Voice,
    wideband: Voice,
}

impl std::fmt::Debug for Speech {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Speech({} frames)", self.full_band.frames.len())
    }
}

impl Speech {
    pub fn load(path: &Path) -> Result<Speech, String> {
        let pcm = read_pcm(path)?;
        Ok(Speech { full_band: encode(&pcm, None)?, wideband: encode(&pcm, Some(16_000))? })
    }

    /// Frames in the question.
    pub fn len(&self) -> usize {
        self.full_band.frames.len()
    }

    /// The encoding for a server that plays at most `max_playback_rate`.
    pub fn voice(&self, max_playback_rate: Option<u32>) -> &Voice {
        match max_playback_rate {
            Some(rate) if rate <= 16_000 => &self.wideband,
            _ => &self.full_band,
        }
    }
}

/// The WAV's speech as mono 48 kHz, its leading and trailing silence cut (a synthesiser's
/// silence would move "the end of speech" the response is timed from).
fn read_pcm(path: &Path) -> Result<Vec<i16>, String> {
    let reader = hound::WavReader::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let samples: Vec<i16> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 16) => reader.into_samples::<i16>().collect::<Result<_, _>>(),
        (hound::SampleFormat::Float, 32) => reader
            .into_samples::<f32>()
            .map(|s| s.map(|v| (v.clamp(-1.0, 1.0) * 32767.0) as i16))
            .collect::<Result<_, _>>(),
        (format, bits) => {
            return Err(format!(
                "{}: {bits}-bit {format:?} WAV is not supported; use 16-bit PCM",
                path.display()
            ))
        }
    }
    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mono: Vec<i16> = samples
        .chunks(channels)
        .map(|c| (c.iter().map(|s| i32::from(*s)).sum::<i32>() / c.len() as i32) as i16)
        .collect();
    let loud = |s: &i16| s.unsigned_abs() > SILENCE;
    let start = mono.iter().position(loud).unwrap_or(0);
    let end = mono.iter().rposition(loud).map_or(mono.len(), |e| e + 1);
    let mono = &mono[start..end.max(start)];
    let mut pcm = Vec::with_capacity(mono.len() * RATE as usize / spec.sample_rate.max(1) as usize + FRAME);
    if spec.sample_rate == RATE {
        pcm.extend_from_slice(mono);
    } else {
        let mut resampler = Resampler::new(spec.sample_rate, RATE).map_err(|e| e.to_string())?;
        resampler.push(mono, &mut pcm).map_err(|e| e.to_string())?;
    }
    if pcm.len() < FRAME {
        return Err(format!("{} holds less than 20 ms of speech", path.display()));
    }
    Ok(pcm)
}

fn encode(pcm: &[i16], max_playback_rate: Option<u32>) -> Result<Voice, String> {
    let encoder = || -> Result<OpusEncoder, String> {
        let mut e = OpusEncoder::browser_like(RATE).map_err(|e| e.to_string())?;
        if let Some(rate) = max_playback_rate {
            e.limit_bandwidth(rate).map_err(|e| e.to_string())?;
        }
        Ok(e)
    };
    let mut speaking = encoder()?;
    let mut frames = Vec::with_capacity(pcm.len() / FRAME);
    for chunk in pcm.chunks_exact(FRAME) {
        frames.push(speaking.encode(chunk).map_err(|e| e.to_string())?.to_vec());
    }
    // Silence from an encoder that has heard nothing else: a frame encoded right after speech
    // carries that speech's state, and decoded again and again it is not silent.
    let mut quiet = encoder()?;
    let mut silence = Vec::new();
    for _ in 0..5 {
        silence = quiet.encode(&[0; FRAME]).map_err(|e| e.to_string())?.to_vec();
    }
    Ok(Voice { frames: Arc::new(frames), silence: Arc::new(silence) })
}
