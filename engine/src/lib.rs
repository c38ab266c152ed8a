//! Sans-IO core of voxgate.
//!
//! Everything here is pure: no sockets, threads, clocks, actix or HTTP. Time is passed in as
//! [`Timestamp`], so every rule (token expiry, metering minutes, origin matching) can be tested
//! without waiting and reused by any driver: the server's actors, the load-test harness, tests.

pub mod admission;
pub mod agent;
pub mod agent_voice;
pub mod analysis;
pub mod api_key;
pub mod audio;
pub mod builtin_agent;
pub mod conversation;
pub mod conversation_idle;
pub mod error;
pub mod failed_attempts;
pub mod ids;
pub mod knowledge;
pub mod limit;
pub mod media;
pub mod metering;
pub mod origin;
pub mod password;
pub mod recording;
pub mod session;
pub mod sign_in;
pub mod spec;
pub mod talk;
pub mod time;
pub mod token;
pub mod tools;
pub mod turn_credentials;
pub mod variables;
pub mod webhook;
pub mod widget;

pub use error::ErrorCode;
pub use time::Timestamp;

/// A seeded generator for the engine's own tests: the engine draws no randomness itself.
#[cfg(test)]
pub(crate) fn test_rng() -> rand::rngs::StdRng {
    rand::SeedableRng::seed_from_u64(7)
}
