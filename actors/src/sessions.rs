//! Live sessions. The registry is the source of truth for whether a session may still be
//! used: browser endpoints look sessions up here (never in the database), and an end is
//! visible to the next request before it is even committed. With several nodes, a node holds
//! the sessions it carries; one it does not hold is ended or refreshed in the store, and the
//! node that carries it hears so (`cluster::announce`).

use crate::clock;
use crate::cluster::announce::{announce, Change};
use crate::metrics::Metrics;
use crate::store::{changes, records};
use crate::store::{Store, StoreError};
use actix::{Message, Recipient};
use dashmap::DashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use voxgate_engine::conversation_idle::ConversationIdle;
use voxgate_engine::ids::{SessionId, WidgetId};
use voxgate_engine::session::{EndReason, Session, SessionState};
use voxgate_engine::Timestamp;

/// Sent to every actor attached to a session when the session ends.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct SessionEnded {
    pub id: SessionId,
    pub reason: EndReason,
}

/// Every session that is live, or ended but whose token has not yet expired.
pub struct SessionRegistry {
    sessions: DashMap<SessionId, Session>,
    listeners: DashMap<SessionId, Vec<Recipient<SessionEnded>>>,
    store: Store,
    metrics: Arc<Metrics>,
    /// This node's id: with several nodes the sessions it creates name it, and it reloads only
    /// its own.
    node: String,
    several: bool,
    /// When each live session's visitor will have left (see [`ConversationIdle`]).
    idle: Mutex<ConversationIdle>,
}

impl SessionRegistry {
    /// `several`: this node shares its database with others (PostgreSQL). `idle`: how long a
    /// conversation with no call and no message stays live (`--conversation-idle-seconds`).
    pub fn new(store: Store, metrics: Arc<Metrics>, node: &str, several: bool, idle: Duration) -> Self {
        SessionRegistry {
            sessions: DashMap::new(),
            listeners: DashMap::new(),
            store,
            metrics,
            node: node.to_string(),
            several,
            idle: Mutex::new(ConversationIdle::new(idle.as_millis().min(i64::MAX as u128) as i64)),
        }
    }

    fn idle(&self) -> MutexGuard<'_, ConversationIdle> {
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A call went live or an answer started streaming on the session: its visitor is here.
    pub fn busy(&self, id: &SessionId) {
        self.idle().busy(id);
    }

    /// A call or an answer of the session ended: the idle clock starts if nothing else runs.
    pub fn free(&self, id: &SessionId) {
        self.idle().free(id, clock::now());
    }

    /// Live sessions whose visitor has left by `now` (no call, no message for the idle time),
    /// for the idle supervisor to end; and the next time one may be due.
    pub fn idle_due(&self, now: Timestamp) -> (Vec<SessionId>, Option<Timestamp>) {
        let mut idle = self.idle();
        let due = std::iter::from_fn(|| idle.poll_due(now)).collect();
        (due, idle.next_due())
    }

    /// Reopens a session that ended as `visitor_left` while its token is still valid (a message
    /// or an offer came on it); whether it is live now.
    pub async fn reopen(&self, session: &Session) -> Result<bool, StoreError> {
        let now = clock::now();
        let modes = {
            let mut held = self.sessions.entry(session.id.clone()).or_insert_with(|| session.clone());
            if held.is_live() {
                return Ok(true);
            }
            if !held.may_reopen(now) {
                return Ok(false);
            }
            held.state = SessionState::Live;
            held.modes
        };
        let sid = session.id.clone();
        self.store.write(move |c| records::reopen_session(c, &sid)).await?;
        self.metrics.session_reopened(modes);
        self.idle().touch(&session.id, now);
        tracing::info!(session = %session.id, "session reopened");
        Ok(true)
    }

    /// What a new session names as its node: this node when several share the database, none
    /// for a node alone on SQLite (whatever carries the data dir carries its sessions).
    pub fn carrier(&self) -> Option<String> {
        self.several.then(|| self.node.clone())
    }

    /// The node this registry belongs to.
    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Live sessions that include `mode`.
    pub fn live_count(&self, mode: voxgate_engine::session::Mode) -> usize {
        self.sessions.iter().filter(|s| s.is_live() && s.modes.contains(mode)).count()
    }

    /// Reloads sessions that had not ended when the server last stopped.
    pub fn load(&self) -> Result<Vec<Session>, StoreError> {
        let node = self.carrier();
        let sessions = self.store.read_blocking(move |c| records::unended_sessions(c, node.as_deref()))?;
        let now = clock::now();
        for s in &sessions {
            self.sessions.insert(s.id.clone(), s.clone());
            self.idle().touch(&s.id, now);
        }
        Ok(sessions)
    }

    /// Commits a new session, then makes it visible. Nothing can name the session before this
    /// returns, so its row depends on no other write: it may commit on any write connection.
    /// Records a new session, with `warnings` on its conversation's record, and carries it.
    pub async fn create(&self, session: Session, warnings: Vec<String>) -> Result<(), StoreError> {
        let row = session.clone();
        self.store
            .write_independent(move |c| {
                changes::session_created(c, &row)?;
                if !warnings.is_empty() {
                    records::add_warnings(c, &row.id, &warnings)?;
                }
                Ok(())
            })
            .await?;
        self.metrics.session_created(session.modes);
        self.idle().touch(&session.id, session.created_at);
        self.sessions.insert(session.id.clone(), session);
        Ok(())
    }

