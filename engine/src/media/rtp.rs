//! What both ends of a voice call do with str0m in RTP mode: turn a datagram into input, find
//! the agreed Opus payload type, and send one audio frame as one RTP packet.

use crate::media::transport::Transport;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use str0m::media::{Mid, Pt};
use str0m::net::Receive;
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::{Input, Rtc, RtcError};

/// A received datagram (or RFC 4571 frame) as str0m's input; `None` for one str0m cannot parse
/// at all (not STUN, DTLS or RTP), which is dropped as noise.
pub(crate) fn packet_input(
    now: Instant,
    transport: Transport,
    source: SocketAddr,
    destination: SocketAddr,
    datagram: &[u8],
) -> Option<Input<'_>> {
    let contents = datagram.try_into().ok()?;
    let proto = transport.protocol();
    Some(Input::Receive(now, Receive { proto, source, destination, contents }))
}

/// The payload type both sides agreed for `mid`: our first codec the remote side also listed
/// (in RTP mode str0m has no `Writer` to ask).
pub(crate) fn negotiated_pt(rtc: &Rtc, mid: Mid) -> Option<Pt> {
    let remote = rtc.media(mid)?.remote_pts();
    rtc.codec_config().params().iter().map(|p| p.pt()).find(|pt| remote.contains(pt))
}

/// Packets of a stream that carry the BUNDLE mid header extension. A receiver binds the
/// stream's SSRC to its media section from the first mid-tagged packets it gets and demuxes
/// by SSRC from then on, so, as libwebrtc does once its mid is acknowledged, later packets
/// leave it out: writing it costs str0m about 800 instructions per packet.
const MID_TAGGED_PACKETS: u64 = 100;

/// One audio packet to send: its RTP time, its Opus payload, and whether it starts a talkspurt.
pub(crate) struct Outgoing {
    pub time: u32,
    pub payload: Arc<[u8]>,
    pub marker: bool,
}

/// One outgoing audio stream's sequence numbers (the caller owns RTP time: an echo keeps the
/// visitor's, a player counts its own).
#[derive(Debug, Default)]
pub(crate) struct AudioSender {
    seq_no: u64,
}

impl AudioSender {
    /// Queues `payload` (one Opus frame) as one RTP packet on `mid`'s send stream, carrying the
    /// BUNDLE mid. False when the stream is gone (the call is closing); nothing is numbered then.
    ///
    /// str0m moves a queued packet on to the wire only in its next timeout, so that is fed here
    /// at once: the caller's next `poll_output` gives the packet instead of a poll that only asks
    /// for the timeout (one `poll_output` fewer per frame on each end of a call).
    pub fn send(
        &mut self,
        rtc: &mut Rtc,
        mid: Mid,
        pt: Pt,
        now: Instant,
        packet: Outgoing,
    ) -> Result<bool, RtcError> {
        let Outgoing { time, payload, marker } = packet;
        let seq_no: SeqNo = self.seq_no.into();
        let tagged = self.seq_no < MID_TAGGED_PACKETS;
        let ext_vals = ExtensionValues { mid: tagged.then_some(mid), ..Default::default() };
        let write = RtpWrite::new(pt, seq_no, time, now, payload).ext_vals(ext_vals).marker(marker);
        let mut direct = rtc.direct_api();
        let Some(stream) = direct.stream_tx_by_mid(mid, None) else {
            return Ok(false);
        };
        stream.write_rtp(write);
        self.seq_no += 1;
        rtc.handle_input(Input::Timeout(now))?;
        Ok(true)
    }
}
