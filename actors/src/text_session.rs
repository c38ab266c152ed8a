//! `TextSession`: the actor that owns one session's text conversation. It takes one visitor
//! message at a time (a second while an answer streams is `session_busy`), meters it, records it
//! and the agent's answer in the transcript, and streams the answer as [`TextEvent`]s. When the
//! visitor goes away mid-answer, or the session ends, the agent is cancelled and the partial
//! answer is recorded as interrupted.

use crate::agents::{AgentFailure, AgentRuntime, AgentTurn, AnswerPart, HistoryMessage, Responder};
use crate::answer_feed::AnswerFeed;
use crate::clock;
use crate::control::ControlPlane;
use crate::sessions::SessionEnded;
use crate::store::records::{self, UsageEvent};
use crate::tools::{self, Page, PageCalls, ToolContext, Toolbox};
use crate::usage::{class_of, UsageRefusal};
use actix::{Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, WrapFuture};
use dashmap::DashMap;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;
use tokio::sync::oneshot;
use tokio::sync::Notify;
use voxgate_engine::agent::Agent;
use voxgate_engine::conversation::{MessageRole, MessageStatus};
use voxgate_engine::ids::{ConversationId, MessageId, SessionId};
use voxgate_engine::metering::{UsageKey, UsageKind};
use voxgate_engine::session::{EndReason, Session};
use voxgate_engine::tools::ToolLine;
use voxgate_engine::tools::{ToolCall, ToolOutcome};
use voxgate_engine::{ErrorCode, Timestamp};

/// Largest visitor message, in bytes of UTF-8.
pub const MESSAGE_LIMIT: usize = 4096;

pub use crate::answer_feed::{FeedReader, TextEvent};

/// Why a message was not taken.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error("an answer is still streaming in this session; wait for response.completed")]
    Busy,
    #[error("the message is {0} bytes; the limit is {MESSAGE_LIMIT}")]
    TooLarge(usize),
    #[error("the message has no text")]
    Empty,
    #[error("the session has ended")]
    Ended,
    #[error("the widget's agent no longer exists")]
    AgentMissing,
    #[error(transparent)]
    Usage(#[from] UsageRefusal),
    #[error("storage failure: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("Last-Event-ID {0:?} is not an event id of this session's answers (answer.number)")]
    BadEventId(String),
    #[error("no answer {0} to resume in this session: it was replaced by a newer message, or never was")]
    NoSuchAnswer(String),
}

impl TextError {
    pub fn code(&self) -> ErrorCode {
        match self {
            TextError::Busy => ErrorCode::SessionBusy,
            TextError::TooLarge(_) => ErrorCode::PayloadTooLarge,
            TextError::Empty => ErrorCode::InvalidRequest,
            TextError::Ended => ErrorCode::SessionEnded,
            TextError::AgentMissing => ErrorCode::AgentMissing,
            TextError::Usage(u) => u.code(),
            TextError::Store(e) if e.is_unavailable() => ErrorCode::Unavailable,
            TextError::Store(_) => ErrorCode::Internal,
            TextError::BadEventId(_) => ErrorCode::InvalidRequest,
            TextError::NoSuchAnswer(_) => ErrorCode::NotFound,
        }
    }
}

/// A visitor's message; answers with the stream of its events.
#[derive(Message)]
#[rtype(result = "Result<FeedReader, TextError>")]
pub struct Ask {
    pub text: String,
}

/// A dropped stream comes back: the events of `answer` after the first `after`.
#[derive(Message)]
#[rtype(result = "Result<FeedReader, TextError>")]
struct Resume {
    answer: MessageId,
    after: usize,
}

/// The server is stopping: cut the answer short and stop.
#[derive(Message)]
#[rtype(result = "()")]
struct ShutDown;

/// The streaming task finished its turn.
#[derive(Message)]
#[rtype(result = "()")]
struct TurnDone;

/// The live text sessions of this process, by session.
pub struct TextSessions {
    control: Arc<ControlPlane>,
    /// Page actions waiting for the visitor's page.
    page_calls: Arc<PageCalls>,
    live: Arc<DashMap<SessionId, Addr<TextSession>>>,
    runtime: Arc<AgentRuntime>,
    answering: Arc<Answering>,
    /// How long an answer whose stream dropped waits to be resumed before it stops.
    resume_window: Duration,
}

