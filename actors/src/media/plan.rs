//! What answers a call's audio, as decided from the agent when the offer comes in.

use std::time::Duration;

/// What answers a call's audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoicePlan {
    /// The builtin agent echoes after `delay`.
    Echo { delay: Duration },
    /// An external agent over the WebSocket bridge at `url` (docs/BRIDGE.md).
    Bridge { url: String },
}
