//! A fake voice provider for tests and benchmarks: the OpenAI-compatible endpoints voxgate's
//! talking agents call (`/v1/audio/transcriptions`, `/v1/chat/completions`,
//! `/v1/audio/speech`, and the Realtime WebSocket `/v1/realtime`, a conversation or, with
//! `?intent=transcription`, a transcription session), answering with a known
//! transcript, a known answer and generated speech after fixed delays, so voxgate's own share
//! of a turn's latency can be measured apart from the provider's. It stands in for services a
//! test cannot reach; it is not part of voxgate.
//!
//! `POST /tool` stands in for a customer's server tool (answers after `--tool-delay-ms`).
//! `POST /control/modes` with `{"stt"|"chat"|"tts"|"realtime": "ok"|"fail"|"hang"|"garble"|"drop"}`
//! makes an endpoint fail until set back; `GET /control/seen` lists what was asked of it.

mod audio;
mod realtime;

use axum::extract::State;
use axum::routing::{get, post};
use axum::serve::{Listener, ListenerExt};
use axum::{Json, Router};
use clap::Parser;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Parser, Debug, Clone)]
#[command(about = "A fake OpenAI-compatible voice provider with fixed delays, for tests and benchmarks.")]
pub struct Opts {
    /// Address to listen on (port 0 picks a free one; the line `fake provider listening on
    /// http://ADDR` says which).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Delay before a transcription is answered.
    #[arg(long, default_value_t = 100)]
    stt_delay_ms: u64,
    /// Delay before a chat completion's first token.
    #[arg(long, default_value_t = 100)]
    first_token_delay_ms: u64,
    /// Delay before a speech request's (or a realtime response's) first audio.
    #[arg(long, default_value_t = 50)]
    first_audio_delay_ms: u64,
    /// What every transcription says the visitor said.
    #[arg(long, default_value = "How much does shipping cost?")]
    transcript: String,
    /// Transcriptions answer these in turn, `|` between them, and start over after the last
    /// (an empty one says nothing was heard); unset, every one says `--transcript`.
    #[arg(long, value_delimiter = '|')]
    transcripts: Vec<String>,
    /// What chat completions and realtime responses answer.
    #[arg(long, default_value = "Shipping costs five euros. Orders over fifty euros ship free.")]
    answer: String,
    /// Milliseconds of generated speech per character of text.
    #[arg(long, default_value_t = 55)]
    speech_ms_per_char: u64,
    /// A tool the model calls when a request offers it (chat completions and realtime
    /// responses): it asks for the tool first, then answers `The tool said: RESULT.`
    #[arg(long)]
    tool_call: Option<String>,
    /// The arguments of that call, JSON.
    #[arg(long, default_value = "{}")]
    tool_arguments: String,
    /// How long `POST /tool` (a customer's tool backend, for benchmarks) takes to answer.
    #[arg(long, default_value_t = 50)]
    tool_delay_ms: u64,
}

impl Opts {
    /// The tool to call, when `tools` (a request's definitions, chat or realtime) offer it.
    pub fn tool_offered(&self, tools: &Value) -> Option<&str> {
        let name = self.tool_call.as_deref()?;
        let offered = tools.as_array()?.iter().any(|t| t["function"]["name"] == name || t["name"] == name);
        offered.then_some(name)
    }
}

/// How an endpoint behaves now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ok,
    /// HTTP 500, or a realtime `error` event.
    Fail,
    /// Never answers.
    Hang,
    /// A malformed body or event.
    Garble,
    /// Realtime only: closes the connection.
    Drop,
}

impl Mode {
    fn parse(text: &str) -> Option<Mode> {
        Some(match text {
            "ok" => Mode::Ok,
            "fail" => Mode::Fail,
            "hang" => Mode::Hang,
            "garble" => Mode::Garble,
            "drop" => Mode::Drop,
            _ => return None,
        })
    }
}

/// The fake's settings, modes and log.
pub struct Fake {
    pub opts: Opts,
    modes: Mutex<HashMap<String, Mode>>,
    seen: Mutex<Vec<Value>>,
    transcribed: std::sync::atomic::AtomicUsize,
}

impl Fake {
    pub fn mode(&self, endpoint: &str) -> Mode {
        self.modes.lock().unwrap_or_else(|e| e.into_inner()).get(endpoint).copied().unwrap_or(Mode::Ok)
    }

    /// What the next transcription says.
    pub fn next_transcript(&self) -> &str {
        let n = self.transcribed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.opts.transcripts.len() {
            0 => &self.opts.transcript,
            len => &self.opts.transcripts[n % len],
        }
    }

    pub fn saw(&self, what: Value) {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).push(what);
    }

    pub fn delay(ms: u64) -> tokio::time::Sleep {
        tokio::time::sleep(Duration::from_millis(ms))
    }
}

async fn set_modes(State(fake): State<Arc<Fake>>, Json(body): Json<Value>) -> Json<Value> {
    let mut modes = fake.modes.lock().unwrap_or_else(|e| e.into_inner());
    for (endpoint, mode) in body.as_object().into_iter().flatten() {
        if let Some(mode) = mode.as_str().and_then(Mode::parse) {
            modes.insert(endpoint.clone(), mode);
        }
    }
    Json(json!({"ok": true}))
}

/// A customer's server tool for benchmarks: answers after `--tool-delay-ms` (it does not check
/// signatures; the tests do that with an independent verifier).
async fn tool(State(fake): State<Arc<Fake>>, Json(body): Json<Value>) -> Json<Value> {
    fake.saw(json!({"endpoint": "tool", "tool": body["tool"]}));
    Fake::delay(fake.opts.tool_delay_ms).await;
    Json(json!({"order_id": body["arguments"]["order_id"], "status": "shipped"}))
}

async fn seen(State(fake): State<Arc<Fake>>) -> Json<Value> {
    Json(Value::Array(fake.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::io::Result<()> {
    let opts = Opts::parse();
    // Streamed answers leave in several small writes: without TCP_NODELAY, Nagle holds each
    // after the first until the client's delayed ACK, a stall a real provider does not add.
    let listener = tokio::net::TcpListener::bind(&opts.listen).await?.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let fake = Arc::new(Fake {
        opts,
        modes: Mutex::default(),
        seen: Mutex::default(),
        transcribed: Default::default(),
    });
    let app = Router::new()
        .route("/v1/audio/transcriptions", post(audio::transcribe))
        .route("/v1/audio/speech", post(audio::speech))
        .route("/v1/chat/completions", post(audio::chat))
        .route("/v1/realtime", get(realtime::connect))
        .route("/tool", post(tool))
        .route("/control/modes", post(set_modes))
        .route("/control/seen", get(seen))
        .with_state(fake);
    println!("fake provider listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