/// Answers still streaming or being recorded, so a shutdown can wait for them.
#[derive(Default)]
struct Answering {
    count: AtomicUsize,
    idle: Notify,
}

/// Held by an answer until its outcome is recorded.
struct AnsweringGuard(Arc<Answering>);

impl AnsweringGuard {
    fn new(answering: &Arc<Answering>) -> AnsweringGuard {
        answering.count.fetch_add(1, Ordering::SeqCst);
        AnsweringGuard(answering.clone())
    }
}

impl Drop for AnsweringGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl TextSessions {
    /// Answers still streaming or being recorded.
    pub fn answering(&self) -> usize {
        self.answering.count.load(Ordering::SeqCst)
    }

    pub fn new(
        control: Arc<ControlPlane>,
        runtime: Arc<AgentRuntime>,
        resume_window: Duration,
    ) -> TextSessions {
        TextSessions {
            control,
            page_calls: Arc::default(),
            live: Arc::new(DashMap::new()),
            runtime,
            answering: Arc::default(),
            resume_window,
        }
    }

    /// The rest of an answer whose stream dropped, after the event `last_event_id` names
    /// (`{answer}.{number}`, as each event's `id` reads): none twice, then its end.
    pub async fn resume(&self, session: &SessionId, last_event_id: &str) -> Result<FeedReader, TextError> {
        let bad = || TextError::BadEventId(last_event_id.chars().take(80).collect());
        let (answer, after) = last_event_id.trim().rsplit_once('.').ok_or_else(bad)?;
        let answer = MessageId::parse(answer).map_err(|_| bad())?;
        let after: usize = after.parse().map_err(|_| bad())?;
        let addr = self.live.get(session).map(|a| a.value().clone());
        let addr = addr.ok_or_else(|| TextError::NoSuchAnswer(answer.to_string()))?;
        addr.send(Resume { answer: answer.clone(), after })
            .await
            .map_err(|_| TextError::NoSuchAnswer(answer.to_string()))?
    }

    /// The visitor's page answers a page action; false when no such call is waiting.
    pub fn tool_result(&self, session: &SessionId, call_id: &str, outcome: ToolOutcome) -> bool {
        self.page_calls.answer(session, call_id, outcome)
    }

    /// For a graceful shutdown: cuts every streaming answer short (the visitor gets an
    /// `unavailable` error event) and returns once each partial answer is recorded.
    pub async fn shutdown(&self) {
        let sessions: Vec<Addr<TextSession>> = self.live.iter().map(|e| e.value().clone()).collect();
        for addr in sessions {
            let _ = addr.send(ShutDown).await;
        }
        loop {
            let idle = self.answering.idle.notified();
            if self.answering.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Hands `text` to the session's actor, starting it on first use.
    pub async fn ask(&self, session: &Session, text: String) -> Result<FeedReader, TextError> {
        let size = text.len();
        if size > MESSAGE_LIMIT {
            return Err(TextError::TooLarge(size));
        }
        if text.trim().is_empty() {
            return Err(TextError::Empty);
        }
        // An actor of a session that ended (and was reopened since) may still be stopping.
        self.live.remove_if(&session.id, |_, addr| !addr.connected());
        let addr = self
            .live
            .entry(session.id.clone())
            .or_insert_with(|| {
                TextSession {
                    session: session.id.clone(),
                    control: self.control.clone(),
                    page_calls: self.page_calls.clone(),
                    live: self.live.clone(),
                    busy: false,
                    cancel: None,
                    responder: None,
                    runtime: self.runtime.clone(),
                    answering: self.answering.clone(),
                    resume_window: self.resume_window,
                    feed: None,
                }
                .start()
            })
            .clone();
        addr.send(Ask { text }).await.map_err(|_| TextError::Ended)?
    }

    pub fn live_count(&self) -> usize {
        self.live.len()
    }
}

/// One session's text conversation.
pub struct TextSession {
    session: SessionId,
    control: Arc<ControlPlane>,
    page_calls: Arc<PageCalls>,
    live: Arc<DashMap<SessionId, Addr<TextSession>>>,
    busy: bool,
    /// Ends the streaming answer early (the session ended).
    cancel: Option<oneshot::Sender<EndReason>>,
    /// The agent's responder, rebuilt when the agent is saved.
    responder: Option<(u64, Arc<dyn Responder>)>,
    runtime: Arc<AgentRuntime>,
    answering: Arc<Answering>,
    resume_window: Duration,
    /// The latest answer's events, until the next message: a dropped stream resumes from it.
    feed: Option<Arc<AnswerFeed>>,
}

impl Actor for TextSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.control.sessions().attach(&self.session, ctx.address().recipient());
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.live.remove(&self.session);
    }
}

