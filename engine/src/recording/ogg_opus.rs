//! The Ogg Opus headers of a recording (RFC 7845 §5): two channels, each its own mono stream.

/// Channel 0 (left) is the visitor, channel 1 (right) the agent.
pub const CHANNELS: [&str; 2] = ["visitor", "agent"];

/// The identification header: two channels, two uncoupled streams, channel mapping family 1
/// (Vorbis order: left, right), no pre-skip (the packets are the senders', whose encoder delay
/// is part of what was sent).
pub fn opus_head() -> Vec<u8> {
    let mut head = Vec::with_capacity(21);
    head.extend_from_slice(b"OpusHead");
    head.push(1); // version
    head.push(2); // channels
    head.extend_from_slice(&0u16.to_le_bytes()); // pre-skip
    head.extend_from_slice(&48_000u32.to_le_bytes()); // the senders' rate
    head.extend_from_slice(&0i16.to_le_bytes()); // output gain
    head.push(1); // mapping family
    head.push(2); // streams
    head.push(0); // coupled streams
    head.extend_from_slice(&[0, 1]); // channel i is stream i
    head
}

/// The comment header: who wrote it, and which channel is whom.
pub fn opus_tags(comments: &[(&str, &str)]) -> Vec<u8> {
    let vendor = concat!("voxgate ", env!("CARGO_PKG_VERSION"));
    let mut tags = Vec::with_capacity(64);
    tags.extend_from_slice(b"OpusTags");
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor.as_bytes());
    let all: Vec<String> = std::iter::once(format!("VOXGATE_CHANNELS={}", CHANNELS.join(",")))
        .chain(comments.iter().map(|(k, v)| format!("{k}={v}")))
        .collect();
    tags.extend_from_slice(&(all.len() as u32).to_le_bytes());
    for comment in all {
        tags.extend_from_slice(&(comment.len() as u32).to_le_bytes());
        tags.extend_from_slice(comment.as_bytes());
    }
    tags
}
