//! The control plane's operations: what a customer's backend can do with its workspace key.
//! The `http` crate only parses requests and renders results; every rule lives here or in the
//! engine, so tests and other front ends get the same behaviour.

use crate::clock;
use crate::cluster::leases::NodeDirectory;
use crate::config::{ConfigCache, KeyCheck};
use crate::drain::Drain;
use crate::rate_limits::{RateLimited, RateLimits};
use crate::sessions::SessionRegistry;
use crate::store::changes::{self, Erasure};
use crate::store::conversations;
pub use crate::store::conversations::{ConversationRecord, ConversationSummary, ConversationUsage};
pub use crate::store::records::{CallRecord, TranscriptMessage};
use crate::store::{records, StoreError};
use crate::supervisors::{origin_revocation, TokenSupervisor, TrackExpiry};
use crate::usage::{class_of, UsageLedger, UsageRefusal};
use actix::Addr;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use voxgate_engine::agent::{Agent, AgentSpec, Readiness};
use voxgate_engine::conversation::{ConversationFilter, Cursor};
use voxgate_engine::ids::{AgentId, ConversationId, SessionId, WidgetId, WorkspaceId};
use voxgate_engine::metering::{UsageClass, UsageKind};
use voxgate_engine::session::{EndReason, Mode, ModeSet, Session, SessionState, TtlPolicy};
use voxgate_engine::spec::{self, SpecError, Validate};
use voxgate_engine::token::{TokenClaims, TokenSigner};
use voxgate_engine::variables::Variables;
use voxgate_engine::widget::{Widget, WidgetSpec};
use voxgate_engine::{ErrorCode, Timestamp};

/// Largest `metadata` object a session may carry, serialized.
pub const MAX_METADATA_BYTES: usize = 4096;

/// Why a control-plane operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{0}")]
    Invalid(#[from] SpecError),
    #[error("no {kind} {id} in this workspace")]
    NotFound { kind: &'static str, id: String },
    #[error("widget {0} was deleted; create a new widget or restore this one's configuration")]
    WidgetDeleted(WidgetId),
    #[error(
        "widget {widget}'s agent {agent} was deleted; attach another agent with PATCH /v1/widgets/{widget}"
    )]
    AgentMissing { widget: WidgetId, agent: AgentId },
    #[error("{0}")]
    AgentNotConfigured(String),
    #[error("mode {mode:?} is not enabled on widget {widget} (enabled: {enabled})")]
    ModeNotEnabled { mode: &'static str, widget: WidgetId, enabled: String },
    #[error("session {0} has ended")]
    SessionEnded(SessionId),
    #[error("{0}")]
    Usage(#[from] UsageRefusal),
    #[error("{0}")]
    RateLimited(#[from] RateLimited),
    #[error("this server is draining for a restart and takes no new sessions; create the session again in a moment")]
    Draining,
    #[error("storage is unavailable: {0}")]
    Store(#[from] StoreError),
}

impl ControlError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ControlError::Invalid(_) => ErrorCode::InvalidRequest,
            ControlError::NotFound { .. } => ErrorCode::NotFound,
            ControlError::WidgetDeleted(_) => ErrorCode::WidgetDeleted,
            ControlError::AgentMissing { .. } => ErrorCode::AgentMissing,
            ControlError::AgentNotConfigured(_) => ErrorCode::AgentNotConfigured,
            ControlError::ModeNotEnabled { .. } => ErrorCode::ModeNotEnabled,
            ControlError::SessionEnded(_) => ErrorCode::SessionEnded,
            ControlError::Usage(r) => r.code(),
            ControlError::Draining => ErrorCode::Draining,
            ControlError::RateLimited(_) => ErrorCode::RateLimited,
            ControlError::Store(e) if e.is_unavailable() => ErrorCode::Unavailable,
            ControlError::Store(_) => ErrorCode::Internal,
        }
    }

    /// Seconds after which a refused request may pass.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ControlError::RateLimited(r) => Some(r.retry_after.as_secs_f64().ceil().max(1.0) as u64),
            _ => None,
        }
    }

    /// The field a validation error is about, for the error body.
    pub fn field(&self) -> Option<&str> {
        match self {
            ControlError::Invalid(e) if !e.field.is_empty() => Some(&e.field),
            _ => None,
        }
    }
}

fn not_found(kind: &'static str, id: impl std::fmt::Display) -> ControlError {
    ControlError::NotFound { kind, id: id.to_string() }
}

