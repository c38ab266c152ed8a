//! An agent's voice (`voice` on the agent): what answers a call. `echo` plays the visitor back
//! (the media benchmarks' load); `pipeline` hears with an OpenAI-compatible transcription
//! endpoint, answers with the agent's text backend and speaks with an OpenAI-compatible speech
//! endpoint; `realtime` relays the call to an OpenAI Realtime-compatible WebSocket. Talking
//! voices share the turn detection settings, named after OpenAI Realtime's `server_vad`.

use crate::spec::{self, SpecError};
use crate::talk::turn_detector::{SemanticTurn, TurnConfig};
use serde::{Deserialize, Serialize};

/// How a talking agent decides whose turn it is (OpenAI Realtime's `server_vad`, plus
/// `interrupt_min_ms` and the idle prompt's timeout).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TurnDetection {
    /// 0 to 1: higher needs louder, clearer speech.
    pub threshold: f32,
    pub prefix_padding_ms: u32,
    pub silence_duration_ms: u32,
    /// Whether the visitor may talk over the agent (and stop it).
    pub interrupt_response: bool,
    pub interrupt_min_ms: u32,
    /// An interruption holds the agent this long for words the recogniser accepts; a cough or
    /// an "uh-huh" resumes it where it paused (pipeline and builtin voices, which hear the
    /// words themselves). `null`: an interruption stops the agent at once.
    pub false_interruption_ms: Option<u32>,
    /// With no speech on either side this long, the agent asks once if the visitor is still
    /// there, then ends the call (`idle_timeout`). Unset: never.
    pub idle_timeout_ms: Option<u32>,
    /// `server_vad` (silence alone ends a turn) or `semantic` (the end-of-turn model judges
    /// each pause; silence decides when it cannot).
    #[serde(rename = "type")]
    pub kind: TurnDetectionKind,
    /// `semantic`: how readily a pause ends the turn, after OpenAI's `semantic_vad`.
    pub eagerness: Eagerness,
    /// `semantic`: the silence after which the model is asked, and a finished turn ends.
    pub min_silence_ms: u32,
    /// `semantic`: the longest silence a turn the model judges unfinished waits for more.
    pub max_wait_ms: u32,
}

/// Who decides that the visitor has finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TurnDetectionKind {
    #[default]
    ServerVad,
    Semantic,
}

/// How readily the end-of-turn model's "finished" ends a turn: `low` lets the visitor take
/// their time (the model must be sure), `high` answers as soon as it is likely; `auto` is
/// `medium`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Eagerness {
    Low,
    Medium,
    High,
    #[default]
    Auto,
}

impl Eagerness {
    /// The model's probability of "finished" at or above which the turn ends.
    pub fn finished_at(self) -> f32 {
        match self {
            Eagerness::Low => 0.7,
            Eagerness::Medium | Eagerness::Auto => 0.5,
            Eagerness::High => 0.3,
        }
    }
}

impl Default for TurnDetection {
    fn default() -> Self {
        let t = TurnConfig::default();
        TurnDetection {
            threshold: t.threshold,
            prefix_padding_ms: t.prefix_padding_ms,
            silence_duration_ms: t.silence_duration_ms,
            interrupt_response: t.interrupt_response,
            interrupt_min_ms: t.interrupt_min_ms,
            false_interruption_ms: t.false_interruption_ms,
            idle_timeout_ms: t.idle_timeout_ms,
            kind: TurnDetectionKind::ServerVad,
            eagerness: Eagerness::Auto,
            min_silence_ms: SemanticTurn::default().min_silence_ms,
            max_wait_ms: SemanticTurn::default().max_wait_ms,
        }
    }
}

impl TurnDetection {
    pub fn config(&self) -> TurnConfig {
        TurnConfig {
            threshold: self.threshold,
            prefix_padding_ms: self.prefix_padding_ms,
            silence_duration_ms: self.silence_duration_ms,
            interrupt_response: self.interrupt_response,
            interrupt_min_ms: self.interrupt_min_ms,
            false_interruption_ms: self.false_interruption_ms,
            idle_timeout_ms: self.idle_timeout_ms,
            pause_ms: None,
            semantic: (self.kind == TurnDetectionKind::Semantic).then_some(SemanticTurn {
                min_silence_ms: self.min_silence_ms,
                max_wait_ms: self.max_wait_ms,
                finished_at: self.eagerness.finished_at(),
                // The plan says whether the call's voice hears words at each pause.
                words: false,
            }),
        }
    }

