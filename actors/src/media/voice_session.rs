//! `VoiceSession`: the actor that owns one live WebRTC peer. It lives on the media worker it was
//! placed on, gets its datagrams from that worker's receive loop, sends on that worker's socket,
//! and ends on hang-up, ICE/DTLS failure, session end (token expiry, origin revocation, quota,
//! API end) or server shutdown, recording why.

use super::bridge::{AgentAudio, AgentHangup, AgentText, BridgeFailed, BridgeLink};
use super::worker::{CallContext, Worker};
use super::{VoiceError, VoicePlan};
use crate::clock;
use crate::sessions::SessionEnded;
use crate::store::records;
use crate::supervisors::{StartMetering, StopMetering};
use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, Message, SpawnHandle};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use voxgate_engine::ids::{CallId, ConversationId, SessionId};
use voxgate_engine::session::EndReason;
use voxgate_engine::voice::{PeerConfig, PeerError, PeerEvent, PeerIo, PeerTraffic, VoiceAgent, VoicePeer};

/// A datagram for this peer, read by its worker.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Datagram {
    pub source: SocketAddr,
    pub data: Vec<u8>,
    pub at: Instant,
    /// Routed by ufrag from an address not yet bound to this peer.
    pub new_address: bool,
}

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
    peer: VoicePeer,
    worker: Rc<Worker>,
    ctx: CallContext,
    remotes: Vec<SocketAddr>,
    timer: Option<(Instant, SpawnHandle)>,
    answered_at: Instant,
    reported: PeerTraffic,
    ended: Option<EndReason>,
    /// The external agent's URL, for bridge calls.
    bridge_url: Option<String>,
    bridge: Option<BridgeLink>,
    conversation: Option<ConversationId>,
    /// The bridge failed before the call connected.
    agent_failed: bool,
}

/// Sends on the worker's socket and collects events for after the drive.
struct SocketIo<'a> {
    worker: &'a Rc<Worker>,
    bridge: Option<&'a BridgeLink>,
    events: &'a mut Vec<PeerEvent>,
}

impl PeerIo for SocketIo<'_> {
    fn transmit(&mut self, destination: SocketAddr, datagram: &[u8]) {
        self.worker.send(destination, datagram);
    }
    fn event(&mut self, event: PeerEvent) {
        self.events.push(event);
    }
    fn audio(&mut self, frame: &[u8]) {
        if let Some(bridge) = self.bridge {
            bridge.audio(frame);
        }
    }
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
        let actor = VoiceSession {
            session: new.session,
            call: new.call,
            ufrag: new.ufrag,
            peer: answered.peer,
            worker,
            ctx: new.ctx,
            remotes: Vec::new(),
            timer: None,
            answered_at: Instant::now(),
            reported: PeerTraffic::default(),
            ended: None,
            bridge_url: match &new.plan {
                VoicePlan::Bridge { url } => Some(url.clone()),
                VoicePlan::Echo { .. } => None,
            },
            bridge: None,
            conversation: None,
            agent_failed: false,
        };
        let addr = actor.start();
        Ok((call, answered.answer_sdp, addr))
    }

    pub(crate) fn on_started(&mut self, ctx: &mut Context<Self>) {
        let me = ctx.address();
        self.worker.routes.borrow_mut().by_ufrag.insert(self.ufrag.clone(), me.clone());
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
            self.bridge = Some(BridgeLink::open(url, start, me));
        }
        ctx.run_later(self.ctx.connect_timeout, |this, ctx| {
            if !this.peer.is_connected() {
                let reason =
                    if this.agent_failed { EndReason::AgentError } else { EndReason::ConnectionFailed };
                this.end(reason, ctx);
            }
        });
        let now = Instant::now();
        let result = self.peer.timeout(
            now,
            &mut SocketIo { worker: &self.worker, bridge: self.bridge.as_ref(), events: &mut Vec::new() },
        );
        self.after_drive(result, Vec::new(), ctx);
    }

    pub(crate) fn on_stopped(&mut self) {
        let mut routes = self.worker.routes.borrow_mut();
        routes.by_ufrag.remove(&self.ufrag);
        for r in &self.remotes {
            routes.by_addr.remove(r);
        }
        drop(routes);
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
        if let Some(bridge) = &self.bridge {
            bridge.close(reason.as_str());
        }
        let mut events = Vec::new();
        self.peer.close(
            Instant::now(),
            &mut SocketIo { worker: &self.worker, bridge: self.bridge.as_ref(), events: &mut events },
        );
        self.report_traffic();
        ctx.stop();
    }

    fn report_traffic(&mut self) {
        let t = self.peer.traffic();
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
        match self.timer {
            Some((at, _)) if at <= deadline => {}
            _ => {
                if let Some((_, h)) = self.timer.take() {
                    ctx.cancel_future(h);
                }
                let wait = deadline.saturating_duration_since(Instant::now());
                let handle = ctx.run_later(wait, |this, ctx| {
                    this.timer = None;
                    let mut events = Vec::new();
                    let r = this.peer.timeout(
                        Instant::now(),
                        &mut SocketIo {
                            worker: &this.worker,
                            bridge: this.bridge.as_ref(),
                            events: &mut events,
                        },
                    );
                    this.report_traffic();
                    this.after_drive(r, events, ctx);
                });
                self.timer = Some((deadline, handle));
            }
        }
    }

    fn on_connected(&mut self) {
        self.ctx.metrics.ice_connect_seconds.observe(self.answered_at.elapsed().as_secs_f64());
        self.ctx.meter.do_send(StartMetering { call: self.call.clone(), session: self.session.clone() });
        let call = self.call.clone();
        drop(self.ctx.store.write(move |c| records::call_connected(c, &call, clock::now())));
        tracing::info!(session = %self.session, call = %self.call, worker = self.worker.index, "call connected");
        if let Some(bridge) = &self.bridge {
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

impl Handler<Datagram> for VoiceSession {
    type Result = ();

    fn handle(&mut self, msg: Datagram, ctx: &mut Context<Self>) {
        if self.ended.is_some() {
            return;
        }
        if msg.new_address {
            if !self.peer.accepts(msg.at, msg.source, &msg.data) {
                return;
            }
            self.worker.routes.borrow_mut().by_addr.insert(msg.source, ctx.address());
            self.remotes.push(msg.source);
        }
        let mut events = Vec::new();
        let r = self.peer.receive(
            msg.at,
            msg.source,
            &msg.data,
            &mut SocketIo { worker: &self.worker, bridge: self.bridge.as_ref(), events: &mut events },
        );
        self.after_drive(r, events, ctx);
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
        self.peer.add_remote_candidates(&msg.sdpfrag)
    }
}

impl Handler<AgentAudio> for VoiceSession {
    type Result = ();

    fn handle(&mut self, msg: AgentAudio, ctx: &mut Context<Self>) {
        if self.ended.is_some() {
            return;
        }
        let mut events = Vec::new();
        let r = self.peer.play(
            Instant::now(),
            &msg.0,
            &mut SocketIo { worker: &self.worker, bridge: self.bridge.as_ref(), events: &mut events },
        );
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
        if self.peer.is_connected() {
            self.end(EndReason::AgentError, ctx);
        } else {
            // Before DTLS is up there is no way to tell the visitor; end as soon as it is.
            self.agent_failed = true;
        }
    }
}
