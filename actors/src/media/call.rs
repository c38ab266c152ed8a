//! `CallActor`: the lifecycle of one call (one WebRTC peer of a session). The call's peer lives
//! in its worker's endpoint; the actor decides when the call ends and records what happened:
//! connected (and metered from then on), ended on hang-up, ICE/DTLS failure, session end (token
//! expiry, origin revocation, quota, API end), drain or shutdown, each with its reason. It
//! starts a talking call's agent (from the conversation so far), and for bridge agents it
//! holds the WebSocket to the agent.

use super::calls::{CallDirectory, Hangup};
use super::worker::{Command, Happened, WorkerHandle};
use crate::agents::HistoryMessage;
use crate::clock;
use crate::metrics::Metrics;
use crate::sessions::{SessionEnded, SessionRegistry};
use crate::store::{changes, records, Store};
use crate::supervisors::{PauseMetering, StartMetering, StopMetering, VoiceMeter};
use crate::talk::bridge::{BridgeEvent, BridgeLink};
use crate::talk::{self, VoiceBackend};
use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, ArbiterHandle, AsyncContext, Context, Handler, SpawnHandle,
    WrapFuture,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use voxgate_engine::conversation::{MessageRole, MessageStatus};
use voxgate_engine::ids::{CallId, ConversationId, SessionId};
use voxgate_engine::media::{CallEvent, CallKey};
use voxgate_engine::session::EndReason;
use voxgate_engine::talk::TalkEvent;

/// Everything a call needs from outside its worker.
#[derive(Clone)]
pub(crate) struct CallContext {
    pub sessions: Arc<SessionRegistry>,
    pub calls: Arc<CallDirectory>,
    pub metrics: Arc<Metrics>,
    pub store: Store,
    pub connect_timeout: Duration,
    /// How long a call whose visitor's network went silent waits for it (an ICE restart)
    /// before it ends `network_lost`.
    pub grace: Duration,
    pub meter: Addr<VoiceMeter>,
}

/// A talking call's agent until its call's actor starts it: the backend, what the call's talk
/// machine tells it meanwhile, and the voices thread it will run on.
pub(crate) struct TalkingBackend {
    pub backend: Box<dyn VoiceBackend>,
    pub heard: tokio::sync::mpsc::UnboundedReceiver<TalkEvent>,
    pub thread: ArbiterHandle,
}

/// One call's lifecycle.
pub struct CallActor {
    session: SessionId,
    call: CallId,
    key: CallKey,
    worker: WorkerHandle,
    ctx: CallContext,
    answered_at: Instant,
    connected: bool,
    ended: Option<EndReason>,
    /// The external agent's URL, for bridge calls, and its connection once open.
    bridge_url: Option<String>,
    bridge: Option<BridgeLink>,
    conversation: Option<ConversationId>,
    /// The bridge failed before the call connected.
    agent_failed: bool,
    /// A talking agent, until the actor starts it.
    backend: Option<TalkingBackend>,
    /// The session's idle clock counts this call as its visitor's presence.
    present: bool,
    /// The visitor's network went silent: the call ends `network_lost` when this fires, unless
    /// packets come again first.
    grace: Option<SpawnHandle>,
}

impl CallActor {
    pub(crate) fn new(
        session: SessionId,
        call: CallId,
        key: CallKey,
        worker: WorkerHandle,
        ctx: CallContext,
        bridge_url: Option<String>,
        backend: Option<TalkingBackend>,
    ) -> CallActor {
        CallActor {
            session,
            call,
            key,
            worker,
            ctx,
            answered_at: Instant::now(),
            connected: false,
            ended: None,
            bridge_url,
            bridge: None,
            conversation: None,
            agent_failed: false,
            backend,
            present: false,
            grace: None,
        }
    }

    /// Nothing has come from the visitor since `since`: the call waits out its grace instead
    /// of ending, unmetered, its agent's voice paused (by its talk machine).
    fn on_silent(&mut self, since: Instant, ctx: &mut Context<Self>) {
        if !self.connected {
            return self.end(EndReason::ConnectionFailed, ctx);
        }
        if self.grace.is_some() {
            return;
        }
        self.ctx.meter.do_send(PauseMetering { call: self.call.clone(), since });
        self.ctx.metrics.calls_waiting_for_network.inc();
        let left = self.ctx.grace.saturating_sub(since.elapsed());
        tracing::info!(session = %self.session, call = %self.call, grace = ?left, "the visitor's network went silent: waiting");
        self.grace = Some(ctx.run_later(left, |this, ctx| {
            this.grace = None;
            this.ctx.metrics.calls_waiting_for_network.dec();
            this.end(EndReason::NetworkLost, ctx);
        }));
    }

