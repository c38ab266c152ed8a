//! Speech to text as a stream: the visitor's audio goes in while they speak, partial words
//! (from a streaming recogniser) and each turn's final words come out. Recognisers that hear a
//! turn whole (an OpenAI-compatible `POST {base_url}/audio/transcriptions`, as OpenAI,
//! speaches/faster-whisper and LocalAI answer it, and the builtin recogniser) are adapters on
//! the stream ([`WholeTurns`]); the Realtime transcription session is a streaming one
//! (`realtime_transcription`).

use super::provider::{self, ProviderCall};
use crate::agents::AgentFailure;
use futures_util::future::{BoxFuture, LocalBoxFuture};
use std::rc::Rc;
use std::sync::Arc;
use voxgate_engine::agent_voice::Transcription;
use voxgate_engine::talk::LISTEN_RATE;
use voxgate_engine::ErrorCode;

/// Hears a call's visitor.
pub trait SpeechToText: Send + Sync {
    /// Starts hearing one call; `partial` hears the words of a turn in progress as a streaming
    /// recogniser gets them (a whole-turn one never calls it).
    fn open(&self, partial: Partial) -> Box<dyn Recognition>;

    /// The rate at which the recogniser takes the visitor's speech while they speak (the call's
    /// talk machine streams it at this rate); `None`: it takes each turn whole when it ends.
    fn stream_rate(&self) -> Option<u32> {
        None
    }

    /// Gets ready for this call's turns while the call starts (a local recogniser builds its
    /// models for the agent's words); nothing by default.
    fn prepare(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// Where partial words go, on the call's voices thread.
pub type Partial = Rc<dyn Fn(String)>;

/// One call's hearing.
pub trait Recognition {
    /// The visitor's speech while they have the floor, at [`SpeechToText::stream_rate`].
    fn push(&mut self, _pcm: &[i16]) {}

    /// The turn (or the turn so far, at a pause) ends here: its words. `audio` is the whole turn
    /// at 16 kHz, for recognisers that hear it at once; a streaming one commits what was pushed.
    fn finish(&mut self, audio: Arc<[i16]>) -> LocalBoxFuture<'static, Result<Heard, AgentFailure>>;
}

/// A recogniser that hears a turn whole.
pub trait WholeTurn: Send + Sync {
    /// Mono PCM at `rate` in, the recognised words out (empty when nothing was said).
    fn transcribe(&self, audio: Arc<[i16]>, rate: u32) -> BoxFuture<'static, Result<Heard, AgentFailure>>;

    /// As [`SpeechToText::prepare`].
    fn prepare(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// The stream contract on a whole-turn recogniser: speech is not taken as it comes, and each
/// turn is transcribed whole when it ends (or at a pause, for early recognition).
pub struct WholeTurns<T: ?Sized>(pub Arc<T>);

impl<T: WholeTurn + ?Sized + 'static> SpeechToText for WholeTurns<T> {
    fn open(&self, _partial: Partial) -> Box<dyn Recognition> {
        Box::new(WholeTurns(self.0.clone()))
    }

    fn prepare(&self) -> BoxFuture<'static, ()> {
        self.0.prepare()
    }
}

impl<T: WholeTurn + ?Sized + 'static> Recognition for WholeTurns<T> {
    fn finish(&mut self, audio: Arc<[i16]>) -> LocalBoxFuture<'static, Result<Heard, AgentFailure>> {
        self.0.transcribe(audio, LISTEN_RATE)
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

impl WholeTurn for OpenAiTranscription {
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
