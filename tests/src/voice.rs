//! A voice visitor for tests: WHIP signaling over HTTP and a str0m client peer on a real UDP
//! socket on loopback (or a TCP connection to the server's ICE-TCP candidate), sending 20 ms
//! frames that carry a sequence number and measuring echoes.

use crate::{Api, Reply};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};
use voxgate_engine::media::client::{ClientIo, ClientPeer};
use voxgate_engine::media::MediaIdentity;

/// An Opus-sized frame (20 ms at about 32 kbit/s).
const FRAME_BYTES: usize = 80;

#[derive(Default)]
struct Events {
    out: Vec<(SocketAddr, Vec<u8>)>,
    connected: bool,
    disconnected: bool,
    frames: Vec<(Vec<u8>, Instant)>,
    texts: Vec<String>,
}

impl ClientIo for Events {
    fn transmit(&mut self, destination: SocketAddr, datagram: &[u8]) {
        self.out.push((destination, datagram.to_vec()));
    }
    fn connected(&mut self) {
        self.connected = true;
    }
    fn disconnected(&mut self) {
        self.disconnected = true;
    }
    fn frame(&mut self, data: &[u8], received: Instant) {
        self.frames.push((data.to_vec(), received));
    }
    fn event(&mut self, text: &str, _received: Instant) {
        self.texts.push(text.to_string());
    }
}

/// How a test visitor's packets travel.
enum Link {
    Udp(UdpSocket),
    /// A connection to the server's passive TCP candidate; each packet one RFC 4571 frame.
    Tcp {
        stream: TcpStream,
        server: SocketAddr,
        read: Vec<u8>,
        closed: bool,
    },
}

impl Link {
    fn send(&mut self, to: SocketAddr, packet: &[u8]) {
        match self {
            Link::Udp(socket) => {
                let _ = socket.send_to(packet, to);
            }
            Link::Tcp { stream, .. } => {
                let mut frame = (packet.len() as u16).to_be_bytes().to_vec();
                frame.extend_from_slice(packet);
                let _ = stream.write_all(&frame);
            }
        }
    }

    /// One packet, waiting at most `wait`; `None` when none came.
    fn recv(&mut self, wait: Duration, buf: &mut [u8]) -> Option<(SocketAddr, Vec<u8>)> {
        match self {
            Link::Udp(socket) => {
                socket.set_read_timeout(Some(wait)).expect("timeout");
                let (n, from) = socket.recv_from(buf).ok()?;
                Some((from, buf[..n].to_vec()))
            }
            Link::Tcp { stream, server, read, closed } => loop {
                if read.len() >= 2 {
                    let len = usize::from(u16::from_be_bytes([read[0], read[1]]));
                    if read.len() >= 2 + len {
                        let frame = read[2..2 + len].to_vec();
                        read.drain(..2 + len);
                        return Some((*server, frame));
                    }
                }
                if *closed {
                    // Nothing more can come: wait as a read with nothing to read would.
                    std::thread::sleep(wait);
                    return None;
                }
                stream.set_read_timeout(Some(wait)).expect("timeout");
                match stream.read(buf) {
                    Ok(0) => *closed = true,
                    Ok(n) => read.extend_from_slice(&buf[..n]),
                    Err(_) => return None,
                }
            },
        }
    }
}

/// A live call from a test visitor.
pub struct VoiceCall {
    peer: ClientPeer,
    link: Link,
    events: Events,
    deadline: Instant,
    next_frame: Instant,
    seq: u32,
    sent: HashMap<u32, Instant>,
    /// The call resource (`Location`).
    pub location: String,
    /// The server's SDP answer.
    pub answer: String,
    /// The call's ICE session tag (`ETag`), new after each ICE restart.
    pub etag: Option<String>,
    /// Sequence number and round trip of every echoed frame, in arrival order.
    pub echoes: Vec<(u32, Duration)>,
    pub connected_at: Option<Instant>,
    pub disconnected_at: Option<Instant>,
    /// Whether to send frames once connected.
    pub sending: bool,
    /// What to send in the `n`th frame instead of a numbered frame (a speaking visitor).
    pub script: Option<Box<dyn FnMut(u32) -> Vec<u8> + Send>>,
    /// Every frame received, with when (a talking agent's speech).
    pub received: Vec<(Vec<u8>, Instant)>,
    /// Events received on the data channel (with [`VoiceCall::offer_with_events`]).
    pub channel_events: Vec<serde_json::Value>,
}

impl VoiceCall {
    /// Posts an offer to `webrtc_url`; Err is the server's refusal.
    pub fn offer(api: &Api, webrtc_url: &str, origin: &str, token: &str) -> Result<VoiceCall, Box<Reply>> {
        VoiceCall::offer_with(api, webrtc_url, origin, token, None)
    }

