//! The voice backends' contract: what a talking agent receives and what it emits. A backend
//! hears the call's [`TalkEvent`]s (the talk machine's own vocabulary: connected, a turn ended,
//! a pause, streamed audio, a barge-in, what was heard of an answer, an idle prompt) and
//! answers with [`AgentEvent`]s through its [`AgentLink`], which go straight to the call's media
//! worker: a spoken turn crosses two threads (the worker to the voices thread and back) and no
//! actor's mailbox.

use crate::agents::HistoryMessage;
use futures_util::future::LocalBoxFuture;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use tokio::sync::mpsc;
pub use voxgate_engine::agent_voice::TurnStage;
pub use voxgate_engine::talk::{AgentEvent, TalkEvent};

/// A talking agent for one call.
pub trait VoiceBackend: Send {
    /// The backend's name for metrics (`pipeline`, `builtin`, `realtime`).
    fn kind(&self) -> &'static str;

    /// Runs the call's side of the conversation until `input` closes (the call ended), starting
    /// from `history`: the conversation so far (typed messages, earlier calls), so a call's
    /// agent knows what was said before it. Runs on the voices thread paired with the call's
    /// media worker ([`start_on`]); dropping the future cancels whatever it was doing. `input`
    /// carries only the events [`TalkEvent::is_for_agent`] names.
    fn run(
        self: Box<Self>,
        history: Vec<HistoryMessage>,
        input: mpsc::UnboundedReceiver<TalkEvent>,
        out: AgentLink,
    ) -> LocalBoxFuture<'static, ()>;
}

/// Where a backend's events go: the call's media worker, stamped with the barge-ins the
/// backend had seen, so the call drops what was sent for an answer the visitor interrupted.
pub type ToCall = Arc<dyn Fn(u64, AgentEvent) + Send + Sync>;

/// Starts `backend` on `thread`, a voices thread: provider I/O (HTTP, TLS, JSON, WebSockets)
/// runs there, not on the media worker, where every wake-up of a provider request waited for
/// the worker to run out of datagrams, and where its CPU would delay the calls' packets.
/// Returns false when the thread is gone (the process is stopping).
pub fn start_on(
    thread: &actix::ArbiterHandle,
    backend: Box<dyn VoiceBackend>,
    history: Vec<HistoryMessage>,
    input: mpsc::UnboundedReceiver<TalkEvent>,
    to_call: ToCall,
) -> bool {
    thread.spawn_fn(move || {
        actix::spawn(backend.run(history, input, AgentLink::new(to_call)));
    })
}

/// The output side of a talking agent: numbers its answers and utterances, stamps each event
/// with the barge-ins seen so far, and hands it to the call. Shared by a backend's tasks on its
/// voices thread.
#[derive(Clone)]
pub struct AgentLink {
    inner: Rc<Inner>,
}

struct Inner {
    to_call: ToCall,
    epoch: Cell<u64>,
    next_id: Cell<u64>,
}

impl AgentLink {
    pub fn new(to_call: ToCall) -> AgentLink {
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

    /// Where the events go, for what sends from another thread (a tool's page call).
    pub fn to_call(&self) -> ToCall {
        self.inner.to_call.clone()
    }

    pub fn send(&self, event: AgentEvent) {
        (self.inner.to_call)(self.inner.epoch.get(), event);
    }
}
