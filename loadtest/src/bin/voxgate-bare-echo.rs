//! `voxgate-bare-echo`: the reference voxgate's voice target is set against (issue 3 and
//! FIELD-NOTES): a bare single-thread str0m echo loop with no actors, no runtime, no database and
//! no batching. One thread owns one UDP socket and the engine's `Endpoint` (the same router,
//! timers and str0m peers the server's workers drive), reads a datagram with `recv_from`, hands
//! it to the endpoint and sends what comes out with `send_to`. A second thread answers just enough HTTP for
//! `voxgate-loadtest` to drive it as it drives voxgate (session, WHIP offer, hang-up), so both
//! can be measured by the same harness in the same minutes on the same machine.
//!
//! It checks no key, token or origin and keeps nothing: it is a yardstick, not a server.

use clap::Parser;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};
use voxgate_engine::ids::random_base62;
use voxgate_engine::media::{
    check_offer, CallKey, Endpoint, IceCreds, MediaIdentity, Transmit, Transport, VoiceAgent,
};

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
    let echo =
        EchoLoop { socket, endpoint: Endpoint::new(identity, local, rand::random()), calls: HashMap::new() };
    echo.run(poll, rx);
    Ok(())
}

/// The media thread: one socket, one endpoint, no batching.
struct EchoLoop {
    socket: UdpSocket,
    endpoint: Endpoint,
    /// The harness's call numbers.
    calls: HashMap<u64, CallKey>,
}

/// Sends each datagram at once (`send_to`). The loop's endpoint offers no TCP candidate, so
/// nothing goes out on TCP.
struct SendNow<'a> {
    socket: &'a UdpSocket,
}

impl Transmit for SendNow<'_> {
    fn transmit(&mut self, transport: Transport, destination: SocketAddr, datagram: &[u8]) {
        if transport == Transport::Udp {
            let _ = self.socket.send_to(datagram, destination);
        }
    }
}

impl EchoLoop {
    fn run(mut self, mut poll: Poll, rx: Receiver<Request>) {
        let mut events = Events::with_capacity(64);
        let mut buf = vec![0u8; 2048];
        loop {
            let timeout = self.endpoint.poll_timeout().map(|at| at.saturating_duration_since(Instant::now()));
            if poll.poll(&mut events, timeout).is_err() {
                continue;
            }
            while let Ok(request) = rx.try_recv() {
                self.handle(request);
            }
            loop {
                match self.socket.recv_from(&mut buf) {
                    Ok((n, source)) => {
                        let mut out = SendNow { socket: &self.socket };
                        self.endpoint.handle_datagram(
                            Instant::now(),
                            Transport::Udp,
                            source,
                            &buf[..n],
                            &mut out,
                        );
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => continue,
                }
            }
            self.endpoint.handle_timeout(Instant::now(), &mut SendNow { socket: &self.socket });
            // Events change nothing here: a closed call is removed by its hang-up.
            while self.endpoint.poll_event().is_some() {}
        }
    }

    fn handle(&mut self, request: Request) {
        let now = Instant::now();
        match request {
            Request::Offer { sdp, call, reply } => {
                let mut rng = rand::rng();
                let ice = IceCreds { ufrag: random_base62(&mut rng, 16), pass: random_base62(&mut rng, 24) };
                let accepted = check_offer(&sdp).map_err(|e| e.to_string()).and_then(|offer| {
                    let agent = VoiceAgent::Echo { delay: Duration::ZERO };
                    self.endpoint.accept(now, offer, ice, agent).map_err(|e| e.to_string())
                });
                let answer = accepted.map(|(key, answer)| {
                    self.calls.insert(call, key);
                    answer
                });
                let _ = reply.send(answer);
            }
            Request::Hangup { call } => {
                if let Some(key) = self.calls.remove(&call) {
                    self.endpoint.close(key, now, &mut SendNow { socket: &self.socket });
                }
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
