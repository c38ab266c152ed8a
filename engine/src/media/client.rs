//! A WebRTC voice client peer: what a browser does, for the load-test harness and tests.
//! It offers one sendrecv Opus audio track, sends frames, and reports the frames it receives.
//! It runs str0m in RTP mode: one 20 ms Opus frame is one RTP packet, so the sample API's
//! packetizer, depacketizing buffer and per-write timer round trip are work a load generator
//! need not do (the harness holds 1,000 peers on one thread).

use crate::media::drive::{drain, Drained};
use crate::media::ice_restart::IceFragment;
use crate::media::identity::MediaIdentity;
use crate::media::opus_fmtp::opus_param;
use crate::media::peer::PeerError;
use crate::media::rtc_config::audio_rtc_config;
use crate::media::rtp::{negotiated_pt, packet_input, AudioSender, Outgoing};
use crate::media::transport::{tcp_host_candidate, Transport};
use std::net::SocketAddr;
use std::time::Instant;
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::TcpType;
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcError};

/// Where a client peer's output goes.
pub trait ClientIo {
    /// A packet to send: a UDP datagram, or for a client over TCP one RFC 4571 frame on its
    /// connection.
    fn transmit(&mut self, destination: SocketAddr, datagram: &[u8]);
    /// ICE and DTLS are up.
    fn connected(&mut self);
    /// Connectivity was lost or the server closed the call.
    fn disconnected(&mut self);
    /// An audio frame arrived.
    fn frame(&mut self, data: &[u8], received: Instant);
    /// An audio frame arrived with its RTP sequence number (extended): for whoever counts the
    /// frames lost on the way. By default just [`ClientIo::frame`].
    fn packet(&mut self, data: &[u8], seq: u64, received: Instant) {
        let _ = seq;
        self.frame(data, received);
    }
    /// A text message arrived on the events data channel.
    fn event(&mut self, _text: &str, _received: Instant) {}
}

/// A client peer with one audio track.
pub struct ClientPeer {
    rtc: Rtc,
    local: SocketAddr,
    transport: Transport,
    mid: Mid,
    pending: Option<SdpPendingOffer>,
    connected: bool,
    /// The negotiated Opus payload type, known once the answer is accepted.
    pt: Option<Pt>,
    sender: AudioSender,
    rtp_time: u32,
    /// The answer's Opus `maxplaybackrate`: a browser limits its encoder's bandwidth to it.
    max_playback_rate: Option<u32>,
    /// The answer's Opus `usedtx=1`: a browser then pauses sending during silence.
    wants_dtx: bool,
    /// The events data channel, once open.
    channel: Option<str0m::channel::ChannelId>,
    /// The server's answer as last accepted: a restart's answer is this with new credentials.
    answer_sdp: Option<String>,
    /// The candidate of an ICE restart under way, added once it is answered.
    restart_candidate: Option<Candidate>,
}

impl ClientPeer {
    /// A peer bound (logically) to `local`, and its SDP offer.
    pub fn offer(
        identity: &MediaIdentity,
        local: SocketAddr,
        now: Instant,
    ) -> Result<(ClientPeer, String), PeerError> {
        ClientPeer::offer_with(identity, local, now, None)
    }

    /// Like [`ClientPeer::offer`], also offering a data channel labelled `events` (as a browser
    /// that wants a talking agent's captions does).
    pub fn offer_with(
        identity: &MediaIdentity,
        local: SocketAddr,
        now: Instant,
        events: Option<&str>,
    ) -> Result<(ClientPeer, String), PeerError> {
        let candidate = Candidate::host(local, "udp").map_err(|e| PeerError::Setup(e.to_string()))?;
        ClientPeer::offer_from(identity, Some(candidate), now, events)
    }

    /// A peer that will reach the server over TCP only (a visitor whose network drops UDP), and
    /// its offer, which has no candidate: once the answer is in, connect to the server's passive
    /// TCP candidate ([`ClientPeer::server_tcp_candidate`]) and call [`ClientPeer::connected_tcp`].
    pub fn offer_tcp(identity: &MediaIdentity, now: Instant) -> Result<(ClientPeer, String), PeerError> {
        ClientPeer::offer_from(identity, None, now, None)
    }

