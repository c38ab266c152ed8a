//! Prometheus metrics of the live state. Label children are resolved once here, so recording
//! on a hot path is an atomic add, with no label hashing or allocation.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use voxgate_engine::session::{EndReason, Mode};
use voxgate_engine::ErrorCode;

/// Every metric voxgate exports, registered in one registry.
pub struct Metrics {
    pub registry: Registry,
    created: Vec<(Mode, IntCounter)>,
    ended: Vec<(EndReason, IntCounter)>,
    rejections: IntCounterVec,
    /// Set at scrape time from the session registry.
    pub active_sessions: IntGaugeVec,
    /// Set at scrape time from the store writer.
    pub store_queue_depth: IntGauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let created_vec = IntCounterVec::new(
            Opts::new(
                "voxgate_sessions_created_total",
                "Sessions created through the control plane, by mode.",
            ),
            &["mode"],
        )
        .expect("valid metric");
        let ended_vec = IntCounterVec::new(
            Opts::new(
                "voxgate_sessions_ended_total",
                "Sessions ended, by end reason.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let rejections = IntCounterVec::new(
            Opts::new(
                "voxgate_browser_rejections_total",
                "Browser-endpoint requests refused, by error code (origin_not_allowed, token_expired, ...).",
            ),
            &["reason"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(created_vec.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(ended_vec.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(rejections.clone()))
            .expect("unique metric");
        let active_sessions = IntGaugeVec::new(
            Opts::new(
                "voxgate_active_sessions",
                "Live sessions, by mode (a session with both modes counts in each).",
            ),
            &["mode"],
        )
        .expect("valid metric");
        let store_queue_depth = IntGauge::new(
            "voxgate_store_writer_queue_depth",
            "Writes queued for the store writer and not yet committed.",
        )
        .expect("valid metric");
        registry
            .register(Box::new(active_sessions.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(store_queue_depth.clone()))
            .expect("unique metric");
        let created = Mode::ALL
            .into_iter()
            .map(|m| (m, created_vec.with_label_values(&[m.as_str()])))
            .collect();
        let ended = EndReason::ALL
            .into_iter()
            .map(|r| (r, ended_vec.with_label_values(&[r.as_str()])))
            .collect();
        Metrics {
            registry,
            created,
            ended,
            rejections,
            active_sessions,
            store_queue_depth,
        }
    }

    pub fn session_created(&self, modes: voxgate_engine::session::ModeSet) {
        for (m, c) in &self.created {
            if modes.contains(*m) {
                c.inc();
            }
        }
    }

    pub fn session_ended(&self, reason: EndReason) {
        if let Some((_, c)) = self.ended.iter().find(|(r, _)| *r == reason) {
            c.inc();
        }
    }

    pub fn browser_rejected(&self, code: ErrorCode) {
        self.rejections.with_label_values(&[code.as_str()]).inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
