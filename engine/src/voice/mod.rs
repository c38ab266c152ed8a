//! The voice media core: checking offers, demultiplexing datagrams, and driving one str0m peer.
//! Sans-IO: datagrams and `Instant`s go in, datagrams and deadlines come out.

pub mod client;
pub mod demux;
pub mod offer;
pub mod peer;
mod rtp;

pub use offer::{check_offer, SdpRejection};
pub use peer::{MediaIdentity, PeerConfig, PeerError, PeerEvent, PeerIo, PeerTraffic, VoiceAgent, VoicePeer};