/// Body of `POST /v1/widgets/{id}/sessions`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub preview: bool,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub ttl_seconds: Option<u32>,
    /// Filled into the agent's `{{name}}`s; never shown to the browser.
    #[serde(default)]
    pub variables: Option<Value>,
}

impl CreateSession {
    fn variables(&self) -> Variables {
        self.variables.as_ref().and_then(|v| Variables::parse(v).ok()).unwrap_or_default()
    }
}

impl Validate for CreateSession {
    fn validate(&self) -> Result<(), SpecError> {
        if let Some(v) = &self.variables {
            Variables::parse(v)?;
        }
        if let Some(m) = &self.metadata {
            if !m.is_object() {
                return Err(SpecError::new("metadata", "must be a JSON object"));
            }
            let size = m.to_string().len();
            if size > MAX_METADATA_BYTES {
                return Err(SpecError::new(
                    "metadata",
                    format!("is {size} bytes; the limit is {MAX_METADATA_BYTES}"),
                ));
            }
        }
        Ok(())
    }
}

/// Body of `POST /v1/sessions/{id}/refresh`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshSession {
    #[serde(default)]
    pub ttl_seconds: Option<u32>,
}

impl Validate for RefreshSession {
    fn validate(&self) -> Result<(), SpecError> {
        Ok(())
    }
}

/// A new session and the token that opens it.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub session: Session,
    pub token: String,
}

/// JSON shape of a session on the control plane.
#[derive(Debug, Serialize)]
pub struct SessionView {
    pub session_id: SessionId,
    pub conversation_id: ConversationId,
    pub widget_id: WidgetId,
    pub agent_id: AgentId,
    pub environment: &'static str,
    pub modes: ModeSet,
    pub preview: bool,
    pub status: &'static str,
    pub origin: Option<String>,
    pub metadata: Value,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub end_reason: Option<EndReason>,
}

impl From<&Session> for SessionView {
    fn from(s: &Session) -> Self {
        let (status, ended_at, end_reason) = match s.state {
            SessionState::Live => ("live", None, None),
            SessionState::Ended { at, reason } => ("ended", Some(at), Some(reason)),
        };
        SessionView {
            session_id: s.id.clone(),
            conversation_id: s.conversation_id.clone(),
            widget_id: s.widget_id.clone(),
            agent_id: s.agent_id.clone(),
            environment: s.environment.as_str(),
            modes: s.modes,
            preview: s.preview,
            status,
            origin: s.origin.clone(),
            metadata: s.metadata.clone(),
            created_at: s.created_at,
            expires_at: s.expires_at,
            ended_at,
            end_reason,
        }
    }
}

/// One allowance class in its current period: (used, limit) of each unit.
#[derive(Debug, Clone)]
pub struct PeriodUsage {
    pub class: UsageClass,
    pub start: Timestamp,
    pub end: Timestamp,
    pub voice_minutes: (u64, Option<u64>),
    pub text_messages: (u64, Option<u64>),
}

/// One UTC day of usage: (voice minutes, text messages) of each class, in `UsageClass::ALL`
/// order.
#[derive(Debug, Clone, Default)]
pub struct UsageDay {
    pub day: Timestamp,
    pub units: [(u64, u64); 3],
}

/// What the control plane is built from (each shared with the actors that need it too).
pub struct ControlParts {
    pub config: Arc<ConfigCache>,
    pub sessions: Arc<SessionRegistry>,
    pub signer: TokenSigner,
    pub ttl: TtlPolicy,
    pub expiry: Addr<TokenSupervisor>,
    pub ledger: Arc<UsageLedger>,
    pub drain: Drain,
    pub limits: Arc<RateLimits>,
    pub nodes: Arc<NodeDirectory>,
}

/// The control plane over the config cache, the session registry and the supervisors.
pub struct ControlPlane {
    config: Arc<ConfigCache>,
    sessions: Arc<SessionRegistry>,
    signer: TokenSigner,
    ttl: TtlPolicy,
    expiry: Addr<TokenSupervisor>,
    ledger: Arc<UsageLedger>,
    drain: Drain,
    limits: Arc<RateLimits>,
    nodes: Arc<NodeDirectory>,
}

impl ControlPlane {
    pub fn new(parts: ControlParts) -> Self {
        let ControlParts { config, sessions, signer, ttl, expiry, ledger, drain, limits, nodes } = parts;
        ControlPlane { config, sessions, signer, ttl, expiry, ledger, drain, limits, nodes }
    }

