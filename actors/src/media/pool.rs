//! The media workers of this process: binding their sockets and starting them, placing each
//! call on the least-loaded one, reaching a call for trickle and hang-up, and the shutdown
//! order (every call ended and its goodbye sent before the workers stop).

use super::call::{CallActor, CallContext};
use super::calls::{CallDirectory, Hangup, LiveCall};
use super::error::VoiceError;
use super::tcp::{Closed, TcpMetrics};
use super::worker::{self, CallLinks, Command, TalkLinks, TcpListening, WorkerHandle, WorkerMetrics};
use crate::clock;
use crate::drain::Drain;
use crate::metrics::Metrics;
use crate::recordings::Recordings;
use crate::sessions::SessionRegistry;
use crate::store::{records, Store};
use crate::talk::{CallPlan, CallPlanner, CallTranscript};
use actix::{Actor, ArbiterHandle};
use rand::Rng;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use voxgate_engine::agent::Agent;
use voxgate_engine::ids::{random_base62, CallId, SessionId};
use voxgate_engine::media::{CallMedia, Endpoint, IceCreds, IceFragment, MediaIdentity, SdpOffer};
use voxgate_engine::session::{EndReason, Session};
use voxgate_engine::widget::{Recording, WidgetSpec};

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
    /// A call whose visitor's network went silent this long ends (`network_lost`).
    pub call_grace: Duration,
    /// SO_RCVBUF / SO_SNDBUF for each socket; connect storms overflow the default.
    pub socket_buffer_bytes: usize,
    /// Most ICE-TCP connections per worker; 0 offers no TCP candidate. Each worker listens on
    /// TCP at its UDP port when that is free, else on a free port.
    pub tcp_connections: usize,
}

/// What a call's widget asks of it.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// The page actions the widget's site runs: the call's agent is offered no others.
    pub page_actions: Vec<String>,
    /// Record the call, and keep the recording this many days (the widget records calls, with
    /// the visitor's consent).
    pub recording_days: Option<u32>,
}

impl CallOptions {
    pub fn of_widget(spec: &WidgetSpec) -> CallOptions {
        let privacy = &spec.privacy;
        CallOptions {
            page_actions: spec.page_actions.clone(),
            recording_days: (privacy.recording == Recording::On).then_some(privacy.recording_retention_days),
        }
    }
}

/// The media workers of this process.
pub struct MediaWorkers {
    workers: Vec<(ArbiterHandle, WorkerHandle)>,
    /// One voices thread per worker: its calls' talking agents (provider I/O) run there.
    voice_threads: Vec<ArbiterHandle>,
    ctx: CallContext,
    drain: Drain,
    planner: Arc<CallPlanner>,
    recordings: Arc<Recordings>,
}

/// The commit of a new call's record.
type Recorded =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), crate::store::StoreError>> + Send>>;

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

