//! Hears what other nodes announce and applies it here. A thread of its own holds one
//! PostgreSQL connection in LISTEN (the blocking client waits for notifications without tying
//! up the async runtime) and pings it whenever it has been quiet for `PING_EVERY`, so a lost
//! connection is noticed within that. While it reconnects the node reports not ready; once it
//! listens again it rereads all configuration and every session it holds before it reports
//! ready, since anything announced in between was missed. So stale configuration lasts at most
//! `PING_EVERY` plus the reconnect and the reload: well under a second on a healthy network.

use super::announce::{Announcement, Change, CHANNEL};
use crate::control::ControlPlane;
use crate::metrics::Metrics;
use crate::store::{postgresql, records};
use crate::supervisors::{origin_revocation, TrackExpiry};
use postgres::fallible_iterator::FallibleIterator;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use voxgate_engine::ids::{AgentId, SessionId, WidgetId, WorkspaceId};
use voxgate_engine::metering::{UsageClass, UsageKind};
use voxgate_engine::session::EndReason;
use voxgate_engine::Timestamp;

/// How long the listener's connection may be quiet before it is pinged.
const PING_EVERY: Duration = Duration::from_millis(250);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// What the listener thread passes to the runtime.
#[derive(Debug)]
enum Heard {
    /// Listening (again): everything said before may have been missed.
    Listening,
    Change(Announcement),
}

