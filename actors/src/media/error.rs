//! Why a call could not be placed or reached.

use voxgate_engine::media::{FragmentError, PeerError, SdpRejection};
use voxgate_engine::ErrorCode;

/// Why a call could not be placed or reached; each maps to one error code for the client.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    #[error(transparent)]
    Offer(#[from] SdpRejection),
    #[error("this session already has a live call; hang it up (DELETE its Location) before offering again")]
    Busy,
    #[error("no such call on this session")]
    NoSuchCall,
    #[error("this server is draining for a restart and takes no new calls; offer again in a moment")]
    Draining,
    #[error("the media workers are not running")]
    Unavailable,
    #[error("the call could not be set up: {0}")]
    Setup(String),
    #[error(transparent)]
    Fragment(#[from] FragmentError),
    #[error(
        "If-Match names ICE session {given}, but the call's is now {current}: restart ICE with If-Match: *"
    )]
    StaleIceSession { given: String, current: String },
}

impl VoiceError {
    pub fn code(&self) -> ErrorCode {
        match self {
            VoiceError::Offer(_) => ErrorCode::InvalidSdp,
            VoiceError::Busy => ErrorCode::SessionBusy,
            VoiceError::NoSuchCall => ErrorCode::NotFound,
            VoiceError::Draining => ErrorCode::Draining,
            VoiceError::Unavailable => ErrorCode::Unavailable,
            VoiceError::Setup(_) => ErrorCode::Internal,
            VoiceError::Fragment(_) => ErrorCode::InvalidSdp,
            VoiceError::StaleIceSession { .. } => ErrorCode::PreconditionFailed,
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
