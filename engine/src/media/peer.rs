//! One WebRTC voice peer on the server: a str0m `Rtc` answering a browser's offer as an ICE-lite
//! server, and the builtin echo agent that writes the visitor's Opus frames back after a
//! configurable delay.
//!
//! The driver hands in datagrams and deadlines with the time they happened, and gets back
//! datagrams to send, events, and the next deadline (see `drive`).
//!
//! str0m runs in RTP mode: an Opus frame is one RTP packet, so the echo forwards the packet's
//! payload and RTP time as they came, with no depacketizing buffer, packetizer or extra timer
//! round trip per frame (the largest share of an echo's CPU after the kernel's).

use crate::media::drive::{drain, Drained};
use crate::media::ice_restart::IceFragment;
use crate::media::identity::MediaIdentity;
use crate::media::opus_fmtp::with_opus_param;
use crate::media::rtc_config::audio_rtc_config;
use crate::media::rtp::{negotiated_pt, packet_input, AudioSender, Outgoing};
use crate::media::transport::{tcp_host_candidate, Transport};
use crate::media::SdpRejection;
use crate::recording::CallRecorder;
use crate::talk::{AgentEvent, Talk, TalkConfig, TalkEvent, LISTEN_RATE};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::change::SdpOffer;
use str0m::channel::ChannelId;
use str0m::media::{Mid, Pt};
use str0m::net::TcpType;
use str0m::rtp::RtpPacket;
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Output, Rtc, RtcError};

/// Why a peer could not be built or driven.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The offer is at fault: `400 invalid_sdp`.
    #[error(transparent)]
    Offer(#[from] SdpRejection),
    /// Our own setup is at fault (an address str0m cannot advertise).
    #[error("the call could not be set up: {0}")]
    Setup(String),
    #[error("WebRTC failure: {0}")]
    Rtc(#[from] RtcError),
}

/// Per-peer settings chosen by the server.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// The address advertised as our UDP host candidate; datagrams must arrive addressed to it.
    pub local_addr: SocketAddr,
    /// The address of our passive ICE-TCP host candidate, if the driver listens on TCP.
    pub tcp_addr: Option<SocketAddr>,
    /// Our ICE credentials, chosen by the caller (the ufrag routes new addresses; both are
    /// random, and randomness is the driver's to supply).
    pub ice: IceCreds,
    /// Who answers the visitor's audio.
    pub agent: VoiceAgent,
    /// Record both sides from the moment the call connects, as an Ogg stream with this serial
    /// number (random, from the driver); `None` records nothing.
    pub recording: Option<u32>,
}

/// What a new call's peer does: who answers, and whether it is recorded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallMedia {
    pub agent: VoiceAgent,
    /// See [`PeerConfig::recording`].
    pub recording: Option<u32>,
}

impl From<VoiceAgent> for CallMedia {
    fn from(agent: VoiceAgent) -> CallMedia {
        CallMedia { agent, recording: None }
    }
}

/// The voice side of an agent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VoiceAgent {
    /// The visitor's frames come back unchanged after `delay` (the media benchmarks' load).
    Echo { delay: Duration },
    /// An external agent (the bridge): visitor frames go out through `PeerIo::audio`, and the
    /// agent's frames come in through `VoicePeer::play`.
    External,
    /// An agent that talks: the call listens, takes turns and plays the agent's speech here
    /// (see `talk`); what the agent does comes in through `VoicePeer::agent`.
    Talk(TalkConfig),
}

/// What happened to the peer, for the driver to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerEvent {
    /// ICE and DTLS are up; media flows.
    Connected,
    /// ICE connectivity was lost or never established.
    Disconnected,
    /// The remote side closed DTLS.
    Closed,
    /// Nothing came from the visitor for [`TRANSPORT_SILENT`] (their network changed or
    /// dropped): the call waits, its agent's voice paused. `since`: the last packet.
    Silent { since: Instant },
    /// Packets come again after [`PeerEvent::Silent`] (the visitor restarted ICE).
    Flowing,
}

/// How long nothing may come from a connected visitor before their transport counts as gone
/// silent. A browser sends RTP every 20 ms (every 400 ms in Opus DTX) and RTCP and ICE consent
/// checks every few seconds; a second of nothing is a dead path, not a quiet visitor.
pub const TRANSPORT_SILENT: Duration = Duration::from_secs(1);

