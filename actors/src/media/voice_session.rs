//! `VoiceSession`: the actor that owns one live WebRTC peer. It lives on the media worker it was
//! placed on and sends on that worker's socket. The worker's receive loop feeds the peer its
//! datagrams directly (see `CallPeer`); the actor keeps its timer, talks to the agent, and ends
//! the call on hang-up, ICE/DTLS failure, session end (token expiry, origin revocation, quota,
//! API end) or server shutdown, recording why.

use super::bridge::{AgentAudio, AgentHangup, AgentText, BridgeFailed, BridgeLink};
use super::call_peer::{CallPeer, Drove, SocketIo};
use super::worker::{CallContext, Worker};
use super::{VoiceError, VoicePlan};
use crate::clock;
use crate::sessions::SessionEnded;
use crate::store::records;
use crate::supervisors::{StartMetering, StopMetering};
use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, Message, SpawnHandle};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use voxgate_engine::ids::{CallId, ConversationId, SessionId};
use voxgate_engine::session::EndReason;
use voxgate_engine::voice::{PeerConfig, PeerError, PeerEvent, PeerTraffic, VoiceAgent, VoicePeer};

/// End the call.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Hangup {
    pub reason: EndReason,
}

/// Trickled candidates (`application/trickle-ice-sdpfrag`); answers how many were added.
#[derive(Debug, Message)]
#[rtype(result = "usize")]
pub struct Trickle {
    pub sdpfrag: String,
}

/// Everything needed to start a call on a worker.
pub(crate) struct NewCall {
    pub session: SessionId,
    pub call: CallId,
    pub ufrag: String,
    pub offer_sdp: String,
    pub plan: VoicePlan,
    pub ctx: CallContext,
}

/// One live WebRTC peer.
pub struct VoiceSession {
    session: SessionId,
    call: CallId,
    ufrag: String,
    peer: Rc<CallPeer>,
    worker: Rc<Worker>,
    ctx: CallContext,
    timer: Option<(Instant, SpawnHandle)>,
    answered_at: Instant,
    reported: PeerTraffic,
    ended: Option<EndReason>,
    /// The external agent's URL, for bridge calls.
    bridge_url: Option<String>,
    conversation: Option<ConversationId>,
    /// The bridge failed before the call connected.
    agent_failed: bool,
}

impl VoiceSession {
    /// Answers the offer and starts the actor on the current worker's thread.
    pub(crate) fn start_on(
        worker: Rc<Worker>,
        new: NewCall,
    ) -> Result<(CallId, String, Addr<VoiceSession>), VoiceError> {
        let config = PeerConfig {
            local_addr: worker.local_addr,
            ufrag: new.ufrag.clone(),
            agent: match new.plan {
                VoicePlan::Echo { delay } => VoiceAgent::Echo { delay },
                VoicePlan::Bridge { .. } => VoiceAgent::External,
            },
        };
        let answered = VoicePeer::accept(&new.ctx.identity, &config, &new.offer_sdp, Instant::now())?;
        let call = new.call.clone();
        let addr = VoiceSession::create(move |ctx| VoiceSession {
            session: new.session,
            call: new.call,
            ufrag: new.ufrag,
            peer: Rc::new(CallPeer::new(ctx.address(), answered.peer)),
            worker,
            ctx: new.ctx,
            timer: None,
            answered_at: Instant::now(),
            reported: PeerTraffic::default(),
            ended: None,
            bridge_url: match &new.plan {
                VoicePlan::Bridge { url } => Some(url.clone()),
                VoicePlan::Echo { .. } => None,
            },
            conversation: None,
            agent_failed: false,
        });
        Ok((call, answered.answer_sdp, addr))
    }

