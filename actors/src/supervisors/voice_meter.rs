//! Meters live calls: each started minute of connected media is committed to the usage ledger
//! as it starts (the first at connect), and a session whose allowance is spent ends at the
//! start of the minute that does not fit (`quota_exceeded`, or `fair_use_exceeded` for
//! previews). The minute length is configurable so tests need not wait 60 s.

use crate::clock;
use crate::sessions::SessionRegistry;
use crate::store::records::UsageEvent;
use crate::usage::{class_of, UsageLedger, UsageRefusal};
use actix::{Actor, AsyncContext, Context, Handler, Message, SpawnHandle};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use voxgate_engine::ids::{CallId, SessionId};
use voxgate_engine::metering::{UsageKey, UsageKind};
use voxgate_engine::session::EndReason;
use voxgate_engine::ErrorCode;

/// A call connected: start metering it.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StartMetering {
    pub call: CallId,
    pub session: SessionId,
}

/// A call ended: stop metering it.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StopMetering {
    pub call: CallId,
}

/// Nothing has flowed in a call since `since` (the visitor's network went silent): its minute
/// stops there, to go on with what was left of it if [`StartMetering`] comes again.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct PauseMetering {
    pub call: CallId,
    pub since: Instant,
}

/// A call being metered: the minute it is in, since when, and the timer of the next one.
struct Metered {
    session: SessionId,
    minute: u32,
    started: Instant,
    /// `None` while paused; then `used` is how much of `minute` had passed.
    next: Option<SpawnHandle>,
    used: Duration,
}

/// The voice meter supervisor.
pub struct VoiceMeter {
    ledger: Arc<UsageLedger>,
    sessions: Arc<SessionRegistry>,
    minute: Duration,
    calls: HashMap<CallId, Metered>,
}

/// How long a voice minute the database could not take is tried again.
const RETRY_FOR: Duration = Duration::from_secs(60);

impl VoiceMeter {
    pub fn new(ledger: Arc<UsageLedger>, sessions: Arc<SessionRegistry>, minute: Duration) -> Self {
        VoiceMeter { ledger, sessions, minute, calls: HashMap::new() }
    }

    /// Records minute `minute` (0 at connect) of `call`; ends the session if it does not fit.
    /// A minute the database could not take is tried again (its key makes a retry count once)
    /// for up to `RETRY_FOR`, so a database blip loses no minute.
    fn meter_minute(&self, call: CallId, session: SessionId, minute: u32) {
        let (ledger, sessions) = (self.ledger.clone(), self.sessions.clone());
        actix::spawn(async move {
            let Some(s) = sessions.get(&session).filter(|s| s.is_live()) else { return };
            let event = UsageEvent {
                key: UsageKey::VoiceMinute { call: call.clone(), minute },
                workspace: s.workspace_id.clone(),
                session: Some(s.id.clone()),
                call: Some(call.clone()),
                kind: UsageKind::VoiceMinute,
                class: class_of(&s),
                environment: s.environment,
                quantity: 1,
                at: clock::now(),
            };
            let mut wait = Duration::from_millis(250);
            let gave_up = std::time::Instant::now() + RETRY_FOR;
            let recorded = loop {
                match ledger.record(event.clone()).await {
                    Err(UsageRefusal::Store(e)) if std::time::Instant::now() < gave_up => {
                        tracing::warn!(session = %session, call = %call, minute, error = %e, "cannot record a voice minute yet; retrying");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(5));
                    }
                    other => break other,
                }
            };
            match recorded {
                Ok(_) => {}
                Err(refusal @ UsageRefusal::LimitReached { .. }) => {
                    let reason = if refusal.code() == ErrorCode::FairUseExceeded {
                        EndReason::FairUseExceeded
                    } else {
                        EndReason::QuotaExceeded
                    };
                    tracing::info!(session = %session, call = %call, %refusal, "voice allowance spent");
                    if let Err(e) = sessions.end(&session, reason).await {
                        tracing::error!(session = %session, error = %e, "could not end a session over its allowance");
                    }
                }
                Err(UsageRefusal::Store(e)) => {
                    tracing::error!(session = %session, call = %call, minute, error = %e, "could not record a voice minute");
                }
            }
        });
    }
}

impl Actor for VoiceMeter {
    type Context = Context<Self>;
}

impl VoiceMeter {
    /// The next minute of `call` starts in `after`.
    fn schedule(&self, call: CallId, after: Duration, ctx: &mut Context<Self>) -> SpawnHandle {
        ctx.run_later(after, move |this, ctx| {
            let Some(m) = this.calls.get_mut(&call) else { return };
            m.minute = m.minute.saturating_add(1);
            m.started = Instant::now();
            let (minute, session) = (m.minute, m.session.clone());
            this.meter_minute(call.clone(), session, minute);
            let next = this.schedule(call.clone(), this.minute, ctx);
            if let Some(m) = this.calls.get_mut(&call) {
                m.next = Some(next);
            }
        })
    }
}

impl Handler<StartMetering> for VoiceMeter {
    type Result = ();

    fn handle(&mut self, msg: StartMetering, ctx: &mut Context<Self>) {
        match self.calls.get(&msg.call) {
            // Metered already: its minutes go on counting from its first connect.
            Some(m) if m.next.is_some() => {}
            // Paused: what was left of its minute, then on as before. No minute twice.
            Some(m) => {
                let left = self.minute.saturating_sub(m.used);
                let next = self.schedule(msg.call.clone(), left, ctx);
                if let Some(m) = self.calls.get_mut(&msg.call) {
                    m.started = Instant::now().checked_sub(m.used).unwrap_or_else(Instant::now);
                    m.next = Some(next);
                }
            }
            None => {
                self.meter_minute(msg.call.clone(), msg.session.clone(), 0);
                let next = self.schedule(msg.call.clone(), self.minute, ctx);
                let metered = Metered {
                    session: msg.session,
                    minute: 0,
                    started: Instant::now(),
                    next: Some(next),
                    used: Duration::ZERO,
                };
                self.calls.insert(msg.call, metered);
            }
        }
    }
}

impl Handler<PauseMetering> for VoiceMeter {
    type Result = ();

    fn handle(&mut self, msg: PauseMetering, ctx: &mut Context<Self>) {
        let Some(m) = self.calls.get_mut(&msg.call) else { return };
        if let Some(next) = m.next.take() {
            ctx.cancel_future(next);
            // A minute that began after the silence did (noticed a moment late) is counted.
            m.used = msg.since.saturating_duration_since(m.started).min(self.minute);
        }
    }
}

impl Handler<StopMetering> for VoiceMeter {
    type Result = ();

    fn handle(&mut self, msg: StopMetering, ctx: &mut Context<Self>) {
        if let Some(next) = self.calls.remove(&msg.call).and_then(|m| m.next) {
            ctx.cancel_future(next);
        }
    }
}