impl TextSession {
    /// The responder for the agent as saved now (rebuilt only when the agent was saved).
    fn responder_for(&mut self, agent: &Agent) -> Arc<dyn Responder> {
        if let Some((version, r)) = &self.responder {
            if *version == agent.version {
                return r.clone();
            }
        }
        let r = self.runtime.responder(agent);
        self.responder = Some((agent.version, r.clone()));
        r
    }
}

/// A visitor's message as recorded, with the row its answer will fill.
struct Taken {
    message_id: MessageId,
    created_at: Timestamp,
    /// The agent's answer, recorded as `streaming` in the same commit as the message, so a
    /// crash mid-answer leaves a row the next start closes (`interrupted`).
    answer_id: MessageId,
    history: Vec<HistoryMessage>,
}

/// Meters and records the visitor's message and its answer's row; returns them with the
/// conversation so far when `with_history` (the builtin agent answers without it).
async fn take_message(
    control: Arc<ControlPlane>,
    session: Session,
    text: String,
    with_history: bool,
) -> Result<Taken, TextError> {
    let at = clock::now();
    control
        .ledger()
        .record(UsageEvent {
            key: UsageKey::unique(&mut rand::rng()),
            workspace: session.workspace_id.clone(),
            session: Some(session.id.clone()),
            call: None,
            kind: UsageKind::TextMessage,
            class: class_of(&session),
            environment: session.environment,
            quantity: 1,
            at,
        })
        .await?;
    let store = control.config().store().clone();
    let conversation = session.conversation_id.clone();
    let history = if with_history {
        let c = conversation.clone();
        store.read(move |conn| records::transcript(conn, &c)).await?
    } else {
        Vec::new()
    };
    let sid = session.id.clone();
    let (message_id, answer_id) = store
        .write(move |c| {
            records::text_used(c, &sid)?;
            let visitor = records::append_message(
                c,
                &conversation,
                MessageRole::Visitor,
                &text,
                MessageStatus::Complete,
                at,
            )?;
            let answer = records::append_message(
                c,
                &conversation,
                MessageRole::Agent,
                "",
                MessageStatus::Streaming,
                at,
            )?;
            Ok((visitor, answer))
        })
        .await?;
    let history = HistoryMessage::from_transcript(history);
    Ok(Taken { message_id, created_at: at, answer_id, history })
}

impl Handler<Resume> for TextSession {
    type Result = Result<FeedReader, TextError>;

    fn handle(&mut self, msg: Resume, _ctx: &mut Context<Self>) -> Self::Result {
        match &self.feed {
            Some(feed) if *feed.answer() == msg.answer && msg.after <= feed.len() => {
                Ok(feed.read_from(msg.after))
            }
            _ => Err(TextError::NoSuchAnswer(msg.answer.to_string())),
        }
    }
}

impl Handler<Ask> for TextSession {
    type Result = actix::ResponseActFuture<Self, Result<FeedReader, TextError>>;

