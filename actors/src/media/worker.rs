//! Media workers: one Arbiter (thread) per core, each owning one UDP socket with large buffers,
//! a route table, and the `VoiceSession` actors placed on it.

use super::call_peer::CallPeer;
use super::calls::CallDirectory;
use super::outbox::Outbox;
use super::voice_session::{Hangup, NewCall, VoiceSession};
use super::{VoiceError, VoicePlan};
use crate::clock;
use crate::metrics::Metrics;
use crate::sessions::SessionRegistry;
use crate::store::{records, Store};
use actix::ArbiterHandle;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use voxgate_engine::ids::{random_base62, CallId};
use voxgate_engine::session::{EndReason, Session};
use voxgate_engine::voice::demux::stun_local_ufrag;
use voxgate_engine::voice::MediaIdentity;

/// Largest datagram read.
const RECV_BUFFER: usize = 2048;

/// How the media path is set up.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The IP the sockets bind to and the candidates advertise.
    pub ip: IpAddr,
    /// First UDP port; worker `i` binds `port + i`. 0 picks free ports.
    pub port: u16,
    pub workers: usize,
    /// A call that is not connected this long after its answer ends (`connection_failed`).
    pub connect_timeout: Duration,
    /// SO_RCVBUF / SO_SNDBUF for each socket; connect storms overflow the default.
    pub socket_buffer_bytes: usize,
}

/// Routes of one worker: a remote address, or (for a new address) our ICE ufrag, to the call's
/// peer.
#[derive(Default)]
pub(crate) struct Routes {
    pub by_addr: HashMap<SocketAddr, Rc<CallPeer>>,
    pub by_ufrag: HashMap<String, Rc<CallPeer>>,
}

/// A worker's thread-local state, shared by its receive loop and its actors.
pub(crate) struct Worker {
    pub index: usize,
    pub socket: UdpSocket,
    pub local_addr: SocketAddr,
    pub routes: RefCell<Routes>,
    pub active: Arc<AtomicUsize>,
    /// Datagrams produced this round, sent together by one flush task.
    outbox: RefCell<Outbox>,
    flush_scheduled: Cell<bool>,
    /// The receive loop is feeding a batch to its peers and flushes what they send itself.
    receiving: Cell<bool>,
    send_dropped: prometheus::IntCounter,
}

impl Worker {
    /// Queues a datagram. The first one of a round schedules a flush behind every task already
    /// woken on this thread (the sessions handling the same receive batch or timer round), so
    /// one `sendmmsg` carries what they all produced; a full queue is sent at once.
    pub fn send(self: &Rc<Self>, destination: SocketAddr, datagram: &[u8]) {
        let full = self.outbox.borrow_mut().push(destination, datagram);
        if full {
            self.flush();
        } else if !self.receiving.get() && !self.flush_scheduled.replace(true) {
            let worker = self.clone();
            tokio::task::spawn_local(async move { worker.flush() });
        }
    }

    /// Routes datagrams from `remote` to `peer` from now on (a confirmed new ICE address).
    pub fn route_address(&self, remote: SocketAddr, peer: Rc<CallPeer>) {
        self.routes.borrow_mut().by_addr.insert(remote, peer);
    }

    /// Sends everything queued.
    pub fn flush(&self) {
        use std::os::fd::AsRawFd;
        self.flush_scheduled.set(false);
        let mut outbox = self.outbox.borrow_mut();
        if outbox.is_empty() {
            return;
        }
        let flushed = outbox.flush(self.socket.as_raw_fd());
        if flushed.dropped > 0 {
            self.send_dropped.inc_by(flushed.dropped as u64);
        }
    }
}

thread_local! {
    static WORKER: RefCell<Option<Rc<Worker>>> = const { RefCell::new(None) };
}

fn current_worker() -> Option<Rc<Worker>> {
    WORKER.with(|w| w.borrow().clone())
}

struct WorkerHandle {
    arbiter: ArbiterHandle,
    local_addr: SocketAddr,
    active: Arc<AtomicUsize>,
}

/// Everything a call needs from outside its worker.
#[derive(Clone)]
pub(crate) struct CallContext {
    pub identity: MediaIdentity,
    pub sessions: Arc<SessionRegistry>,
    pub calls: Arc<CallDirectory>,
    pub metrics: Arc<Metrics>,
    pub store: Store,
    pub connect_timeout: Duration,
    pub meter: actix::Addr<crate::supervisors::VoiceMeter>,
}

/// The media workers of this process.
pub struct MediaWorkers {
    workers: Vec<WorkerHandle>,
    ctx: CallContext,
}

