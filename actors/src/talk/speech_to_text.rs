//! Speech to text for the `pipeline` voice: the visitor's turn as a WAV file to an
//! OpenAI-compatible `POST {base_url}/audio/transcriptions` (OpenAI, speaches/faster-whisper,
//! LocalAI), answered with `{"text": ...}`. Behind a trait, so a local recogniser plugs in.

use super::provider::{self, ProviderCall};
use crate::agents::AgentFailure;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use voxgate_engine::agent_voice::Transcription;
use voxgate_engine::ErrorCode;

/// Turns a visitor's turn into words.
pub trait SpeechToText: Send + Sync {
    /// Mono PCM at `rate` in, the recognised words out (empty when nothing was said).
    fn transcribe(&self, audio: Arc<[i16]>, rate: u32) -> BoxFuture<'static, Result<Heard, AgentFailure>>;

    /// Gets ready for this call's turns while the call starts (a local recogniser builds its
    /// models for the agent's words); nothing by default.
    fn prepare(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// What a recogniser heard in one turn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heard {
    /// The words, trimmed (empty when nothing was said).
    pub text: String,
    /// The same turn heard with an open vocabulary, from a recogniser whose `text` is
    /// constrained to the agent's words (the builtin one): the builtin agent answers only from a
    /// passage this shares a word with. `None` from providers, whose vocabulary is open.
    pub open_text: Option<String>,
}

/// An OpenAI-compatible transcription endpoint.
pub struct OpenAiTranscription {
    call: ProviderCall,
    model: String,
    language: Option<String>,
}

impl OpenAiTranscription {
    pub fn new(http: reqwest::Client, spec: &Transcription, timeout: std::time::Duration) -> Self {
        OpenAiTranscription {
            call: ProviderCall::new(
                http,
                &spec.base_url,
                "audio/transcriptions",
                spec.api_key_env.clone(),
                timeout,
            ),
            model: spec.model.clone(),
            language: spec.language.clone(),
        }
    }
}

/// A WAV file (RIFF, PCM s16le, mono) of `audio`.
pub fn wav(audio: &[i16], rate: u32) -> Result<Vec<u8>, hound::Error> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::with_capacity(44 + audio.len() * 2));
    {
        let mut writer = hound::WavWriter::new(&mut bytes, spec)?;
        let mut samples = writer.get_i16_writer(audio.len() as u32);
        for s in audio {
            samples.write_sample(*s);
        }
        samples.flush()?;
        writer.finalize()?;
    }
    Ok(bytes.into_inner())
}

impl SpeechToText for OpenAiTranscription {
    fn transcribe(&self, audio: Arc<[i16]>, rate: u32) -> BoxFuture<'static, Result<Heard, AgentFailure>> {
        let request = Request { model: self.model.clone(), language: self.language.clone(), prompt: None };
        Box::pin(request.send(self.call.clone(), audio, rate))
    }
}

/// One transcription request's fields besides the audio.
pub struct Request {
    pub model: String,
    pub language: Option<String>,
    /// Text the recogniser should expect (OpenAI's `prompt`; the builtin recogniser builds its
    /// language model from it).
    pub prompt: Option<String>,
}

impl Request {
    /// POSTs the turn as a WAV with these fields; the recognised words, trimmed.
    pub async fn send(self, call: ProviderCall, audio: Arc<[i16]>, rate: u32) -> Result<Heard, AgentFailure> {
        let wav = wav(&audio, rate).map_err(|e| {
            AgentFailure::new(ErrorCode::AgentError, format!("could not encode the turn as WAV: {e}"))
        })?;
        let file = reqwest::multipart::Part::bytes(wav)
            .file_name("turn.wav")
            .mime_str("audio/wav")
            .map_err(|e| AgentFailure::new(ErrorCode::AgentError, e.to_string()))?;
        let mut form = reqwest::multipart::Form::new()
            .part("file", file)
            .text("model", self.model)
            .text("response_format", "json");
        if let Some(language) = self.language {
            form = form.text("language", language);
        }
        if let Some(prompt) = self.prompt {
            form = form.text("prompt", prompt);
        }
        let response = call.send(|r| r.multipart(form)).await?;
        let body = call.body(response).await?;
        let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            AgentFailure::new(
                ErrorCode::AgentError,
                format!("{} answered a malformed body ({e}): {}", call.url, provider::snippet(&body)),
            )
        })?;
        let open_text = value["open_text"].as_str().map(|t| t.trim().to_string());
        match value["text"].as_str() {
            Some(text) => Ok(Heard { text: text.trim().to_string(), open_text }),
            None => Err(AgentFailure::new(
                ErrorCode::AgentError,
                format!("{} answered without a \"text\" field: {}", call.url, provider::snippet(&body)),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wav_has_a_riff_header_and_every_sample() {
        let bytes = wav(&[0, 1, -1, i16::MAX], 16_000).unwrap();
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(&bytes[8..12], b"WAVE");
        assert_eq!(bytes.len(), 44 + 8);
        assert_eq!(u32::from_le_bytes(bytes[24..28].try_into().unwrap()), 16_000);
    }
}
