//! A customer's backend for server tools (`tests/tools/tool_backend.py`): it verifies each
//! request's Standard Webhooks signature with PyPI's `standardwebhooks`, an implementation
//! independent of voxgate's, and answers by path (`ok`, `fail`, `slow`, `big`, `redirect`).

use crate::KillOnDrop;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A running tool backend; killed when dropped.
pub struct ToolBackend {
    _process: KillOnDrop,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

/// The Python with `standardwebhooks` installed (scripts/test makes it).
pub fn test_python() -> PathBuf {
    std::env::var_os("VOXGATE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-venv/bin/python"))
}

/// Starts `tests/tools/{script}` with `args`; the process and the URL its first line names
/// after `{what} listening on `.
fn start_script(script: &str, args: &[&str], what: &str) -> (KillOnDrop, String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools").join(script);
    let mut child = Command::new(test_python())
        .arg(path)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start the {what} (scripts/test installs its Python): {e}"));
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("its first line");
    let url = line
        .trim()
        .strip_prefix(&format!("{what} listening on "))
        .unwrap_or_else(|| panic!("the {what} did not start: {line:?}"))
        .to_string();
    (KillOnDrop(child), url)
}

impl ToolBackend {
    /// Starts one that verifies with `secret` (`whsec_...`).
    pub fn start(secret: &str) -> ToolBackend {
        let (process, url) = start_script("tool_backend.py", &[secret], "tool backend");
        ToolBackend { _process: process, url }
    }

    /// The URL of a tool that behaves as `behaviour`.
    pub fn tool_url(&self, behaviour: &str) -> String {
        format!("{}/tools/{behaviour}", self.url)
    }

    /// What arrived: `{path, verified, why, body, webhook_id}`, oldest first.
    pub fn seen(&self) -> Vec<Value> {
        let v: Value =
            reqwest::blocking::get(format!("{}/seen", self.url)).expect("seen").json().expect("json");
        v.as_array().cloned().unwrap_or_default()
    }
}

/// A customer's webhook receiver (`tests/tools/webhook_receiver.py`): it verifies each delivery
/// with PyPI's `standardwebhooks` and can be told to answer 503 a number of times.
pub struct WebhookReceiver {
    _process: KillOnDrop,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl WebhookReceiver {
    pub fn start() -> WebhookReceiver {
        let (process, url) = start_script("webhook_receiver.py", &[], "webhook receiver");
        WebhookReceiver { _process: process, url }
    }

    /// Registers this receiver on `f`'s workspace for `events` and gives it the new secret;
    /// the created endpoint (with its secret, shown once).
    pub fn register(&self, f: &crate::Fixture, events: Value) -> Value {
        let body = serde_json::json!({"url": format!("{}/hook", self.url), "events": events});
        let created = f.api.control("POST", "/v1/webhooks", &f.key, Some(body)).expect(201).body;
        let secret = created["secret"].as_str().expect("the secret, once");
        assert!(secret.starts_with("whsec_"), "{created}");
        self.control(serde_json::json!({"secret": secret}));
        created
    }

    /// Sets its secret, or how many deliveries to refuse with 503: `{"secret": ...}`, `{"fail": 2}`.
    pub fn control(&self, body: Value) {
        reqwest::blocking::Client::new()
            .post(format!("{}/control", self.url))
            .json(&body)
            .send()
            .expect("control");
    }

    /// Every delivery: `{webhook_id, verified, why, status, body}`, oldest first.
    pub fn seen(&self) -> Vec<Value> {
        let v: Value =
            reqwest::blocking::get(format!("{}/seen", self.url)).expect("seen").json().expect("json");
        v.as_array().cloned().unwrap_or_default()
    }
}