    /// Packets come again (the visitor restarted ICE within the grace): the call goes on.
    fn on_flowing(&mut self, ctx: &mut Context<Self>) {
        if let Some(grace) = self.grace.take() {
            ctx.cancel_future(grace);
            self.ctx.metrics.calls_waiting_for_network.dec();
            tracing::info!(session = %self.session, call = %self.call, "the visitor's network is back");
            self.ctx.meter.do_send(StartMetering { call: self.call.clone(), session: self.session.clone() });
        }
    }

    /// Starts the call's talking agent on its voices thread (a realtime one connects at once,
    /// so it is ready when the call is). What it says goes straight to the call's worker.
    fn start_talking(
        &mut self,
        talking: TalkingBackend,
        conversation: ConversationId,
        ctx: &mut Context<Self>,
    ) {
        let TalkingBackend { backend, heard, thread } = talking;
        let (worker, key) = (self.worker.clone(), self.key);
        let to_call: talk::backend::ToCall = Arc::new(move |epoch, event| {
            // False only once the worker stopped: the call is over.
            let _ = worker.send(Command::Agent { key, epoch, event });
        });
        // The backend starts from the conversation so far (typed messages, earlier calls): one
        // conversation, whatever the channel. What the call says meanwhile waits in `heard`.
        let store = self.ctx.store.clone();
        let read = async move { store.read(move |c| records::transcript(c, &conversation)).await };
        ctx.spawn(read.into_actor(self).map(move |lines, this, _ctx| {
            let history = match lines {
                Ok(lines) => HistoryMessage::from_transcript(lines),
                Err(e) => {
                    tracing::warn!(call = %this.call, error = %e, "the call's agent starts without the conversation so far");
                    Vec::new()
                }
            };
            if !talk::start_on(&thread, backend, history, heard, to_call) {
                this.agent_failed = true;
            }
        }));
    }

    fn end(&mut self, reason: EndReason, ctx: &mut Context<Self>) {
        if self.ended.is_some() {
            return;
        }
        self.ended = Some(reason);
        if let Some(grace) = self.grace.take() {
            ctx.cancel_future(grace);
            self.ctx.metrics.calls_waiting_for_network.dec();
        }
        if let Some(bridge) = &self.bridge {
            bridge.close(reason.as_str());
        }
        self.worker.send(Command::Close { key: self.key });
        // Freed now, not when the actor stops: whoever asked for the end (a DELETE) may offer
        // again the moment it is answered.
        self.ctx.calls.remove_call(&self.session, &self.call);
        ctx.stop();
    }

    fn on_connected(&mut self, ctx: &mut Context<Self>) {
        if self.agent_failed {
            return self.end(EndReason::AgentError, ctx);
        }
        self.connected = true;
        self.ctx.metrics.ice_connect_seconds.observe(self.answered_at.elapsed().as_secs_f64());
        self.ctx.meter.do_send(StartMetering { call: self.call.clone(), session: self.session.clone() });
        let call = self.call.clone();
        drop(self.ctx.store.write(move |c| changes::call_connected(c, &call, clock::now())));
        tracing::info!(session = %self.session, call = %self.call, worker = self.worker.index, "call connected");
        if let Some(bridge) = &self.bridge {
            bridge.event(serde_json::json!({"type": "call.connected"}));
        }
    }

    fn open_bridge(&mut self, url: String, ctx: &mut Context<Self>) {
        let Some(session) = self.ctx.sessions.get(&self.session) else { return };
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
        self.bridge = Some(BridgeLink::open(url, start, ctx.address().recipient()));
    }
}