    fn handle(&mut self, msg: Ask, _ctx: &mut Context<Self>) -> Self::Result {
        if self.busy {
            return Box::pin(actix::fut::ready(Err(TextError::Busy)));
        }
        // The session and its agent first: a message nobody can answer is neither metered nor
        // recorded.
        let Some(session) = self.control.sessions().get(&self.session).filter(Session::is_live) else {
            return Box::pin(actix::fut::ready(Err(TextError::Ended)));
        };
        let Some(agent) = self.control.config().agent(&session.agent_id).filter(|a| a.deleted_at.is_none())
        else {
            return Box::pin(actix::fut::ready(Err(TextError::AgentMissing)));
        };
        let responder = self.responder_for(&agent);
        let widget = self.control.config().widget(&session.widget_id);
        let tools = match &widget {
            Some(w) if !agent.spec.tools.is_empty() => {
                tools::allowed_on(&agent.spec.tools, &w.spec.page_actions)
            }
            _ => Vec::new(),
        };
        let context = ToolContext {
            session_id: session.id.clone(),
            conversation_id: session.conversation_id.clone(),
            metadata: session.metadata.clone(),
            variables: session.variables.clone(),
        };
        let (tool_http, page_calls) = (self.runtime.tool_http.clone(), self.page_calls.clone());
        let metrics = self.control.sessions().metrics().clone();
        let variables = session.variables.clone();
        let conversation = session.conversation_id.clone();
        self.busy = true;
        self.control.sessions().busy(&self.session);
        let text = msg.text.clone();
        let fut = take_message(self.control.clone(), session, msg.text, responder.uses_history());
        Box::pin(fut.into_actor(self).map(move |taken, this, ctx| {
            let Taken { message_id, created_at, answer_id, history } = match taken {
                Ok(t) => t,
                Err(e) => {
                    this.busy = false;
                    this.control.sessions().free(&this.session);
                    return Err(e);
                }
            };
            let feed = AnswerFeed::new(answer_id.clone());
            let reader = feed.read_from(0);
            this.feed = Some(feed.clone());
            let tools = (!tools.is_empty()).then(|| {
                let page =
                    TextPage { session: context.session_id.clone(), events: feed.clone(), calls: page_calls };
                Arc::new(Toolbox::new(tools, tool_http, context, metrics).with_page(Arc::new(page)))
            });
            let (cancel, cancelled) = oneshot::channel();
            this.cancel = Some(cancel);
            let created = TextEvent::MessageCreated { message_id, text: text.clone(), created_at };
            let answer = Answer {
                responder,
                turn: AgentTurn { history, text, open_text: None, variables, tools },
                conversation,
                feed,
                resume_window: this.resume_window,
                cancelled,
                control: this.control.clone(),
                answer_id,
                started: Instant::now(),
                _answering: AnsweringGuard::new(&this.answering),
            };
            let me = ctx.address();
            actix::spawn(async move {
                answer.stream(created).await;
                me.do_send(TurnDone);
            });
            Ok(reader)
        }))
    }
}

impl Handler<TurnDone> for TextSession {
    type Result = ();

    fn handle(&mut self, _msg: TurnDone, _ctx: &mut Context<Self>) {
        self.busy = false;
        self.cancel = None;
        self.control.sessions().free(&self.session);
    }
}

impl TextSession {
    /// Cuts the streaming answer short (recorded as interrupted) and stops.
    fn end(&mut self, reason: EndReason, ctx: &mut Context<Self>) {
        if let Some(cancel) = self.cancel.take() {
            let _ = cancel.send(reason);
        }
        ctx.stop();
    }
}

impl Handler<SessionEnded> for TextSession {
    type Result = ();

    fn handle(&mut self, msg: SessionEnded, ctx: &mut Context<Self>) {
        self.end(msg.reason, ctx);
    }
}

impl Handler<ShutDown> for TextSession {
    type Result = ();

    fn handle(&mut self, _msg: ShutDown, ctx: &mut Context<Self>) {
        self.end(EndReason::ServerShutdown, ctx);
    }
}

/// The visitor's page as a text answer reaches it: a page action goes out as a `tool.call`
/// event of the answer's stream, and its result comes back through [`TextSessions::tool_result`].
struct TextPage {
    session: SessionId,
    events: Arc<AnswerFeed>,
    calls: Arc<PageCalls>,
}

impl Page for TextPage {
    fn call(
        &self,
        call: &ToolCall,
        arguments: serde_json::Value,
        timeout: Duration,
    ) -> BoxFuture<'static, ToolOutcome> {
        let (session, events, calls) = (self.session.clone(), self.events.clone(), self.calls.clone());
        let call_id = call.call_id.clone();
        let event = TextEvent::ToolCall {
            call_id: call.call_id.clone(),
            name: call.name.clone(),
            arguments,
            timeout_ms: timeout.as_millis() as u64,
        };
        Box::pin(async move {
            let sent = async move {
                events.push(event);
                true
            };
            calls.wait(&session, &call_id, timeout, sent).await
        })
    }
}

