//! Ends a conversation whose visitor has left, with reason `visitor_left`: no call live, no
//! answer streaming and no message for `--conversation-idle-seconds` (the session registry
//! keeps the clock, see `voxgate_engine::conversation_idle`). One timer for every session, set
//! to the earliest deadline; a deadline is always now plus the idle time when set, so none can
//! come before the one the timer waits for.

use crate::clock;
use crate::sessions::SessionRegistry;
use actix::{Actor, AsyncContext, Context};
use std::sync::Arc;
use std::time::Duration;
use voxgate_engine::session::EndReason;

/// The idle supervisor.
pub struct IdleSupervisor {
    sessions: Arc<SessionRegistry>,
    idle: Duration,
}

impl IdleSupervisor {
    pub fn new(sessions: Arc<SessionRegistry>, idle: Duration) -> Self {
        IdleSupervisor { sessions, idle }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = clock::now();
        let (due, next) = self.sessions.idle_due(now);
        for id in due {
            if !self.sessions.get(&id).is_some_and(|s| s.is_live()) {
                continue;
            }
            let sessions = self.sessions.clone();
            actix::spawn(async move {
                if let Err(e) = sessions.end(&id, EndReason::VisitorLeft).await {
                    tracing::error!(session = %id, error = %e, "could not record that the visitor left");
                }
            });
        }
        // With no deadline, the next one set is at least the idle time away.
        let wait = next.map_or(self.idle, |at| Duration::from_millis(now.millis_until(at).max(0) as u64));
        ctx.run_later(wait.max(Duration::from_millis(10)), |this, ctx| this.tick(ctx));
    }
}

impl Actor for IdleSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.tick(ctx);
    }
}
