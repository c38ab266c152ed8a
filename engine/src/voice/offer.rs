//! Checking a browser's SDP offer before any peer is built, with a reason a developer can act on.

use crate::ErrorCode;
use str0m::change::SdpOffer;

/// Largest SDP offer accepted (browsers send 4-8 KiB).
pub const MAX_OFFER_BYTES: usize = 64 * 1024;

/// Why an offer was refused (`400 invalid_sdp`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpRejection {
    #[error("the body is not an SDP offer (it must start with v=0)")]
    NotSdp,
    #[error("the offer has no audio section (m=audio)")]
    NoAudio,
    #[error("the offer's audio section offers no Opus codec (a=rtpmap:<pt> opus/48000/2)")]
    NoOpus,
    #[error("the SDP offer could not be parsed: {0}")]
    Unparseable(String),
}

impl SdpRejection {
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidSdp
    }
}

/// Checks shape (SDP, audio, Opus) and parses the offer.
pub fn check_offer(text: &str) -> Result<SdpOffer, SdpRejection> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with("v=0") {
        return Err(SdpRejection::NotSdp);
    }
    let mut in_audio = false;
    let mut has_audio = false;
    let mut has_opus = false;
    for line in trimmed.lines() {
        let line = line.trim_end();
        if let Some(m) = line.strip_prefix("m=") {
            in_audio = m.starts_with("audio ");
            has_audio |= in_audio;
        } else if in_audio {
            if let Some(map) = line.strip_prefix("a=rtpmap:") {
                let codec = map.split_whitespace().nth(1).unwrap_or("");
                has_opus |= codec.to_ascii_lowercase().starts_with("opus/48000");
            }
        }
    }
    if !has_audio {
        return Err(SdpRejection::NoAudio);
    }
    if !has_opus {
        return Err(SdpRejection::NoOpus);
    }
    SdpOffer::from_sdp_string(text).map_err(|e| SdpRejection::Unparseable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_LIKE: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=msid-semantic: WMS\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0\r\na=candidate:2 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active generation 0\r\na=candidate:3 1 udp 2122260223 abcd-ef.local 50001 typ host generation 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\na=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\na=setup:actpass\r\na=mid:0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=sendrecv\r\na=msid:- t1\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\na=ssrc:1234 cname:x\r\n";

    #[test]
    fn accepts_a_browser_offer_with_tcp_and_mdns_candidates() {
        check_offer(CHROME_LIKE).expect("a Chromium-shaped offer parses");
    }

    #[test]
    fn refuses_with_a_reason() {
        assert_eq!(check_offer("hello").unwrap_err(), SdpRejection::NotSdp);
        let video_only = CHROME_LIKE.replace("m=audio", "m=video");
        assert_eq!(check_offer(&video_only).unwrap_err(), SdpRejection::NoAudio);
        let no_opus = CHROME_LIKE.replace("opus/48000/2", "speex/16000");
        assert_eq!(check_offer(&no_opus).unwrap_err(), SdpRejection::NoOpus);
        let broken = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n";
        assert!(matches!(check_offer(broken).unwrap_err(), SdpRejection::Unparseable(_)));
    }
}
