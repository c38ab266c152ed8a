//! The builtin voice's speech recogniser: a sidecar process (`speech/recognizer.py`, PocketSphinx
//! 5 from PyPI) that voxgate starts with the Python given by `--speech-python`, watches, and
//! starts again when it exits (after 1 s, doubling to 30 s while it keeps failing). It serves an
//! OpenAI-compatible transcription endpoint on loopback, so the builtin voice's speech to text is
//! the same request a provider gets ([`LocalRecognition`]). The script travels inside the binary.

use super::provider::ProviderCall;
use super::speech_to_text::{Heard, Request, WholeTurn};
use crate::agents::AgentFailure;
use futures_util::future::BoxFuture;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use voxgate_engine::audio::denoise;
use voxgate_engine::ErrorCode;

/// The sidecar's source, run with `python -c`.
const SCRIPT: &str = include_str!("../../../speech/recognizer.py");
const LISTENING: &str = "voxgate recognizer listening on ";
/// How long the sidecar may take to say it listens (it loads a 135k-word dictionary).
const START_TIMEOUT: Duration = Duration::from_secs(60);
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(30);
/// A run this long resets the retry delay.
const STABLE: Duration = Duration::from_secs(60);

/// Where the recogniser stands (`/readyz` reports it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecognizerState {
    /// No `--speech-python`: builtin voices cannot listen.
    Off,
    Starting,
    Ready {
        url: String,
        pid: u32,
    },
    /// It exited or failed to start; it is started again after a pause.
    Down {
        why: String,
    },
}

impl RecognizerState {
    pub fn as_str(&self) -> &'static str {
        match self {
            RecognizerState::Off => "off",
            RecognizerState::Starting => "starting",
            RecognizerState::Ready { .. } => "ready",
            RecognizerState::Down { .. } => "down",
        }
    }
}

/// The recogniser process as the rest of the node sees it.
#[derive(Debug)]
pub struct Recognizer {
    state: Mutex<RecognizerState>,
}

impl Recognizer {
    /// A node without the builtin recogniser.
    pub fn off() -> Arc<Recognizer> {
        Arc::new(Recognizer { state: Mutex::new(RecognizerState::Off) })
    }

    /// Starts the sidecar with `python` and keeps it running for the life of the actix system
    /// (its process is killed when the system stops).
    pub fn start(python: PathBuf) -> Arc<Recognizer> {
        let recognizer = Arc::new(Recognizer { state: Mutex::new(RecognizerState::Starting) });
        actix::spawn(supervise(python, recognizer.clone()));
        recognizer
    }

    pub fn state(&self) -> RecognizerState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, state: RecognizerState) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }
}