/// An answered offer.
#[derive(Debug, Clone)]
pub struct PlacedCall {
    pub call: CallId,
    pub answer_sdp: String,
    pub worker: usize,
}

fn bind_socket(addr: SocketAddr, buffer: usize) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: the kernel caps these at rmem_max / wmem_max.
    let _ = socket.set_recv_buffer_size(buffer);
    let _ = socket.set_send_buffer_size(buffer);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

impl MediaWorkers {
    /// Binds every worker's socket and starts its arbiter.
    pub fn start(
        config: &MediaConfig,
        sessions: Arc<SessionRegistry>,
        metrics: Arc<Metrics>,
        store: Store,
        meter: actix::Addr<crate::supervisors::VoiceMeter>,
    ) -> Result<MediaWorkers, String> {
        let identity = MediaIdentity::generate().map_err(|e| e.to_string())?;
        let ctx = CallContext {
            identity,
            sessions,
            calls: Arc::new(CallDirectory::default()),
            metrics,
            store,
            connect_timeout: config.connect_timeout,
            meter,
        };
        let mut workers = Vec::new();
        for index in 0..config.workers.max(1) {
            let port = if config.port == 0 { 0 } else { config.port.saturating_add(index as u16) };
            let std_socket = bind_socket(SocketAddr::new(config.ip, port), config.socket_buffer_bytes)
                .map_err(|e| format!("cannot bind media socket {}:{port}: {e}", config.ip))?;
            let local_addr = std_socket.local_addr().map_err(|e| e.to_string())?;
            let active = Arc::new(AtomicUsize::new(0));
            let arbiter = actix::Arbiter::new().handle();
            let worker_active = active.clone();
            let send_dropped = ctx.metrics.media_send_dropped.clone();
            let started = arbiter.spawn(async move {
                let socket = match UdpSocket::from_std(std_socket) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(worker = index, error = %e, "media socket could not join the runtime");
                        return;
                    }
                };
                let worker = Rc::new(Worker {
                    index,
                    socket,
                    local_addr,
                    routes: RefCell::new(Routes::default()),
                    active: worker_active,
                    outbox: RefCell::new(Outbox::default()),
                    flush_scheduled: Cell::new(false),
                    receiving: Cell::new(false),
                    send_dropped,
                });
                WORKER.with(|w| *w.borrow_mut() = Some(worker.clone()));
                actix::spawn(receive_loop(worker));
            });
            if !started {
                return Err(format!("media worker {index} did not start"));
            }
            tracing::info!(worker = index, %local_addr, "media worker started");
            workers.push(WorkerHandle { arbiter, local_addr, active });
        }
        Ok(MediaWorkers { workers, ctx })
    }

    pub fn calls(&self) -> &Arc<CallDirectory> {
        &self.ctx.calls
    }

    /// The UDP address of each worker.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.workers.iter().map(|w| w.local_addr).collect()
    }

    /// Live peers on each worker.
    pub fn active_peers(&self) -> Vec<usize> {
        self.workers.iter().map(|w| w.active.load(Ordering::Relaxed)).collect()
    }

    /// Places a call for `session` on the least-loaded worker and answers its offer.
    pub async fn place(
        &self,
        session: &Session,
        offer_sdp: String,
        plan: VoicePlan,
    ) -> Result<PlacedCall, VoiceError> {
        let began = Instant::now();
        if !self.ctx.calls.reserve(&session.id) {
            return Err(VoiceError::Busy);
        }
        let result = self.place_reserved(session, offer_sdp, plan).await;
        match &result {
            Ok(placed) => {
                self.ctx.metrics.signaling_seconds.observe(began.elapsed().as_secs_f64());
                let (call, sid, worker) = (placed.call.clone(), session.id.clone(), placed.worker);
                let write =
                    self.ctx.store.write(move |c| records::insert_call(c, &call, &sid, worker, clock::now()));
                if let Err(e) = write.await {
                    tracing::error!(error = %e, "could not record the call");
                }
            }
            Err(_) => self.ctx.calls.release(&session.id),
        }
        result
    }

    async fn place_reserved(
        &self,
        session: &Session,
        offer_sdp: String,
        plan: VoicePlan,
    ) -> Result<PlacedCall, VoiceError> {
        // Reject bad offers before touching a worker.
        voxgate_engine::voice::check_offer(&offer_sdp)?;
        let (index, handle) = self
            .workers
            .iter()
            .enumerate()
            .min_by_key(|(_, w)| w.active.load(Ordering::Relaxed))
            .ok_or(VoiceError::Unavailable)?;
        let (reply, answer) = oneshot::channel();
        let new_call = NewCall {
            session: session.id.clone(),
            call: CallId::generate(),
            ufrag: random_base62(16),
            offer_sdp,
            plan,
            ctx: self.ctx.clone(),
        };
        let spawned = handle.arbiter.spawn(async move {
            let Some(worker) = current_worker() else {
                let _ = reply.send(Err(VoiceError::Unavailable));
                return;
            };
            let _ = reply.send(VoiceSession::start_on(worker, new_call));
        });
        if !spawned {
            return Err(VoiceError::Unavailable);
        }
        let (call, answer_sdp, addr) = answer.await.map_err(|_| VoiceError::Unavailable)??;
        self.ctx.calls.go_live(&session.id, call.clone(), addr);
        Ok(PlacedCall { call, answer_sdp, worker: index })
    }

    /// Ends every live call (`server_shutdown`) and waits for each to finish, then stops the
    /// workers.
    pub async fn shutdown(&self) {
        let calls = self.ctx.calls.all();
        let n = calls.len();
        for addr in calls {
            let _ = addr.send(Hangup { reason: EndReason::ServerShutdown }).await;
        }
        // The hang-ups' BYE and close_notify are queued on their workers: send them first.
        for w in &self.workers {
            let (sent, flushed) = oneshot::channel();
            let spawned = w.arbiter.spawn(async move {
                if let Some(worker) = current_worker() {
                    worker.flush();
                }
                let _ = sent.send(());
            });
            if spawned {
                let _ = flushed.await;
            }
        }
        for w in &self.workers {
            w.arbiter.stop();
        }
        tracing::info!(calls = n, "media workers stopped");
    }
}

