//! A media worker: one thread (an actix Arbiter) that owns one UDP socket, its ICE-TCP
//! connections, and the engine's [`Endpoint`] holding every call placed on it. It is a thin
//! driver, as quinn's is over quinn-proto: it moves datagrams (and TCP frames) between the
//! sockets and the endpoint, fires the endpoint's timers, hands each call's events to the
//! call's actor (or, for a talking call, to its agent and transcript), and carries out the
//! commands of actors and agents. Nothing else touches the endpoint, so the hot path takes no
//! lock and crosses no thread.

use super::error::VoiceError;
use super::outbox::Outbox;
use super::tcp::{Closed, TcpInput, TcpLinks};
use crate::recordings::RecordingSink;
use crate::talk::turn_model::{Judged, TurnModel};
use crate::talk::CallTranscript;
use actix::{Message, Recipient};
use foldhash::fast::FixedState;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use voxgate_engine::media::{
    CallEvent, CallKey, CallMedia, Endpoint, IceCreds, IceFragment, SdpOffer, Transmit, Transport,
};
use voxgate_engine::talk::{AgentEvent, TalkEvent};

/// Largest datagram read.
const RECV_BUFFER: usize = 2048;

/// Datagrams read per `recvmmsg` call.
const RECV_BATCH: usize = 32;

/// Echoes of a batch go out every this many datagrams fed, so the first of a full batch does
/// not wait for the other 31 to be processed.
const FLUSH_EVERY: usize = 8;

/// Something that happened to a call, for its actor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Happened(pub CallEvent);

/// Where one call's events go.
pub(crate) struct CallLinks {
    /// The call's actor: its lifecycle (connected, failed, closed, idle timeout).
    pub actor: Recipient<Happened>,
    /// A talking call's agent and transcript.
    pub talk: Option<TalkLinks>,
    /// A recorded call's file.
    pub recording: Option<RecordingSink>,
}

/// Where a talking call's conversation goes: what the agent hears, straight to it (on its
/// voices thread), and the lines to the transcript.
pub(crate) struct TalkLinks {
    pub agent: mpsc::UnboundedSender<TalkEvent>,
    pub transcript: CallTranscript,
}

/// Builds the actor of a newly accepted call, on the worker's thread, and returns where its
/// events go. Built by whoever places the call, so the worker knows no actor type.
pub(crate) type Attach = Box<dyn FnOnce(CallKey, WorkerHandle) -> CallLinks + Send>;

/// What the rest of the process asks of a worker.
pub(crate) enum Command {
    /// Answer a checked offer with a new call and attach its actor.
    Accept {
        offer: SdpOffer,
        ice: IceCreds,
        media: CallMedia,
        attach: Attach,
        reply: oneshot::Sender<Result<String, VoiceError>>,
    },
    /// One Opus frame of an external agent for the visitor.
    Play { key: CallKey, frame: Vec<u8> },
    /// What a talking agent did, stamped with the barge-ins it had seen.
    Agent { key: CallKey, epoch: u64, event: AgentEvent },
    /// The end-of-turn model's answer to a talking call's `JudgeTurn { id }`: the probability
    /// that the visitor has finished, or `None` when it gave none.
    TurnJudged { key: CallKey, id: u64, finished: Option<f32> },
    /// Trickled candidates, if the call's ICE session is still `if_match` (when given);
    /// answers how many were added.
    Trickle {
        key: CallKey,
        sdpfrag: String,
        if_match: Option<String>,
        reply: oneshot::Sender<Result<usize, VoiceError>>,
    },
    /// The visitor's new ICE credentials (a network change): restart ICE and answer with ours,
    /// as a fragment and the new ICE session's tag.
    RestartIce {
        key: CallKey,
        fragment: IceFragment,
        reply: oneshot::Sender<Result<(String, String), VoiceError>>,
    },
    /// End the call: BYE and close_notify go out, and it is forgotten.
    Close { key: CallKey },
    /// Send what is queued and stop.
    Stop { reply: oneshot::Sender<()> },
}

/// A worker as seen from outside: where its commands go, and what it reports.
#[derive(Clone)]
pub(crate) struct WorkerHandle {
    pub index: usize,
    pub local_addr: SocketAddr,
    commands: mpsc::UnboundedSender<Command>,
    active: Arc<AtomicUsize>,
}

impl WorkerHandle {
    /// Sends a command; false when the worker has stopped.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }

    /// Calls live on this worker.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }
}

/// The counters a worker adds to, once per round of its loop (never per datagram).
#[derive(Clone)]
pub(crate) struct WorkerMetrics {
    pub packets_in: prometheus::IntCounter,
    pub bytes_in: prometheus::IntCounter,
    pub packets_out: prometheus::IntCounter,
    pub bytes_out: prometheus::IntCounter,
    pub send_dropped: prometheus::IntCounter,
}