    fn validate(&self, at: &str) -> Result<(), SpecError> {
        if !(0.0..=1.0).contains(&self.threshold) || self.threshold.is_nan() {
            return Err(SpecError::new(format!("{at}.threshold"), "must be between 0 and 1"));
        }
        spec::range(&format!("{at}.prefix_padding_ms"), self.prefix_padding_ms, 20, 2000)?;
        spec::range(&format!("{at}.silence_duration_ms"), self.silence_duration_ms, 100, 5000)?;
        spec::range(&format!("{at}.interrupt_min_ms"), self.interrupt_min_ms, 40, 2000)?;
        if let Some(ms) = self.false_interruption_ms {
            spec::range(&format!("{at}.false_interruption_ms"), ms, 200, 10_000)?;
        }
        if let Some(idle) = self.idle_timeout_ms {
            spec::range(&format!("{at}.idle_timeout_ms"), idle, 1000, 600_000)?;
        }
        spec::range(&format!("{at}.min_silence_ms"), self.min_silence_ms, 100, 2000)?;
        spec::range(&format!("{at}.max_wait_ms"), self.max_wait_ms, 500, 10_000)?;
        if self.kind == TurnDetectionKind::Semantic {
            if self.min_silence_ms >= self.silence_duration_ms {
                return Err(SpecError::new(
                    format!("{at}.min_silence_ms"),
                    format!(
                        "must be shorter than silence_duration_ms ({} ms), which decides when the model cannot",
                        self.silence_duration_ms
                    ),
                ));
            }
            if self.max_wait_ms < self.silence_duration_ms {
                return Err(SpecError::new(
                    format!("{at}.max_wait_ms"),
                    format!("must be at least silence_duration_ms ({} ms)", self.silence_duration_ms),
                ));
            }
        }
        Ok(())
    }
}

/// An OpenAI-compatible HTTP endpoint: `base_url` ends in `/v1`; the key, if any, is read from
/// the server's environment variable `api_key_env` (its name is stored, never the key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transcription {
    pub base_url: String,
    pub model: String,
    /// ISO-639-1 language of the visitor's speech (`en`), helps recognition.
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Hear the visitor as they speak, over the Realtime transcription WebSocket
    /// (`{base_url}/realtime?intent=transcription`), whose partial words reach the visitor's
    /// captions before their turn ends; otherwise each turn is sent whole to
    /// `{base_url}/audio/transcriptions`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub streaming: bool,
}

/// An OpenAI-compatible `POST {base_url}/audio/speech` (asked for `pcm`, 24 kHz).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Speech {
    pub base_url: String,
    pub model: String,
    pub voice: String,
    #[serde(default)]
    pub api_key_env: Option<String>,
}

/// What the agent says when it cannot answer (a provider failed or timed out).
pub const DEFAULT_FALLBACK: &str = "Sorry, I couldn't answer that just now. Could you say it again?";

/// What the agent asks an idle visitor.
pub const DEFAULT_IDLE_PROMPT: &str = "Are you still there?";

fn default_fallback() -> String {
    DEFAULT_FALLBACK.into()
}

fn default_builtin_voice() -> String {
    "en-us".into()
}

fn default_words_per_minute() -> u32 {
    175
}

fn default_idle_prompt() -> String {
    DEFAULT_IDLE_PROMPT.into()
}

/// Where a turn failed, for metrics and the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnStage {
    SpeechToText,
    Answer,
    TextToSpeech,
    Realtime,
}

impl TurnStage {
    pub const ALL: [TurnStage; 4] =
        [TurnStage::SpeechToText, TurnStage::Answer, TurnStage::TextToSpeech, TurnStage::Realtime];

    pub fn as_str(self) -> &'static str {
        match self {
            TurnStage::SpeechToText => "stt",
            TurnStage::Answer => "answer",
            TurnStage::TextToSpeech => "tts",
            TurnStage::Realtime => "realtime",
        }
    }
}