/// Where a peer's output goes.
pub trait PeerIo {
    fn transmit(&mut self, transport: Transport, destination: SocketAddr, datagram: &[u8]);
    fn event(&mut self, event: PeerEvent);
    /// A visitor audio frame (Opus), for an external agent.
    fn audio(&mut self, _frame: &Arc<[u8]>) {}
    /// What happened in a talking call's conversation.
    fn talk(&mut self, _event: TalkEvent) {}
    /// Whole Ogg pages of the call's recording, to append to its file in order, and the
    /// recording's duration once they are written.
    fn recorded(&mut self, _pages: Vec<u8>, _duration_ms: u64) {}
}

struct EchoFrame {
    due: Instant,
    /// The visitor's RTP time, kept so the echo plays out with the timing it came in with.
    time: u32,
    data: Arc<[u8]>,
}

/// A live voice peer on the server.
pub struct VoicePeer {
    rtc: Rtc,
    local: SocketAddr,
    local_tcp: Option<SocketAddr>,
    agent: VoiceAgent,
    echo: VecDeque<EchoFrame>,
    audio_mid: Option<Mid>,
    /// The negotiated Opus payload type, known once media flows.
    audio_pt: Option<Pt>,
    sender: AudioSender,
    /// RTP time of the next frame an external agent plays.
    play_time: u32,
    /// A talking agent's listening and speaking.
    talk: Option<Talk>,
    /// The data channel the visitor opened, on which the call's events (captions) go.
    events: Option<ChannelId>,
    connected: bool,
    /// The Ogg serial of the recording to start when the call connects.
    record: Option<u32>,
    recorder: Option<CallRecorder>,
    /// The visitor's offer as last accepted: an ICE restart is this offer with new credentials.
    offer_sdp: String,
    /// Our current ICE ufrag: it routes new addresses, and tags the ICE session (`ETag`).
    ufrag: String,
    /// When the last packet from the visitor arrived.
    last_heard: Instant,
    /// Nothing has come for [`TRANSPORT_SILENT`] (reported as [`PeerEvent::Silent`]).
    silent: bool,
}

/// A peer and the SDP answer to send back.
pub struct Answered {
    pub peer: VoicePeer,
    pub answer_sdp: String,
}

impl VoicePeer {
    /// Answers a checked offer (`check_offer`). The answer carries our host candidates (UDP, and
    /// passive TCP when configured), so a client needs no trickle; ICE-lite needs none of the
    /// offer's candidates: a visitor's checks arrive from wherever it can reach us.
    pub fn accept(
        identity: &MediaIdentity,
        config: &PeerConfig,
        offer: SdpOffer,
        now: Instant,
    ) -> Result<Answered, PeerError> {
        let candidate =
            Candidate::host(config.local_addr, "udp").map_err(|e| PeerError::Setup(e.to_string()))?;
        let mut rtc = audio_rtc_config(identity)
            .set_ice_lite(true)
            .set_local_ice_credentials(config.ice.clone())
            .build(now);
        rtc.add_local_candidate(candidate);
        if let Some(addr) = config.tcp_addr {
            let passive = tcp_host_candidate(addr, TcpType::Passive).map_err(PeerError::Setup)?;
            rtc.add_local_candidate(passive);
        }
        let offer_sdp = offer.to_sdp_string();
        // The offer is untrusted input to a third-party parser: a panic there is a refusal of
        // this offer, never the end of the worker that carries every other call.
        let answered = std::panic::catch_unwind(AssertUnwindSafe(|| rtc.sdp_api().accept_offer(offer)));
        let answer = match answered {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(SdpRejection::Refused(e.to_string()).into()),
            Err(_) => return Err(SdpRejection::Refused("str0m could not process it".into()).into()),
        };
        let talk = match config.agent {
            VoiceAgent::Talk(talk) => {
                Some(Talk::new(talk, now).map_err(|e| PeerError::Setup(e.to_string()))?)
            }
            _ => None,
        };
        let peer = VoicePeer {
            rtc,
            local: config.local_addr,
            local_tcp: config.tcp_addr,
            agent: config.agent,
            echo: VecDeque::new(),
            audio_mid: None,
            audio_pt: None,
            sender: AudioSender::default(),
            play_time: 0,
            talk,
            events: None,
            connected: false,
            record: config.recording,
            recorder: None,
            offer_sdp,
            ufrag: config.ice.ufrag.clone(),
            last_heard: now,
            silent: false,
        };
        let mut answer_sdp = answer.to_sdp_string();
        if let VoiceAgent::Talk(_) = config.agent {
            answer_sdp = with_opus_param(&answer_sdp, "maxplaybackrate", LISTEN_RATE);
            answer_sdp = with_opus_param(&answer_sdp, "usedtx", 1);
        }
        Ok(Answered { peer, answer_sdp })
    }