/// The loop's state: everything a worker owns.
struct MediaWorker {
    index: usize,
    socket: UdpSocket,
    endpoint: Endpoint,
    outbox: Outbox,
    /// The ICE-TCP connections, when calls offer a TCP candidate.
    tcp: Option<TcpLinks>,
    calls: HashMap<CallKey, CallLinks, FixedState>,
    handle: WorkerHandle,
    metrics: WorkerMetrics,
    received: (u64, u64),
    /// The end-of-turn model, when the node has one (`--turn-model`).
    turn_model: Option<Arc<TurnModel>>,
}

/// Where the endpoint's output goes: UDP datagrams to the send queue, TCP frames to their
/// connection.
struct Wire<'a> {
    udp: &'a mut Outbox,
    tcp: Option<&'a mut TcpLinks>,
}

impl Transmit for Wire<'_> {
    fn transmit(&mut self, transport: Transport, destination: SocketAddr, datagram: &[u8]) {
        match transport {
            Transport::Udp => self.udp.push(destination, datagram),
            Transport::Tcp => {
                if let Some(tcp) = self.tcp.as_deref_mut() {
                    tcp.send(destination, datagram);
                }
            }
        }
    }
}

/// A worker's ICE-TCP listener (bound, non-blocking) and its most connections.
pub(crate) struct TcpListening {
    pub listener: std::net::TcpListener,
    pub limit: usize,
    pub metrics: super::tcp::TcpMetrics,
}

/// Starts a worker on `arbiter` around a bound non-blocking socket (and TCP listener) and an
/// endpoint for its address. Returns its handle at once; the loop starts on the arbiter's thread.
pub(crate) fn start(
    index: usize,
    arbiter: &actix::ArbiterHandle,
    socket: std::net::UdpSocket,
    tcp: Option<TcpListening>,
    endpoint: Endpoint,
    metrics: WorkerMetrics,
    turn_model: Option<Arc<TurnModel>>,
) -> Result<WorkerHandle, String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = WorkerHandle {
        index,
        local_addr: endpoint.local_addr(),
        commands: tx,
        active: Arc::new(AtomicUsize::new(0)),
    };
    let worker_handle = handle.clone();
    let started = arbiter.spawn(async move {
        use std::os::fd::AsRawFd;
        let socket = match UdpSocket::from_std(socket) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(worker = index, error = %e, "media socket could not join the runtime");
                return;
            }
        };
        let outbox = Outbox::new(socket.as_raw_fd());
        let tcp = match tcp.map(|t| TcpLinks::new(t.listener, t.limit, t.metrics)).transpose() {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::error!(worker = index, error = %e, "ICE-TCP listener could not join the runtime");
                None
            }
        };
        let worker = MediaWorker {
            index,
            socket,
            endpoint,
            outbox,
            tcp,
            calls: HashMap::with_hasher(FixedState::default()),
            handle: worker_handle,
            metrics,
            received: (0, 0),
            turn_model,
        };
        // The loop owns a send queue of raw `sendmmsg` headers, so it stays on this thread.
        actix::spawn(worker.run(rx));
    });
    if !started {
        return Err(format!("media worker {index} did not start"));
    }
    Ok(handle)
}

