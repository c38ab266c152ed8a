//! Which session has a live call, who carries it, and how to reach it. Consulted on signaling
//! only (offer, trickle, hang-up, shutdown), never per datagram.

use super::worker::WorkerHandle;
use actix::{Message, Recipient};
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use voxgate_engine::ids::{CallId, SessionId};
use voxgate_engine::media::CallKey;
use voxgate_engine::session::EndReason;

/// End the call (answered once the call's actor has ended it).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Hangup {
    pub reason: EndReason,
}

/// A live call: its actor, and where its peer lives.
#[derive(Clone)]
pub(crate) struct LiveCall {
    pub hangup: Recipient<Hangup>,
    pub worker: WorkerHandle,
    pub key: CallKey,
}

enum Slot {
    /// An offer is being answered; a second offer now is refused.
    Reserved {
        call: CallId,
    },
    Live {
        call: CallId,
        live: LiveCall,
    },
}

impl Slot {
    fn call(&self) -> &CallId {
        match self {
            Slot::Reserved { call } | Slot::Live { call, .. } => call,
        }
    }
}

/// At most one call per session.
#[derive(Default)]
pub struct CallDirectory {
    slots: DashMap<SessionId, Slot>,
}

impl CallDirectory {
    /// Claims the session's call slot for `call`; false if the session already has a call.
    pub fn reserve(&self, session: &SessionId, call: &CallId) -> bool {
        match self.slots.entry(session.clone()) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                v.insert(Slot::Reserved { call: call.clone() });
                true
            }
        }
    }

    /// Makes a reserved call live; false when it ended before it got here (its slot is gone).
    pub(crate) fn go_live(&self, session: &SessionId, call: &CallId, live: LiveCall) -> bool {
        match self.slots.get_mut(session) {
            Some(mut slot) if slot.call() == call => {
                *slot = Slot::Live { call: call.clone(), live };
                true
            }
            _ => false,
        }
    }

    /// Frees the slot if it still holds `call` (reserved or live).
    pub fn remove_call(&self, session: &SessionId, call: &CallId) {
        self.slots.remove_if(session, |_, slot| slot.call() == call);
    }

    /// `call` on `session`, if live.
    pub(crate) fn get(&self, session: &SessionId, call: &CallId) -> Option<LiveCall> {
        match self.slots.get(session).as_deref() {
            Some(Slot::Live { call: c, live }) if c == call => Some(live.clone()),
            _ => None,
        }
    }

    /// Every live call.
    pub(crate) fn all(&self) -> Vec<LiveCall> {
        self.slots
            .iter()
            .filter_map(|s| match s.value() {
                Slot::Live { live, .. } => Some(live.clone()),
                Slot::Reserved { .. } => None,
            })
            .collect()
    }

    pub fn live_count(&self) -> usize {
        self.slots.iter().filter(|s| matches!(s.value(), Slot::Live { .. })).count()
    }
}