    /// Offers a call with an `oai-events` data channel, as the widget does for captions.
    pub fn offer_with_events(
        api: &Api,
        webrtc_url: &str,
        origin: &str,
        token: &str,
    ) -> Result<VoiceCall, Box<Reply>> {
        VoiceCall::offer_with(api, webrtc_url, origin, token, Some("oai-events"))
    }

    /// Offers a call that reaches the server over TCP only, as a visitor whose network drops
    /// UDP: it connects to the answer's passive TCP candidate and runs ICE, DTLS and SRTP there.
    pub fn offer_tcp(
        api: &Api,
        webrtc_url: &str,
        origin: &str,
        token: &str,
    ) -> Result<VoiceCall, Box<Reply>> {
        let identity = MediaIdentity::generate().expect("certificate");
        let (peer, offer) = ClientPeer::offer_tcp(&identity, Instant::now()).expect("client offer");
        VoiceCall::signal(api, webrtc_url, origin, token, peer, offer, None)
    }

    fn offer_with(
        api: &Api,
        webrtc_url: &str,
        origin: &str,
        token: &str,
        events: Option<&str>,
    ) -> Result<VoiceCall, Box<Reply>> {
        let identity = MediaIdentity::generate().expect("certificate");
        let socket = UdpSocket::bind("127.0.0.1:0").expect("udp socket");
        let local = socket.local_addr().expect("local addr");
        let (peer, offer) =
            ClientPeer::offer_with(&identity, local, Instant::now(), events).expect("client offer");
        VoiceCall::signal(api, webrtc_url, origin, token, peer, offer, Some(socket))
    }

    /// Posts the offer and applies the answer; without a UDP socket the call goes over TCP.
    fn signal(
        api: &Api,
        webrtc_url: &str,
        origin: &str,
        token: &str,
        mut peer: ClientPeer,
        offer: String,
        socket: Option<UdpSocket>,
    ) -> Result<VoiceCall, Box<Reply>> {
        let reply = api.send(
            api.http
                .post(api.url(webrtc_url))
                .header("Origin", origin)
                .header("Authorization", format!("Bearer {token}"))
                .header("Content-Type", "application/sdp")
                .body(offer),
        );
        if reply.status != 201 {
            return Err(Box::new(reply));
        }
        assert_eq!(reply.header("content-type"), Some("application/sdp"));
        assert_eq!(reply.header("access-control-allow-origin"), Some(origin));
        assert!(reply.header("access-control-expose-headers").is_some_and(|h| h.contains("Location")));
        let location = reply.header("location").expect("Location").to_string();
        peer.accept_answer(&reply.text).expect("answer applies");
        let link = match socket {
            Some(socket) => Link::Udp(socket),
            None => {
                let server = ClientPeer::server_tcp_candidate(&reply.text).expect("a passive TCP candidate");
                let stream = TcpStream::connect(server).expect("connect to the TCP candidate");
                let _ = stream.set_nodelay(true);
                peer.connected_tcp(stream.local_addr().expect("local addr")).expect("tcp candidate");
                Link::Tcp { stream, server, read: Vec::new(), closed: false }
            }
        };
        let now = Instant::now();
        let mut events = Events::default();
        let deadline = peer.timeout(now, &mut events).expect("drive");
        Ok(VoiceCall {
            peer,
            link,
            events,
            deadline,
            next_frame: now,
            seq: 0,
            sent: HashMap::new(),
            location,
            answer: reply.text.clone(),
            etag: reply.header("etag").map(str::to_string),
            echoes: Vec::new(),
            connected_at: None,
            disconnected_at: None,
            sending: true,
            script: None,
            received: Vec::new(),
            channel_events: Vec::new(),
        })
    }

    /// Drives the call until `done` holds or `timeout` passes; returns whether `done` held.
    pub fn run_until(&mut self, timeout: Duration, mut done: impl FnMut(&VoiceCall) -> bool) -> bool {
        let end = Instant::now() + timeout;
        let mut buf = [0u8; 2048];
        loop {
            self.flush();
            if done(self) {
                return true;
            }
            let now = Instant::now();
            if now >= end {
                return false;
            }
            if self.peer.is_connected()
                && self.sending
                && now >= self.next_frame
                && self.disconnected_at.is_none()
            {
                let frame = match self.script.as_mut() {
                    Some(script) => script(self.seq),
                    None => {
                        let mut frame = vec![0u8; FRAME_BYTES];
                        frame[..4].copy_from_slice(&self.seq.to_be_bytes());
                        self.sent.insert(self.seq, now);
                        frame
                    }
                };
                self.seq += 1;
                self.next_frame = now + Duration::from_millis(20);
                self.deadline = self.peer.send_frame(now, &frame, &mut self.events).expect("send frame");
                continue;
            }
            let mut wake = self.deadline.min(end);
            if self.peer.is_connected() && self.sending {
                wake = wake.min(self.next_frame);
            }
            let wait = wake.saturating_duration_since(now).max(Duration::from_micros(200));
            match self.link.recv(wait, &mut buf) {
                Some((from, packet)) => {
                    let now = Instant::now();
                    self.deadline = self.peer.receive(now, from, &packet, &mut self.events).expect("receive");
                }
                None => {
                    let now = Instant::now();
                    if now >= self.deadline {
                        self.deadline = self.peer.timeout(now, &mut self.events).expect("timeout");
                    }
                }
            }
        }
    }

