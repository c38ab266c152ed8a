//! Prometheus metrics of the live state. Label children are resolved once here, so recording
//! on a hot path is an atomic add, with no label hashing or allocation.

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
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
    /// Set at scrape time from each media worker.
    pub worker_active_peers: IntGaugeVec,
    /// WHIP offer to answer, as seen by the server.
    pub signaling_seconds: Histogram,
    /// Offer accepted to ICE+DTLS connected.
    pub ice_connect_seconds: Histogram,
    pub media_packets_in: IntCounter,
    pub media_packets_out: IntCounter,
    pub media_bytes_in: IntCounter,
    pub media_bytes_out: IntCounter,
    /// Datagrams a media worker could not send (full send buffer, refused destination).
    pub media_send_dropped: IntCounter,
    calls_ended: Vec<(EndReason, IntCounter)>,
    voice_minutes: IntCounterVec,
    text_messages: IntCounterVec,
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
            Opts::new("voxgate_sessions_ended_total", "Sessions ended, by end reason."),
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
        registry.register(Box::new(created_vec.clone())).expect("unique metric");
        registry.register(Box::new(ended_vec.clone())).expect("unique metric");
        registry.register(Box::new(rejections.clone())).expect("unique metric");
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
        registry.register(Box::new(active_sessions.clone())).expect("unique metric");
        registry.register(Box::new(store_queue_depth.clone())).expect("unique metric");
        let created =
            Mode::ALL.into_iter().map(|m| (m, created_vec.with_label_values(&[m.as_str()]))).collect();
        let ended =
            EndReason::ALL.into_iter().map(|r| (r, ended_vec.with_label_values(&[r.as_str()]))).collect();
        let worker_active_peers = IntGaugeVec::new(
            Opts::new("voxgate_media_worker_active_peers", "Live WebRTC peers on each media worker."),
            &["worker"],
        )
        .expect("valid metric");
        let signaling_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "voxgate_signaling_duration_seconds",
                "Time from receiving a WHIP offer to sending its answer.",
            )
            .buckets(vec![0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0]),
        )
        .expect("valid metric");
        let ice_connect_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "voxgate_ice_connect_duration_seconds",
                "Time from answering an offer to ICE and DTLS being connected.",
            )
            .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
        )
        .expect("valid metric");
        let packets = IntCounterVec::new(
            Opts::new("voxgate_media_packets_total", "UDP datagrams through media workers, by direction."),
            &["direction"],
        )
        .expect("valid metric");
        let bytes = IntCounterVec::new(
            Opts::new("voxgate_media_bytes_total", "UDP payload bytes through media workers, by direction."),
            &["direction"],
        )
        .expect("valid metric");
        let media_send_dropped = IntCounter::new(
            "voxgate_media_send_dropped_total",
            "Datagrams a media worker could not send: its socket's send buffer was full or the kernel refused the destination.",
        )
        .expect("valid metric");
        let calls_ended_vec = IntCounterVec::new(
            Opts::new("voxgate_calls_ended_total", "WebRTC calls ended, by end reason."),
            &["reason"],
        )
        .expect("valid metric");
        for c in [
            Box::new(worker_active_peers.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(signaling_seconds.clone()),
            Box::new(ice_connect_seconds.clone()),
            Box::new(packets.clone()),
            Box::new(bytes.clone()),
            Box::new(calls_ended_vec.clone()),
            Box::new(media_send_dropped.clone()),
        ] {
            registry.register(c).expect("unique metric");
        }
        let voice_minutes = IntCounterVec::new(
            Opts::new(
                "voxgate_voice_minutes_total",
                "Metered voice minutes (each started minute of connected media), by environment and allowance class.",
            ),
            &["environment", "class"],
        )
        .expect("valid metric");
        let text_messages = IntCounterVec::new(
            Opts::new(
                "voxgate_text_messages_total",
                "Metered visitor text messages, by environment and allowance class.",
            ),
            &["environment", "class"],
        )
        .expect("valid metric");
        registry.register(Box::new(voice_minutes.clone())).expect("unique metric");
        registry.register(Box::new(text_messages.clone())).expect("unique metric");
        let calls_ended = EndReason::ALL
            .into_iter()
            .map(|r| (r, calls_ended_vec.with_label_values(&[r.as_str()])))
            .collect();
        Metrics {
            registry,
            created,
            ended,
            rejections,
            active_sessions,
            store_queue_depth,
            worker_active_peers,
            signaling_seconds,
            ice_connect_seconds,
            media_packets_in: packets.with_label_values(&["in"]),
            media_packets_out: packets.with_label_values(&["out"]),
            media_bytes_in: bytes.with_label_values(&["in"]),
            media_bytes_out: bytes.with_label_values(&["out"]),
            media_send_dropped,
            calls_ended,
            voice_minutes,
            text_messages,
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

    pub fn call_ended(&self, reason: EndReason) {
        if let Some((_, c)) = self.calls_ended.iter().find(|(r, _)| *r == reason) {
            c.inc();
        }
    }

    pub fn usage_recorded(
        &self,
        kind: voxgate_engine::metering::UsageKind,
        class: voxgate_engine::metering::UsageClass,
        environment: voxgate_engine::session::Environment,
        quantity: u64,
    ) {
        let vec = match kind {
            voxgate_engine::metering::UsageKind::VoiceMinute => &self.voice_minutes,
            voxgate_engine::metering::UsageKind::TextMessage => &self.text_messages,
        };
        vec.with_label_values(&[environment.as_str(), class.as_str()]).inc_by(quantity);
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
