//! The live part of a node, started and stopped as one: the store and the recovery of what a
//! crash left open, the caches, the supervisors, the control plane, the media workers and the
//! text sessions. The HTTP edge starts a `Runtime`, serves from its handles, and stops it; the
//! order of both lives here.

use crate::agents::{AgentRuntime, UpstreamTimeouts};
use crate::cluster::leases::{self, Incarnation, NodeDirectory};
use crate::cluster::listener::ClusterListener;
pub use crate::cluster::node::Node;
use crate::config::ConfigCache;
use crate::control::{ControlParts, ControlPlane};
use crate::dashboard_sign_in::{DashboardAuth, SignInPolicy};
use crate::drain::Drain;
use crate::media::{MediaConfig, MediaWorkers};
use crate::metrics::Metrics;
use crate::rate_limits::{RateLimitPolicy, RateLimits};
use crate::sessions::SessionRegistry;
use crate::signing::load_signer;
use crate::store::{records, Store, StoreLocation};
use crate::supervisors::{IdleSupervisor, TokenSupervisor, VoiceMeter};
use crate::talk::{CallPlanner, Recognizer, RecognizerState};
use crate::text_session::TextSessions;
use crate::usage::{UsageLedger, UsageLimits};
use actix::Actor;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use voxgate_engine::session::{EndReason, TtlPolicy};

/// How a node's live part is set up.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub data_dir: PathBuf,
    /// A PostgreSQL database several nodes share (`postgres://...`), instead of SQLite in the
    /// data dir.
    pub database_url: Option<String>,
    /// This node: its id, the URL browsers reach it at, and its lease.
    pub node: Node,
    /// The session-token secret shared by several nodes (hex), else one kept in the data dir.
    pub session_secret: Option<String>,
    pub min_ttl_seconds: u32,
    pub media: MediaConfig,
    /// Length of a metered voice minute (shortened by tests).
    pub metering_minute: Duration,
    /// No call and no message for this long: the conversation ends as `visitor_left`.
    pub conversation_idle: Duration,
    /// How long a text answer whose stream dropped waits to be resumed (`Last-Event-ID`)
    /// before it stops, recorded as interrupted.
    pub answer_resume: Duration,
    /// Pause between the builtin agent's streamed words.
    pub builtin_word_pace: Duration,
    /// How long an upstream agent may take to answer, and to send each next chunk.
    pub agent_timeout: Duration,
    pub limits: UsageLimits,
    /// A Python with PyPI's pocketsphinx, to run the builtin voice's speech recogniser.
    pub speech_python: Option<PathBuf>,
    /// Dashboard sign-ins: how long one lasts, how many attempts are allowed.
    pub sign_in: SignInPolicy,
    /// Request rate limits per address, session and key.
    pub rate_limits: RateLimitPolicy,
    pub webhooks: crate::webhooks::WebhookPolicy,
    /// Where recordings go, and how often expired ones are looked for.
    pub recordings: crate::recordings::RecordingsConfig,
    /// The end-of-turn model's directory (`smart-turn-v3.2-cpu.onnx`, `libonnxruntime.so`);
    /// without it, `semantic` turn detection falls back to the silence rule.
    pub turn_model: Option<PathBuf>,
}

/// What a crash left open, closed at start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    pub calls: usize,
    pub answers: usize,
}

/// Whether this node should get traffic (`/readyz`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    Draining,
    NotReady(String),
}

/// A running node.
pub struct Runtime {
    store: Store,
    pub metrics: Arc<Metrics>,
    pub control: Arc<ControlPlane>,
    pub media: Arc<MediaWorkers>,
    pub texts: Arc<TextSessions>,
    pub agents: Arc<AgentRuntime>,
    pub dashboard: Arc<DashboardAuth>,
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    pub recordings: Arc<crate::recordings::Recordings>,
    drain: Drain,
    pub recovered: Recovered,
    recognizer: Arc<Recognizer>,
    /// Present with PostgreSQL: hears other nodes' changes.
    listener: Option<ClusterListener>,
    /// Present with PostgreSQL: this process's hold on its node name, given back at a clean stop.
    name: Option<NodeName>,
}

/// The node name this process holds, and the heartbeats that keep it.
struct NodeName {
    node: Node,
    incarnation: Incarnation,
    heartbeats: tokio::task::JoinHandle<()>,
}