async fn supervise(python: PathBuf, recognizer: Arc<Recognizer>) {
    let mut retry = FIRST_RETRY;
    loop {
        recognizer.set(RecognizerState::Starting);
        let began = Instant::now();
        let why = run_once(&python, &recognizer).await;
        tracing::warn!(python = %python.display(), error = %why, "the speech recognizer stopped; starting it again");
        recognizer.set(RecognizerState::Down { why });
        if began.elapsed() >= STABLE {
            retry = FIRST_RETRY;
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// Runs the sidecar until it exits; why it ended.
async fn run_once(python: &PathBuf, recognizer: &Recognizer) -> String {
    let spawned = tokio::process::Command::new(python)
        .args(["-c", SCRIPT, "--listen", "127.0.0.1:0"])
        // Never written: the sidecar exits when this pipe closes, so it dies with voxgate
        // even when voxgate is killed (kill_on_drop covers only an orderly stop).
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return format!("cannot run {}: {e}", python.display()),
    };
    let _lifeline = child.stdin.take();
    let pid = child.id().unwrap_or_default();
    let Some(stdout) = child.stdout.take() else { return "no stdout from the recognizer".into() };
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(START_TIMEOUT, lines.next_line()).await;
    match first {
        Ok(Ok(Some(line))) if line.starts_with(LISTENING) => {
            let url = line[LISTENING.len()..].trim().to_string();
            tracing::info!(%url, pid, "speech recognizer ready");
            recognizer.set(RecognizerState::Ready { url, pid });
        }
        Ok(Ok(Some(line))) => return format!("the recognizer said {line:?} instead of where it listens"),
        Ok(Ok(None)) => {
            let status = child.wait().await.map(|s| s.to_string()).unwrap_or_default();
            return format!(
                "the recognizer exited before listening ({status}); is pocketsphinx installed for {}?",
                python.display()
            );
        }
        Ok(Err(e)) => return format!("cannot read the recognizer's output: {e}"),
        Err(_) => return format!("the recognizer did not listen within {} s", START_TIMEOUT.as_secs()),
    }
    // Whatever else it prints goes nowhere; its exit is what matters.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    match child.wait().await {
        Ok(status) => format!("the recognizer exited ({status})"),
        Err(e) => format!("lost the recognizer: {e}"),
    }
}

/// Speech to text by the builtin recogniser, listening for one agent's words.
pub struct LocalRecognition {
    recognizer: Arc<Recognizer>,
    http: reqwest::Client,
    timeout: Duration,
    /// The agent's own text: what the recogniser's language model is built from.
    corpus: Arc<str>,
}

impl LocalRecognition {
    pub fn new(
        recognizer: Arc<Recognizer>,
        http: reqwest::Client,
        timeout: Duration,
        corpus: String,
    ) -> Self {
        LocalRecognition { recognizer, http, timeout, corpus: corpus.into() }
    }
}

impl WholeTurn for LocalRecognition {
    /// The recogniser builds an agent's models on its first turn (about 0.1 s in each worker):
    /// a tenth of a second of silence while the greeting plays builds them ahead of the
    /// visitor's first question.
    fn prepare(&self) -> BoxFuture<'static, ()> {
        let silence: Arc<[i16]> = vec![0; 1600].into();
        let ready = self.transcribe(silence, 16_000);
        Box::pin(async move {
            let _ = ready.await;
        })
    }

    fn transcribe(&self, audio: Arc<[i16]>, rate: u32) -> BoxFuture<'static, Result<Heard, AgentFailure>> {
        let state = self.recognizer.state();
        let (http, timeout, corpus) = (self.http.clone(), self.timeout, self.corpus.clone());
        Box::pin(async move {
            let url =
                match state {
                    RecognizerState::Ready { url, .. } => url,
                    RecognizerState::Off => return Err(AgentFailure::new(
                        ErrorCode::AgentNotConfigured,
                        "the builtin voice needs the speech recognizer: start voxgate with --speech-python \
                         (a Python with PyPI's pocketsphinx; scripts/demo sets it up)",
                    )),
                    RecognizerState::Starting => {
                        return Err(AgentFailure::new(
                            ErrorCode::AgentError,
                            "the speech recognizer is still starting",
                        ))
                    }
                    RecognizerState::Down { why } => {
                        return Err(AgentFailure::new(
                            ErrorCode::AgentError,
                            format!("the speech recognizer is down ({why})"),
                        ))
                    }
                };
            let call = ProviderCall::new(http, &format!("{url}/v1"), "audio/transcriptions", None, timeout);
            let request = Request {
                model: "builtin".into(),
                language: Some("en".into()),
                prompt: Some(corpus.to_string()),
            };
            // PocketSphinx hears steady background noise as words: RNNoise takes it out first
            // (about 24 ms of CPU a turn, on the blocking pool, off this thread).
            let noisy = audio.clone();
            let audio = match tokio::task::spawn_blocking(move || denoise(&noisy, rate)).await {
                Ok(Ok(clean)) => Arc::from(clean),
                _ => audio,
            };
            request.send(call, audio, rate).await
        })
    }
}
