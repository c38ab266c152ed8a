//! The media path: one worker per core, each an actix Arbiter owning its UDP socket, and one
//! `VoiceSession` actor per live WebRTC peer, living on the worker it was placed on. A datagram
//! is routed by a hash-map lookup on its worker's thread: no scan, no lock, no thread crossing.

mod bridge;
mod call_peer;
mod calls;
mod outbox;
mod voice_session;
mod worker;

pub use calls::CallDirectory;
pub use voice_session::{Hangup, Trickle, VoiceSession};
pub use worker::{MediaConfig, MediaWorkers};

use std::time::Duration;
use voxgate_engine::voice::{PeerError, SdpRejection};

/// What answers a call's audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoicePlan {
    /// The builtin agent echoes after `delay`.
    Echo { delay: Duration },
    /// An external agent over the WebSocket bridge at `url` (docs/BRIDGE.md).
    Bridge { url: String },
}
use voxgate_engine::ErrorCode;

/// Why a call could not be placed or reached.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    #[error(transparent)]
    Offer(#[from] SdpRejection),
    #[error("this session already has a live call; hang it up (DELETE its Location) before offering again")]
    Busy,
    #[error("no such call on this session")]
    NoSuchCall,
    #[error("the media workers are not running")]
    Unavailable,
    #[error("the call could not be set up: {0}")]
    Setup(String),
}

impl VoiceError {
    pub fn code(&self) -> ErrorCode {
        match self {
            VoiceError::Offer(_) => ErrorCode::InvalidSdp,
            VoiceError::Busy => ErrorCode::SessionBusy,
            VoiceError::NoSuchCall => ErrorCode::NotFound,
            VoiceError::Unavailable => ErrorCode::Unavailable,
            VoiceError::Setup(_) => ErrorCode::Internal,
        }
    }
}

impl From<PeerError> for VoiceError {
    fn from(e: PeerError) -> Self {
        match e {
            PeerError::Offer(r) => VoiceError::Offer(r),
            other => VoiceError::Setup(other.to_string()),
        }
    }
}