impl Actor for CallActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.ctx.sessions.attach(&self.session, ctx.address().recipient());
        // The session may have ended while the offer was being answered.
        let Some(session) = self.ctx.sessions.get(&self.session).filter(|s| s.is_live()) else {
            return self.end(EndReason::Ended, ctx);
        };
        self.conversation = Some(session.conversation_id.clone());
        self.ctx.sessions.busy(&self.session);
        self.present = true;
        if let Some(url) = self.bridge_url.take() {
            self.open_bridge(url, ctx);
        }
        if let Some(backend) = self.backend.take() {
            self.start_talking(backend, session.conversation_id.clone(), ctx);
        }
        ctx.run_later(self.ctx.connect_timeout, |this, ctx| {
            if !this.connected {
                let reason =
                    if this.agent_failed { EndReason::AgentError } else { EndReason::ConnectionFailed };
                this.end(reason, ctx);
            }
        });
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        // An actor stopped without `end` was stopped by its worker's thread shutting down.
        let reason = self.ended.unwrap_or(EndReason::ServerShutdown);
        if self.ended.is_none() {
            self.worker.send(Command::Close { key: self.key });
        }
        self.ctx.calls.remove_call(&self.session, &self.call);
        if self.present {
            self.ctx.sessions.free(&self.session);
        }
        self.ctx.meter.do_send(StopMetering { call: self.call.clone() });
        self.ctx.metrics.call_ended(reason);
        let call = self.call.clone();
        let write = self.ctx.store.write(move |c| changes::call_ended(c, &call, clock::now(), reason));
        // Queued in order; the store drains its queue before a shutdown completes.
        drop(write);
        tracing::info!(session = %self.session, call = %self.call, reason = reason.as_str(), "call ended");
    }
}

impl Handler<Happened> for CallActor {
    type Result = ();

    fn handle(&mut self, msg: Happened, ctx: &mut Context<Self>) {
        if self.ended.is_some() {
            return;
        }
        match msg.0 {
            CallEvent::Connected => self.on_connected(ctx),
            // ICE gave up on the path: as good as silent from now (the grace decides).
            CallEvent::Disconnected => self.on_silent(Instant::now(), ctx),
            CallEvent::Silent { since } => self.on_silent(since, ctx),
            CallEvent::Flowing => self.on_flowing(ctx),
            CallEvent::Closed => self.end(EndReason::ClientHangup, ctx),
            CallEvent::IceRestarted => {
                self.ctx.metrics.ice_restarts.inc();
                tracing::info!(session = %self.session, call = %self.call, "the visitor restarted ICE");
                let call = self.call.clone();
                drop(self.ctx.store.write(move |c| records::call_reconnected(c, &call)));
            }
            CallEvent::Failed(e) => {
                tracing::warn!(session = %self.session, call = %self.call, error = %e, "peer failed");
                self.end(EndReason::ConnectionFailed, ctx);
            }
            CallEvent::VisitorAudio(frame) => {
                if let Some(bridge) = &self.bridge {
                    bridge.audio(&frame);
                }
            }
            CallEvent::Talk(TalkEvent::IdleTimeout) => self.end(EndReason::IdleTimeout, ctx),
            CallEvent::Talk(TalkEvent::HangUp) => self.end(EndReason::AgentEnded, ctx),
            CallEvent::Talk(_) => {}
            // The worker hands a recording's pages to its file, never here.
            CallEvent::Recorded { .. } => {}
        }
    }
}

impl Handler<Hangup> for CallActor {
    type Result = ();

    fn handle(&mut self, msg: Hangup, ctx: &mut Context<Self>) {
        self.end(msg.reason, ctx);
    }
}

impl Handler<SessionEnded> for CallActor {
    type Result = ();

    fn handle(&mut self, msg: SessionEnded, ctx: &mut Context<Self>) {
        self.end(msg.reason, ctx);
    }
}

impl Handler<BridgeEvent> for CallActor {
    type Result = ();

    fn handle(&mut self, msg: BridgeEvent, ctx: &mut Context<Self>) {
        if self.ended.is_some() {
            return;
        }
        match msg {
            BridgeEvent::Audio(frame) => {
                self.worker.send(Command::Play { key: self.key, frame });
            }
            BridgeEvent::Text(text) => {
                let Some(conversation) = self.conversation.clone() else { return };
                let write = self.ctx.store.write(move |c| {
                    records::append_message(
                        c,
                        &conversation,
                        MessageRole::Agent,
                        &text,
                        MessageStatus::Complete,
                        clock::now(),
                    )
                    .map(|_| ())
                });
                drop(write);
            }
            BridgeEvent::Hangup => self.end(EndReason::AgentHangup, ctx),
            BridgeEvent::Failed(e) => {
                tracing::warn!(session = %self.session, call = %self.call, error = %e, "voice bridge failed");
                if self.connected {
                    self.end(EndReason::AgentError, ctx);
                } else {
                    // Before DTLS is up there is no way to tell the visitor; end as soon as it is.
                    self.agent_failed = true;
                }
            }
        }
    }
}