/// The running listener: whether it listens now, and how to stop it.
pub struct ClusterListener {
    ready: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl ClusterListener {
    /// True once the listener listens and the node has reread what it may have missed.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Listens on the database at `url` as node `me`, applying changes to `control`.
    pub fn start(
        url: &str,
        me: String,
        control: Arc<ControlPlane>,
        metrics: Arc<Metrics>,
    ) -> Result<ClusterListener, String> {
        let mut config: postgres::Config = postgresql::config(url).map_err(|e| e.to_string())?.into();
        // Named, so an operator (or a test) can find this node's listener in pg_stat_activity.
        config.application_name(&format!("voxgate-listener-{me}"));
        let ready = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::unbounded_channel();
        let (thread_stop, thread_ready) = (stop.clone(), ready.clone());
        let (node, thread_metrics) = (me.clone(), metrics.clone());
        std::thread::Builder::new()
            .name("cluster-listener".into())
            .spawn(move || listen(config, node, tx, thread_stop, thread_ready, thread_metrics))
            .map_err(|e| format!("cannot start the cluster listener: {e}"))?;
        actix::spawn(apply_all(rx, control, metrics, ready.clone()));
        Ok(ClusterListener { ready, stop })
    }
}

fn listen(
    config: postgres::Config,
    me: String,
    tx: mpsc::UnboundedSender<Heard>,
    stop: Arc<AtomicBool>,
    ready: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
) {
    let mut backoff = Duration::from_millis(50);
    let mut first = true;
    while !stop.load(Ordering::Acquire) {
        if !std::mem::take(&mut first) {
            metrics.cluster_listener_reconnects.inc();
        }
        let mut client = match config.connect(postgres::NoTls) {
            Ok(c) => c,
            Err(e) => {
                let e = crate::store::describe_postgres_error(&e);
                tracing::warn!(error = %e, "cluster listener cannot connect; retrying");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")) {
            let e = crate::store::describe_postgres_error(&e);
            tracing::warn!(error = %e, "cluster listener cannot LISTEN; retrying");
            continue;
        }
        backoff = Duration::from_millis(50);
        if tx.send(Heard::Listening).is_err() {
            return;
        }
        'listening: while !stop.load(Ordering::Acquire) {
            let mut notifications = client.notifications();
            let mut heard = notifications.timeout_iter(PING_EVERY);
            loop {
                match heard.next() {
                    Ok(Some(n)) => match serde_json::from_str::<Announcement>(n.payload()) {
                        Ok(a) if a.from == me => {}
                        Ok(a) => {
                            if tx.send(Heard::Change(a)).is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "ignoring an announcement that does not parse"),
                    },
                    Err(e) => {
                        let e = crate::store::describe_postgres_error(&e);
                        tracing::warn!(error = %e, "cluster listener lost its connection");
                        break 'listening;
                    }
                    Ok(None) => break,
                }
            }
            drop(heard);
            drop(notifications);
            if client.is_closed() || client.simple_query("SELECT 1").is_err() {
                tracing::warn!("cluster listener's connection stopped answering");
                break;
            }
        }
        ready.store(false, Ordering::Release);
    }
}

async fn apply_all(
    mut rx: mpsc::UnboundedReceiver<Heard>,
    control: Arc<ControlPlane>,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
) {
    while let Some(heard) = rx.recv().await {
        match heard {
            Heard::Listening => match resync(&control).await {
                Ok(()) => {
                    ready.store(true, Ordering::Release);
                    tracing::info!("cluster listener listening; configuration reread");
                }
                Err(e) => tracing::error!(error = %e, "cannot reread configuration after reconnecting"),
            },
            Heard::Change(a) => {
                let lag = (crate::clock::now().millis() - a.at).max(0) as f64 / 1000.0;
                metrics.cluster_heard(lag);
                if let Err(e) = apply(&control, a.change).await {
                    tracing::error!(error = %e, "cannot apply a change another node announced");
                }
            }
        }
    }
}

/// Rereads everything another node may have changed while this one was not listening.
async fn resync(control: &ControlPlane) -> Result<(), String> {
    let widgets = control.config().reload_all().await.map_err(|e| e.to_string())?;
    for w in widgets {
        widget_changed(control, &w).await;
    }
    let sessions = control.sessions();
    let live = sessions.live();
    let Some(oldest) = live.iter().map(|s| s.created_at).min() else { return Ok(()) };
    let (store, node) = (control.config().store().clone(), sessions.node().to_string());
    let ended = store
        .read(move |c| records::sessions_ended_since(c, &node, oldest))
        .await
        .map_err(|e| e.to_string())?;
    for (id, reason) in ended {
        if live.iter().any(|s| s.id == id) {
            let _ = sessions.end(&id, reason).await;
        }
    }
    Ok(())
}

async fn widget_changed(control: &ControlPlane, widget: &voxgate_engine::widget::Widget) {
    let sessions = control.sessions();
    if widget.deleted_at.is_some() {
        for s in sessions.live_of_widget(&widget.id) {
            let _ = sessions.end(&s.id, EndReason::WidgetDeleted).await;
        }
    } else {
        origin_revocation::end_disallowed(sessions, widget).await;
    }
}

async fn apply(control: &ControlPlane, change: Change) -> Result<(), String> {
    let bad = |what: &str, e: &dyn std::fmt::Display| format!("announced {what} does not parse: {e}");
    match change {
        Change::Workspace { id } => {
            let id = WorkspaceId::parse(&id).map_err(|e| bad("workspace", &e))?;
            control.config().reload_workspace(&id).await.map_err(|e| e.to_string())
        }
        Change::KeyRevoked { id } => {
            let id = voxgate_engine::ids::KeyId::parse(&id).map_err(|e| bad("key", &e))?;
            control.config().forget_key(Some(&id));
            Ok(())
        }
        Change::Agent { id } => {
            let id = AgentId::parse(&id).map_err(|e| bad("agent", &e))?;
            control.config().reload_agent(&id).await.map_err(|e| e.to_string())
        }
        Change::Widget { id } => {
            let id = WidgetId::parse(&id).map_err(|e| bad("widget", &e))?;
            if let Some(w) = control.config().reload_widget(&id).await.map_err(|e| e.to_string())? {
                widget_changed(control, &w).await;
            }
            Ok(())
        }
        Change::SessionEnded { id, reason } => {
            let id = SessionId::parse(&id).map_err(|e| bad("session", &e))?;
            let reason = EndReason::parse(&reason).ok_or_else(|| bad("end reason", &reason))?;
            if control.sessions().get(&id).is_some() {
                control.sessions().end(&id, reason).await.map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        Change::SessionExpiry { id, expires_at } => {
            let id = SessionId::parse(&id).map_err(|e| bad("session", &e))?;
            let expires_at = Timestamp(expires_at);
            if control.sessions().set_held_expiry(&id, expires_at) {
                control.expiry().do_send(TrackExpiry { id, expires_at });
            }
            Ok(())
        }
        Change::Usage { workspace, class, kind, period_start, quantity } => {
            let ws = WorkspaceId::parse(&workspace).map_err(|e| bad("workspace", &e))?;
            let class = UsageClass::parse(&class).ok_or_else(|| bad("usage class", &class))?;
            let kind = UsageKind::parse(&kind).ok_or_else(|| bad("usage kind", &kind))?;
            control.ledger().count_elsewhere(&ws, class, kind, Timestamp(period_start), quantity);
            Ok(())
        }
    }
}
