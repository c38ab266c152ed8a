//! The fake voice provider (`voxgate-fake-provider`) as a test starts it: OpenAI-compatible
//! transcription, chat, speech and Realtime endpoints with fixed delays, whose failures a test
//! switches on and off, and which logs what it was asked.

use crate::{workspace_bin, KillOnDrop};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// A running fake provider; killed when dropped.
pub struct FakeProvider {
    _process: KillOnDrop,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    http: reqwest::blocking::Client,
}

impl FakeProvider {
    /// Starts one with `args` (delays, transcript, answer).
    pub fn start(args: &[&str]) -> FakeProvider {
        let mut child = Command::new(workspace_bin("voxgate-fake-provider"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the fake provider");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("its first line");
        let url =
            line.trim().strip_prefix("fake provider listening on ").expect("the listening line").to_string();
        FakeProvider { _process: KillOnDrop(child), url, http: reqwest::blocking::Client::new() }
    }

    /// The `base_url` an agent's voice points at.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.url)
    }

    /// Sets endpoints' modes: `{"stt": "fail"}`; `ok` sets one back.
    pub fn modes(&self, modes: Value) {
        self.http.post(format!("{}/control/modes", self.url)).json(&modes).send().expect("set modes");
    }

    /// Everything it was asked, oldest first.
    pub fn seen(&self) -> Vec<Value> {
        let v: Value =
            self.http.get(format!("{}/control/seen", self.url)).send().expect("seen").json().expect("json");
        v.as_array().cloned().unwrap_or_default()
    }

    /// What it was asked on `endpoint` (`stt`, `chat`, `tts`, `realtime`).
    pub fn seen_on(&self, endpoint: &str) -> Vec<Value> {
        self.seen().into_iter().filter(|s| s["endpoint"] == endpoint).collect()
    }
}

/// A `pipeline` voice on `fake`, with `turn_detection` settings.
pub fn pipeline_voice(fake: &FakeProvider, turn_detection: Value) -> Value {
    serde_json::json!({
        "type": "pipeline",
        "transcription": {"base_url": fake.base_url(), "model": "whisper-1", "language": "en"},
        "speech": {"base_url": fake.base_url(), "model": "tts-1", "voice": "alloy"},
        "turn_detection": turn_detection,
    })
}

/// The `openai` text backend on `fake`.
pub fn chat_backend(fake: &FakeProvider) -> Value {
    serde_json::json!({"type": "openai", "base_url": fake.base_url(), "model": "fake-chat"})
}
