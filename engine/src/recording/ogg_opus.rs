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

/// The duration of the whole pages of a recording file, in milliseconds: what a crash left
/// playable (a page cut short by the crash is not counted).
pub fn written_duration_ms(file: &[u8]) -> u64 {
    let mut at = 0;
    let mut granule = 0;
    while let Some(header) = file.get(at..at + 27).filter(|h| h.starts_with(b"OggS")) {
        let segments = usize::from(header[26]);
        let Some(lacing) = file.get(at + 27..at + 27 + segments) else { break };
        let end = at + 27 + segments + lacing.iter().map(|l| usize::from(*l)).sum::<usize>();
        if end > file.len() {
            break;
        }
        let page_granule = u64::from_le_bytes(header[6..14].try_into().unwrap_or([0xFF; 8]));
        if page_granule != u64::MAX {
            granule = page_granule;
        }
        at = end;
    }
    granule * 1000 / 48_000
}