    pub(crate) fn on_started(&mut self, ctx: &mut Context<Self>) {
        let me = ctx.address();
        self.worker.routes.borrow_mut().by_ufrag.insert(self.ufrag.clone(), self.peer.clone());
        self.worker.active.fetch_add(1, Ordering::Relaxed);
        self.ctx.sessions.attach(&self.session, me.clone().recipient());
        // The session may have ended while the offer was being answered.
        let Some(session) = self.ctx.sessions.get(&self.session).filter(|s| s.is_live()) else {
            self.end(EndReason::Ended, ctx);
            return;
        };
        self.conversation = Some(session.conversation_id.clone());
        if let Some(url) = self.bridge_url.clone() {
            let start = serde_json::json!({
                "type": "session.start",
                "session_id": session.id,
                "call_id": self.call,
                "conversation_id": session.conversation_id,
                "widget_id": session.widget_id,
                "agent_id": session.agent_id,
                "environment": session.environment.as_str(),
                "metadata": session.metadata,
                "audio": {"codec": "opus", "clock_rate": 48000, "channels": 2, "frame_ms": 20},
            });
            self.peer.state.borrow_mut().bridge = Some(BridgeLink::open(url, start, me));
        }
        ctx.run_later(self.ctx.connect_timeout, |this, ctx| {
            if !this.peer.state.borrow().peer.is_connected() {
                let reason =
                    if this.agent_failed { EndReason::AgentError } else { EndReason::ConnectionFailed };
                this.end(reason, ctx);
            }
        });
        let (result, events) = self.drive(|peer, io| peer.timeout(Instant::now(), io));
        self.after_drive(result, events, ctx);
    }

    /// Runs one drive of the peer (a timeout, the agent's audio, closing) with the worker's
    /// socket as its output.
    fn drive<T>(&self, f: impl FnOnce(&mut VoicePeer, &mut SocketIo<'_>) -> T) -> (T, Vec<PeerEvent>) {
        let mut events = Vec::new();
        let mut guard = self.peer.state.borrow_mut();
        let state = &mut *guard;
        let out = f(
            &mut state.peer,
            &mut SocketIo { worker: &self.worker, bridge: state.bridge.as_ref(), events: &mut events },
        );
        (out, events)
    }

    pub(crate) fn on_stopped(&mut self) {
        let mut state = self.peer.state.borrow_mut();
        state.ended = true;
        let mut routes = self.worker.routes.borrow_mut();
        routes.by_ufrag.remove(&self.ufrag);
        for r in state.remotes.drain(..) {
            routes.by_addr.remove(&r);
        }
        drop(routes);
        drop(state);
        self.worker.active.fetch_sub(1, Ordering::Relaxed);
        self.ctx.calls.remove_call(&self.session, &self.call);
        self.ctx.meter.do_send(StopMetering { call: self.call.clone() });
        // An actor stopped without `end` was stopped by its worker shutting down.
        let reason = self.ended.unwrap_or(EndReason::ServerShutdown);
        self.ctx.metrics.call_ended(reason);
        let call = self.call.clone();
        let write = self.ctx.store.write(move |c| records::end_call(c, &call, clock::now(), reason));
        // Queued in order; the store drains its queue before a shutdown completes.
        drop(write);
        tracing::info!(session = %self.session, call = %self.call, reason = reason.as_str(), "call ended");
    }

    fn end(&mut self, reason: EndReason, ctx: &mut Context<Self>) {
        if self.ended.is_some() {
            return;
        }
        self.ended = Some(reason);
        if let Some(bridge) = &self.peer.state.borrow().bridge {
            bridge.close(reason.as_str());
        }
        self.drive(|peer, io| peer.close(Instant::now(), io));
        self.peer.state.borrow_mut().ended = true;
        self.report_traffic();
        ctx.stop();
    }

    fn report_traffic(&mut self) {
        let t = self.peer.state.borrow().peer.traffic();
        let m = &self.ctx.metrics;
        m.media_packets_in.inc_by(t.packets_in - self.reported.packets_in);
        m.media_bytes_in.inc_by(t.bytes_in - self.reported.bytes_in);
        m.media_packets_out.inc_by(t.packets_out - self.reported.packets_out);
        m.media_bytes_out.inc_by(t.bytes_out - self.reported.bytes_out);
        self.reported = t;
    }

    fn after_drive(
        &mut self,
        result: Result<Instant, PeerError>,
        events: Vec<PeerEvent>,
        ctx: &mut Context<Self>,
    ) {
        for event in events {
            match event {
                PeerEvent::Connected if self.agent_failed => return self.end(EndReason::AgentError, ctx),
                PeerEvent::Connected => self.on_connected(),
                PeerEvent::Disconnected => return self.end(EndReason::ConnectionFailed, ctx),
                PeerEvent::Closed => return self.end(EndReason::ClientHangup, ctx),
            }
        }
        let deadline = match result {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(session = %self.session, error = %e, "peer failed");
                return self.end(EndReason::ConnectionFailed, ctx);
            }
        };
        if self.ended.is_some() {
            return;
        }
        // Incoming packets drive the peer far more often than its deadlines fall due (an echo
        // peer's timer almost never fires), and each drive tends to move the deadline later:
        // re-arming on every move would cancel and create a timer per packet. Keep an armed
        // timer that is due no later than needed; if it fires early, the drive re-arms it.
        // The receive loop asks for a re-arm (`Drove`) only when a deadline falls before it.
        match self.timer {
            Some((at, _)) if at <= deadline => {}
            _ => {
                if let Some((_, h)) = self.timer.take() {
                    ctx.cancel_future(h);
                }
                let wait = deadline.saturating_duration_since(Instant::now());
                let handle = ctx.run_later(wait, |this, ctx| {
                    this.timer = None;
                    this.peer.state.borrow_mut().wake_by = None;
                    let (r, events) = this.drive(|peer, io| peer.timeout(Instant::now(), io));
                    this.report_traffic();
                    this.after_drive(r, events, ctx);
                });
                self.timer = Some((deadline, handle));
            }
        }
        if let Some((at, _)) = self.timer {
            self.peer.state.borrow_mut().wake_by = Some(at);
        }
    }

