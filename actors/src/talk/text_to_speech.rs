//! Text to speech for the `pipeline` voice: an OpenAI-compatible `POST {base_url}/audio/speech`
//! (OpenAI, Kokoro-FastAPI, LocalAI) asked for `pcm` (24 kHz mono s16le), read as it streams so
//! the first audio plays before the rest is made. Behind a trait, so a local synthesiser plugs in.

use super::provider::{self, ProviderCall};
use crate::agents::AgentFailure;
use futures_util::stream::{self, BoxStream, StreamExt};
use serde_json::json;
use voxgate_engine::agent_voice::Speech;
use voxgate_engine::ErrorCode;

/// The rate every synthesiser speaks at (what the call's playout takes).
pub const SPEECH_RATE: u32 = voxgate_engine::talk::SPEAK_RATE;

/// Says a sentence.
pub trait TextToSpeech: Send + Sync {
    /// Mono PCM at [`SPEECH_RATE`], in pieces as they are made; the stream ends after the last,
    /// or with one `Err`.
    fn synthesize(&self, text: String) -> BoxStream<'static, Result<Vec<i16>, AgentFailure>>;

    /// What makes two synthesisers sound the same (for caching fixed lines).
    fn voice_key(&self) -> String;
}

/// An OpenAI-compatible speech endpoint.
pub struct OpenAiSpeech {
    call: ProviderCall,
    model: String,
    voice: String,
}

impl OpenAiSpeech {
    pub fn new(http: reqwest::Client, spec: &Speech, timeout: std::time::Duration) -> Self {
        OpenAiSpeech {
            call: ProviderCall::new(http, &spec.base_url, "audio/speech", spec.api_key_env.clone(), timeout),
            model: spec.model.clone(),
            voice: spec.voice.clone(),
        }
    }
}

/// Little-endian 16-bit samples from a byte stream cut anywhere: an odd byte waits for the next
/// piece.
#[derive(Default)]
pub struct PcmBytes {
    carry: Option<u8>,
}

impl PcmBytes {
    pub fn samples(&mut self, bytes: &[u8]) -> Vec<i16> {
        let mut out = Vec::with_capacity(bytes.len() / 2 + 1);
        let mut rest = bytes;
        if let (Some(low), Some((&high, tail))) = (self.carry, rest.split_first()) {
            out.push(i16::from_le_bytes([low, high]));
            self.carry = None;
            rest = tail;
        }
        let mut pairs = rest.chunks_exact(2);
        out.extend(pairs.by_ref().map(|p| i16::from_le_bytes([p[0], p[1]])));
        if let [odd] = pairs.remainder() {
            self.carry = Some(*odd);
        }
        out
    }
}

impl TextToSpeech for OpenAiSpeech {
    fn synthesize(&self, text: String) -> BoxStream<'static, Result<Vec<i16>, AgentFailure>> {
        let call = self.call.clone();
        let body = json!({"model": self.model, "voice": self.voice, "input": text, "response_format": "pcm"});
        let start = stream::once(async move {
            let response = call.send(|r| r.json(&body)).await?;
            let kind = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            // A JSON or HTML body with status 200 is an error page, not audio.
            if kind.starts_with("application/json") || kind.starts_with("text/") {
                let body = call.body(response).await?;
                return Err(AgentFailure::new(
                    ErrorCode::AgentError,
                    format!(
                        "{} answered {kind} instead of PCM audio: {}",
                        call.url,
                        provider::snippet(&body)
                    ),
                ));
            }
            Ok((call, response.bytes_stream()))
        });
        start
            .flat_map(|started| match started {
                Err(f) => stream::iter([Err(f)]).boxed(),
                Ok((call, pieces)) => {
                    stream::unfold(Some((call, pieces, PcmBytes::default(), 0usize)), |state| async move {
                        let (call, mut pieces, mut pcm, total) = state?;
                        loop {
                            match call.next(&mut pieces).await {
                                Err(f) => return Some((Err(f), None)),
                                Ok(None) if total == 0 => {
                                    let f = AgentFailure::new(
                                        ErrorCode::AgentError,
                                        format!("{} answered no audio", call.url),
                                    );
                                    return Some((Err(f), None));
                                }
                                Ok(None) => return None,
                                Ok(Some(piece)) => {
                                    let samples = pcm.samples(&piece);
                                    if !samples.is_empty() {
                                        let total = total + samples.len();
                                        return Some((Ok(samples), Some((call, pieces, pcm, total))));
                                    }
                                }
                            }
                        }
                    })
                    .boxed()
                }
            })
            .boxed()
    }

    fn voice_key(&self) -> String {
        format!("{} {} {}", self.call.url, self.model, self.voice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_split_across_pieces_are_joined() {
        let mut pcm = PcmBytes::default();
        assert_eq!(pcm.samples(&[1, 0, 2]), [1]);
        assert_eq!(pcm.samples(&[0, 0xff]), [2]);
        assert_eq!(pcm.samples(&[0x7f]), [i16::MAX]);
        assert_eq!(pcm.samples(&[]), [] as [i16; 0]);
    }
}