/// The agent's voice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum VoiceSpec {
    /// The visitor's audio back after the agent's `echo_delay_ms`.
    #[default]
    Echo,
    /// Speech to text, the agent's text backend, text to speech.
    Pipeline {
        transcription: Transcription,
        speech: Speech,
        #[serde(default)]
        turn_detection: TurnDetection,
        #[serde(default = "default_fallback")]
        fallback: String,
        #[serde(default = "default_idle_prompt")]
        idle_prompt: String,
    },
    /// Speech recognised and spoken on this machine (PocketSphinx listening for the agent's own
    /// words, espeak-ng speaking), the agent's text backend answering: no provider, no network.
    Builtin {
        /// An espeak-ng voice (`en-us`, `en-gb`, `en-us+f3`).
        #[serde(default = "default_builtin_voice")]
        voice: String,
        #[serde(default = "default_words_per_minute")]
        words_per_minute: u32,
        #[serde(default)]
        turn_detection: TurnDetection,
        #[serde(default = "default_fallback")]
        fallback: String,
        #[serde(default = "default_idle_prompt")]
        idle_prompt: String,
    },
    /// A relay to an OpenAI Realtime-compatible WebSocket, `{base_url}/realtime?model=...`.
    Realtime {
        base_url: String,
        model: String,
        #[serde(default)]
        voice: Option<String>,
        #[serde(default)]
        api_key_env: Option<String>,
        /// The model that transcribes the visitor's words (default `whisper-1`).
        #[serde(default)]
        transcription_model: Option<String>,
        #[serde(default)]
        turn_detection: TurnDetection,
        #[serde(default = "default_fallback")]
        fallback: String,
        #[serde(default = "default_idle_prompt")]
        idle_prompt: String,
    },
}