impl Runtime {
    /// Opens the store, closes what a crash left open, loads the caches and starts every actor.
    /// Runs inside an actix system.
    pub async fn start(config: RuntimeConfig) -> Result<Runtime, String> {
        let location = StoreLocation::new(&config.data_dir, config.database_url.as_deref());
        let store = Store::open(&location).map_err(|e| format!("cannot open the store ({location}): {e}"))?;
        let node = config.node.clone();
        if matches!(location, StoreLocation::Postgres(_)) && config.session_secret.is_none() {
            return Err(
                "with --database-url, set VOXGATE_SESSION_SECRET (64+ hex characters, the same on every \
                 node) so a session token made on one node verifies on the others"
                    .into(),
            );
        }
        // One node on SQLite carries every session whatever its name (a host name can change
        // between runs); several nodes on PostgreSQL each carry their own.
        let several = matches!(location, StoreLocation::Postgres(_));
        let carrier = several.then_some(node.id.as_str());
        // Several nodes: the name first, before anything is closed or loaded under it.
        let incarnation = Incarnation::new();
        if several {
            if let Err(e) = leases::claim(&store, &node, &incarnation).await {
                // The store's PostgreSQL clients must not be dropped on the async runtime.
                let _ = tokio::task::spawn_blocking(move || {
                    store.close();
                    drop(store);
                })
                .await;
                return Err(e.to_string());
            }
        }
        let recovered = recover(&store, carrier).await?;
        let signer = load_signer(&config.data_dir, config.session_secret.as_deref())?;
        let metrics = Arc::new(Metrics::for_node(carrier));
        metrics.register_store(store.timings());
        let cache = Arc::new(ConfigCache::load(store.clone(), &node.id).map_err(|e| e.to_string())?);
        let sessions = Arc::new(SessionRegistry::new(
            store.clone(),
            metrics.clone(),
            &node.id,
            several,
            config.conversation_idle,
        ));
        let reloaded = sessions.load().map_err(|e| e.to_string())?;
        let expiry = TokenSupervisor::new(sessions.clone()).start();
        IdleSupervisor::new(sessions.clone(), config.conversation_idle).start();
        let ttl = TtlPolicy { min_seconds: config.min_ttl_seconds, ..TtlPolicy::default() };
        let ledger = Arc::new(UsageLedger::new(store.clone(), config.limits, metrics.clone(), &node.id));
        let meter = VoiceMeter::new(ledger.clone(), sessions.clone(), config.metering_minute).start();
        let drain = Drain::default();
        let limits = Arc::new(RateLimits::new(config.rate_limits, metrics.clone()));
        let nodes = Arc::new(NodeDirectory::default());
        let control = Arc::new(ControlPlane::new(ControlParts {
            config: cache,
            sessions,
            signer,
            ttl,
            expiry,
            ledger,
            drain: drain.clone(),
            limits,
            nodes: nodes.clone(),
        }));
        control.track_reloaded(&reloaded);
        // Several nodes: hear the others' changes, keep a lease, close gone nodes' calls.
        let (listener, name) = match &location {
            StoreLocation::Postgres(url) => {
                leases::round(&store, &node, &incarnation, &nodes)
                    .await
                    .map_err(|e| format!("cannot record this node: {e}"))?;
                let heartbeats =
                    leases::start(store.clone(), node.clone(), incarnation.clone(), nodes.clone());
                let listener =
                    ClusterListener::start(url, node.id.clone(), control.clone(), metrics.clone())?;
                (Some(listener), Some(NodeName { node: node.clone(), incarnation, heartbeats }))
            }
            StoreLocation::DataDir(_) => (None, None),
        };
        let upstream = UpstreamTimeouts { response: config.agent_timeout, idle: config.agent_timeout };
        let agents = Arc::new(AgentRuntime::new(config.builtin_word_pace, upstream));
        let recognizer = match &config.speech_python {
            Some(python) => Recognizer::start(python.clone()),
            None => Recognizer::off(),
        };
        let turn_model = match &config.turn_model {
            Some(dir) => Some(
                crate::talk::turn_model::TurnModel::load(dir).map_err(|e| format!("--turn-model: {e}"))?,
            ),
            None => None,
        };
        let sentence_ends = match &config.turn_model {
            Some(dir) => {
                crate::talk::turn_model::sentence_ends(dir).map_err(|e| format!("--turn-model: {e}"))?
            }
            None => None,
        };
        let voices = Arc::new(CallPlanner::new(
            agents.clone(),
            config.agent_timeout,
            metrics.clone(),
            recognizer.clone(),
            sentence_ends,
        ));
        let recordings = crate::recordings::Recordings::start(
            store.clone(),
            config.recordings.clone(),
            &node.id,
            carrier,
            metrics.clone(),
        )
        .await?;
        let media = Arc::new(MediaWorkers::start(
            &config.media,
            crate::media::MediaParts {
                sessions: control.sessions().clone(),
                metrics: metrics.clone(),
                store: store.clone(),
                meter,
                drain: drain.clone(),
                planner: voices,
                recordings: recordings.clone(),
                turn_model,
            },
        )?);
        let texts = Arc::new(TextSessions::new(control.clone(), agents.clone(), config.answer_resume));
        let dashboard = Arc::new(DashboardAuth::new(store.clone(), config.sign_in));
        let webhooks = crate::webhooks::Webhooks::start(store.clone(), config.webhooks);
        crate::analysis::start(store.clone(), agents.http.clone(), config.webhooks);
        Ok(Runtime {
            webhooks,
            recordings,
            store,
            metrics,
            control,
            media,
            texts,
            agents,
            dashboard,
            drain,
            recovered,
            recognizer,
            listener,
            name,
        })
    }