/// Datagrams read per `recvmmsg` call.
const RECV_BATCH: usize = 32;

/// Echoes of a batch go out every this many datagrams fed, so the first of a full batch does
/// not wait for the other 31 to be processed.
const FLUSH_EVERY: usize = 8;

/// Reads datagrams in batches (`recvmmsg` through quinn-udp, one syscall for up to 32) and
/// feeds each to its call's peer right here, on this worker's thread, flushing what the peers
/// send every few datagrams.
async fn receive_loop(worker: Rc<Worker>) {
    let state = match quinn_udp::UdpSocketState::new((&worker.socket).into()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(worker = worker.index, error = %e, "media socket cannot be read in batches");
            return;
        }
    };
    // GRO may coalesce several datagrams of one flow into one buffer, split by `stride`.
    let slot = RECV_BUFFER * state.gro_segments().max(1);
    let mut storage = vec![0u8; slot * RECV_BATCH];
    let mut metas = [quinn_udp::RecvMeta::default(); RECV_BATCH];
    loop {
        if let Err(e) = worker.socket.readable().await {
            tracing::error!(worker = worker.index, error = %e, "media socket failed");
            return;
        }
        let read = worker.socket.try_io(tokio::io::Interest::READABLE, || {
            let mut bufs: [std::io::IoSliceMut<'_>; RECV_BATCH] = {
                let mut chunks = storage.chunks_mut(slot);
                std::array::from_fn(|_| std::io::IoSliceMut::new(chunks.next().unwrap_or_default()))
            };
            state.recv((&worker.socket).into(), &mut bufs, &mut metas)
        });
        let n = match read {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                // ICMP errors (a peer went away) surface here on some systems; keep going.
                tracing::debug!(worker = worker.index, error = %e, "media socket receive error");
                continue;
            }
        };
        let now = Instant::now();
        let mut fed = 0;
        worker.receiving.set(true);
        for (i, meta) in metas.iter().take(n).enumerate() {
            let filled = &storage[i * slot..i * slot + meta.len];
            for data in filled.chunks(meta.stride.max(1)) {
                let source = meta.addr;
                let Some((peer, new_address)) = route(&worker, source, data) else {
                    continue;
                };
                peer.receive(&worker, source, data, now, new_address);
                fed += 1;
                if fed % FLUSH_EVERY == 0 {
                    worker.flush();
                }
            }
        }
        worker.receiving.set(false);
        worker.flush();
        if fed > 0 {
            // Let timers and the actors' messages run before the next batch.
            tokio::task::yield_now().await;
        }
    }
}

/// The peer a datagram from `source` belongs to: by its address, or for an address not yet
/// bound, by the local ufrag in its STUN USERNAME (to be confirmed by the peer).
fn route(worker: &Worker, source: SocketAddr, data: &[u8]) -> Option<(Rc<CallPeer>, bool)> {
    let routes = worker.routes.borrow();
    if let Some(peer) = routes.by_addr.get(&source) {
        return Some((peer.clone(), false));
    }
    let ufrag = stun_local_ufrag(data)?;
    routes.by_ufrag.get(ufrag).map(|peer| (peer.clone(), true))
}
