//! Ends every session at its `expires_at` with reason `token_expired`. One timer for all
//! sessions (set to the earliest deadline), so a million sessions cost one wake-up per due time.

use crate::clock;
use crate::sessions::SessionRegistry;
use actix::{Actor, AsyncContext, Context, Handler, Message, SpawnHandle};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use voxgate_engine::ids::SessionId;
use voxgate_engine::session::EndReason;
use voxgate_engine::Timestamp;

/// Start or move the watch on a session's expiry.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct TrackExpiry {
    pub id: SessionId,
    pub expires_at: Timestamp,
}

/// The token-expiry supervisor.
pub struct TokenSupervisor {
    sessions: Arc<SessionRegistry>,
    deadlines: BTreeSet<(Timestamp, SessionId)>,
    by_session: HashMap<SessionId, Timestamp>,
    timer: Option<(Timestamp, SpawnHandle)>,
}

impl TokenSupervisor {
    pub fn new(sessions: Arc<SessionRegistry>) -> Self {
        TokenSupervisor { sessions, deadlines: BTreeSet::new(), by_session: HashMap::new(), timer: None }
    }

    fn arm(&mut self, ctx: &mut Context<Self>) {
        let Some((next, _)) = self.deadlines.first().cloned() else {
            if let Some((_, h)) = self.timer.take() {
                ctx.cancel_future(h);
            }
            return;
        };
        if let Some((at, h)) = self.timer {
            if at <= next {
                return;
            }
            ctx.cancel_future(h);
        }
        let wait = clock::now().millis_until(next).max(0) as u64;
        let handle = ctx.run_later(Duration::from_millis(wait), |this, ctx| {
            this.timer = None;
            this.fire(ctx);
        });
        self.timer = Some((next, handle));
    }

    fn fire(&mut self, ctx: &mut Context<Self>) {
        let now = clock::now();
        while let Some((at, id)) = self.deadlines.first().cloned() {
            if at > now {
                break;
            }
            self.deadlines.remove(&(at, id.clone()));
            self.by_session.remove(&id);
            let sessions = self.sessions.clone();
            match sessions.get(&id) {
                Some(s) if s.is_live() && s.expires_at <= now => {
                    actix::spawn(async move {
                        if let Err(e) = sessions.end(&id, EndReason::TokenExpired).await {
                            tracing::error!(session = %id, error = %e, "could not record token expiry");
                        }
                    });
                }
                _ => {}
            }
        }
        self.sessions.prune(now);
        self.arm(ctx);
    }
}

impl Actor for TokenSupervisor {
    type Context = Context<Self>;
}

impl Handler<TrackExpiry> for TokenSupervisor {
    type Result = ();

    fn handle(&mut self, msg: TrackExpiry, ctx: &mut Context<Self>) {
        if let Some(old) = self.by_session.insert(msg.id.clone(), msg.expires_at) {
            self.deadlines.remove(&(old, msg.id.clone()));
        }
        self.deadlines.insert((msg.expires_at, msg.id));
        self.arm(ctx);
    }
}
