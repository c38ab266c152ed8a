//! The media path. One worker per core, each an actix Arbiter owning its UDP socket and the
//! engine's `Endpoint` with every call placed on it; a datagram is routed by the endpoint on its
//! worker's thread: no scan, no lock, no thread crossing. Each call's lifecycle is a
//! `CallActor` on the same worker.
//!
//! Modules, each depending only on those listed before it (and on the talking call's wing,
//! `crate::talk`, and `crate::recordings` for a recorded call's file): `outbox` (the send queue), `tcp` (ICE-TCP connections and their framing),
//! `error`, `worker` (the per-thread loop), `calls` (which session has which live call), `call`
//! (the per-call actor), `pool` (start, placement, shutdown).

mod call;
mod calls;
mod error;
mod outbox;
mod pool;
mod tcp;
mod worker;

pub use call::CallActor;
pub use calls::{CallDirectory, Hangup};
pub use error::VoiceError;
pub use pool::{CallOptions, MediaConfig, MediaParts, MediaWorkers, PlacedCall};