    /// Our address a packet over `transport` arrives at; `None` when we do not listen on it.
    fn local_for(&self, transport: Transport) -> Option<SocketAddr> {
        match transport {
            Transport::Udp => Some(self.local),
            Transport::Tcp => self.local_tcp,
        }
    }

    /// Whether a datagram from a new remote belongs to this peer (STUN credentials check).
    pub fn accepts(&self, now: Instant, transport: Transport, source: SocketAddr, datagram: &[u8]) -> bool {
        self.local_for(transport)
            .and_then(|local| packet_input(now, transport, source, local, datagram))
            .is_some_and(|input| self.rtc.accepts(&input))
    }

    /// Feeds one received datagram (or TCP frame); returns the next deadline.
    pub fn receive(
        &mut self,
        now: Instant,
        transport: Transport,
        source: SocketAddr,
        datagram: &[u8],
        io: &mut impl PeerIo,
    ) -> Result<Instant, PeerError> {
        let local = self.local_for(transport);
        if let Some(input) = local.and_then(|l| packet_input(now, transport, source, l, datagram)) {
            self.rtc.handle_input(input)?;
        }
        self.last_heard = now;
        if self.silent {
            self.silent = false;
            io.event(PeerEvent::Flowing);
            if let Some(talk) = self.talk.as_mut() {
                talk.transport_back(now);
            }
        }
        self.drive(now, io)
    }

    /// Reports the visitor's transport gone silent, once per silence.
    fn check_silence(&mut self, now: Instant, io: &mut impl PeerIo) {
        if self.connected && !self.silent && now >= self.last_heard + TRANSPORT_SILENT {
            self.silent = true;
            io.event(PeerEvent::Silent { since: self.last_heard });
            if let Some(talk) = self.talk.as_mut() {
                talk.transport_lost(now);
            }
        }
    }

    /// Drains str0m after an input, then hands out the recording's finished pages.
    fn drive(&mut self, now: Instant, io: &mut impl PeerIo) -> Result<Instant, PeerError> {
        let next = drain(self, now, io);
        if let Some(recorder) = self.recorder.as_mut() {
            if let Some(pages) = recorder.poll_pages() {
                io.recorded(pages, recorder.stats().duration_ms);
            }
        }
        Ok(next?)
    }

    /// Feeds the passage of time; returns the next deadline.
    pub fn timeout(&mut self, now: Instant, io: &mut impl PeerIo) -> Result<Instant, PeerError> {
        self.rtc.handle_input(str0m::Input::Timeout(now))?;
        self.check_silence(now, io);
        self.drive(now, io)
    }

    /// Plays one 20 ms Opus frame from an external agent to the visitor (dropped before
    /// `Connected`, as str0m drops all media then); returns the next deadline.
    pub fn play(&mut self, now: Instant, frame: &[u8], io: &mut impl PeerIo) -> Result<Instant, PeerError> {
        if self.connected {
            let time = self.play_time;
            self.play_time = self.play_time.wrapping_add(960); // 20 ms at 48 kHz
            self.send_audio(now, time, frame.into(), false)?;
        }
        self.drive(now, io)
    }

    /// What a talking call's agent did (see [`Talk::on_agent`]); returns the next deadline.
    pub fn agent(
        &mut self,
        now: Instant,
        epoch: u64,
        event: AgentEvent,
        io: &mut impl PeerIo,
    ) -> Result<Instant, PeerError> {
        if let Some(talk) = self.talk.as_mut() {
            talk.on_agent(now, epoch, event);
        }
        self.hand_out_talk(io)?;
        self.drive(now, io)
    }

    /// The end-of-turn model's answer to a talking call's `TalkEvent::JudgeTurn { id }` (see
    /// [`Talk::on_turn_judged`]); returns the next deadline.
    pub fn turn_judged(
        &mut self,
        now: Instant,
        id: u64,
        finished: Option<f32>,
        io: &mut impl PeerIo,
    ) -> Result<Instant, PeerError> {
        if let Some(talk) = self.talk.as_mut() {
            talk.on_turn_judged(now, id, finished);
        }
        self.hand_out_talk(io)?;
        self.drive(now, io)
    }

