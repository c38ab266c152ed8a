//! The spoken question a talking visitor asks: a WAV file (made at benchmark time, for example
//! with espeak-ng) encoded once into 20 ms Opus frames at 48 kHz as a browser encodes them, and
//! the encoded silence that follows it (a browser sends audio all call long). It is encoded as
//! the server's answer asks a browser to: full band, or limited to wideband for
//! `maxplaybackrate=16000`; sending all the time, or with DTX for `usedtx=1` (a browser honours
//! both). With DTX the silence is what WebRTC's Opus wrapper sends: the encoder's hangover after
//! speech, the first DTX packet of each pause, and a comfort-noise update every 400 ms.

use std::path::Path;
use std::sync::Arc;
use voxgate_engine::audio::{is_dtx, BrowserDtx, OpusEncoder, Resampler};

const RATE: u32 = 48_000;
const FRAME: usize = 960;
/// Samples quieter than this (about -40 dBFS) are silence.
const SILENCE: u16 = 330;

/// One encoding of the question. A `None` frame is one the browser would not send (a pause
/// in sending, DTX).
#[derive(Clone)]
pub struct Voice {
    pub frames: Arc<Vec<Option<Vec<u8>>>>,
    pub silence: Arc<Silence>,
}

/// The silence after speech, frame by frame: the first frames as encoded, then the last
/// cycle of them over and over.
pub struct Silence {
    frames: Vec<Option<Vec<u8>>>,
    cycle_from: usize,
}

impl Silence {
    /// Frame `k` of the silence after speech, or `None` when the browser sends nothing then.
    pub fn frame(&self, k: usize) -> Option<&[u8]> {
        let i = match k.checked_sub(self.frames.len()) {
            None => k,
            Some(past) => self.cycle_from + past % (self.frames.len() - self.cycle_from),
        };
        self.frames[i].as_deref()
    }
}

/// How the server asked the browser to encode.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Encoding {
    pub max_playback_rate: Option<u32>,
    pub dtx: bool,
}

/// The question, shared by every visitor, in each encoding a server may ask for.
#[derive(Clone)]
pub struct Speech {
    frames: usize,
    voices: Vec<(Encoding, Voice)>,
}

impl std::fmt::Debug for Speech {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Speech({} frames)", self.frames)
    }
}

impl Speech {
    pub fn load(path: &Path) -> Result<Speech, String> {
        let pcm = read_pcm(path)?;
        let mut voices = Vec::new();
        for max_playback_rate in [None, Some(16_000)] {
            for dtx in [false, true] {
                let encoding = Encoding { max_playback_rate, dtx };
                voices.push((encoding, encode(&pcm, encoding)?));
            }
        }
        Ok(Speech { frames: pcm.len() / FRAME, voices })
    }

    /// Frames in the question.
    pub fn len(&self) -> usize {
        self.frames
    }