    /// Drops a session from memory (its conversation was erased): nothing of it is served again.
    pub fn forget(&self, id: &SessionId) {
        self.sessions.remove(id);
        self.idle().forget(id);
    }

    pub fn get(&self, id: &SessionId) -> Option<Session> {
        self.sessions.get(id).map(|s| s.clone())
    }

    /// A session from memory or, if it has left memory, from the store.
    pub async fn get_or_load(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        if let Some(s) = self.get(id) {
            return Ok(Some(s));
        }
        let sid = id.clone();
        self.store.read(move |c| records::session(c, &sid)).await
    }

    /// Live sessions of a widget.
    pub fn live_of_widget(&self, widget: &WidgetId) -> Vec<Session> {
        self.sessions.iter().filter(|s| s.widget_id == *widget && s.is_live()).map(|s| s.clone()).collect()
    }

    /// Every live session.
    pub fn live(&self) -> Vec<Session> {
        self.sessions.iter().filter(|s| s.is_live()).map(|s| s.clone()).collect()
    }

    /// Attaches an actor that must hear when the session ends.
    pub fn attach(&self, id: &SessionId, listener: Recipient<SessionEnded>) {
        self.listeners.entry(id.clone()).or_default().push(listener);
    }

    /// Moves a live session's expiry; false if it is not live. A session another node carries
    /// is moved in the store, and that node told.
    pub async fn set_expiry(&self, id: &SessionId, expires_at: Timestamp) -> Result<bool, StoreError> {
        if !self.sessions.contains_key(id) {
            let (sid, node) = (id.clone(), self.node.clone());
            return self
                .store
                .write(move |c| {
                    let moved = records::set_session_expiry(c, &sid, expires_at)?;
                    if moved {
                        let change =
                            Change::SessionExpiry { id: sid.to_string(), expires_at: expires_at.millis() };
                        announce(c, &node, change)?;
                    }
                    Ok(moved)
                })
                .await;
        }
        if !self.set_held_expiry(id, expires_at) {
            return Ok(false);
        }
        let sid = id.clone();
        self.store.write(move |c| records::set_session_expiry(c, &sid, expires_at)).await?;
        Ok(true)
    }

    /// Moves the expiry of a session this node holds, in memory only (another node stored it).
    /// A session its visitor left may still be refreshed: a later message reopens it.
    pub fn set_held_expiry(&self, id: &SessionId, expires_at: Timestamp) -> bool {
        {
            let Some(mut s) = self.sessions.get_mut(id) else {
                return false;
            };
            if !s.is_live() && !s.may_reopen(clock::now()) {
                return false;
            }
            s.expires_at = expires_at;
        }
        true
    }

    /// Records the first browser origin that used the session.
    pub fn bind_origin(&self, id: &SessionId, origin: &str) {
        let newly_bound = match self.sessions.get_mut(id) {
            Some(mut s) if s.origin.is_none() => {
                s.origin = Some(origin.to_string());
                true
            }
            _ => false,
        };
        if newly_bound {
            let (sid, o) = (id.clone(), origin.to_string());
            let write = self.store.write(move |c| records::set_session_origin(c, &sid, &o));
            // Nothing waits on this; the writer still commits it in order.
            drop(write);
        }
    }

    /// Ends a live session: refused at once, then committed, then its actors told.
    /// Returns false when it was not live. A session this node does not hold (another node
    /// carries it) is ended in the store, and the node that carries it told.
    pub async fn end(&self, id: &SessionId, reason: EndReason) -> Result<bool, StoreError> {
        let at = clock::now();
        let ended = match self.sessions.get_mut(id) {
            Some(mut s) if s.is_live() => {
                s.state = SessionState::Ended { at, reason };
                Some(s.modes)
            }
            Some(_) => return Ok(false),
            None => None,
        };
        let Some(modes) = ended else {
            let (sid, node) = (id.clone(), self.node.clone());
            return self
                .store
                .write(move |c| {
                    let ended = changes::session_ended(c, &sid, at, reason)?;
                    if ended {
                        let change =
                            Change::SessionEnded { id: sid.to_string(), reason: reason.as_str().to_string() };
                        announce(c, &node, change)?;
                    }
                    Ok(ended)
                })
                .await;
        };
        self.metrics.session_ended(modes, reason);
        self.idle().forget(id);
        if reason == EndReason::TokenExpired {
            // Its token is past expiry anyway; nothing more to refuse with this entry.
            self.sessions.remove(id);
        }
        let sid = id.clone();
        self.store.write(move |c| changes::session_ended(c, &sid, at, reason).map(|_| ())).await?;
        if let Some((_, listeners)) = self.listeners.remove(id) {
            for l in listeners {
                l.do_send(SessionEnded { id: id.clone(), reason });
            }
        }
        tracing::info!(session = %id, reason = reason.as_str(), "session ended");
        Ok(true)
    }

    /// Forgets ended sessions whose tokens have expired by `now`.
    pub fn prune(&self, now: Timestamp) {
        self.sessions.retain(|_, s| s.is_live() || s.expires_at > now);
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}
