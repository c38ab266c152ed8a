//! The media path. One worker per core, each an actix Arbiter owning its UDP socket and the
//! engine's `Endpoint` with every call placed on it; a datagram is routed by the endpoint on its
//! worker's thread: no scan, no lock, no thread crossing. Each call's lifecycle is a
//! `CallActor` on the same worker.
//!
//! Modules, each depending only on those listed before it: `outbox` (the send queue), `tcp`
//! (ICE-TCP connections and their framing), `bridge`
//! (an external agent's WebSocket), `error`, `plan`, `worker` (the per-thread loop), `calls`
//! (which session has which live call), `talking` (a talking call's agent, turns and
//! transcript), `call` (the per-call actor), `pool` (start, placement, shutdown).

mod bridge;
mod call;
mod calls;
mod error;
mod outbox;
mod plan;
mod pool;
mod talking;
mod tcp;
mod worker;

pub use call::CallActor;
pub use calls::{CallDirectory, Hangup};
pub use error::VoiceError;
pub use plan::VoicePlan;
pub use pool::{MediaConfig, MediaWorkers, PlacedCall};