    /// The nodes sharing this node's database, and the URLs they answer at.
    pub fn nodes(&self) -> &Arc<NodeDirectory> {
        &self.nodes
    }

    /// The token supervisor, which ends sessions when their tokens expire.
    pub fn expiry(&self) -> &Addr<TokenSupervisor> {
        &self.expiry
    }

    /// The node's request rate limits.
    pub fn limits(&self) -> &Arc<RateLimits> {
        &self.limits
    }

    pub fn ledger(&self) -> &Arc<UsageLedger> {
        &self.ledger
    }

    pub fn config(&self) -> &Arc<ConfigCache> {
        &self.config
    }

    pub fn sessions(&self) -> &Arc<SessionRegistry> {
        &self.sessions
    }

    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    // ---- agents ----

    pub async fn create_agent(&self, ws: &WorkspaceId, body: Value) -> Result<Arc<Agent>, ControlError> {
        let spec: AgentSpec = spec::parse(body)?;
        let now = clock::now();
        let agent = Agent {
            id: AgentId::generate(&mut rand::rng()),
            workspace_id: ws.clone(),
            spec,
            version: 1,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        Ok(self.config.save_agent(agent).await?)
    }

    pub fn agent(&self, ws: &WorkspaceId, id: &AgentId) -> Result<Arc<Agent>, ControlError> {
        self.config
            .agent(id)
            .filter(|a| a.workspace_id == *ws && a.deleted_at.is_none())
            .ok_or_else(|| not_found("agent", id))
    }

    pub fn agents(&self, ws: &WorkspaceId) -> Vec<Arc<Agent>> {
        self.config.agents_of(ws)
    }

    pub async fn update_agent(
        &self,
        ws: &WorkspaceId,
        id: &AgentId,
        patch: Value,
    ) -> Result<Arc<Agent>, ControlError> {
        self.config
            .update_agent(id, || {
                let current = self.agent(ws, id)?;
                let spec: AgentSpec = spec::merge(&current.spec, &patch)?;
                let mut next = (*current).clone();
                next.spec = spec;
                next.version += 1;
                next.updated_at = clock::now();
                Ok(next)
            })
            .await
    }

    pub async fn delete_agent(&self, ws: &WorkspaceId, id: &AgentId) -> Result<(), ControlError> {
        self.config
            .update_agent(id, || {
                let current = self.agent(ws, id)?;
                let mut next = (*current).clone();
                let now = clock::now();
                next.deleted_at = Some(now);
                next.updated_at = now;
                next.version += 1;
                Ok::<_, ControlError>(next)
            })
            .await?;
        Ok(())
    }

    // ---- widgets ----

    fn check_agent_ref(&self, ws: &WorkspaceId, spec: &WidgetSpec) -> Result<(), ControlError> {
        if let Some(agent) = &spec.agent_id {
            if self.agent(ws, agent).is_err() {
                return Err(SpecError::new("agent_id", format!("no agent {agent} in this workspace")).into());
            }
        }
        Ok(())
    }

    pub async fn create_widget(&self, ws: &WorkspaceId, body: Value) -> Result<Arc<Widget>, ControlError> {
        let spec = spec::parse::<WidgetSpec>(body)?.canonicalize();
        self.check_agent_ref(ws, &spec)?;
        let now = clock::now();
        let widget = Widget::new(WidgetId::generate(&mut rand::rng()), ws.clone(), spec, 1, now, now, None);
        Ok(self.config.save_widget(widget).await?)
    }

    pub fn widget(&self, ws: &WorkspaceId, id: &WidgetId) -> Result<Arc<Widget>, ControlError> {
        self.config
            .widget(id)
            .filter(|w| w.workspace_id == *ws && w.deleted_at.is_none())
            .ok_or_else(|| not_found("widget", id))
    }

    pub fn widgets(&self, ws: &WorkspaceId) -> Vec<Arc<Widget>> {
        self.config.widgets_of(ws)
    }

    /// Saves a change; sessions whose origin the new allowlist drops end at once.
    pub async fn update_widget(
        &self,
        ws: &WorkspaceId,
        id: &WidgetId,
        patch: Value,
    ) -> Result<Arc<Widget>, ControlError> {
        let saved = self
            .config
            .update_widget(id, || {
                let current = self.widget(ws, id)?;
                let spec = spec::merge(&current.spec, &patch)?.canonicalize();
                self.check_agent_ref(ws, &spec)?;
                Ok::<_, ControlError>(Widget::new(
                    current.id.clone(),
                    current.workspace_id.clone(),
                    spec,
                    current.version + 1,
                    current.created_at,
                    clock::now(),
                    None,
                ))
            })
            .await?;
        origin_revocation::end_disallowed(&self.sessions, &saved).await;
        Ok(saved)
    }

    /// Deletes a widget (kept for its conversations' history) and ends its live sessions.
    pub async fn delete_widget(&self, ws: &WorkspaceId, id: &WidgetId) -> Result<(), ControlError> {
        self.config
            .update_widget(id, || {
                let current = self.widget(ws, id)?;
                let now = clock::now();
                Ok::<_, ControlError>(Widget::new(
                    current.id.clone(),
                    current.workspace_id.clone(),
                    current.spec.clone(),
                    current.version + 1,
                    current.created_at,
                    now,
                    Some(now),
                ))
            })
            .await?;
        for s in self.sessions.live_of_widget(id) {
            self.sessions.end(&s.id, EndReason::WidgetDeleted).await?;
        }
        Ok(())
    }

    // ---- sessions ----

    /// Creates a session on a widget, refusing clearly when it cannot serve one.
    pub async fn create_session(
        &self,
        ws: &WorkspaceId,
        widget_id: &WidgetId,
        body: Value,
    ) -> Result<IssuedSession, ControlError> {
        let req: CreateSession = spec::parse(body)?;
        if self.drain.is_draining() {
            return Err(ControlError::Draining);
        }
        // Read through on a miss: another node may have made the widget an instant ago.
        let widget = self
            .config
            .widget_or_load(widget_id)
            .await?
            .filter(|w| w.workspace_id == *ws)
            .ok_or_else(|| not_found("widget", widget_id))?;
        if widget.deleted_at.is_some() {
            return Err(ControlError::WidgetDeleted(widget_id.clone()));
        }
        let agent_id = widget.spec.agent_id.clone().ok_or_else(|| {
            ControlError::AgentNotConfigured(format!(
                "widget {widget_id} has no agent; set agent_id with PATCH /v1/widgets/{widget_id}"
            ))
        })?;
        let agent = self
            .config
            .agent_or_load(&agent_id)
            .await?
            .filter(|a| a.deleted_at.is_none() && a.workspace_id == *ws)
            .ok_or_else(|| ControlError::AgentMissing {
                widget: widget_id.clone(),
                agent: agent_id.clone(),
            })?;
        if let Readiness::NotConfigured(why) = agent.spec.readiness(|name| std::env::var(name).ok()) {
            return Err(ControlError::AgentNotConfigured(format!("agent {agent_id}: {why}")));
        }
        let enabled = widget.spec.mode_set();
        let modes = match req.mode {
            Some(m) if !enabled.contains(m) => {
                return Err(ControlError::ModeNotEnabled {
                    mode: m.as_str(),
                    widget: widget_id.clone(),
                    enabled: enabled.label(),
                })
            }
            Some(m) => ModeSet::of(&[m]),
            None => enabled,
        };
        self.limits.widget_session(&widget)?;
        let ttl = self.ttl.resolve(req.ttl_seconds)?;
        let now = clock::now();
        let class = if req.preview { UsageClass::Preview } else { UsageClass::Production };
        let mut refusal = None;
        let mut usable = false;
        for mode in modes.modes() {
            let kind = match mode {
                Mode::Voice => UsageKind::VoiceMinute,
                Mode::Text => UsageKind::TextMessage,
            };
            match self.ledger.check(ws, class, kind, now).await {
                Ok(()) => usable = true,
                Err(r) => refusal = Some(r),
            }
        }
        if let (false, Some(r)) = (usable, refusal) {
            return Err(r.into());
        }
        let session = Session {
            id: SessionId::generate(&mut rand::rng()),
            workspace_id: ws.clone(),
            widget_id: widget_id.clone(),
            agent_id,
            conversation_id: ConversationId::generate(&mut rand::rng()),
            environment: widget.spec.environment,
            modes,
            preview: req.preview,
            variables: req.variables(),
            metadata: req.metadata.unwrap_or_else(|| Value::Object(Default::default())),
            origin: None,
            created_at: now,
            expires_at: now.plus_seconds(i64::from(ttl)),
            state: SessionState::Live,
            node: self.sessions.carrier(),
        };
        let warnings = agent.spec.variable_warnings(&session.variables);
        self.sessions.create(session.clone(), warnings).await?;
        self.expiry.do_send(TrackExpiry { id: session.id.clone(), expires_at: session.expires_at });
        let token = self.token_for(&session);
        tracing::info!(session = %session.id, widget = %widget_id, modes = %modes.label(), "session created");
        Ok(IssuedSession { session, token })
    }

    fn token_for(&self, s: &Session) -> String {
        self.signer.sign(TokenClaims {
            sid: s.id.clone(),
            wid: s.widget_id.clone(),
            modes: s.modes,
            exp: s.expires_at.millis(),
            kid: String::new(),
        })
    }

    async fn owned_session(&self, ws: &WorkspaceId, id: &SessionId) -> Result<Session, ControlError> {
        self.sessions
            .get_or_load(id)
            .await?
            .filter(|s| s.workspace_id == *ws)
            .ok_or_else(|| not_found("session", id))
    }

    pub async fn session(&self, ws: &WorkspaceId, id: &SessionId) -> Result<Session, ControlError> {
        self.owned_session(ws, id).await
    }

    /// A new token and expiry for a live session.
    pub async fn refresh_session(
        &self,
        ws: &WorkspaceId,
        id: &SessionId,
        body: Value,
    ) -> Result<IssuedSession, ControlError> {
        let req: RefreshSession = if body.is_null() { RefreshSession::default() } else { spec::parse(body)? };
        let session = self.owned_session(ws, id).await?;
        if !session.is_live() && !session.may_reopen(clock::now()) {
            return Err(ControlError::SessionEnded(id.clone()));
        }
        let ttl = self.ttl.resolve(req.ttl_seconds)?;
        let expires_at = clock::now().plus_seconds(i64::from(ttl));
        if !self.sessions.set_expiry(id, expires_at).await? {
            return Err(ControlError::SessionEnded(id.clone()));
        }
        // The node that carries the session tracks its expiry (told so when it is another).
        if self.sessions.get(id).is_some() {
            self.expiry.do_send(TrackExpiry { id: id.clone(), expires_at });
        }
        let session = Session { expires_at, ..session };
        let token = self.token_for(&session);
        Ok(IssuedSession { session, token })
    }

    /// Reopens a session its visitor left (`visitor_left`) when a message or an offer comes on
    /// its still-valid token; whether it is live now.
    pub async fn reopen_session(&self, session: &Session) -> Result<bool, ControlError> {
        let reopened = self.sessions.reopen(session).await?;
        if reopened {
            let expires_at = self.sessions.get(&session.id).map_or(session.expires_at, |s| s.expires_at);
            self.expiry.do_send(TrackExpiry { id: session.id.clone(), expires_at });
        }
        Ok(reopened)
    }

    /// Ends a session now (idempotent: an ended session is returned as it is).
    pub async fn end_session(&self, ws: &WorkspaceId, id: &SessionId) -> Result<Session, ControlError> {
        let session = self.owned_session(ws, id).await?;
        if session.is_live() {
            self.sessions.end(id, EndReason::Ended).await?;
        }
        self.owned_session(ws, id).await
    }

    /// Whether a session may start another unit of `kind` now.
    pub async fn check_usage(&self, session: &Session, kind: UsageKind) -> Result<(), ControlError> {
        Ok(self.ledger.check(&session.workspace_id, class_of(session), kind, clock::now()).await?)
    }

    /// `GET /v1/usage`: metered units and connected voice seconds in `[from, to)`, split by
    /// allowance class and environment, with the limits and what the current periods used.
    pub async fn usage_report(
        &self,
        ws: &WorkspaceId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Value, ControlError> {
        let w = ws.clone();
        let now = clock::now();
        let (rows, seconds) = self
            .config
            .store()
            .read(move |c| {
                Ok((records::usage_report(c, &w, from, to)?, records::voice_seconds(c, &w, from, to, now)?))
            })
            .await?;
        let mut usage = serde_json::Map::new();
        for class in UsageClass::ALL {
            let mut by_env = serde_json::Map::new();
            let (mut minutes, mut messages, mut secs) = (0u64, 0u64, 0u64);
            for env in ["production", "staging"] {
                let pick = |kind: UsageKind| {
                    rows.iter()
                        .filter(|r| r.0 == kind.as_str() && r.1 == class.as_str() && r.2 == env)
                        .map(|r| r.3)
                        .sum::<u64>()
                };
                let (m, t) = (pick(UsageKind::VoiceMinute), pick(UsageKind::TextMessage));
                let s =
                    seconds.iter().filter(|r| r.0 == class.as_str() && r.1 == env).map(|r| r.2).sum::<u64>();
                minutes += m;
                messages += t;
                secs += s;
                by_env.insert(
                    env.into(),
                    serde_json::json!({"voice_minutes": m, "voice_seconds": s, "text_messages": t}),
                );
            }
            usage.insert(
                class.as_str().into(),
                serde_json::json!({"voice_minutes": minutes, "voice_seconds": secs, "text_messages": messages, "by_environment": by_env}),
            );
        }
        let mut current = serde_json::Map::new();
        for class in UsageClass::ALL {
            let (start, end) = class.period().bounds(now);
            let mut entry = serde_json::json!({"period_start": start, "period_end": end});
            for (kind, name) in
                [(UsageKind::VoiceMinute, "voice_minutes"), (UsageKind::TextMessage, "text_messages")]
            {
                let used = self.ledger.used(ws, class, kind, now).await?;
                entry[name] =
                    serde_json::json!({"used": used, "limit": self.ledger.limits().limit(class, kind)});
            }
            current.insert(class.as_str().into(), entry);
        }
        Ok(serde_json::json!({"from": from, "to": to, "usage": usage, "current_period": current}))
    }

    /// What each allowance class used in its current period (a month for production, a day for
    /// previews and test runs), against its limits.
    pub async fn current_periods(&self, ws: &WorkspaceId) -> Result<Vec<PeriodUsage>, ControlError> {
        let now = clock::now();
        let mut out = Vec::new();
        for class in UsageClass::ALL {
            let (start, end) = class.period().bounds(now);
            let mut entry =
                PeriodUsage { class, start, end, voice_minutes: (0, None), text_messages: (0, None) };
            for kind in [UsageKind::VoiceMinute, UsageKind::TextMessage] {
                let used =
                    (self.ledger.used(ws, class, kind, now).await?, self.ledger.limits().limit(class, kind));
                match kind {
                    UsageKind::VoiceMinute => entry.voice_minutes = used,
                    UsageKind::TextMessage => entry.text_messages = used,
                }
            }
            out.push(entry);
        }
        Ok(out)
    }

    /// Metered units per UTC day in `[from, to)`, by allowance class.
    pub async fn usage_days(
        &self,
        ws: &WorkspaceId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<UsageDay>, ControlError> {
        let w = ws.clone();
        let rows = self.config.store().read(move |c| records::usage_by_day(c, &w, from, to)).await?;
        let mut days: Vec<UsageDay> = Vec::new();
        for (day, kind, class, n) in rows {
            if days.last().is_none_or(|d| d.day.millis() != day) {
                days.push(UsageDay { day: Timestamp(day), ..Default::default() });
            }
            let Some(entry) = days.last_mut() else { continue };
            let Some(class) = UsageClass::ALL.into_iter().find(|c| c.as_str() == class) else { continue };
            let slot = &mut entry.units[class as usize];
            if kind == UsageKind::VoiceMinute.as_str() {
                slot.0 += n;
            } else if kind == UsageKind::TextMessage.as_str() {
                slot.1 += n;
            }
        }
        Ok(days)
    }

    /// What a workspace API key is worth now (checked in the store at every request).
    pub async fn check_key(&self, key: &str) -> Result<KeyCheck, ControlError> {
        Ok(self.config.check_key(key).await?)
    }

    /// Any session, live or ended, from memory or the store; `None` if it never existed.
    /// Why this node cannot serve `session`'s browser requests, when another node carries it:
    /// a message naming that node and where it answers.
    pub fn carried_elsewhere(&self, session: &Session) -> Option<String> {
        let node = session.node.as_deref()?;
        if node == self.sessions.node() || !session.is_live() {
            return None;
        }
        Some(match self.nodes.public_url(node) {
            Some(url) => {
                format!("session {} is carried by node {node}; send its requests to {url}", session.id)
            }
            None => format!("session {} is carried by node {node}, which is not running", session.id),
        })
    }

    pub async fn find_session(&self, id: &SessionId) -> Result<Option<Session>, ControlError> {
        Ok(self.sessions.get_or_load(id).await?)
    }

    /// The workspace named `name`, created if needed (the demo's, `voxgate keys create`'s).
    pub async fn ensure_workspace(&self, name: &str) -> Result<WorkspaceId, ControlError> {
        Ok(self.config.ensure_workspace(name).await?)
    }

    /// A session of `ws` and every call it has had (connected, ended, end reason, minutes).
    pub async fn session_with_calls(
        &self,
        ws: &WorkspaceId,
        id: &SessionId,
    ) -> Result<(Session, Vec<CallRecord>), ControlError> {
        let session = self.owned_session(ws, id).await?;
        let sid = session.id.clone();
        let calls = self.config.store().read(move |c| records::calls_of_session(c, &sid)).await?;
        Ok((session, calls))
    }

    /// Every call a session has had, oldest first.
    pub async fn calls_of(&self, session: &Session) -> Result<Vec<CallRecord>, ControlError> {
        let sid = session.id.clone();
        Ok(self.config.store().read(move |c| records::calls_of_session(c, &sid)).await?)
    }

    /// The transcript of a session's conversation so far (the browser's `GET messages_url`).
    pub async fn transcript(&self, session: &Session) -> Result<Vec<TranscriptMessage>, ControlError> {
        let conversation = session.conversation_id.clone();
        Ok(self.config.store().read(move |c| records::transcript(c, &conversation)).await?)
    }

    /// One page of a workspace's conversations, and the cursor of the next.
    pub async fn conversations(
        &self,
        ws: &WorkspaceId,
        filter: ConversationFilter,
    ) -> Result<(Vec<ConversationSummary>, Option<Cursor>), ControlError> {
        let ws = ws.clone();
        Ok(self.config.store().read(move |c| conversations::list(c, &ws, &filter)).await?)
    }

    /// One conversation of `ws`, whole.
    pub async fn conversation(
        &self,
        ws: &WorkspaceId,
        id: &ConversationId,
    ) -> Result<ConversationRecord, ControlError> {
        let (w, wanted) = (ws.clone(), id.clone());
        self.config
            .store()
            .read(move |c| conversations::get(c, &w, &wanted))
            .await?
            .ok_or_else(|| not_found("conversation", id))
    }

    /// `DELETE /v1/conversations/{id}`: ends it if live, then erases everything of it but its
    /// anonymous usage (see `store::changes::conversation_erased`). Erasing it again answers the
    /// same.
    pub async fn erase_conversation(
        &self,
        ws: &WorkspaceId,
        id: &ConversationId,
    ) -> Result<(), ControlError> {
        let (w, wanted) = (ws.clone(), id.clone());
        let session = self
            .config
            .store()
            .read(move |c| {
                c.query_opt(
                    "SELECT id FROM sessions WHERE conversation_id = ?1 AND workspace_id = ?2",
                    crate::store::sql::args![wanted.as_str(), w.as_str()],
                    |r| r.get::<String>(0),
                )
            })
            .await?;
        if let Some(sid) = session.as_deref().and_then(|s| SessionId::parse(s).ok()) {
            // Live calls and answers end first, so nothing is written after the erasure.
            self.end_session(ws, &sid).await?;
            self.sessions.forget(&sid);
        }
        let (w, wanted, at) = (ws.clone(), id.clone(), clock::now());
        let erased =
            self.config.store().write(move |c| changes::conversation_erased(c, &w, &wanted, at)).await?;
        match erased {
            Erasure::Erased | Erasure::AlreadyErased => Ok(()),
            Erasure::NotFound => Err(not_found("conversation", id)),
        }
    }

    /// The p50 and p95 of each stage of `agent`'s answers in calls over the last `days` days.
    pub async fn agent_latency(
        &self,
        ws: &WorkspaceId,
        id: &AgentId,
        days: u32,
    ) -> Result<voxgate_engine::talk::LatencySummary, ControlError> {
        self.agent(ws, id)?;
        let to = clock::now();
        let from = Timestamp(to.millis() - i64::from(days) * 86_400_000);
        let agent = id.clone();
        let turns = self.config.store().read(move |c| records::agent_latencies(c, &agent, from, to)).await?;
        Ok(voxgate_engine::talk::LatencySummary::of(&turns))
    }

    /// Re-arms expiry for sessions reloaded at start.
    pub fn track_reloaded(&self, sessions: &[Session]) {
        for s in sessions {
            self.expiry.do_send(TrackExpiry { id: s.id.clone(), expires_at: s.expires_at });
        }
    }
}