/// One answer being streamed to the visitor.
struct Answer {
    responder: Arc<dyn Responder>,
    turn: AgentTurn,
    /// Where its events go: every stream of it reads them there.
    feed: Arc<AnswerFeed>,
    resume_window: Duration,
    cancelled: oneshot::Receiver<EndReason>,
    control: Arc<ControlPlane>,
    /// The answer's row, `streaming` until this answer ends.
    answer_id: MessageId,
    conversation: ConversationId,
    started: Instant,
    _answering: AnsweringGuard,
}

/// How an answer ended.
enum Outcome {
    Complete,
    /// The visitor went away (nobody read it for the resume window) or the session ended.
    Interrupted(Option<EndReason>),
    Failed(AgentFailure),
}

impl Answer {
    /// Keeps a tool call in the transcript, before the answer it was made for.
    async fn record_tool(&self, line: ToolLine) {
        let store = self.control.config().store().clone();
        let (conversation, answer) = (self.conversation.clone(), self.answer_id.clone());
        let saved = store
            .write(move |c| {
                records::append_tool_line(c, &conversation, None, &line, clock::now())?;
                records::move_to_end(c, &conversation, &answer)
            })
            .await;
        if let Err(e) = saved {
            tracing::warn!(error = %e, "could not record a tool call");
        }
    }

    async fn stream(mut self, created: TextEvent) {
        let mut text = String::new();
        let mut source = None;
        self.feed.push(created);
        let outcome = self.relay(&mut text, &mut source).await;
        let status = match &outcome {
            Outcome::Complete => MessageStatus::Complete,
            Outcome::Interrupted(_) => MessageStatus::Interrupted,
            Outcome::Failed(_) => MessageStatus::Failed,
        };
        let store = self.control.config().store().clone();
        let (id, recorded, from) = (self.answer_id.clone(), text.clone(), source.clone());
        let saved = store
            .write(move |c| records::finish_message(c, &id, &recorded, status, from.as_deref()).map(|()| id))
            .await;
        let last = match (outcome, saved) {
            (Outcome::Interrupted(None), _) => return self.feed.finish(),
            (Outcome::Interrupted(Some(EndReason::ServerShutdown)), _) => TextEvent::Error {
                code: ErrorCode::Unavailable,
                message: "the server is restarting; send the message again in a moment".into(),
            },
            (Outcome::Interrupted(Some(reason)), _) => TextEvent::Error {
                code: ErrorCode::SessionEnded,
                message: format!("the session ended ({}) while the agent was answering", reason.as_str()),
            },
            (Outcome::Failed(f), _) => TextEvent::Error { code: f.code, message: f.message },
            (Outcome::Complete, Ok(message_id)) => TextEvent::Completed { message_id, text, source },
            (Outcome::Complete, Err(e)) => {
                tracing::error!(error = %e, "could not record an agent answer");
                TextEvent::Error {
                    code: ErrorCode::Internal,
                    message: "the answer could not be recorded".into(),
                }
            }
        };
        self.feed.push(last);
        self.feed.finish();
    }

    /// Forwards the agent's deltas until it finishes, fails, or nobody is listening any more.
    async fn relay(&mut self, text: &mut String, source: &mut Option<String>) -> Outcome {
        let mut deltas = self.responder.respond(self.turn.clone());
        let mut first = true;
        loop {
            let next = tokio::select! {
                biased;
                reason = &mut self.cancelled => return Outcome::Interrupted(reason.ok()),
                _ = self.feed.abandoned(self.resume_window) => return Outcome::Interrupted(None),
                next = deltas.next() => next,
            };
            match next {
                None => return Outcome::Complete,
                Some(Err(failure)) => return Outcome::Failed(failure),
                Some(Ok(AnswerPart::Source(title))) => *source = Some(title),
                Some(Ok(AnswerPart::Tool(line))) => self.record_tool(line).await,
                Some(Ok(AnswerPart::ToolsRunning)) => {}
                Some(Ok(AnswerPart::Delta(delta))) => {
                    if first {
                        first = false;
                        let backend = self.responder.backend();
                        self.control
                            .sessions()
                            .metrics()
                            .first_token(backend, self.started.elapsed().as_secs_f64());
                    }
                    text.push_str(&delta);
                    self.feed.push(TextEvent::Delta { text: delta });
                }
            }
        }
    }
}
