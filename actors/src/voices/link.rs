//! The output side of a talking agent: numbers its answers and utterances, stamps each event with
//! the barge-ins seen so far, and hands it to the call.

use super::{AgentEvent, AgentOutput};
use actix::Recipient;
use std::cell::Cell;
use std::rc::Rc;

/// Shared by a backend's tasks on the call's thread.
#[derive(Clone)]
pub struct AgentLink {
    inner: Rc<Inner>,
}

struct Inner {
    to_call: Recipient<AgentOutput>,
    epoch: Cell<u64>,
    next_id: Cell<u64>,
}

impl AgentLink {
    pub fn new(to_call: Recipient<AgentOutput>) -> AgentLink {
        AgentLink { inner: Rc::new(Inner { to_call, epoch: Cell::new(0), next_id: Cell::new(1) }) }
    }

    /// A new answer's or utterance's id, unique within the call.
    pub fn next_id(&self) -> u64 {
        let id = self.inner.next_id.get();
        self.inner.next_id.set(id + 1);
        id
    }

    /// The visitor barged in: whatever is still sent for earlier answers is dropped by the call.
    pub fn barge_in(&self) {
        self.inner.epoch.set(self.inner.epoch.get() + 1);
    }

    pub fn send(&self, event: AgentEvent) {
        self.inner.to_call.do_send(AgentOutput { epoch: self.inner.epoch.get(), event });
    }
}
