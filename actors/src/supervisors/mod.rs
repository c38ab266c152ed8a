//! Supervisors: actors that end sessions when a rule says so, whatever the session is doing.

pub mod conversation_idle;
pub mod token_expiry;

pub use conversation_idle::IdleSupervisor;

pub use token_expiry::{TokenSupervisor, TrackExpiry};
pub mod origin_revocation;
pub mod voice_meter;

pub use voice_meter::{PauseMetering, StartMetering, StopMetering, VoiceMeter};