    /// Hands out what the conversation did: captions to the visitor's data channel (nothing
    /// when they opened none: offers without one work unchanged), the rest to the driver.
    fn hand_out_talk(&mut self, io: &mut impl PeerIo) -> Result<(), RtcError> {
        while let Some(event) = self.talk.as_mut().and_then(Talk::poll_event) {
            match event {
                TalkEvent::Caption(text) => {
                    if let Some(mut channel) = self.events.and_then(|id| self.rtc.channel(id)) {
                        channel.write(false, text.as_bytes())?;
                    }
                }
                event => io.talk(event),
            }
        }
        Ok(())
    }

    /// Queues one audio packet to the visitor; false when there is no audio track to send on
    /// (not negotiated, or already closed).
    fn send_audio(
        &mut self,
        now: Instant,
        time: u32,
        payload: Arc<[u8]>,
        marker: bool,
    ) -> Result<bool, RtcError> {
        let Some(mid) = self.audio_mid else {
            return Ok(false);
        };
        if self.audio_pt.is_none() {
            self.audio_pt = negotiated_pt(&self.rtc, mid);
        }
        let Some(pt) = self.audio_pt else {
            return Ok(false);
        };
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.agent(now, time, &payload);
        }
        self.sender.send(&mut self.rtc, mid, pt, now, Outgoing { time, payload, marker })
    }

    /// Restarts ICE with the visitor's new credentials (RFC 9725 §4.3): their offer again with
    /// `fragment` applied, so str0m sees a renegotiation that changes only ICE. The call keeps
    /// its DTLS session, media, turn state and playout; our new credentials and candidates come
    /// back as the fragment to answer with, and the new ufrag routes the visitor's checks.
    pub fn restart_ice(&mut self, fragment: &IceFragment) -> Result<String, PeerError> {
        let offer_sdp = fragment.apply_to(&self.offer_sdp);
        let offer =
            SdpOffer::from_sdp_string(&offer_sdp).map_err(|e| SdpRejection::Unparseable(e.to_string()))?;
        let rtc = &mut self.rtc;
        let answered = std::panic::catch_unwind(AssertUnwindSafe(|| rtc.sdp_api().accept_offer(offer)));
        let answer = match answered {
            Ok(Ok(answer)) => answer.to_sdp_string(),
            Ok(Err(e)) => return Err(SdpRejection::Refused(e.to_string()).into()),
            Err(_) => return Err(SdpRejection::Refused("str0m could not process it".into()).into()),
        };
        let ours = IceFragment::parse(&answer).map_err(|e| PeerError::Setup(e.to_string()))?;
        self.offer_sdp = offer_sdp;
        self.ufrag = ours.ufrag.clone();
        Ok(ours.to_sdpfrag(&answer))
    }

    /// Our current ICE ufrag (new after each restart).
    pub fn ice_ufrag(&self) -> &str {
        &self.ufrag
    }

    /// Adds trickled remote candidates (`a=candidate:` lines); others are ignored.
    pub fn add_remote_candidates(&mut self, sdpfrag: &str) -> usize {
        let mut added = 0;
        for line in sdpfrag.lines() {
            let Some(cand) = line.trim().strip_prefix("a=") else {
                continue;
            };
            if !cand.starts_with("candidate:") {
                continue;
            }
            if let Ok(c) = Candidate::from_sdp_string(cand) {
                self.rtc.add_remote_candidate(c);
                added += 1;
            }
        }
        added
    }

    /// Closes the call: RTCP BYE and DTLS close_notify go out now, so the other side learns
    /// at once instead of waiting for ICE consent to time out.
    pub fn close(&mut self, now: Instant, io: &mut impl PeerIo) {
        if let Some(talk) = self.talk.as_mut() {
            talk.finish();
        }
        let _ = self.hand_out_talk(io);
        if self.rtc.close().is_err() {
            self.rtc.disconnect();
        }
        let _ = drain(self, now, io);
        self.finish_recording(io);
    }

    /// Ends the recording, if any: what is queued is written and the stream ended.
    pub fn finish_recording(&mut self, io: &mut impl PeerIo) {
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.finish();
            if let Some(pages) = recorder.poll_pages() {
                io.recorded(pages, recorder.stats().duration_ms);
            }
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    fn on_event(&mut self, now: Instant, event: &Event, io: &mut impl PeerIo) {
        match event {
            Event::Connected => {
                self.connected = true;
                if let Some(serial) = self.record.take() {
                    self.recorder = Some(CallRecorder::new(now, serial, &[]));
                }
                io.event(PeerEvent::Connected);
                if let Some(talk) = self.talk.as_mut() {
                    talk.connected(now);
                }
                let _ = self.hand_out_talk(io);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                io.event(PeerEvent::Disconnected)
            }
            Event::Closed => io.event(PeerEvent::Closed),
            Event::MediaAdded(m) => self.audio_mid = Some(m.mid),
            Event::ChannelOpen(id, _) => {
                self.events.get_or_insert(*id);
            }
            Event::ChannelData(data) if Some(data.id) == self.events => {
                if let Some(talk) = self.talk.as_mut() {
                    talk.on_page_message(&data.data);
                }
                let _ = self.hand_out_talk(io);
            }
            Event::RtpPacket(p) if self.connected => self.on_audio(p, io),
            _ => {}
        }
    }

    /// A visitor's audio packet: to the external agent, or queued for the echo.
    fn on_audio(&mut self, packet: &RtpPacket, io: &mut impl PeerIo) {
        if self.audio_mid.is_none() {
            self.audio_mid = packet.header.ext_vals.mid;
        }
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.visitor(packet.timestamp, packet.header.timestamp, &packet.payload);
        }
        match self.agent {
            VoiceAgent::External => io.audio(&packet.payload),
            VoiceAgent::Echo { delay } => self.echo.push_back(EchoFrame {
                due: packet.timestamp + delay,
                time: packet.header.timestamp,
                data: packet.payload.clone(),
            }),
            VoiceAgent::Talk(_) => {
                if let Some(talk) = self.talk.as_mut() {
                    talk.on_packet(packet.timestamp, &packet.payload);
                }
                let _ = self.hand_out_talk(io);
            }
        }
    }

    /// Writes a talking agent's speech frame if one is due (and hands out what the conversation
    /// did meanwhile). Returns whether one was written.
    fn write_due_speech(&mut self, now: Instant, io: &mut impl PeerIo) -> Result<bool, RtcError> {
        let Some(talk) = self.talk.as_mut() else { return Ok(false) };
        let due = talk.poll_timeout().is_some_and(|at| at <= now);
        let frame = if due { talk.poll_frame(now) } else { None };
        self.hand_out_talk(io)?;
        match frame {
            Some(f) if self.connected => self.send_audio(now, f.rtp_time, f.payload.into(), f.marker),
            _ => Ok(false),
        }
    }

    /// Writes the first echo frame that is due. Returns whether one was written.
    fn write_due_echo(&mut self, now: Instant) -> Result<bool, RtcError> {
        while self.echo.front().is_some_and(|f| f.due <= now) {
            let Some(frame) = self.echo.pop_front() else {
                break;
            };
            if self.send_audio(now, frame.time, frame.data, false)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl<Io: PeerIo> Drained<Io> for VoicePeer {
    fn rtc(&mut self) -> &mut Rtc {
        &mut self.rtc
    }

    fn output(&mut self, now: Instant, output: &Output, io: &mut Io) -> Result<(), RtcError> {
        match output {
            Output::Transmit(t) => {
                if let Some(transport) = Transport::of(t.proto) {
                    io.transmit(transport, t.destination, &t.contents);
                }
            }
            Output::Event(e) => {
                self.on_event(now, e, io);
                // An echo with no delay goes out in this same drain: no extra poll for it.
                self.write_due_echo(now)?;
            }
            Output::Timeout(_) => {}
        }
        Ok(())
    }

    fn write_due(&mut self, now: Instant, io: &mut Io) -> Result<bool, RtcError> {
        if self.write_due_echo(now)? {
            return Ok(true);
        }
        self.write_due_speech(now, io)
    }

    fn deadline(&self, rtc_deadline: Instant) -> Instant {
        let mut rtc_deadline = rtc_deadline;
        if self.connected && !self.silent {
            rtc_deadline = rtc_deadline.min(self.last_heard + TRANSPORT_SILENT);
        }
        let echo = self.echo.front().map_or(rtc_deadline, |f| f.due.min(rtc_deadline));
        match self.talk.as_ref().and_then(Talk::poll_timeout) {
            Some(talk) => echo.min(talk),
            None => echo,
        }
    }
}
