//! `voxgate-bare-echo`: the reference voxgate's voice target is set against (issue 3 and
//! FIELD-NOTES): a bare single-thread str0m echo loop with no actors, no runtime, no database and
//! no batching. One thread owns one UDP socket and every peer, reads a datagram with `recv_from`,
//! drives its peer (the engine's `VoicePeer`, the same str0m wrapper the server runs) and sends
//! what comes out with `send_to`. A second thread answers just enough HTTP for
//! `voxgate-loadtest` to drive it as it drives voxgate (session, WHIP offer, hang-up), so both
//! can be measured by the same harness in the same minutes on the same machine.
//!
//! It checks no key, token or origin and keeps nothing: it is a yardstick, not a server.

use clap::Parser;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};
use voxgate_engine::ids::random_base62;
use voxgate_engine::voice::demux::stun_local_ufrag;
use voxgate_engine::voice::{MediaIdentity, PeerConfig, PeerEvent, PeerIo, VoiceAgent, VoicePeer};

/// A bare str0m echo server for `voxgate-loadtest`.
#[derive(Parser)]
#[command(name = "voxgate-bare-echo", version)]
struct Args {
    /// HTTP listen address; the chosen one is printed as `voxgate listening on http://...`.
    #[arg(long, default_value = "127.0.0.1:0")]
    http: SocketAddr,
    /// The IP the media socket binds to and the answers advertise.
    #[arg(long, default_value = "127.0.0.1")]
    media_ip: IpAddr,
}

/// What the HTTP thread asks of the media thread.
enum Request {
    /// Answer this offer; the answer (or why not) goes back on the sender.
    Offer {
        sdp: String,
        call: u64,
        reply: Sender<Result<String, String>>,
    },
    Hangup {
        call: u64,
    },
}

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("voxgate-bare-echo: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let std_socket =
        std::net::UdpSocket::bind(SocketAddr::new(args.media_ip, 0)).map_err(|e| e.to_string())?;
    let sock = socket2::SockRef::from(&std_socket);
    let _ = sock.set_recv_buffer_size(4 << 20);
    let _ = sock.set_send_buffer_size(4 << 20);
    std_socket.set_nonblocking(true).map_err(|e| e.to_string())?;
    let mut socket = UdpSocket::from_std(std_socket);
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let poll = Poll::new().map_err(|e| e.to_string())?;
    poll.registry().register(&mut socket, SOCKET, Interest::READABLE).map_err(|e| e.to_string())?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(|e| e.to_string())?);
    let (tx, rx) = channel();

    let server = tiny_http::Server::http(args.http).map_err(|e| e.to_string())?;
    let http_addr = server.server_addr().to_ip().ok_or("the HTTP listener has no IP address")?;
    println!("voxgate listening on http://{http_addr}");
    std::thread::spawn(move || serve_http(server, http_addr, tx, waker));

    let identity = MediaIdentity::generate().map_err(|e| e.to_string())?;
    let echo = EchoLoop {
        socket,
        local,
        identity,
        peers: HashMap::new(),
        by_addr: HashMap::new(),
        by_ufrag: HashMap::new(),
        timers: BinaryHeap::new(),
    };
    echo.run(poll, rx);
    Ok(())
}

/// One call's peer and when its timer is next looked at (lazily: only an earlier deadline
/// schedules another look; an early one just re-schedules).
struct Call {
    peer: VoicePeer,
    scheduled: Option<Instant>,
}

/// The media thread: every peer, one socket, no batching.
struct EchoLoop {
    socket: UdpSocket,
    local: SocketAddr,
    identity: MediaIdentity,
    peers: HashMap<u64, Call>,
    by_addr: HashMap<SocketAddr, u64>,
    by_ufrag: HashMap<String, u64>,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
}

/// Sends each datagram at once (`send_to`). Events change nothing: a closed call is removed
/// by its hang-up.
struct SendNow<'a> {
    socket: &'a UdpSocket,
}

impl PeerIo for SendNow<'_> {
    fn transmit(&mut self, destination: SocketAddr, datagram: &[u8]) {
        let _ = self.socket.send_to(datagram, destination);
    }
    fn event(&mut self, _event: PeerEvent) {}
}

