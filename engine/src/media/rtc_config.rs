//! The one str0m configuration both ends of a voxgate call use: audio only, Opus, RTP mode, and
//! only the header extensions an audio call needs. The server adds ICE-lite and its credentials.

use crate::media::identity::MediaIdentity;
use str0m::rtp::Extension;
use str0m::RtcConfig;

/// An audio-only `RtcConfig` presenting `identity`'s certificate.
///
/// RTP mode: an Opus frame is one RTP packet, so no packetizer, depacketizing buffer or timer
/// round trip per frame. Of the header extensions only BUNDLE's mid stays: no transport-cc, so
/// no TWCC feedback stream (about a third of the packets on an echo path), and no audio level,
/// which nothing here reads (voice activity is judged on the decoded audio).
pub(crate) fn audio_rtc_config(identity: &MediaIdentity) -> RtcConfig {
    RtcConfig::new()
        .set_crypto_provider(identity.crypto())
        .set_dtls_cert(identity.cert().clone())
        .set_rtp_mode(true)
        .clear_codecs()
        .enable_opus(true, false)
        .clear_extension_map()
        .set_extension(4, Extension::RtpMid)
}
