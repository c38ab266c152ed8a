//! Text to speech on this machine, for the `builtin` voice: espeak-ng (Debian `espeak-ng`), one
//! process per sentence, its WAV resampled to the playout's rate. Robotic but clear, 10-20 ms a
//! sentence, and it needs no provider, account or network. English voices only, as the builtin
//! recogniser is.

use super::text_to_speech::{TextToSpeech, SPEECH_RATE};
use crate::agents::AgentFailure;
use futures_util::stream::{self, BoxStream, StreamExt};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use voxgate_engine::audio::Resampler;
use voxgate_engine::ErrorCode;

/// The synthesiser's program, found on the PATH.
pub const ESPEAK: &str = "espeak-ng";

/// espeak-ng with one voice and pace.
#[derive(Debug, Clone)]
pub struct LocalSpeech {
    program: String,
    voice: String,
    words_per_minute: u32,
}

impl LocalSpeech {
    /// `voice` is an espeak-ng voice name (`en-us`, `en-gb`, `en-us+f3`).
    pub fn new(voice: &str, words_per_minute: u32) -> LocalSpeech {
        LocalSpeech { program: ESPEAK.into(), voice: voice.into(), words_per_minute }
    }

    /// Runs another program in espeak-ng's place (tests, a non-standard install).
    pub fn with_program(mut self, program: impl Into<String>) -> LocalSpeech {
        self.program = program.into();
        self
    }

    async fn say(self, text: String) -> Result<Vec<i16>, AgentFailure> {
        let failed = |what: String| AgentFailure::new(ErrorCode::AgentError, what);
        let mut child = tokio::process::Command::new(&self.program)
            .args(["--stdout", "--stdin", "-v", &self.voice, "-s", &self.words_per_minute.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                failed(format!(
                    "cannot run {} for the builtin voice ({e}); install Debian's espeak-ng",
                    self.program
                ))
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            // A closed pipe shows as a failed exit below, with espeak-ng's own message.
            let _ = stdin.write_all(text.as_bytes()).await;
        }
        let out =
            child.wait_with_output().await.map_err(|e| failed(format!("{} failed: {e}", self.program)))?;
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr);
            return Err(failed(format!("{} failed ({}): {}", self.program, out.status, why.trim())));
        }
        let (rate, pcm) =
            wav_samples(&out.stdout).map_err(|e| failed(format!("{} wrote {e}", self.program)))?;
        let mut resampler = Resampler::new(rate, SPEECH_RATE).map_err(|e| failed(e.to_string()))?;
        let mut speech = Vec::with_capacity(pcm.len() * SPEECH_RATE as usize / rate.max(1) as usize + 1);
        resampler.push(&pcm, &mut speech).map_err(|e| failed(e.to_string()))?;
        resampler.flush(&mut speech).map_err(|e| failed(e.to_string()))?;
        if speech.is_empty() {
            return Err(failed(format!("{} said nothing for {text:?}", self.program)));
        }
        Ok(speech)
    }
}

/// Mono 16-bit samples and their rate from a WAV that espeak-ng streamed: its header gives a
/// placeholder length (it cannot seek back on a pipe), so the samples run to the end of the bytes.
fn wav_samples(wav: &[u8]) -> Result<(u32, Vec<i16>), String> {
    let reader = hound::WavReader::new(std::io::Cursor::new(wav)).map_err(|e| format!("no WAV ({e})"))?;
    let spec = reader.spec();
    if spec.channels != 1 || spec.bits_per_sample != 16 || spec.sample_format != hound::SampleFormat::Int {
        return Err(format!(
            "a WAV of {} channels, {} bits: the builtin voice reads mono 16-bit",
            spec.channels, spec.bits_per_sample
        ));
    }
    let samples = reader.into_samples::<i16>().map_while(Result::ok).collect();
    Ok((spec.sample_rate, samples))
}

impl TextToSpeech for LocalSpeech {
    fn synthesize(&self, text: String) -> BoxStream<'static, Result<Vec<i16>, AgentFailure>> {
        stream::once(self.clone().say(text)).boxed()
    }

    fn voice_key(&self) -> String {
        format!("{} {} {}", self.program, self.voice, self.words_per_minute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rms(pcm: &[i16]) -> f64 {
        (pcm.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / pcm.len().max(1) as f64).sqrt()
    }

    #[tokio::test]
    async fn a_sentence_comes_out_as_speech_at_the_playout_rate() {
        let speech = LocalSpeech::new("en-us", 175);
        let pieces: Vec<_> = speech.synthesize("Shipping costs five euros.".into()).collect().await;
        assert_eq!(pieces.len(), 1, "one piece per sentence");
        let pcm = pieces.into_iter().next().unwrap().expect("espeak-ng speaks (scripts/test installs it)");
        let seconds = pcm.len() as f64 / f64::from(SPEECH_RATE);
        assert!((0.8..4.0).contains(&seconds), "{seconds} s for four words");
        assert!(rms(&pcm) > 500.0, "speech, not silence: rms {}", rms(&pcm));
    }

    #[tokio::test]
    async fn a_missing_synthesiser_is_a_clear_error() {
        let speech = LocalSpeech::new("en-us", 175).with_program("/nonexistent/espeak-ng");
        let pieces: Vec<_> = speech.synthesize("Hello.".into()).collect().await;
        let err = pieces.into_iter().next().unwrap().expect_err("no program, no speech");
        assert_eq!(err.code, ErrorCode::AgentError);
        assert!(err.message.contains("install Debian's espeak-ng"), "{}", err.message);
    }

    #[test]
    fn a_wav_that_is_not_mono_16_bit_is_named() {
        let mut wav = std::io::Cursor::new(Vec::new());
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 22_050,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(&mut wav, spec).unwrap();
        w.write_sample(0i16).unwrap();
        w.write_sample(0i16).unwrap();
        w.finalize().unwrap();
        let err = wav_samples(wav.get_ref()).unwrap_err();
        assert!(err.contains("2 channels"), "{err}");
        assert!(wav_samples(b"not a wav").unwrap_err().starts_with("no WAV"));
    }
}
