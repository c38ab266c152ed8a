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

impl ToolBackend {
    /// Starts one that verifies with `secret` (`whsec_...`).
    pub fn start(secret: &str) -> ToolBackend {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/tool_backend.py");
        let mut child = Command::new(test_python())
            .arg(script)
            .arg(secret)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the tool backend (scripts/test installs its Python)");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("its first line");
        let url = line
            .trim()
            .strip_prefix("tool backend listening on ")
            .unwrap_or_else(|| panic!("the tool backend did not start: {line:?}"))
            .to_string();
        ToolBackend { _process: KillOnDrop(child), url }
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