    fn offer_from(
        identity: &MediaIdentity,
        candidate: Option<Candidate>,
        now: Instant,
        events: Option<&str>,
    ) -> Result<(ClientPeer, String), PeerError> {
        let mut rtc = audio_rtc_config(identity).build(now);
        let local = candidate.as_ref().map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.addr());
        let transport = if candidate.is_some() { Transport::Udp } else { Transport::Tcp };
        if let Some(candidate) = candidate {
            rtc.add_local_candidate(candidate);
        }
        let mut change = rtc.sdp_api();
        let mid = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        if let Some(label) = events {
            change.add_channel(label.to_string());
        }
        let (offer, pending) = change.apply().ok_or_else(|| PeerError::Setup("no change to offer".into()))?;
        let peer = ClientPeer {
            rtc,
            local,
            transport,
            mid,
            pending: Some(pending),
            connected: false,
            pt: None,
            sender: AudioSender::default(),
            rtp_time: 0,
            max_playback_rate: None,
            wants_dtx: false,
            channel: None,
            answer_sdp: None,
            restart_candidate: None,
        };
        Ok((peer, offer.to_sdp_string()))
    }

    /// Applies the server's answer.
    pub fn accept_answer(&mut self, answer_sdp: &str) -> Result<(), PeerError> {
        let answer = SdpAnswer::from_sdp_string(answer_sdp).map_err(|e| PeerError::Setup(e.to_string()))?;
        self.max_playback_rate = opus_param(answer_sdp, "maxplaybackrate");
        self.wants_dtx = opus_param(answer_sdp, "usedtx") == Some(1);
        let pending =
            self.pending.take().ok_or_else(|| PeerError::Setup("answer without a pending offer".into()))?;
        self.rtc.sdp_api().accept_answer(pending, answer)?;
        self.pt = negotiated_pt(&self.rtc, self.mid);
        if self.pt.is_none() {
            return Err(PeerError::Setup("the answer accepts no codec".into()));
        }
        self.answer_sdp = Some(answer_sdp.to_string());
        Ok(())
    }

    /// The network changed: from now on this peer sends from `local` (a new UDP socket), and
    /// restarts ICE with new credentials. The fragment to `PATCH` to the call (RFC 9725 §4.3).
    pub fn restart_ice(&mut self, local: SocketAddr) -> Result<String, PeerError> {
        let candidate = Candidate::host(local, "udp").map_err(|e| PeerError::Setup(e.to_string()))?;
        let mut change = self.rtc.sdp_api();
        change.ice_restart(false);
        let (offer, pending) =
            change.apply().ok_or_else(|| PeerError::Setup("no ICE restart to offer".into()))?;
        // str0m clears the local candidates again when the answer comes: the new one is added then.
        self.restart_candidate = Some(candidate.clone());
        self.local = local;
        self.transport = Transport::Udp;
        self.pending = Some(pending);
        let offer = offer.to_sdp_string();
        let mut ours = IceFragment::parse(&offer).map_err(|e| PeerError::Setup(e.to_string()))?;
        ours.candidates = vec![candidate.to_sdp_string().trim_start_matches("a=").to_string()];
        Ok(ours.to_sdpfrag(&offer))
    }

    /// Applies the server's answer to an ICE restart: its fragment of new credentials.
    pub fn accept_restart(&mut self, sdpfrag: &str) -> Result<(), PeerError> {
        let theirs = IceFragment::parse(sdpfrag).map_err(|e| PeerError::Setup(e.to_string()))?;
        let last =
            self.answer_sdp.as_deref().ok_or_else(|| PeerError::Setup("no answer to restart".into()))?;
        let answer_sdp = theirs.apply_to(last);
        let answer = SdpAnswer::from_sdp_string(&answer_sdp).map_err(|e| PeerError::Setup(e.to_string()))?;
        let pending = self
            .pending
            .take()
            .ok_or_else(|| PeerError::Setup("a restart answer without its offer".into()))?;
        self.rtc.sdp_api().accept_answer(pending, answer)?;
        if let Some(candidate) = self.restart_candidate.take() {
            self.rtc.add_local_candidate(candidate);
        }
        self.answer_sdp = Some(answer_sdp);
        Ok(())
    }

    /// The address of the passive TCP candidate in the server's answer, if it offered one.
    pub fn server_tcp_candidate(answer_sdp: &str) -> Option<SocketAddr> {
        answer_sdp.lines().find_map(|line| {
            let c = Candidate::from_sdp_string(line.trim().strip_prefix("a=")?).ok()?;
            (c.proto() == str0m::net::Protocol::Tcp && c.tcptype() == Some(TcpType::Passive))
                .then(|| c.addr())
        })
    }

    /// The TCP connection to the server is open from `local`: offer it as our (active) candidate,
    /// so ICE checks go over it.
    pub fn connected_tcp(&mut self, local: SocketAddr) -> Result<(), PeerError> {
        let candidate = tcp_host_candidate(local, TcpType::Active).map_err(PeerError::Setup)?;
        self.local = local;
        self.transport = Transport::Tcp;
        self.rtc.add_local_candidate(candidate);
        Ok(())
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The highest rate the other side wants to hear (RFC 7587 `maxplaybackrate`), if it said.
    pub fn max_playback_rate(&self) -> Option<u32> {
        self.max_playback_rate
    }

    /// Whether the other side asked for Opus DTX (RFC 7587 `usedtx=1`).
    pub fn wants_dtx(&self) -> bool {
        self.wants_dtx
    }

    pub fn receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        datagram: &[u8],
        io: &mut impl ClientIo,
    ) -> Result<Instant, PeerError> {
        if let Some(input) = packet_input(now, self.transport, source, self.local, datagram) {
            self.rtc.handle_input(input)?;
        }
        self.drive(now, io)
    }

    pub fn timeout(&mut self, now: Instant, io: &mut impl ClientIo) -> Result<Instant, PeerError> {
        self.rtc.handle_input(Input::Timeout(now))?;
        self.drive(now, io)
    }

    /// Sends one 20 ms Opus-sized frame as one RTP packet (not sent before `connected`).
    pub fn send_frame(
        &mut self,
        now: Instant,
        payload: &[u8],
        io: &mut impl ClientIo,
    ) -> Result<Instant, PeerError> {
        let pt = self.pt.ok_or_else(|| PeerError::Setup("no negotiated codec".into()))?;
        let packet = Outgoing { time: self.rtp_time, payload: payload.into(), marker: false };
        if !self.sender.send(&mut self.rtc, self.mid, pt, now, packet)? {
            // The call is closing: its send stream is gone.
            io.disconnected();
            return self.drive(now, io);
        }
        self.rtp_time = self.rtp_time.wrapping_add(960); // 20 ms at 48 kHz
        self.drive(now, io)
    }

    /// A 20 ms frame not sent (a DTX pause): the RTP clock moves on without it, as a browser's
    /// does, so the next packet's timestamp says how long the pause was.
    pub fn skip_frame(&mut self) {
        self.rtp_time = self.rtp_time.wrapping_add(960);
    }

    /// Sends `text` on the events data channel (a page's answer to a page action); false when
    /// the channel is not open.
    pub fn send_text(
        &mut self,
        now: Instant,
        text: &str,
        io: &mut impl ClientIo,
    ) -> Result<(bool, Instant), PeerError> {
        let sent = match self.channel.and_then(|id| self.rtc.channel(id)) {
            Some(mut channel) => channel.write(false, text.as_bytes())?,
            None => false,
        };
        Ok((sent, self.drive(now, io)?))
    }

    /// Closes the call: RTCP BYE and DTLS close_notify go out now, so the other side learns
    /// at once instead of waiting for ICE consent to time out.
    pub fn close(&mut self, now: Instant, io: &mut impl ClientIo) {
        if self.rtc.close().is_err() {
            self.rtc.disconnect();
        }
        let _ = self.drive(now, io);
    }

    fn drive(&mut self, now: Instant, io: &mut impl ClientIo) -> Result<Instant, PeerError> {
        Ok(drain(self, now, io)?)
    }
}

impl<Io: ClientIo> Drained<Io> for ClientPeer {
    fn rtc(&mut self) -> &mut Rtc {
        &mut self.rtc
    }

    fn output(&mut self, now: Instant, output: &Output, io: &mut Io) -> Result<(), RtcError> {
        match output {
            Output::Transmit(t) => io.transmit(t.destination, &t.contents),
            Output::Event(Event::Connected) => {
                self.connected = true;
                io.connected();
            }
            Output::Event(
                Event::IceConnectionStateChange(IceConnectionState::Disconnected) | Event::Closed,
            ) => io.disconnected(),
            Output::Event(Event::RtpPacket(p)) => io.packet(&p.payload, *p.seq_no, now),
            Output::Event(Event::ChannelOpen(id, _)) => self.channel = Some(*id),
            Output::Event(Event::ChannelData(d)) if !d.binary => {
                io.event(&String::from_utf8_lossy(&d.data), now);
            }
            Output::Event(_) | Output::Timeout(_) => {}
        }
        Ok(())
    }
}