    fn on_connected(&mut self) {
        self.ctx.metrics.ice_connect_seconds.observe(self.answered_at.elapsed().as_secs_f64());
        self.ctx.meter.do_send(StartMetering { call: self.call.clone(), session: self.session.clone() });
        let call = self.call.clone();
        drop(self.ctx.store.write(move |c| records::call_connected(c, &call, clock::now())));
        tracing::info!(session = %self.session, call = %self.call, worker = self.worker.index, "call connected");
        if let Some(bridge) = &self.peer.state.borrow().bridge {
            bridge.event(serde_json::json!({"type": "call.connected"}));
        }
    }
}

impl Actor for VoiceSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.on_started(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.on_stopped();
    }
}

impl Handler<Drove> for VoiceSession {
    type Result = ();

    fn handle(&mut self, msg: Drove, ctx: &mut Context<Self>) {
        if self.ended.is_some() {
            return;
        }
        self.after_drive(msg.result, msg.events, ctx);
    }
}

impl Handler<Hangup> for VoiceSession {
    type Result = ();

    fn handle(&mut self, msg: Hangup, ctx: &mut Context<Self>) {
        self.end(msg.reason, ctx);
    }
}

impl Handler<SessionEnded> for VoiceSession {
    type Result = ();

    fn handle(&mut self, msg: SessionEnded, ctx: &mut Context<Self>) {
        self.end(msg.reason, ctx);
    }
}

impl Handler<Trickle> for VoiceSession {
    type Result = usize;

    fn handle(&mut self, msg: Trickle, _ctx: &mut Context<Self>) -> usize {
        self.peer.state.borrow_mut().peer.add_remote_candidates(&msg.sdpfrag)
    }
}

impl Handler<AgentAudio> for VoiceSession {
    type Result = ();

    fn handle(&mut self, msg: AgentAudio, ctx: &mut Context<Self>) {
        if self.ended.is_some() {
            return;
        }
        let (r, events) = self.drive(|peer, io| peer.play(Instant::now(), &msg.0, io));
        self.after_drive(r, events, ctx);
    }
}

impl Handler<AgentText> for VoiceSession {
    type Result = ();

    fn handle(&mut self, msg: AgentText, _ctx: &mut Context<Self>) {
        let Some(conversation) = self.conversation.clone() else { return };
        let write = self.ctx.store.write(move |c| {
            records::append_message(c, &conversation, "agent", &msg.0, "complete", clock::now()).map(|_| ())
        });
        drop(write);
    }
}

impl Handler<AgentHangup> for VoiceSession {
    type Result = ();

    fn handle(&mut self, _msg: AgentHangup, ctx: &mut Context<Self>) {
        self.end(EndReason::AgentHangup, ctx);
    }
}

impl Handler<BridgeFailed> for VoiceSession {
    type Result = ();

    fn handle(&mut self, msg: BridgeFailed, ctx: &mut Context<Self>) {
        if self.ended.is_some() {
            return;
        }
        tracing::warn!(session = %self.session, call = %self.call, error = %msg.0, "voice bridge failed");
        if self.peer.state.borrow().peer.is_connected() {
            self.end(EndReason::AgentError, ctx);
        } else {
            // Before DTLS is up there is no way to tell the visitor; end as soon as it is.
            self.agent_failed = true;
        }
    }
}