impl VoiceSpec {
    pub fn is_echo(&self) -> bool {
        matches!(self, VoiceSpec::Echo)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            VoiceSpec::Echo => "echo",
            VoiceSpec::Pipeline { .. } => "pipeline",
            VoiceSpec::Builtin { .. } => "builtin",
            VoiceSpec::Realtime { .. } => "realtime",
        }
    }

    /// The turn detection of a talking voice.
    pub fn turn_detection(&self) -> Option<&TurnDetection> {
        match self {
            VoiceSpec::Echo => None,
            VoiceSpec::Pipeline { turn_detection, .. }
            | VoiceSpec::Builtin { turn_detection, .. }
            | VoiceSpec::Realtime { turn_detection, .. } => Some(turn_detection),
        }
    }

    /// Rewrites the fallback and idle lines (to fill a session's variables into them).
    pub fn fill_lines(&mut self, fill: impl Fn(&str) -> String) {
        match self {
            VoiceSpec::Echo => {}
            VoiceSpec::Pipeline { fallback, idle_prompt, .. }
            | VoiceSpec::Builtin { fallback, idle_prompt, .. }
            | VoiceSpec::Realtime { fallback, idle_prompt, .. } => {
                *fallback = fill(fallback);
                *idle_prompt = fill(idle_prompt);
            }
        }
    }

    /// The line a talking voice says when it cannot answer, and its idle prompt.
    pub fn lines(&self) -> Option<(&str, &str)> {
        match self {
            VoiceSpec::Echo => None,
            VoiceSpec::Pipeline { fallback, idle_prompt, .. }
            | VoiceSpec::Builtin { fallback, idle_prompt, .. }
            | VoiceSpec::Realtime { fallback, idle_prompt, .. } => Some((fallback, idle_prompt)),
        }
    }

    /// Every environment variable the voice reads a key from.
    pub fn key_envs(&self) -> Vec<&str> {
        match self {
            VoiceSpec::Echo | VoiceSpec::Builtin { .. } => vec![],
            VoiceSpec::Pipeline { transcription, speech, .. } => transcription
                .api_key_env
                .iter()
                .chain(speech.api_key_env.iter())
                .map(String::as_str)
                .collect(),
            VoiceSpec::Realtime { api_key_env, .. } => api_key_env.iter().map(String::as_str).collect(),
        }
    }

    pub fn validate(&self) -> Result<(), SpecError> {
        match self {
            VoiceSpec::Echo => Ok(()),
            VoiceSpec::Pipeline { transcription, speech, turn_detection, fallback, idle_prompt } => {
                spec::url("voice.transcription.base_url", &transcription.base_url, &["https", "http"])?;
                spec::text("voice.transcription.model", &transcription.model, 1, 200)?;
                if let Some(language) = &transcription.language {
                    let ok = (2..=8).contains(&language.len())
                        && language.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-');
                    if !ok {
                        return Err(SpecError::new(
                            "voice.transcription.language",
                            "must be a language code such as en",
                        ));
                    }
                }
                key_env("voice.transcription.api_key_env", &transcription.api_key_env)?;
                spec::url("voice.speech.base_url", &speech.base_url, &["https", "http"])?;
                spec::text("voice.speech.model", &speech.model, 1, 200)?;
                spec::text("voice.speech.voice", &speech.voice, 1, 100)?;
                key_env("voice.speech.api_key_env", &speech.api_key_env)?;
                turn_detection.validate("voice.turn_detection")?;
                spec::text("voice.fallback", fallback, 1, 500)?;
                spec::text("voice.idle_prompt", idle_prompt, 1, 500)
            }
            VoiceSpec::Builtin { voice, words_per_minute, turn_detection, fallback, idle_prompt } => {
                let ok = !voice.is_empty()
                    && voice.len() <= 40
                    && voice.bytes().all(|b| b.is_ascii_alphanumeric() || b"-+_".contains(&b));
                if !ok {
                    return Err(SpecError::new(
                        "voice.voice",
                        "must be an espeak-ng voice name such as en-us, en-gb or en-us+f3",
                    ));
                }
                spec::range("voice.words_per_minute", *words_per_minute, 80, 450)?;
                turn_detection.validate("voice.turn_detection")?;
                spec::text("voice.fallback", fallback, 1, 500)?;
                spec::text("voice.idle_prompt", idle_prompt, 1, 500)
            }
            VoiceSpec::Realtime {
                base_url,
                model,
                voice,
                api_key_env,
                transcription_model,
                turn_detection,
                fallback,
                idle_prompt,
            } => {
                spec::url("voice.base_url", base_url, &["wss", "ws", "https", "http"])?;
                spec::text("voice.model", model, 1, 200)?;
                spec::opt_text("voice.voice", voice, 100)?;
                spec::opt_text("voice.transcription_model", transcription_model, 200)?;
                key_env("voice.api_key_env", api_key_env)?;
                turn_detection.validate("voice.turn_detection")?;
                spec::text("voice.fallback", fallback, 1, 500)?;
                spec::text("voice.idle_prompt", idle_prompt, 1, 500)
            }
        }
    }
}

