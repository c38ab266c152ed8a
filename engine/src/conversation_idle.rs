//! When a conversation's visitor has left: no call live, no answer streaming, and no message
//! for `idle` since the last of them ended. A session whose visitor closed the tab would
//! otherwise stay "live" until its token expires (ten minutes by default), misleading the
//! conversations list and every live count. Time is passed in; the caller ends what
//! [`ConversationIdle::poll_due`] returns.

use crate::ids::SessionId;
use crate::Timestamp;
use std::collections::{BTreeSet, HashMap};

/// What a session is doing, as far as idleness goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Presence {
    /// Calls live plus answers streaming.
    busy: u32,
    /// When it goes idle, if nothing is busy.
    due: Option<Timestamp>,
}

/// Every tracked session's presence, with its idle deadline.
#[derive(Debug)]
pub struct ConversationIdle {
    idle_ms: i64,
    sessions: HashMap<SessionId, Presence>,
    deadlines: BTreeSet<(Timestamp, SessionId)>,
}

impl ConversationIdle {
    pub fn new(idle_ms: i64) -> Self {
        ConversationIdle { idle_ms: idle_ms.max(1), sessions: HashMap::new(), deadlines: BTreeSet::new() }
    }

    /// A session was created or reopened, or a visitor's message came: its idle clock restarts
    /// at `now` unless something is busy.
    pub fn touch(&mut self, id: &SessionId, now: Timestamp) {
        let presence = *self.sessions.entry(id.clone()).or_insert(Presence { busy: 0, due: None });
        if presence.busy == 0 {
            self.set_due(id, Some(now.plus_millis(self.idle_ms)));
        }
    }

    /// A call went live or an answer started: no deadline while it lasts.
    pub fn busy(&mut self, id: &SessionId) {
        let presence = self.sessions.entry(id.clone()).or_insert(Presence { busy: 0, due: None });
        presence.busy += 1;
        self.set_due(id, None);
    }

    /// A call ended or an answer finished at `now`: the idle clock starts when nothing else is
    /// busy. Unbalanced calls (a free with no busy) only restart the clock.
    pub fn free(&mut self, id: &SessionId, now: Timestamp) {
        let presence = self.sessions.entry(id.clone()).or_insert(Presence { busy: 0, due: None });
        presence.busy = presence.busy.saturating_sub(1);
        if presence.busy == 0 {
            self.set_due(id, Some(now.plus_millis(self.idle_ms)));
        }
    }

    /// Stops tracking a session (it ended for another reason).
    pub fn forget(&mut self, id: &SessionId) {
        self.set_due(id, None);
        self.sessions.remove(id);
    }

    /// The earliest deadline, for a timer.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// A session whose visitor has left by `now`, forgotten as it is returned; `None` when no
    /// deadline has passed.
    pub fn poll_due(&mut self, now: Timestamp) -> Option<SessionId> {
        let (at, id) = self.deadlines.first().cloned()?;
        if at > now {
            return None;
        }
        self.forget(&id);
        Some(id)
    }

    /// Sessions tracked.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    fn set_due(&mut self, id: &SessionId, due: Option<Timestamp>) {
        let Some(presence) = self.sessions.get_mut(id) else { return };
        if let Some(old) = presence.due.take() {
            self.deadlines.remove(&(old, id.clone()));
        }
        if let Some(at) = due {
            presence.due = Some(at);
            self.deadlines.insert((at, id.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> SessionId {
        SessionId::parse(&format!("ses_{n}")).expect("a session id")
    }

    fn all_due(idle: &mut ConversationIdle, now: Timestamp) -> Vec<SessionId> {
        std::iter::from_fn(|| idle.poll_due(now)).collect()
    }

    #[test]
    fn an_untouched_session_goes_idle_after_the_idle_time() {
        let mut idle = ConversationIdle::new(1_000);
        idle.touch(&id(1), Timestamp(0));
        assert_eq!(idle.next_due(), Some(Timestamp(1_000)));
        assert!(all_due(&mut idle, Timestamp(999)).is_empty());
        assert_eq!(all_due(&mut idle, Timestamp(1_000)), vec![id(1)]);
        assert!(idle.is_empty(), "a returned session is forgotten");
    }

    #[test]
    fn a_live_call_or_a_streaming_answer_holds_it_open_and_its_end_restarts_the_clock() {
        let mut idle = ConversationIdle::new(1_000);
        idle.touch(&id(1), Timestamp(0));
        idle.busy(&id(1)); // a call
        idle.busy(&id(1)); // and an answer
        idle.touch(&id(1), Timestamp(100)); // a message while busy sets no deadline
        assert!(all_due(&mut idle, Timestamp(60_000)).is_empty());
        idle.free(&id(1), Timestamp(60_000)); // the answer ends; the call goes on
        assert_eq!(idle.next_due(), None);
        idle.free(&id(1), Timestamp(61_000)); // the call ends
        assert_eq!(idle.next_due(), Some(Timestamp(62_000)));
        idle.touch(&id(1), Timestamp(61_500)); // a message moves it
        assert!(all_due(&mut idle, Timestamp(62_000)).is_empty());
        assert_eq!(all_due(&mut idle, Timestamp(62_500)), vec![id(1)]);
    }

    #[test]
    fn sessions_go_idle_in_deadline_order_and_forgotten_ones_never() {
        let mut idle = ConversationIdle::new(10);
        idle.touch(&id(2), Timestamp(5));
        idle.touch(&id(1), Timestamp(0));
        idle.touch(&id(3), Timestamp(1));
        idle.forget(&id(3));
        idle.free(&id(4), Timestamp(7)); // a free with no busy only starts the clock
        assert_eq!(all_due(&mut idle, Timestamp(100)), vec![id(1), id(2), id(4)]);
    }
}