/// The worker's TCP listener, at its UDP port when free (one port to open in a firewall).
fn bind_listener(udp: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener =
        std::net::TcpListener::bind(udp).or_else(|_| std::net::TcpListener::bind((udp.ip(), 0)))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// What the media workers share with the rest of the node.
pub struct MediaParts {
    pub sessions: Arc<SessionRegistry>,
    pub metrics: Arc<Metrics>,
    pub store: Store,
    pub meter: actix::Addr<crate::supervisors::VoiceMeter>,
    pub drain: Drain,
    pub planner: Arc<CallPlanner>,
    pub recordings: Arc<Recordings>,
    /// The end-of-turn model for calls whose turn detection is `semantic` (`--turn-model`).
    pub turn_model: Option<Arc<crate::talk::turn_model::TurnModel>>,
}

impl MediaWorkers {
    /// Binds every worker's socket and starts its thread.
    pub fn start(config: &MediaConfig, parts: MediaParts) -> Result<MediaWorkers, String> {
        let MediaParts { sessions, metrics, store, meter, drain, planner, recordings, turn_model } = parts;
        let identity = MediaIdentity::generate().map_err(|e| e.to_string())?;
        let counters = WorkerMetrics {
            packets_in: metrics.media_packets_in.clone(),
            bytes_in: metrics.media_bytes_in.clone(),
            packets_out: metrics.media_packets_out.clone(),
            bytes_out: metrics.media_bytes_out.clone(),
            send_dropped: metrics.media_send_dropped.clone(),
        };
        let tcp_metrics = TcpMetrics {
            open: metrics.media_tcp_connections.clone(),
            closed: Closed::ALL
                .iter()
                .map(|c| metrics.media_tcp_closed.with_label_values(&[c.label()]))
                .collect(),
        };
        let ctx = CallContext {
            sessions,
            calls: Arc::new(CallDirectory::default()),
            metrics,
            store,
            connect_timeout: config.connect_timeout,
            grace: config.call_grace,
            meter,
        };
        let mut workers = Vec::new();
        let mut voice_threads = Vec::new();
        for index in 0..config.workers.max(1) {
            let port = if config.port == 0 { 0 } else { config.port.saturating_add(index as u16) };
            let socket = bind_socket(SocketAddr::new(config.ip, port), config.socket_buffer_bytes)
                .map_err(|e| format!("cannot bind media socket {}:{port}: {e}", config.ip))?;
            let local_addr = socket.local_addr().map_err(|e| e.to_string())?;
            let mut endpoint = Endpoint::new(identity.clone(), local_addr, rand::rng().random());
            let tcp = if config.tcp_connections > 0 {
                let listener = bind_listener(local_addr)
                    .map_err(|e| format!("cannot listen for ICE-TCP on {}: {e}", config.ip))?;
                let tcp_addr = listener.local_addr().map_err(|e| e.to_string())?;
                endpoint = endpoint.with_tcp(tcp_addr);
                Some(TcpListening { listener, limit: config.tcp_connections, metrics: tcp_metrics.clone() })
            } else {
                None
            };
            let tcp_addr = endpoint.local_tcp_addr();
            let arbiter = actix::Arbiter::new().handle();
            let handle =
                worker::start(index, &arbiter, socket, tcp, endpoint, counters.clone(), turn_model.clone())?;
            tracing::info!(worker = index, %local_addr, tcp = ?tcp_addr, "media worker started");
            workers.push((arbiter, handle));
            voice_threads.push(actix::Arbiter::new().handle());
        }
        Ok(MediaWorkers { workers, voice_threads, ctx, drain, planner, recordings })
    }

    pub fn calls(&self) -> &Arc<CallDirectory> {
        &self.ctx.calls
    }

    /// The UDP address of each worker.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.workers.iter().map(|(_, w)| w.local_addr).collect()
    }

    /// Live peers on each worker.
    pub fn active_peers(&self) -> Vec<usize> {
        self.workers.iter().map(|(_, w)| w.active()).collect()
    }

    /// Places a call for `session` on the least-loaded worker, answered as `agent` says (see
    /// [`CallPlanner::plan`]) and recorded as its widget says, and answers its checked offer.
    pub async fn place(
        &self,
        session: &Session,
        offer: SdpOffer,
        agent: &Agent,
        options: &CallOptions,
    ) -> Result<PlacedCall, VoiceError> {
        let began = Instant::now();
        if self.drain.is_draining() {
            return Err(VoiceError::Draining);
        }
        let call = CallId::generate(&mut rand::rng());
        if !self.ctx.calls.reserve(&session.id, &call) {
            return Err(VoiceError::Busy);
        }
        // The session's variables filled into the agent's prompt and lines, for this call.
        let filled;
        let agent = if agent.spec.uses_variables() {
            filled = Agent { spec: agent.spec.with_variables(&session.variables), ..agent.clone() };
            &filled
        } else {
            agent
        };
        let plan = self.planner.plan(agent, session, &options.page_actions);
        let placed = self.place_reserved(session, &call, offer, plan, options.recording_days).await;
        let (index, answer_sdp) = match placed {
            Ok(p) => p,
            Err(e) => {
                self.ctx.calls.remove_call(&session.id, &call);
                return Err(e);
            }
        };
        self.ctx.metrics.signaling_seconds.observe(began.elapsed().as_secs_f64());
        Ok(PlacedCall { call, answer_sdp, worker: index })
    }

    async fn place_reserved(
        &self,
        session: &Session,
        call: &CallId,
        offer: SdpOffer,
        plan: CallPlan,
        recording_days: Option<u32>,
    ) -> Result<(usize, String), VoiceError> {
        let (_, worker) =
            self.workers.iter().min_by_key(|(_, w)| w.active()).ok_or(VoiceError::Unavailable)?;
        let voice_thread = self.voice_threads.get(worker.index).ok_or(VoiceError::Unavailable)?.clone();
        let peer = plan.peer();
        let (bridge_url, talk) = match plan {
            CallPlan::Echo { .. } => (None, None),
            CallPlan::Bridge { url } => (Some(url), None),
            CallPlan::Talk { backend, .. } => {
                // What the worker's talk machine tells the agent waits here until the agent
                // starts (once the call's actor has read the conversation so far).
                let (to_agent, heard) = tokio::sync::mpsc::unbounded_channel();
                (None, Some((to_agent, super::call::TalkingBackend { backend, heard, thread: voice_thread })))
            }
        };
        let ice = {
            let mut rng = rand::rng();
            IceCreds { ufrag: random_base62(&mut rng, 16), pass: random_base62(&mut rng, 24) }
        };
        let (recording, sink) = match recording_days {
            Some(days) => {
                let (serial, sink) = self.recordings.begin(call, session, days);
                (Some(serial), Some(sink))
            }
            None => (None, None),
        };
        let media = CallMedia { agent: peer, recording };
        let (live_tx, live_rx) = oneshot::channel();
        let (ctx, sid, cid) = (self.ctx.clone(), session.id.clone(), call.clone());
        let conversation = session.conversation_id.clone();
        let attach: worker::Attach = Box::new(move |key, worker| {
            // Queued before the actor exists, so the store commits the call before anything the
            // actor records about it (its end may come at once: a peer can fail on its first drive).
            let (c, s, index) = (cid.clone(), sid.clone(), worker.index);
            let recorded =
                ctx.store.write(move |conn| records::insert_call(conn, &c, &s, index, clock::now()));
            let (to_agent, backend) = talk.unzip();
            let talk = to_agent.map(|agent| TalkLinks {
                agent,
                transcript: CallTranscript::new(
                    cid.clone(),
                    conversation,
                    ctx.store.clone(),
                    ctx.metrics.clone(),
                ),
            });
            let actor = CallActor::new(sid, cid, key, worker.clone(), ctx, bridge_url, backend).start();
            let live = LiveCall { hangup: actor.clone().recipient(), worker, key };
            let _ = live_tx.send((live, Box::pin(recorded) as Recorded));
            CallLinks { actor: actor.recipient(), talk, recording: sink }
        });
        let (reply, answer) = oneshot::channel();
        if !worker.send(Command::Accept { offer, ice, media, attach, reply }) {
            return Err(VoiceError::Unavailable);
        }
        let answer_sdp = answer.await.map_err(|_| VoiceError::Unavailable)??;
        let (live, recorded) = live_rx.await.map_err(|_| VoiceError::Unavailable)?;
        if let Err(e) = recorded.await {
            tracing::error!(error = %e, "could not record the call");
        }
        // A call whose actor has already ended it (the session ended, or its peer failed at
        // once) is still answered: it was placed, and the visitor's peer learns of its end.
        self.ctx.calls.go_live(&session.id, call, live);
        Ok((worker.index, answer_sdp))
    }

    /// Trickled candidates for `call` of `session`, if its ICE session is still `if_match`
    /// (WHIP's `ETag`, when the client sent one); how many were added.
    pub async fn trickle(
        &self,
        session: &SessionId,
        call: &CallId,
        sdpfrag: String,
        if_match: Option<String>,
    ) -> Result<usize, VoiceError> {
        let live = self.ctx.calls.get(session, call).ok_or(VoiceError::NoSuchCall)?;
        let (reply, added) = oneshot::channel();
        if !live.worker.send(Command::Trickle { key: live.key, sdpfrag, if_match, reply }) {
            return Err(VoiceError::NoSuchCall);
        }
        added.await.unwrap_or(Err(VoiceError::NoSuchCall))
    }

    /// Restarts ICE for `call` of `session` with the visitor's new credentials (RFC 9725
    /// §4.3): the same call goes on over the visitor's new path. Our answering fragment and
    /// the new ICE session's tag (`ETag`).
    pub async fn restart_ice(
        &self,
        session: &SessionId,
        call: &CallId,
        sdpfrag: &str,
    ) -> Result<(String, String), VoiceError> {
        let fragment = IceFragment::parse(sdpfrag)?;
        let live = self.ctx.calls.get(session, call).ok_or(VoiceError::NoSuchCall)?;
        let (reply, restarted) = oneshot::channel();
        if !live.worker.send(Command::RestartIce { key: live.key, fragment, reply }) {
            return Err(VoiceError::NoSuchCall);
        }
        restarted.await.unwrap_or(Err(VoiceError::NoSuchCall))
    }

    /// Hangs up `call` of `session`. Idempotent: a call of this session that has already ended
    /// (the visitor's peer connection closed first, or an earlier hang-up) is hung up already;
    /// only a call this session never had is `NoSuchCall`.
    pub async fn hang_up(&self, session: &SessionId, call: &CallId) -> Result<(), VoiceError> {
        if let Some(live) = self.ctx.calls.get(session, call) {
            // Answered once the actor has ended the call.
            let _ = live.hangup.send(Hangup { reason: EndReason::ClientHangup }).await;
            return Ok(());
        }
        let (s, c) = (session.clone(), call.clone());
        match self.ctx.store.read(move |conn| records::call_of_session(conn, &c, &s)).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(VoiceError::NoSuchCall),
            Err(e) => Err(VoiceError::Setup(e.to_string())),
        }
    }

    /// Ends every live call with `reason` and waits for each to finish, then stops the workers
    /// once their goodbyes (BYE, close_notify) are sent.
    pub async fn shutdown(&self, reason: EndReason) {
        let calls = self.ctx.calls.all();
        let n = calls.len();
        for live in calls {
            let _ = live.hangup.send(Hangup { reason }).await;
        }
        for (arbiter, worker) in &self.workers {
            let (reply, stopped) = oneshot::channel();
            if worker.send(Command::Stop { reply }) {
                let _ = stopped.await;
            }
            arbiter.stop();
        }
        for thread in &self.voice_threads {
            thread.stop();
        }
        tracing::info!(calls = n, "media workers stopped");
    }
}