impl MediaWorker {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let state = match quinn_udp::UdpSocketState::new((&self.socket).into()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(worker = self.index, error = %e, "media socket cannot be read in batches");
                return;
            }
        };
        // GRO may coalesce several datagrams of one flow into one buffer, split by `stride`.
        let slot = RECV_BUFFER * state.gro_segments().max(1);
        let mut storage = vec![0u8; slot * RECV_BATCH];
        let mut metas = [quinn_udp::RecvMeta::default(); RECV_BATCH];
        let timer = tokio::time::sleep_until(tokio::time::Instant::now());
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            match self.endpoint.poll_timeout() {
                Some(at) if armed != Some(at) => {
                    timer.as_mut().reset(at.into());
                    armed = Some(at);
                }
                Some(_) => {}
                None => armed = None,
            }
            tokio::select! {
                biased;
                command = commands.recv() => {
                    let Some(command) = command else { break };
                    if let Command::Stop { reply } = command {
                        self.finish_round();
                        let _ = reply.send(());
                        break;
                    }
                    self.command(command);
                }
                ready = self.socket.readable() => {
                    if let Err(e) = ready {
                        tracing::error!(worker = self.index, error = %e, "media socket failed");
                        break;
                    }
                    self.receive(&state, &mut storage, slot, &mut metas);
                    // A flood keeps the socket readable, and the select above prefers it: a
                    // deadline that passed meanwhile (a talking call's next 20 ms frame) is
                    // served now rather than when the socket runs dry.
                    let now = Instant::now();
                    if armed.is_some_and(|at| at <= now) {
                        armed = None;
                        self.handle_timeout(now);
                    }
                }
                () = &mut timer, if armed.is_some() => {
                    armed = None;
                    self.handle_timeout(Instant::now());
                }
                input = next_tcp(&mut self.tcp), if self.tcp.is_some() => self.tcp_input(input),
            }
            // No yield here: the calls' actors run whenever the socket is empty, and under a
            // flood tokio's cooperative budget makes `readable()` yield every 128 rounds.
            self.finish_round();
        }
        if let Some(tcp) = self.tcp.as_mut() {
            tcp.close_all();
        }
        tracing::info!(worker = self.index, calls = self.endpoint.len(), "media worker stopped");
    }

    fn handle_timeout(&mut self, now: Instant) {
        let mut wire = Wire { udp: &mut self.outbox, tcp: self.tcp.as_mut() };
        self.endpoint.handle_timeout(now, &mut wire);
    }

    /// A frame from an ICE-TCP connection goes to the endpoint like a datagram; one that belongs
    /// to no call closes its connection. A closed connection is forgotten.
    fn tcp_input(&mut self, input: TcpInput) {
        match input {
            TcpInput::Frame { remote, frame } => {
                self.received.0 += 1;
                self.received.1 += frame.len() as u64;
                let mut wire = Wire { udp: &mut self.outbox, tcp: self.tcp.as_mut() };
                let routed =
                    self.endpoint.handle_datagram(Instant::now(), Transport::Tcp, remote, &frame, &mut wire);
                if !routed {
                    if let Some(tcp) = self.tcp.as_mut() {
                        tcp.close(remote, Closed::Unrouted);
                    }
                }
            }
            TcpInput::Gone { remote } => self.endpoint.forget_remote(Transport::Tcp, remote),
            TcpInput::Nothing => {}
        }
    }

    /// Reads one batch (`recvmmsg` through quinn-udp) and feeds it to the endpoint, flushing
    /// what the calls send every few datagrams. Returns how many datagrams were fed.
    fn receive(
        &mut self,
        state: &quinn_udp::UdpSocketState,
        storage: &mut [u8],
        slot: usize,
        metas: &mut [quinn_udp::RecvMeta; RECV_BATCH],
    ) -> usize {
        let read = self.socket.try_io(tokio::io::Interest::READABLE, || {
            let mut bufs: [std::io::IoSliceMut<'_>; RECV_BATCH] = {
                let mut chunks = storage.chunks_mut(slot);
                std::array::from_fn(|_| std::io::IoSliceMut::new(chunks.next().unwrap_or_default()))
            };
            state.recv((&self.socket).into(), &mut bufs, metas)
        });
        let n = match read {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return 0,
            Err(e) => {
                // ICMP errors (a peer went away) surface here on some systems; keep going.
                tracing::debug!(worker = self.index, error = %e, "media socket receive error");
                return 0;
            }
        };
        let now = Instant::now();
        let mut fed = 0;
        for (i, meta) in metas.iter().take(n).enumerate() {
            let filled = &storage[i * slot..i * slot + meta.len];
            self.received.1 += meta.len as u64;
            for datagram in filled.chunks(meta.stride.max(1)) {
                self.received.0 += 1;
                let mut wire = Wire { udp: &mut self.outbox, tcp: self.tcp.as_mut() };
                self.endpoint.handle_datagram(now, Transport::Udp, meta.addr, datagram, &mut wire);
                fed += 1;
                if fed % FLUSH_EVERY == 0 {
                    self.outbox.flush();
                }
            }
        }
        fed
    }

    /// Sends what the round produced, hands out the calls' events and adds up the counters.
    fn finish_round(&mut self) {
        self.outbox.flush();
        if let Some(tcp) = self.tcp.as_mut() {
            for remote in tcp.take_gone() {
                self.endpoint.forget_remote(Transport::Tcp, remote);
            }
        }
        self.hand_out_events();
        let sent = self.outbox.take_totals();
        let m = &self.metrics;
        if sent.sent > 0 {
            m.packets_out.inc_by(sent.sent as u64);
            m.bytes_out.inc_by(sent.bytes as u64);
        }
        if sent.dropped > 0 {
            m.send_dropped.inc_by(sent.dropped as u64);
        }
        let (packets, bytes) = std::mem::take(&mut self.received);
        if packets > 0 {
            m.packets_in.inc_by(packets);
            m.bytes_in.inc_by(bytes);
        }
    }

    /// Each call's events to where they go: a talking call's conversation to its transcript
    /// and agent, the rest (and the idle timeout that ends a call) to its actor.
    fn hand_out_events(&mut self) {
        let mut judge = Vec::new();
        while let Some((key, event)) = self.endpoint.poll_event() {
            let Some(links) = self.calls.get(&key) else { continue };
            match (event, &links.talk) {
                (CallEvent::Talk(TalkEvent::JudgeTurn { id, audio, deadline, .. }), Some(_)) => {
                    judge.push((key, id, audio, deadline));
                }
                (CallEvent::Talk(event), Some(talk)) => {
                    let Some(event) = talk.transcript.observe(event) else { continue };
                    if event.is_for_agent() {
                        // The agent's loop ends only with the call.
                        let _ = talk.agent.send(event);
                    } else if matches!(event, TalkEvent::IdleTimeout | TalkEvent::HangUp) {
                        links.actor.do_send(Happened(CallEvent::Talk(event)));
                    }
                }
                (CallEvent::Talk(_), None) => {}
                (CallEvent::Recorded { pages, duration_ms }, _) => {
                    if let Some(recording) = &links.recording {
                        recording.append(pages, duration_ms);
                    }
                }
                (event, _) => links.actor.do_send(Happened(event)),
            }
        }
        for (key, id, audio, deadline) in judge {
            self.judge_turn(key, id, audio, deadline);
        }
    }

    /// Asks the end-of-turn model about a turn; its answer comes back as a command. Without a
    /// model the answer is none, at once: the silence rule decides.
    fn judge_turn(&mut self, key: CallKey, id: u64, audio: Arc<[i16]>, deadline: Instant) {
        let Some(model) = self.turn_model.clone() else {
            let mut wire = Wire { udp: &mut self.outbox, tcp: self.tcp.as_mut() };
            self.endpoint.turn_judged(key, Instant::now(), id, None, &mut wire);
            return self.hand_out_events();
        };
        let handle = self.handle.clone();
        let seconds = audio.len() as f64 / 16_000.0;
        model.judge(audio, deadline, move |judged| {
            tracing::debug!(?judged, seconds, "the end-of-turn model judged a pause");
            let finished = match judged {
                Judged::Finished { probability, .. } => Some(probability),
                Judged::Late | Judged::Busy | Judged::Failed(_) => None,
            };
            // False only once the worker stopped.
            let _ = handle.send(Command::TurnJudged { key, id, finished });
        });
    }

    fn command(&mut self, command: Command) {
        let now = Instant::now();
        let mut wire = Wire { udp: &mut self.outbox, tcp: self.tcp.as_mut() };
        match command {
            Command::Accept { offer, ice, media, attach, reply } => {
                let accepted = self.endpoint.accept(now, offer, ice, media).map_err(VoiceError::from);
                let answer = accepted.map(|(key, answer)| {
                    let actor = attach(key, self.handle.clone());
                    self.calls.insert(key, actor);
                    self.handle.active.fetch_add(1, Ordering::Relaxed);
                    answer
                });
                let _ = reply.send(answer);
            }
            Command::Play { key, frame } => {
                self.endpoint.play(key, now, &frame, &mut wire);
            }
            Command::Agent { key, epoch, event } => {
                self.endpoint.agent(key, now, epoch, event, &mut wire);
            }
            Command::TurnJudged { key, id, finished } => {
                self.endpoint.turn_judged(key, now, id, finished, &mut wire);
            }
            Command::Trickle { key, sdpfrag, if_match, reply } => {
                let current = self.endpoint.ice_ufrag(key).map(str::to_string);
                let added = match (current, if_match) {
                    (None, _) => Err(VoiceError::NoSuchCall),
                    (Some(current), Some(given)) if current != given => {
                        Err(VoiceError::StaleIceSession { given, current })
                    }
                    _ => {
                        self.endpoint.add_remote_candidates(key, now, &sdpfrag).ok_or(VoiceError::NoSuchCall)
                    }
                };
                let _ = reply.send(added);
            }
            Command::RestartIce { key, fragment, reply } => {
                let restarted = match self.endpoint.restart_ice(key, now, &fragment) {
                    None => Err(VoiceError::NoSuchCall),
                    Some(Err(e)) => Err(VoiceError::from(e)),
                    Some(Ok(answer)) => {
                        Ok((answer, self.endpoint.ice_ufrag(key).unwrap_or_default().to_string()))
                    }
                };
                let _ = reply.send(restarted);
                // The call's actor hears of it (its count of reconnects).
                self.hand_out_events();
            }
            Command::Close { key } => {
                if self.endpoint.close(key, now, &mut wire) {
                    self.handle.active.fetch_sub(1, Ordering::Relaxed);
                }
                // The lines of an answer cut off by the end go to the transcript first.
                self.hand_out_events();
                self.calls.remove(&key);
            }
            Command::Stop { .. } => {}
        }
    }
}

/// The next thing the ICE-TCP connections have, when there are any (the select skips this
/// branch otherwise).
async fn next_tcp(tcp: &mut Option<TcpLinks>) -> TcpInput {
    match tcp {
        Some(tcp) => tcp.next().await,
        None => std::future::pending().await,
    }
}