    fn flush(&mut self) {
        for (to, d) in self.events.out.drain(..) {
            self.link.send(to, &d);
        }
        if self.events.connected && self.connected_at.is_none() {
            self.connected_at = Some(Instant::now());
        }
        if self.events.disconnected && self.disconnected_at.is_none() {
            self.disconnected_at = Some(Instant::now());
        }
        for text in self.events.texts.drain(..) {
            self.channel_events.push(serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)));
        }
        for (data, at) in self.events.frames.drain(..) {
            if self.script.is_some() {
                self.received.push((data, at));
                continue;
            }
            if data.len() >= 4 {
                let seq = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                if let Some(sent) = self.sent.get(&seq) {
                    self.echoes.push((seq, at - *sent));
                }
            }
        }
    }

    /// Sends `event` (JSON) on the call's data channel, as a page answering a page action does;
    /// false when the channel is not open.
    pub fn send_event(&mut self, event: &serde_json::Value) -> bool {
        let (sent, deadline) = self
            .peer
            .send_text(Instant::now(), &event.to_string(), &mut self.events)
            .expect("send on the channel");
        self.deadline = deadline;
        self.flush();
        sent
    }

    /// The server's TCP candidate this call reaches, for a call over TCP.
    pub fn server_tcp(&self) -> Option<SocketAddr> {
        match &self.link {
            Link::Tcp { server, .. } => Some(*server),
            Link::Udp(_) => None,
        }
    }

    /// Frames sent so far.
    pub fn frames_sent(&self) -> u32 {
        self.seq
    }

    /// Runs until `n` echoes have come back.
    pub fn expect_echoes(&mut self, n: usize, timeout: Duration) {
        let ok = self.run_until(timeout, |c| c.echoes.len() >= n);
        assert!(
            ok,
            "only {} of {n} echoes within {timeout:?} (connected: {:?})",
            self.echoes.len(),
            self.connected_at
        );
    }

    /// Runs until the server ends the call.
    pub fn expect_server_hangup(&mut self, timeout: Duration) -> Instant {
        let ok = self.run_until(timeout, |c| c.disconnected_at.is_some());
        assert!(ok, "the server did not end the call within {timeout:?}");
        self.disconnected_at.expect("set")
    }

    /// Closes the peer connection as a browser's `pc.close()` does: RTCP BYE and DTLS
    /// close_notify go out now, and nothing more is sent.
    pub fn close(&mut self) {
        self.peer.close(Instant::now(), &mut self.events);
        self.sending = false;
        self.flush();
    }

    /// `PATCH` on the call resource with `If-Match: if_match` and `sdpfrag`.
    pub fn patch(&self, api: &Api, origin: &str, token: &str, if_match: &str, sdpfrag: &str) -> Reply {
        api.send(
            api.http
                .patch(api.url(&self.location))
                .header("Origin", origin)
                .header("Authorization", format!("Bearer {token}"))
                .header("Content-Type", "application/trickle-ice-sdpfrag")
                .header("If-Match", if_match)
                .body(sdpfrag.to_string()),
        )
    }

    /// The visitor's network changes: a new UDP socket (a new local address), and an ICE
    /// restart through `PATCH` with `If-Match: *`. On `200` the call goes on from the new
    /// socket; the reply either way.
    pub fn move_and_restart_ice(&mut self, api: &Api, origin: &str, token: &str) -> Reply {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("udp socket");
        let local = socket.local_addr().expect("local addr");
        let offer = self.peer.restart_ice(local).expect("an ICE restart offer");
        let reply = self.patch(api, origin, token, "*", &offer);
        if reply.status == 200 {
            self.peer.accept_restart(&reply.text).expect("the restart's answer applies");
            self.link = Link::Udp(socket);
            self.etag = reply.header("etag").map(str::to_string);
            let now = Instant::now();
            self.deadline = self.peer.timeout(now, &mut self.events).expect("drive");
            self.flush();
        }
        reply
    }

    /// Hangs up by DELETE on the call resource.
    pub fn hang_up(&mut self, api: &Api, origin: &str, token: &str) -> Reply {
        let r = api.browser("DELETE", &self.location, Some(origin), Some(token));
        self.peer.close(Instant::now(), &mut self.events);
        self.flush();
        r
    }
}
