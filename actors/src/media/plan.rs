//! What answers a call's audio, as decided from the agent when the offer comes in.

use std::sync::Arc;
use std::time::Duration;
use voxgate_engine::agent::Agent;

/// What answers a call's audio.
#[derive(Debug, Clone)]
pub enum VoicePlan {
    /// The builtin agent echoes after `delay`.
    Echo { delay: Duration },
    /// An external agent over the WebSocket bridge at `url` (docs/BRIDGE.md).
    Bridge { url: String },
    /// A talking agent (the agent's `voice` is `pipeline` or `realtime`), as saved now.
    Talk(Arc<Agent>),
}
