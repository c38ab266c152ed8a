//! Which session has a live call, and the actor that carries it. Consulted on signaling only
//! (offer, trickle, hang-up), never per datagram.

use super::voice_session::VoiceSession;
use actix::Addr;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use voxgate_engine::ids::{CallId, SessionId};

enum Slot {
    /// An offer is being answered; a second offer now is refused.
    Reserved,
    Live {
        call: CallId,
        addr: Addr<VoiceSession>,
    },
}

/// At most one call per session.
#[derive(Default)]
pub struct CallDirectory {
    slots: DashMap<SessionId, Slot>,
}

impl CallDirectory {
    /// Claims the session's call slot; false if it already has a call.
    pub fn reserve(&self, session: &SessionId) -> bool {
        match self.slots.entry(session.clone()) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                v.insert(Slot::Reserved);
                true
            }
        }
    }

    pub fn release(&self, session: &SessionId) {
        self.slots.remove(session);
    }

    pub fn go_live(&self, session: &SessionId, call: CallId, addr: Addr<VoiceSession>) {
        self.slots.insert(session.clone(), Slot::Live { call, addr });
    }

    /// Frees the slot if it still holds `call`.
    pub fn remove_call(&self, session: &SessionId, call: &CallId) {
        self.slots.remove_if(session, |_, slot| matches!(slot, Slot::Live { call: c, .. } if c == call));
    }

    /// The actor of `call` on `session`, if live.
    pub fn get(&self, session: &SessionId, call: &CallId) -> Option<Addr<VoiceSession>> {
        match self.slots.get(session).as_deref() {
            Some(Slot::Live { call: c, addr }) if c == call => Some(addr.clone()),
            _ => None,
        }
    }

    /// Every live call's actor.
    pub fn all(&self) -> Vec<Addr<VoiceSession>> {
        self.slots
            .iter()
            .filter_map(|s| match s.value() {
                Slot::Live { addr, .. } => Some(addr.clone()),
                Slot::Reserved => None,
            })
            .collect()
    }

    pub fn live_count(&self) -> usize {
        self.slots.iter().filter(|s| matches!(s.value(), Slot::Live { .. })).count()
    }
}
