//! Checking a browser's SDP offer before any peer is built, with a reason a developer can act on.
//! Every way an offer can be refused, by our checks or by str0m's, is an [`SdpRejection`]: a
//! `400 invalid_sdp` that names what is wrong, never a server error.

use crate::ErrorCode;
use str0m::change::SdpOffer;

/// Largest SDP offer accepted (browsers send 4-8 KiB).
pub const MAX_OFFER_BYTES: usize = 64 * 1024;

/// Why an offer was refused (`400 invalid_sdp`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpRejection {
    #[error("the body is not an SDP offer (it must start with v=0)")]
    NotSdp,
    #[error("the offer has no media sections (no m= lines)")]
    NoMedia,
    #[error("the offer has no audio section (m=audio)")]
    NoAudio,
    #[error("the offer's audio section offers no Opus codec (a=rtpmap:<pt> opus/48000/2)")]
    NoOpus,
    #[error("the offer has no ICE credentials (a=ice-ufrag and a=ice-pwd)")]
    NoIceCredentials,
    #[error("the offer has no DTLS fingerprint (a=fingerprint:sha-256 ...)")]
    NoFingerprint,
    #[error("the SDP offer could not be parsed: {0}")]
    Unparseable(String),
    #[error("the offer could not be answered: {0}")]
    Refused(String),
}

impl SdpRejection {
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidSdp
    }
}

/// What the line scan found; str0m's parser accepts some offers these would refuse, and refuses
/// others with messages written for its own developers, so the common mistakes are named here.
#[derive(Default)]
struct Shape {
    media: bool,
    audio: bool,
    opus: bool,
    ice_ufrag: bool,
    ice_pwd: bool,
    fingerprint: bool,
}

fn attribute_value<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.strip_prefix("a=")?.strip_prefix(name)?.strip_prefix(':').map(str::trim).filter(|v| !v.is_empty())
}

fn shape(text: &str) -> Shape {
    let mut s = Shape::default();
    let mut in_audio = false;
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(m) = line.strip_prefix("m=") {
            s.media = true;
            in_audio = m.starts_with("audio ");
            s.audio |= in_audio;
            continue;
        }
        s.ice_ufrag |= attribute_value(line, "ice-ufrag").is_some();
        s.ice_pwd |= attribute_value(line, "ice-pwd").is_some();
        s.fingerprint |= attribute_value(line, "fingerprint").is_some_and(|v| v.contains(' '));
        if in_audio {
            if let Some(map) = attribute_value(line, "rtpmap") {
                let codec = map.split_whitespace().nth(1).unwrap_or("");
                s.opus |= codec.to_ascii_lowercase().starts_with("opus/48000");
            }
        }
    }
    s
}

/// Checks shape (SDP, media, audio, Opus, ICE credentials, fingerprint) and parses the offer.
pub fn check_offer(text: &str) -> Result<SdpOffer, SdpRejection> {
    if !text.trim_start().starts_with("v=0") {
        return Err(SdpRejection::NotSdp);
    }
    let s = shape(text);
    if !s.media {
        return Err(SdpRejection::NoMedia);
    }
    if !s.audio {
        return Err(SdpRejection::NoAudio);
    }
    if !s.opus {
        return Err(SdpRejection::NoOpus);
    }
    if !(s.ice_ufrag && s.ice_pwd) {
        return Err(SdpRejection::NoIceCredentials);
    }
    if !s.fingerprint {
        return Err(SdpRejection::NoFingerprint);
    }
    SdpOffer::from_sdp_string(text).map_err(|e| SdpRejection::Unparseable(e.to_string()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const CHROME_LIKE: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=msid-semantic: WMS\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0\r\na=candidate:2 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active generation 0\r\na=candidate:3 1 udp 2122260223 abcd-ef.local 50001 typ host generation 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\na=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\na=setup:actpass\r\na=mid:0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=sendrecv\r\na=msid:- t1\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\na=ssrc:1234 cname:x\r\n";

    fn without(prefix: &str) -> String {
        CHROME_LIKE.split("\r\n").filter(|l| !l.starts_with(prefix)).collect::<Vec<_>>().join("\r\n")
    }

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
        assert_eq!(check_offer(&without("m=")).unwrap_err(), SdpRejection::NoMedia);
        assert_eq!(check_offer(&without("a=fingerprint")).unwrap_err(), SdpRejection::NoFingerprint);
        assert_eq!(check_offer(&without("a=ice-pwd")).unwrap_err(), SdpRejection::NoIceCredentials);
        assert_eq!(check_offer(&without("a=ice-ufrag")).unwrap_err(), SdpRejection::NoIceCredentials);
        let empty_pwd = CHROME_LIKE.replace("a=ice-pwd:abcdefghijklmnopqrstuvwx", "a=ice-pwd:");
        assert_eq!(check_offer(&empty_pwd).unwrap_err(), SdpRejection::NoIceCredentials);
    }

    #[test]
    fn each_rejection_names_what_is_missing() {
        for (rejection, named) in [
            (SdpRejection::NoMedia, "m="),
            (SdpRejection::NoFingerprint, "fingerprint"),
            (SdpRejection::NoIceCredentials, "ice-ufrag"),
        ] {
            assert!(rejection.to_string().contains(named), "{rejection}");
        }
    }
}
