//! The voice media core: checking offers, routing datagrams to calls, and driving str0m peers.
//! Sans-IO: datagrams and `Instant`s go in, datagrams, events and deadlines come out.

pub mod client;
mod drive;
mod dtls;
pub mod endpoint;
pub mod ice_restart;
mod identity;
pub mod offer;
pub mod opus_fmtp;
pub mod peer;
pub mod router;
mod rtc_config;
mod rtp;
mod transport;

pub use endpoint::{CallEvent, Endpoint, Transmit};
pub use ice_restart::{FragmentError, IceFragment};
pub use identity::{CertificateError, MediaIdentity};
pub use offer::{check_offer, SdpRejection};
pub use peer::{CallMedia, PeerConfig, PeerError, PeerEvent, PeerIo, VoiceAgent, VoicePeer};
pub use router::{CallKey, Remote, Route, Router};
pub use str0m::change::SdpOffer;
pub use str0m::IceCreds;
pub use transport::{Transport, MAX_FRAME};
