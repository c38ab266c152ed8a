//! The usage ledger: every metered voice minute and text message, committed before it counts.
//! Allowance checks read in-memory counters per (workspace, class, kind, period), loaded once
//! from the store per period, so metering never queries the database on its hot path.

use crate::cluster::announce::{announce, Change};
use crate::metrics::Metrics;
use crate::store::records::{self, UsageEvent};
use crate::store::{Store, StoreError};
use dashmap::DashMap;
use std::sync::Arc;
use voxgate_engine::ids::WorkspaceId;
use voxgate_engine::metering::{UsageClass, UsageKind};
use voxgate_engine::session::Session;
use voxgate_engine::{ErrorCode, Timestamp};

/// Allowances per workspace; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default)]
pub struct UsageLimits {
    /// Production voice minutes per calendar month (UTC).
    pub voice_minutes_per_month: Option<u64>,
    /// Production text messages per calendar month (UTC).
    pub text_messages_per_month: Option<u64>,
    /// Fair use of previews, per day (UTC), each kind.
    pub preview_voice_minutes_per_day: Option<u64>,
    pub preview_text_messages_per_day: Option<u64>,
    /// Fair use of agent test runs, per day (UTC), each kind.
    pub test_run_voice_minutes_per_day: Option<u64>,
    pub test_run_text_messages_per_day: Option<u64>,
}

impl UsageLimits {
    pub fn limit(&self, class: UsageClass, kind: UsageKind) -> Option<u64> {
        match (class, kind) {
            (UsageClass::Production, UsageKind::VoiceMinute) => self.voice_minutes_per_month,
            (UsageClass::Production, UsageKind::TextMessage) => self.text_messages_per_month,
            (UsageClass::Preview, UsageKind::VoiceMinute) => self.preview_voice_minutes_per_day,
            (UsageClass::Preview, UsageKind::TextMessage) => self.preview_text_messages_per_day,
            (UsageClass::TestRun, UsageKind::VoiceMinute) => self.test_run_voice_minutes_per_day,
            (UsageClass::TestRun, UsageKind::TextMessage) => self.test_run_text_messages_per_day,
        }
    }
}

/// The allowance a session's usage counts toward.
pub fn class_of(session: &Session) -> UsageClass {
    if session.preview {
        UsageClass::Preview
    } else {
        UsageClass::Production
    }
}

/// Why usage was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum UsageRefusal {
    #[error("the workspace's {kind} allowance ({limit} per {period}) is spent")]
    LimitReached { kind: String, limit: u64, period: &'static str, code: ErrorCode },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl UsageRefusal {
    pub fn code(&self) -> ErrorCode {
        match self {
            UsageRefusal::LimitReached { code, .. } => *code,
            UsageRefusal::Store(e) if e.is_unavailable() => ErrorCode::Unavailable,
            UsageRefusal::Store(_) => ErrorCode::Internal,
        }
    }
}

type CounterKey = (WorkspaceId, UsageClass, UsageKind, Timestamp);

/// Records usage and answers allowance questions.
pub struct UsageLedger {
    store: Store,
    limits: UsageLimits,
    metrics: Arc<Metrics>,
    counters: DashMap<CounterKey, u64>,
    /// Check-then-record must be atomic so two racing minutes cannot both fit the last slot.
    record_lock: tokio::sync::Mutex<()>,
    /// This node's id, named when it tells other nodes of usage it recorded.
    node: String,
}

impl UsageLedger {
    pub fn new(store: Store, limits: UsageLimits, metrics: Arc<Metrics>, node: &str) -> Self {
        UsageLedger {
            store,
            limits,
            metrics,
            counters: DashMap::new(),
            record_lock: tokio::sync::Mutex::new(()),
            node: node.to_string(),
        }
    }

    /// Counts usage another node recorded (and announced), so allowances hold across nodes.
    /// A period not counted here yet is read whole from the store when first asked.
    pub fn count_elsewhere(
        &self,
        ws: &WorkspaceId,
        class: UsageClass,
        kind: UsageKind,
        from: Timestamp,
        n: u64,
    ) {
        if let Some(mut c) = self.counters.get_mut(&(ws.clone(), class, kind, from)) {
            *c += n;
        }
    }

    pub fn limits(&self) -> &UsageLimits {
        &self.limits
    }

    /// Units used this period.
    pub async fn used(
        &self,
        ws: &WorkspaceId,
        class: UsageClass,
        kind: UsageKind,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let (from, to) = class.period().bounds(now);
        let key = (ws.clone(), class, kind, from);
        if let Some(n) = self.counters.get(&key) {
            return Ok(*n);
        }
        let w = ws.clone();
        let n = self.store.read(move |c| records::usage_sum(c, &w, kind, class, from, to)).await?;
        Ok(*self.counters.entry(key).or_insert(n))
    }

