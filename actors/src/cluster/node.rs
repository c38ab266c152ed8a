//! This node's name and the URL browsers reach it at, which sessions it carries name.

use std::time::Duration;

/// Who this node is among the nodes sharing a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Unique among the nodes on one database (`--node`, default the host name).
    pub id: String,
    /// The base URL of this node's browser endpoints (`--public-url`).
    pub public_url: String,
    /// How long a node may miss heartbeats before another closes its calls.
    pub lease: Duration,
}

impl Node {
    /// A node id: 1 to 64 of letters, digits, `-`, `_` and `.`, so it reads well in logs,
    /// metrics labels and error messages.
    pub fn check_id(id: &str) -> Result<(), String> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            Ok(())
        } else {
            Err(format!("--node {id:?} must be 1 to 64 letters, digits, '-', '_' or '.'"))
        }
    }

    /// The default id: this machine's host name, made a valid id.
    pub fn default_id() -> String {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_default();
        let id: String = host
            .trim()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .take(64)
            .collect();
        if id.is_empty() {
            "node".to_string()
        } else {
            id
        }
    }
}