/// `api_key_env` names an environment variable; it is never the key itself.
pub fn key_env(field: &str, env: &Option<String>) -> Result<(), SpecError> {
    let Some(env) = env else { return Ok(()) };
    let ok =
        !env.is_empty() && env.len() <= 100 && env.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(SpecError::new(
            field,
            "must be the NAME of an environment variable (letters, digits, _), not the key itself",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<VoiceSpec, SpecError> {
        let voice: VoiceSpec =
            serde_json::from_value(v).map_err(|e| SpecError::new("voice", e.to_string()))?;
        voice.validate().map(|()| voice)
    }

    #[test]
    fn semantic_turn_detection_is_validated_and_reaches_the_detector() {
        let builtin = |t: serde_json::Value| parse(json!({"type": "builtin", "turn_detection": t}));
        let v = builtin(json!({"type": "semantic", "eagerness": "high"})).unwrap();
        let config = v.turn_detection().unwrap().config();
        assert_eq!(
            config.semantic,
            Some(SemanticTurn { min_silence_ms: 200, max_wait_ms: 3000, finished_at: 0.3, words: false })
        );
        assert_eq!(
            builtin(json!({})).unwrap().turn_detection().unwrap().config().semantic,
            None,
            "server_vad by default"
        );
        let bad = builtin(json!({"type": "semantic", "min_silence_ms": 600})).unwrap_err();
        assert_eq!(bad.field, "voice.turn_detection.min_silence_ms");
        assert!(bad.message.contains("silence_duration_ms"), "{}", bad.message);
        let bad =
            builtin(json!({"type": "semantic", "silence_duration_ms": 800, "max_wait_ms": 700})).unwrap_err();
        assert_eq!(bad.field, "voice.turn_detection.max_wait_ms");
        assert!(builtin(json!({"type": "semantic_vad"})).is_err(), "an unknown type is refused");
        assert!(builtin(json!({"type": "semantic", "eagerness": "eager"})).is_err());
    }

    #[test]
    fn the_false_interruption_window_defaults_to_the_anchor_can_be_off_and_is_bounded() {
        let builtin = |t: serde_json::Value| parse(json!({"type": "builtin", "turn_detection": t}));
        let window = |v: VoiceSpec| v.turn_detection().unwrap().config().false_interruption_ms;
        assert_eq!(window(builtin(json!({})).unwrap()), Some(1500));
        assert_eq!(
            window(builtin(json!({"false_interruption_ms": null})).unwrap()),
            None,
            "null: stop at once"
        );
        assert_eq!(window(builtin(json!({"false_interruption_ms": 800})).unwrap()), Some(800));
        for bad in [100, 20_000] {
            let e = builtin(json!({"false_interruption_ms": bad})).unwrap_err();
            assert_eq!(e.field, "voice.turn_detection.false_interruption_ms", "{bad}");
        }
    }

    #[test]
    fn a_pipeline_takes_the_anchors_defaults_and_names_a_bad_field() {
        let v = parse(json!({"type": "pipeline",
            "transcription": {"base_url": "https://api.openai.com/v1", "model": "whisper-1", "api_key_env": "OPENAI_API_KEY"},
            "speech": {"base_url": "https://api.openai.com/v1", "model": "tts-1", "voice": "alloy"}}))
        .unwrap();
        let t = v.turn_detection().unwrap();
        assert_eq!((t.threshold, t.prefix_padding_ms, t.silence_duration_ms), (0.5, 300, 500));
        assert_eq!(v.lines(), Some((DEFAULT_FALLBACK, DEFAULT_IDLE_PROMPT)));
        assert_eq!(v.key_envs(), ["OPENAI_API_KEY"]);
        let bad = parse(json!({"type": "pipeline",
            "transcription": {"base_url": "https://x/v1", "model": "m"},
            "speech": {"base_url": "https://x/v1", "model": "m", "voice": "v"},
            "turn_detection": {"silence_duration_ms": 20}}))
        .unwrap_err();
        assert_eq!(bad.field, "voice.turn_detection.silence_duration_ms");
        let bad = parse(
            json!({"type": "realtime", "base_url": "wss://x/v1", "model": "m", "api_key_env": "sk-abc-123"}),
        )
        .unwrap_err();
        assert_eq!(bad.field, "voice.api_key_env");
        let bad = parse(json!({"type": "realtime", "base_url": "wss://x/v1", "model": "m", "turn_detection": {"threshold": 2.0}})).unwrap_err();
        assert_eq!(bad.field, "voice.turn_detection.threshold");
        assert_eq!(parse(json!({"type": "echo"})).unwrap(), VoiceSpec::Echo);
    }

    #[test]
    fn a_builtin_voice_needs_nothing_and_names_a_bad_voice() {
        let v = parse(json!({"type": "builtin"})).unwrap();
        assert_eq!(v.kind(), "builtin");
        assert!(v.key_envs().is_empty(), "no provider, no key");
        assert_eq!(v.turn_detection().unwrap().silence_duration_ms, 500);
        let VoiceSpec::Builtin { voice, words_per_minute, .. } = &v else { panic!("{v:?}") };
        assert_eq!((voice.as_str(), *words_per_minute), ("en-us", 175));
        assert!(parse(json!({"type": "builtin", "voice": "en-us+f3", "words_per_minute": 150})).is_ok());
        assert_eq!(parse(json!({"type": "builtin", "voice": "en us; rm"})).unwrap_err().field, "voice.voice");
        assert_eq!(
            parse(json!({"type": "builtin", "words_per_minute": 20})).unwrap_err().field,
            "voice.words_per_minute"
        );
    }
}