    /// The encoding for a server that plays at most `max_playback_rate` and asked for DTX or
    /// not.
    pub fn voice(&self, max_playback_rate: Option<u32>, dtx: bool) -> &Voice {
        let wideband = max_playback_rate.is_some_and(|rate| rate <= 16_000);
        let wanted = Encoding { max_playback_rate: wideband.then_some(16_000), dtx };
        let found = self.voices.iter().find(|(e, _)| *e == wanted).or(self.voices.first());
        &found.expect("four encodings are made").1
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

/// Silence encoded after the question: long enough for the encoder's DTX to settle into its
/// cycle (a comfort-noise update every 400 ms).
const SILENCE_FRAMES: usize = 100;

fn encode(pcm: &[i16], encoding: Encoding) -> Result<Voice, String> {
    let encoder = || -> Result<OpusEncoder, String> {
        let mut e = OpusEncoder::browser_like(RATE).map_err(|e| e.to_string())?;
        if let Some(rate) = encoding.max_playback_rate {
            e.limit_bandwidth(rate).map_err(|e| e.to_string())?;
        }
        if encoding.dtx {
            e.enable_dtx().map_err(|e| e.to_string())?;
        }
        Ok(e)
    };
    if !encoding.dtx {
        let mut speaking = encoder()?;
        let mut frames = Vec::with_capacity(pcm.len() / FRAME);
        for chunk in pcm.chunks_exact(FRAME) {
            frames.push(Some(speaking.encode(chunk).map_err(|e| e.to_string())?.to_vec()));
        }
        // Silence from an encoder that has heard nothing else: a frame encoded right after
        // speech carries that speech's state, and decoded again and again it is not silent.
        let mut quiet = encoder()?;
        let mut silence = Vec::new();
        for _ in 0..5 {
            silence = quiet.encode(&[0; FRAME]).map_err(|e| e.to_string())?.to_vec();
        }
        let silence = Silence { frames: vec![Some(silence)], cycle_from: 0 };
        return Ok(Voice { frames: Arc::new(frames), silence: Arc::new(silence) });
    }
    // With DTX, what the encoder gives is sent as WebRTC's Opus wrapper sends it: the first
    // DTX packet of a pause, none of the rest. The silence comes from an encoder that has heard
    // nothing else, as without DTX, so both encodings end the question alike.
    let sent = |browser: &mut BrowserDtx, packet: &[u8]| browser.sends(packet).then(|| packet.to_vec());
    let (mut speaking, mut browser) = (encoder()?, BrowserDtx::default());
    let mut frames = Vec::with_capacity(pcm.len() / FRAME);
    for chunk in pcm.chunks_exact(FRAME) {
        frames.push(sent(&mut browser, speaking.encode(chunk).map_err(|e| e.to_string())?));
    }
    let (mut quiet, mut browser) = (encoder()?, BrowserDtx::default());
    let mut silence = Vec::with_capacity(SILENCE_FRAMES);
    for _ in 0..SILENCE_FRAMES {
        silence.push(sent(&mut browser, quiet.encode(&[0; FRAME]).map_err(|e| e.to_string())?));
    }
    // The cycle: from the last comfort-noise update but one (a packet more than DTX's) to the
    // last.
    let updates: Vec<usize> =
        (0..silence.len()).filter(|&i| silence[i].as_deref().is_some_and(|p| !is_dtx(p))).collect();
    let cycle_from = match updates.as_slice() {
        [.., before, last] if *last > SILENCE_FRAMES / 2 => {
            silence.truncate(*last);
            *before
        }
        _ => return Err("the encoder's DTX gave no steady cycle of comfort-noise updates".into()),
    };
    let silence = Silence { frames: silence, cycle_from };
    Ok(Voice { frames: Arc::new(frames), silence: Arc::new(silence) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question() -> Vec<i16> {
        (0..RATE as usize)
            .map(|i| ((i as f64 * 300.0 * std::f64::consts::TAU / RATE as f64).sin() * 9000.0) as i16)
            .collect()
    }

    #[test]
    fn without_dtx_every_frame_is_sent() {
        let voice = encode(&question(), Encoding { max_playback_rate: Some(16_000), dtx: false }).unwrap();
        assert_eq!(voice.frames.len(), 50);
        assert!(voice.frames.iter().all(Option::is_some));
        assert!((0..500).all(|k| voice.silence.frame(k).is_some()));
    }

    #[test]
    fn with_dtx_the_silence_after_speech_sends_about_five_packets_a_second() {
        let voice = encode(&question(), Encoding { max_playback_rate: Some(16_000), dtx: true }).unwrap();
        assert!(voice.frames.iter().all(Option::is_some), "the question is sent whole");
        // The encoder's hangover right after speech is sent.
        assert!((0..5).all(|k| voice.silence.frame(k).is_some()));
        // Ten seconds of silence later, steady: an update and a DTX packet every 400 ms.
        let sent: Vec<usize> = (500..1000).filter(|&k| voice.silence.frame(k).is_some()).collect();
        assert!((40..=60).contains(&sent.len()), "{} packets in 10 s", sent.len());
        let dtx = sent.iter().filter(|&&k| voice.silence.frame(k).is_some_and(is_dtx));
        assert!((20..=30).contains(&dtx.count()));
    }
}
