//! A voice visitor for tests: WHIP signaling over HTTP and a str0m client peer on a real UDP
//! socket on loopback, sending 20 ms frames that carry a sequence number and measuring echoes.

use crate::{Api, Reply};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use voxgate_engine::voice::client::{ClientIo, ClientPeer};
use voxgate_engine::voice::MediaIdentity;

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

/// A live call from a test visitor.
pub struct VoiceCall {
    peer: ClientPeer,
    socket: UdpSocket,
    events: Events,
    deadline: Instant,
    next_frame: Instant,
    seq: u32,
    sent: HashMap<u32, Instant>,
    /// The call resource (`Location`).
    pub location: String,
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
        let now = Instant::now();
        let (mut peer, offer) = ClientPeer::offer_with(&identity, local, now, events).expect("client offer");
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
        let mut events = Events::default();
        let deadline = peer.timeout(now, &mut events).expect("drive");
        Ok(VoiceCall {
            peer,
            socket,
            events,
            deadline,
            next_frame: now,
            seq: 0,
            sent: HashMap::new(),
            location,
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
            self.socket.set_read_timeout(Some(wait)).expect("timeout");
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    let now = Instant::now();
                    self.deadline =
                        self.peer.receive(now, from, &buf[..n], &mut self.events).expect("receive");
                }
                Err(_) => {
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
            let _ = self.socket.send_to(&d, to);
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

    /// Hangs up by DELETE on the call resource.
    pub fn hang_up(&mut self, api: &Api, origin: &str, token: &str) -> Reply {
        let r = api.browser("DELETE", &self.location, Some(origin), Some(token));
        self.peer.close(Instant::now(), &mut self.events);
        self.flush();
        r
    }
}