    /// Whether one more unit fits the allowance now.
    pub async fn check(
        &self,
        ws: &WorkspaceId,
        class: UsageClass,
        kind: UsageKind,
        now: Timestamp,
    ) -> Result<(), UsageRefusal> {
        let Some(limit) = self.limits.limit(class, kind) else { return Ok(()) };
        let used = self.used(ws, class, kind, now).await?;
        if used < limit {
            Ok(())
        } else {
            Err(refusal(class, kind, limit))
        }
    }

    /// Commits one unit if it fits the allowance, then counts it.
    pub async fn record(&self, event: UsageEvent) -> Result<u64, UsageRefusal> {
        let _guard = self.record_lock.lock().await;
        self.check(&event.workspace, event.class, event.kind, event.at).await?;
        let (from, _) = event.class.period().bounds(event.at);
        let key = (event.workspace.clone(), event.class, event.kind, from);
        let (row, node) = (event.clone(), self.node.clone());
        let inserted = self
            .store
            .write(move |c| {
                let inserted = records::insert_usage(c, &row)?;
                if inserted {
                    let change = Change::Usage {
                        workspace: row.workspace.to_string(),
                        class: row.class.as_str().to_string(),
                        kind: row.kind.as_str().to_string(),
                        period_start: from.millis(),
                        quantity: row.quantity,
                    };
                    announce(c, &node, change)?;
                }
                Ok(inserted)
            })
            .await?;
        let mut n = self.counters.entry(key).or_insert(0);
        if inserted {
            *n += event.quantity;
            self.metrics.usage_recorded(event.kind, event.class, event.environment, event.quantity);
        }
        Ok(*n)
    }
}

fn refusal(class: UsageClass, kind: UsageKind, limit: u64) -> UsageRefusal {
    let (what, code, period) = match class {
        UsageClass::Production => ("", ErrorCode::QuotaExceeded, "month"),
        UsageClass::Preview => ("preview fair-use ", ErrorCode::FairUseExceeded, "day"),
        UsageClass::TestRun => ("test-run fair-use ", ErrorCode::FairUseExceeded, "day"),
    };
    let kind_name = match kind {
        UsageKind::VoiceMinute => "voice minutes",
        UsageKind::TextMessage => "text messages",
    };
    UsageRefusal::LimitReached { kind: format!("{what}{kind_name}"), limit, period, code }
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxgate_engine::ids::{CallId, SessionId};
    use voxgate_engine::metering::UsageKey;
    use voxgate_engine::session::Environment;

    fn minute(ws: &WorkspaceId, session: &SessionId, call: &CallId, n: u32) -> UsageEvent {
        UsageEvent {
            key: UsageKey::VoiceMinute { call: call.clone(), minute: n },
            workspace: ws.clone(),
            session: Some(session.clone()),
            call: Some(call.clone()),
            kind: UsageKind::VoiceMinute,
            class: UsageClass::Production,
            environment: Environment::Production,
            quantity: 1,
            at: crate::clock::now(),
        }
    }

    #[actix_rt::test]
    async fn a_unit_recorded_twice_counts_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::store::StoreLocation::DataDir(dir.path().into())).unwrap();
        let ledger =
            UsageLedger::new(store.clone(), UsageLimits::default(), Arc::new(Metrics::new()), "local");
        let mut rng = rand::rng();
        let (ws, session, call) =
            (WorkspaceId::generate(&mut rng), SessionId::generate(&mut rng), CallId::generate(&mut rng));
        let (c, s) = (call.clone(), session.clone());
        store.write(move |conn| records::insert_call(conn, &c, &s, 0, crate::clock::now())).await.unwrap();

        assert_eq!(ledger.record(minute(&ws, &session, &call, 0)).await.unwrap(), 1);
        // The same minute again (a write retried after a lost connection): counted once.
        assert_eq!(ledger.record(minute(&ws, &session, &call, 0)).await.unwrap(), 1);
        assert_eq!(ledger.record(minute(&ws, &session, &call, 1)).await.unwrap(), 2);
        let s = session.clone();
        let calls = store.read(move |conn| records::calls_of_session(conn, &s)).await.unwrap();
        assert_eq!(calls[0].minutes, 2, "the call's minutes count each minute once");

        // What another ledger (another node, or after a restart) reads from the store agrees.
        let fresh =
            UsageLedger::new(store.clone(), UsageLimits::default(), Arc::new(Metrics::new()), "local");
        let now = crate::clock::now();
        let used = fresh.used(&ws, UsageClass::Production, UsageKind::VoiceMinute, now).await.unwrap();
        assert_eq!(used, 2);
        store.close();
    }
}