    /// Ready unless draining or the store does not answer.
    pub async fn readiness(&self) -> Readiness {
        if self.drain.is_draining() {
            return Readiness::Draining;
        }
        let probe = self.store.read(|c| c.query_value::<i64>("SELECT 1", &[])).await;
        match probe {
            Err(e) => Readiness::NotReady(format!("the database does not answer: {e}")),
            Ok(_) if self.listener.as_ref().is_some_and(|l| !l.is_ready()) => Readiness::NotReady(
                "the cluster listener is reconnecting: configuration may be stale until it has reread it"
                    .into(),
            ),
            Ok(_) => Readiness::Ready,
        }
    }

    /// `sqlite` or `postgresql`, and this node's id, for `/readyz`.
    pub fn store_backend(&self) -> (&'static str, &str) {
        let backend = match self.store.dialect() {
            crate::store::sql::Dialect::Sqlite => "sqlite",
            crate::store::sql::Dialect::Postgres => "postgresql",
        };
        (backend, self.control.sessions().node())
    }

    /// Whether the cluster listener is up to date (always, with one node on SQLite).
    pub fn cluster_ready(&self) -> bool {
        self.listener.as_ref().is_none_or(|l| l.is_ready())
    }

    /// PostgreSQL reader connections open and idle.
    pub fn store_pool(&self) -> Option<(u32, u32)> {
        self.store.pool_state()
    }

    /// The builtin voice's speech recogniser: `off`, `starting`, `ready` or `down`.
    pub fn recognizer_state(&self) -> RecognizerState {
        self.recognizer.state()
    }

    /// Writes queued for the store and not yet committed.
    pub fn store_queue_depth(&self) -> usize {
        self.store.queue_depth()
    }

    /// Stops taking new sessions and calls; readiness turns `Draining` at once.
    pub fn begin_drain(&self) {
        self.drain.begin();
    }

    pub fn is_draining(&self) -> bool {
        self.drain.is_draining()
    }

    /// Live calls and answers still streaming.
    pub fn live_work(&self) -> (usize, usize) {
        (self.media.calls().live_count(), self.texts.answering())
    }

    /// Waits until no call is live and no answer streams, or `deadline` passes; true if the
    /// work ended by itself.
    pub async fn drained_by(&self, deadline: Instant) -> bool {
        loop {
            if self.live_work() == (0, 0) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            // Polled: a drain lasts seconds, and this costs nothing beside the calls.
            tokio::time::sleep((deadline - now).min(Duration::from_millis(50))).await;
        }
    }

    /// Ends what is left (calls first, then streaming answers, each recorded with `reason`),
    /// runs `edge_stopped` (the HTTP edge closing its listeners), and closes the store once
    /// every queued write is committed.
    pub async fn shutdown(&self, reason: EndReason, edge_stopped: impl Future<Output = ()>) {
        let (calls, answers) = self.live_work();
        tracing::info!(calls, answers, reason = reason.as_str(), "stopping: ending calls first");
        self.media.shutdown(reason).await;
        self.texts.shutdown().await;
        edge_stopped.await;
        tracing::info!(live_sessions = self.control.sessions().live().len(), "draining the store");
        if let Some(l) = &self.listener {
            l.stop();
        }
        if let Some(name) = &self.name {
            name.heartbeats.abort();
            if let Err(e) = leases::release(&self.store, &name.node, &name.incarnation).await {
                tracing::warn!(error = %e, "could not release this node's name: a restart under it waits out its lease");
            }
        }
        self.store.close();
    }
}

/// Closes every call and streaming answer a crash left open: a call ends at its last durable
/// evidence (the start of its last committed minute, else its connect time, else its creation)
/// with `server_restart`; an answer is marked `interrupted`. Minutes stay as metered and the
/// usage ledger is not touched.
async fn recover(store: &Store, node: Option<&str>) -> Result<Recovered, String> {
    let node = node.map(str::to_string);
    let recovered = store
        .write(move |c| {
            let calls = records::close_orphaned_calls(c, node.as_deref(), EndReason::ServerRestart)?;
            let answers = records::close_streaming_answers(c, node.as_deref())?;
            Ok(Recovered { calls, answers })
        })
        .await
        .map_err(|e| format!("cannot recover from the last run: {e}"))?;
    if recovered != Recovered::default() {
        tracing::warn!(
            calls = recovered.calls,
            answers = recovered.answers,
            "closed calls and answers left open by an unclean stop (server_restart)"
        );
    }
    Ok(recovered)
}