impl EchoLoop {
    fn run(mut self, mut poll: Poll, rx: Receiver<Request>) {
        let mut events = Events::with_capacity(64);
        let mut buf = vec![0u8; 2048];
        loop {
            let timeout =
                self.timers.peek().map(|Reverse((at, _))| at.saturating_duration_since(Instant::now()));
            if poll.poll(&mut events, timeout).is_err() {
                continue;
            }
            while let Ok(request) = rx.try_recv() {
                self.handle(request);
            }
            loop {
                match self.socket.recv_from(&mut buf) {
                    Ok((n, source)) => self.receive(source, &buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => continue,
                }
            }
            self.fire_timers();
        }
    }

    fn handle(&mut self, request: Request) {
        match request {
            Request::Offer { sdp, call, reply } => {
                let ufrag = random_base62(16);
                let config = PeerConfig {
                    local_addr: self.local,
                    ufrag: ufrag.clone(),
                    agent: VoiceAgent::Echo { delay: Duration::ZERO },
                };
                match VoicePeer::accept(&self.identity, &config, &sdp, Instant::now()) {
                    Ok(answered) => {
                        let now = Instant::now();
                        self.peers.insert(call, Call { peer: answered.peer, scheduled: Some(now) });
                        self.by_ufrag.insert(ufrag, call);
                        self.timers.push(Reverse((now, call)));
                        let _ = reply.send(Ok(answered.answer_sdp));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.to_string()));
                    }
                }
            }
            Request::Hangup { call } => {
                if let Some(mut c) = self.peers.remove(&call) {
                    c.peer.close(Instant::now(), &mut SendNow { socket: &self.socket });
                }
                self.by_addr.retain(|_, c| *c != call);
                self.by_ufrag.retain(|_, c| *c != call);
            }
        }
    }

    fn receive(&mut self, source: SocketAddr, datagram: &[u8]) {
        let now = Instant::now();
        let call = match self.by_addr.get(&source) {
            Some(c) => *c,
            None => {
                let Some(&c) = stun_local_ufrag(datagram).and_then(|u| self.by_ufrag.get(u)) else { return };
                let Some(call) = self.peers.get(&c) else { return };
                if !call.peer.accepts(now, source, datagram) {
                    return;
                }
                self.by_addr.insert(source, c);
                c
            }
        };
        let Some(c) = self.peers.get_mut(&call) else { return };
        let mut io = SendNow { socket: &self.socket };
        if let Ok(deadline) = c.peer.receive(now, source, datagram, &mut io) {
            if c.scheduled.is_none_or(|at| deadline < at) {
                c.scheduled = Some(deadline);
                self.timers.push(Reverse((deadline, call)));
            }
        }
    }

    /// Feeds every due deadline; a peer's stale heap entries are skipped.
    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((at, call))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(c) = self.peers.get_mut(&call) else { continue };
            if c.scheduled != Some(at) {
                continue;
            }
            c.scheduled = None;
            let mut io = SendNow { socket: &self.socket };
            if let Ok(deadline) = c.peer.timeout(now, &mut io) {
                c.scheduled = Some(deadline);
                self.timers.push(Reverse((deadline, call)));
            }
        }
    }
}

/// Answers the few requests the harness makes: a session, a WHIP offer, a hang-up, a session
/// end. Anything else is 404.
fn serve_http(server: tiny_http::Server, addr: SocketAddr, tx: Sender<Request>, waker: Arc<Waker>) {
    let mut next_call = 0u64;
    for mut request in server.incoming_requests() {
        let url = request.url().to_string();
        let method = request.method().clone();
        let response = match (method, url.as_str()) {
            (tiny_http::Method::Post, u) if u.starts_with("/v1/widgets/") && u.ends_with("/sessions") => {
                next_call += 1;
                let body = serde_json::json!({
                    "session_id": format!("ses_{next_call}"),
                    "session_token": "bare",
                    "webrtc_url": format!("http://{addr}/whip/{next_call}"),
                });
                json(201, &body.to_string())
            }
            (tiny_http::Method::Post, u) if u.starts_with("/whip/") => {
                let call = u.trim_start_matches("/whip/").parse().unwrap_or(0);
                let mut sdp = String::new();
                let _ = request.as_reader().read_to_string(&mut sdp);
                let (reply, answer) = channel();
                let _ = tx.send(Request::Offer { sdp, call, reply });
                let _ = waker.wake();
                match answer.recv() {
                    Ok(Ok(answer)) => tiny_http::Response::from_string(answer)
                        .with_status_code(201)
                        .with_header(header("Content-Type", "application/sdp"))
                        .with_header(header("Location", &format!("http://{addr}/whip/{call}"))),
                    Ok(Err(e)) => json(
                        400,
                        &serde_json::json!({"error": {"code": "invalid_sdp", "message": e}}).to_string(),
                    ),
                    Err(_) => json(503, "{}"),
                }
            }
            (tiny_http::Method::Delete, u) if u.starts_with("/whip/") => {
                let call = u.trim_start_matches("/whip/").parse().unwrap_or(0);
                let _ = tx.send(Request::Hangup { call });
                let _ = waker.wake();
                json(200, "{}")
            }
            (tiny_http::Method::Delete, u) if u.starts_with("/v1/sessions/") => json(200, "{}"),
            _ => json(
                404,
                r#"{"error": {"code": "not_found", "message": "the bare echo server knows only the harness's requests"}}"#,
            ),
        };
        let _ = request.respond(response);
    }
}

fn json(status: u16, body: &str) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    tiny_http::Response::from_string(body)
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json"))
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("ASCII header")
}
