//! A call's recording: the visitor's and the agent's Opus packets, as they were sent, put side
//! by side in one Ogg Opus file (the visitor on the left channel, the agent on the right) while
//! the call runs. Sans-IO: packets and `Instant`s go in, Ogg pages come out for the driver to
//! append to the call's file.
//!
//! Nothing is decoded or re-encoded: each 20 ms of the file is one Opus *multistream* packet
//! (RFC 7845 §5.1.1, mapping family 1) made of the visitor's packet, re-framed self-delimited
//! (RFC 6716 Appendix B), followed by the agent's packet unchanged. A side that sent nothing
//! for those 20 ms gets a three-byte silence packet.

mod framing;
mod ogg_opus;
mod ogg_page;
mod recorder;

pub use framing::{FramingError, OpusFrames};
pub use ogg_opus::{opus_head, opus_tags, written_duration_ms, CHANNELS};
pub use recorder::{CallRecorder, RecordingStats, Side, PAGE_PACKETS};
