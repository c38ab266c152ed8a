//! Prometheus metrics of the live state. Every label child is resolved once here, so recording
//! on a hot path is an atomic add with no label hashing or allocation, and every series exists
//! from the first scrape (a rate over a series that appears late misses its first increments).

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use voxgate_engine::agent_voice::TurnStage;
use voxgate_engine::metering::{UsageClass, UsageKind};
use voxgate_engine::session::{EndReason, Environment, Mode, ModeSet};
use voxgate_engine::tools::ToolKind;
use voxgate_engine::ErrorCode;

/// Agent backends, as the `backend` label spells them.
pub const AGENT_BACKENDS: [&str; 3] = ["builtin", "openai", "bridge"];

/// Talking voices, as the `backend` label of voice metrics spells them.
pub const VOICE_BACKENDS: [&str; 3] = ["pipeline", "builtin", "realtime"];

/// Provider error codes a voice turn can end with.
const VOICE_ERROR_CODES: [ErrorCode; 3] =
    [ErrorCode::AgentError, ErrorCode::AgentTimeout, ErrorCode::AgentNotConfigured];

/// The timed stages of a talking agent's turn (`voxgate_voice_turn_seconds{stage}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiceTurnStage {
    /// The speech-to-text request, sent to answered.
    SpeechToText,
    /// The text backend, asked to first token.
    FirstToken,
    /// A speech request (or a realtime response), sent to first audio.
    FirstAudio,
    /// The end of the visitor's speech to the first frame of the answer played: everything,
    /// including the silence that ends a turn.
    EndOfSpeechToFirstAudio,
}

impl VoiceTurnStage {
    pub const ALL: [VoiceTurnStage; 4] = [
        VoiceTurnStage::SpeechToText,
        VoiceTurnStage::FirstToken,
        VoiceTurnStage::FirstAudio,
        VoiceTurnStage::EndOfSpeechToFirstAudio,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VoiceTurnStage::SpeechToText => "stt",
            VoiceTurnStage::FirstToken => "first_token",
            VoiceTurnStage::FirstAudio => "first_audio",
            VoiceTurnStage::EndOfSpeechToFirstAudio => "end_of_speech_to_first_audio",
        }
    }
}

/// Every metric voxgate exports, registered in one registry.
pub struct Metrics {
    pub registry: Registry,
    created: Vec<(Mode, IntCounter)>,
    reopened: Vec<(Mode, IntCounter)>,
    ended: Vec<(Mode, EndReason, IntCounter)>,
    rejections: Vec<(ErrorCode, IntCounter)>,
    rejections_vec: IntCounterVec,
    /// Set at scrape time from the session registry.
    pub active_sessions: IntGaugeVec,
    /// Set at scrape time from the store writer.
    pub store_queue_depth: IntGauge,
    /// Set at scrape time: PostgreSQL reader connections, by `state` (`idle`, `busy`).
    pub store_pool_connections: IntGaugeVec,
    /// Set at scrape time: 1 while the cluster listener listens and is up to date.
    pub cluster_listener_ready: IntGauge,
    /// Times the cluster listener lost its connection and connected again.
    pub cluster_listener_reconnects: IntCounter,
    /// From a change committed on one node to its being applied here.
    cluster_propagation_seconds: Histogram,
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
    /// Open ICE-TCP connections.
    pub media_tcp_connections: IntGauge,
    /// ICE-TCP connections closed, one counter per reason label in `media_tcp_closed_reasons`.
    pub media_tcp_closed: IntCounterVec,
    calls_ended: Vec<(EndReason, IntCounter)>,
    usage: Vec<(UsageKind, Environment, UsageClass, IntCounter)>,
    first_token: Vec<(&'static str, Histogram)>,
    voice_turn: Vec<(VoiceTurnStage, Histogram)>,
    voice_errors: Vec<((&'static str, TurnStage, ErrorCode), IntCounter)>,
    /// Times a visitor talked over a talking agent and stopped it.
    pub barge_ins: IntCounter,
    /// Interruptions that held the agent and turned out to be nothing (it resumed).
    pub false_interruptions: IntCounter,
    /// "Uh-huh"s heard while the agent spoke, kept as backchannel lines.
    pub backchannels: IntCounter,
    /// ICE restarts that kept a call across a visitor's network change.
    pub ice_restarts: IntCounter,
    /// Calls whose visitor's network went silent, waiting out their grace.
    pub calls_waiting_for_network: IntGauge,
    /// Frames a talking agent's playout paused for want of audio.
    pub playout_underruns: IntCounter,
    /// Realtime provider events of a type voxgate does not know (ignored): a provider that
    /// renamed an event shows here before its calls go quiet.
    pub realtime_unknown_events: IntCounter,
    /// Turns recognised at the visitor's pause whose result was used (the pause was the
    /// turn's end), and those dropped because the visitor talked on: the CPU early
    /// recognition spends for nothing.
    pub early_recognitions_used: IntCounter,
    /// Tool calls by tool type and outcome (`ok`, `error`), and how long each took.
    tool_calls: Vec<((ToolKind, &'static str), IntCounter)>,
    tool_seconds: Vec<(ToolKind, Histogram)>,
    /// Refusals by each rate limit.
    rate_limited: Vec<(voxgate_engine::limit::LimitKind, IntCounter)>,
    pub early_recognitions_dropped: IntCounter,
    /// Every HTTP request, received to response head, by route pattern, method and status
    /// class: what a customer's backend and a browser wait for, apart from the network.
    http_requests: HistogramVec,
    /// Recordings: calls recorded, bytes written, recordings deleted (erased or expired), and
    /// failures (a file that could not be written, uploaded or deleted).
    /// How long after the visitor's last speech each turn ended, by what decided it.
    end_of_turn: Vec<(voxgate_engine::talk::TurnDecision, Histogram)>,
    pub recordings_started: IntCounter,
    pub recording_bytes: IntCounter,
    pub recordings_deleted: IntCounter,
    pub recording_failures: IntCounter,
}

/// Methods the `method` label spells out; any other is `other`, so the label stays bounded.
const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS", "HEAD"];

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let v = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry.register(Box::new(v.clone())).expect("unique metric");
    v
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let h =
        Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec())).expect("valid metric");
    registry.register(Box::new(h.clone())).expect("unique metric");
    h
}

impl Metrics {
    /// A visitor's turn ended `waited` after their last speech, as `decided`.
    pub fn end_of_turn(&self, decided: voxgate_engine::talk::TurnDecision, waited: std::time::Duration) {
        if let Some((_, h)) = self.end_of_turn.iter().find(|(d, _)| *d == decided) {
            h.observe(waited.as_secs_f64());
        }
    }

    pub fn new() -> Metrics {
        Metrics::for_node(None)
    }

    /// With several nodes, every series carries `node` (one value per process, so the label
    /// stays bounded), the dimension dashboards split nodes by. One node adds no label.
    pub fn for_node(node: Option<&str>) -> Metrics {
        let labels = node.map(|n| std::collections::HashMap::from([("node".to_string(), n.to_string())]));
        let registry = Registry::new_custom(None, labels).expect("valid node label");
        let build_info = IntGaugeVec::new(
            Opts::new("voxgate_build_info", "Always 1; the running voxgate version is its label."),
            &["version"],
        )
        .expect("valid metric");
        registry.register(Box::new(build_info.clone())).expect("unique metric");
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);

        let created_vec = counter_vec(
            &registry,
            "voxgate_sessions_created_total",
            "Sessions created through the control plane, by mode (a session with both modes counts in each).",
            &["mode"],
        );
        let created =
            Mode::ALL.into_iter().map(|m| (m, created_vec.with_label_values(&[m.as_str()]))).collect();
        let reopened_vec = counter_vec(
            &registry,
            "voxgate_sessions_reopened_total",
            "Sessions ended as visitor_left and reopened by a later message or offer, by mode: created plus reopened minus ended is what is live.",
            &["mode"],
        );
        let reopened =
            Mode::ALL.into_iter().map(|m| (m, reopened_vec.with_label_values(&[m.as_str()]))).collect();
        let ended_vec = counter_vec(
            &registry,
            "voxgate_sessions_ended_total",
            "Sessions ended, by mode (a session with both modes counts in each) and end reason.",
            &["mode", "reason"],
        );
        let ended = Mode::ALL
            .into_iter()
            .flat_map(|m| EndReason::ALL.into_iter().map(move |r| (m, r)))
            .map(|(m, r)| (m, r, ended_vec.with_label_values(&[m.as_str(), r.as_str()])))
            .collect();
        let rejections_vec = counter_vec(
            &registry,
            "voxgate_browser_rejections_total",
            "Browser-endpoint requests refused, by error code (origin_not_allowed, token_expired, ...).",
            &["reason"],
        );
        let rejections = ErrorCode::BROWSER
            .into_iter()
            .map(|c| (c, rejections_vec.with_label_values(&[c.as_str()])))
            .collect();

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
        let worker_active_peers = IntGaugeVec::new(
            Opts::new("voxgate_media_worker_active_peers", "Live WebRTC peers on each media worker."),
            &["worker"],
        )
        .expect("valid metric");
        registry.register(Box::new(active_sessions.clone())).expect("unique metric");
        registry.register(Box::new(store_queue_depth.clone())).expect("unique metric");
        let store_pool_connections = IntGaugeVec::new(
            Opts::new(
                "voxgate_store_pool_connections",
                "PostgreSQL reader connections of this node, by state (idle, busy).",
            ),
            &["state"],
        )
        .expect("valid metric");
        registry.register(Box::new(store_pool_connections.clone())).expect("unique metric");
        for state in ["idle", "busy"] {
            store_pool_connections.with_label_values(&[state]).set(0);
        }
        let cluster_listener_ready = IntGauge::new(
            "voxgate_cluster_listener_ready",
            "1 while this node listens for other nodes' changes and has reread what it missed.",
        )
        .expect("valid metric");
        registry.register(Box::new(cluster_listener_ready.clone())).expect("unique metric");
        let cluster_listener_reconnects = IntCounter::new(
            "voxgate_cluster_listener_reconnects_total",
            "Times this node's cluster listener lost its database connection and listened again.",
        )
        .expect("valid metric");
        registry.register(Box::new(cluster_listener_reconnects.clone())).expect("unique metric");
        let cluster_propagation_seconds = histogram(
            &registry,
            "voxgate_cluster_propagation_seconds",
            "From a change committed on another node to its being applied here (the listener's lag).",
            &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
        );
        registry.register(Box::new(worker_active_peers.clone())).expect("unique metric");
        for m in Mode::ALL {
            active_sessions.with_label_values(&[m.as_str()]).set(0);
        }

        // Signaling is milliseconds of server work; connecting is network round trips.
        let signaling_seconds = histogram(
            &registry,
            "voxgate_signaling_duration_seconds",
            "Time from receiving a WHIP offer to sending its answer.",
            &[0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0],
        );
        let ice_connect_seconds = histogram(
            &registry,
            "voxgate_ice_connect_duration_seconds",
            "Time from answering an offer to ICE and DTLS being connected.",
            &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
        );
        let packets = counter_vec(
            &registry,
            "voxgate_media_packets_total",
            "UDP datagrams and ICE-TCP frames through media workers, by direction.",
            &["direction"],
        );
        let bytes = counter_vec(
            &registry,
            "voxgate_media_bytes_total",
            "UDP and ICE-TCP payload bytes through media workers, by direction.",
            &["direction"],
        );
        let media_send_dropped = IntCounter::new(
            "voxgate_media_send_dropped_total",
            "Datagrams a media worker could not send: its socket's send buffer was full or the kernel refused the destination.",
        )
        .expect("valid metric");
        registry.register(Box::new(media_send_dropped.clone())).expect("unique metric");
        let media_tcp_connections = IntGauge::new(
            "voxgate_media_tcp_connections",
            "Open ICE-TCP connections (visitors whose networks drop UDP).",
        )
        .expect("valid metric");
        registry.register(Box::new(media_tcp_connections.clone())).expect("unique metric");
        let media_tcp_closed = counter_vec(
            &registry,
            "voxgate_media_tcp_closed_total",
            "ICE-TCP connections closed, by reason: remote, idle, unrouted (a frame for no call), stalled (the visitor stopped reading), limit (too many connections).",
            &["reason"],
        );
        let calls_ended_vec = counter_vec(
            &registry,
            "voxgate_calls_ended_total",
            "WebRTC calls ended, by end reason.",
            &["reason"],
        );
        let calls_ended = EndReason::ALL
            .into_iter()
            .map(|r| (r, calls_ended_vec.with_label_values(&[r.as_str()])))
            .collect();

        // Prometheus wants base units: a metered voice minute counts 60 seconds here.
        let voice_seconds = counter_vec(
            &registry,
            "voxgate_voice_metered_seconds_total",
            "Metered voice time in seconds: each started minute of connected media counts 60, by environment and allowance class.",
            &["environment", "class"],
        );
        let text_messages = counter_vec(
            &registry,
            "voxgate_text_messages_total",
            "Metered visitor text messages, by environment and allowance class.",
            &["environment", "class"],
        );
        let mut usage = Vec::new();
        for (kind, vec) in
            [(UsageKind::VoiceMinute, &voice_seconds), (UsageKind::TextMessage, &text_messages)]
        {
            for env in Environment::ALL {
                for class in UsageClass::ALL {
                    usage.push((kind, env, class, vec.with_label_values(&[env.as_str(), class.as_str()])));
                }
            }
        }
        // From a visitor's message to the agent's first streamed token: milliseconds for the
        // builtin agent, up to seconds for a remote model.
        let first_token_vec = HistogramVec::new(
            HistogramOpts::new(
                "voxgate_agent_first_token_seconds",
                "Time from a visitor's message to the agent's first streamed token, by agent backend.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["backend"],
        )
        .expect("valid metric");
        registry.register(Box::new(first_token_vec.clone())).expect("unique metric");
        let first_token =
            AGENT_BACKENDS.into_iter().map(|b| (b, first_token_vec.with_label_values(&[b]))).collect();

        // Most answers take a millisecond or two of server work; a new session waits for its
        // commit; a message's answer stream opens once the agent is asked.
        let http_requests = HistogramVec::new(
            HistogramOpts::new(
                "voxgate_http_request_duration_seconds",
                "Time from receiving an HTTP request to sending its response head, by route pattern (unmatched when none), method and status class.",
            )
            .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        registry.register(Box::new(http_requests.clone())).expect("unique metric");

        let voice_turn_vec = HistogramVec::new(
            HistogramOpts::new(
                "voxgate_voice_turn_seconds",
                "Stages of a talking agent's turn: stt (speech-to-text request), first_token (text backend to first token), first_audio (speech request or realtime response to first audio), end_of_speech_to_first_audio (end of the visitor's speech, including the silence that ends a turn, to the answer's first frame played).",
            )
            .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0]),
            &["stage"],
        )
        .expect("valid metric");
        registry.register(Box::new(voice_turn_vec.clone())).expect("unique metric");
        let voice_turn = VoiceTurnStage::ALL
            .into_iter()
            .map(|s| (s, voice_turn_vec.with_label_values(&[s.as_str()])))
            .collect();
        let voice_errors_vec = counter_vec(
            &registry,
            "voxgate_voice_provider_errors_total",
            "Talking-agent turns that failed, by voice backend, stage (stt, answer, tts, realtime) and error code; the agent said its fallback line.",
            &["backend", "stage", "code"],
        );
        let mut voice_errors = Vec::new();
        for backend in VOICE_BACKENDS {
            for stage in TurnStage::ALL {
                for code in VOICE_ERROR_CODES {
                    let c = voice_errors_vec.with_label_values(&[backend, stage.as_str(), code.as_str()]);
                    voice_errors.push(((backend, stage, code), c));
                }
            }
        }
        let barge_ins = IntCounter::new(
            "voxgate_voice_barge_ins_total",
            "Times a visitor talked over a talking agent and its speech stopped.",
        )
        .expect("valid metric");
        registry.register(Box::new(barge_ins.clone())).expect("unique metric");
        let false_interruptions = IntCounter::new(
            "voxgate_voice_false_interruptions_total",
            "Times sound over a talking agent held it, nothing was said, and the agent resumed its sentence.",
        )
        .expect("valid metric");
        registry.register(Box::new(false_interruptions.clone())).expect("unique metric");
        let backchannels = IntCounter::new(
            "voxgate_voice_backchannels_total",
            "Backchannels (\"uh-huh\", \"right\") a visitor said while a talking agent spoke; the agent went on.",
        )
        .expect("valid metric");
        registry.register(Box::new(backchannels.clone())).expect("unique metric");
        let ice_restarts = IntCounter::new(
            "voxgate_ice_restarts_total",
            "ICE restarts (WHIP PATCH with If-Match: *) that kept a call across a visitor's network change.",
        )
        .expect("valid metric");
        registry.register(Box::new(ice_restarts.clone())).expect("unique metric");
        let calls_waiting_for_network = IntGauge::new(
            "voxgate_calls_waiting_for_network",
            "Calls whose visitor's network went silent, waiting out --call-grace-seconds for an ICE restart.",
        )
        .expect("valid metric");
        registry.register(Box::new(calls_waiting_for_network.clone())).expect("unique metric");
        let playout_underruns = IntCounter::new(
            "voxgate_voice_playout_underruns_total",
            "Times a talking agent's speech paused mid-utterance because its audio had not arrived.",
        )
        .expect("valid metric");
        registry.register(Box::new(playout_underruns.clone())).expect("unique metric");
        let realtime_unknown_events = IntCounter::new(
            "voxgate_voice_realtime_unknown_events_total",
            "Events from a realtime voice provider of a type voxgate does not know, ignored.",
        )
        .expect("valid metric");
        registry.register(Box::new(realtime_unknown_events.clone())).expect("unique metric");
        let early = IntCounterVec::new(
            Opts::new(
                "voxgate_voice_early_recognitions_total",
                "Turns the builtin voice recognised at the visitor's pause: used (the pause ended the turn) or dropped (they talked on).",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        registry.register(Box::new(early.clone())).expect("unique metric");
        let limited = counter_vec(
            &registry,
            "voxgate_rate_limited_total",
            "Requests refused with 429 rate_limited, by the limit that refused them (never by address).",
            &["kind"],
        );
        let rate_limited = voxgate_engine::limit::LimitKind::ALL
            .map(|k| (k, limited.with_label_values(&[k.as_str()])))
            .to_vec();

        let tool_calls_vec = counter_vec(
            &registry,
            "voxgate_agent_tool_calls_total",
            "Tools the agents called, by tool type (server, client, end_call) and outcome (ok, error: failed, timed out, refused or too large).",
            &["type", "outcome"],
        );
        let tool_calls = ToolKind::ALL
            .iter()
            .flat_map(|k| {
                ["ok", "error"].map(|o| ((*k, o), tool_calls_vec.with_label_values(&[k.as_str(), o])))
            })
            .collect();
        // A customer's backend answers in tens of milliseconds to seconds; a page in less.
        let tool_seconds_vec = HistogramVec::new(
            HistogramOpts::new(
                "voxgate_agent_tool_seconds",
                "Time from a model's tool call to its result, by tool type.",
            )
            .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["type"],
        )
        .expect("valid metric");
        registry.register(Box::new(tool_seconds_vec.clone())).expect("unique metric");
        let tool_seconds =
            ToolKind::ALL.iter().map(|k| (*k, tool_seconds_vec.with_label_values(&[k.as_str()]))).collect();

        let recordings = counter_vec(
            &registry,
            "voxgate_recordings_total",
            "Call recordings by event: started (a recorded call was placed), deleted (erased or expired), failed (a file not written, uploaded or deleted).",
            &["event"],
        );
        let recording_bytes =
            IntCounter::new("voxgate_recording_bytes_total", "Bytes of Ogg Opus written to call recordings.")
                .expect("valid metric");
        registry.register(Box::new(recording_bytes.clone())).expect("unique metric");

        let end_of_turn_vec = HistogramVec::new(
            HistogramOpts::new(
                "voxgate_voice_end_of_turn_seconds",
                "Time from the visitor's last speech to the end of their turn, by what decided it: silence (the silence rule), model (the end-of-turn model judged them finished), max_wait, forced.",
            )
            .buckets(vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0]),
            &["decision"],
        )
        .expect("valid metric");
        registry.register(Box::new(end_of_turn_vec.clone())).expect("unique metric");
        let end_of_turn = voxgate_engine::talk::TurnDecision::ALL
            .iter()
            .map(|d| (*d, end_of_turn_vec.with_label_values(&[d.as_str()])))
            .collect();

        Metrics {
            end_of_turn,
            recordings_started: recordings.with_label_values(&["started"]),
            recordings_deleted: recordings.with_label_values(&["deleted"]),
            recording_failures: recordings.with_label_values(&["failed"]),
            recording_bytes,
            tool_calls,
            tool_seconds,
            rate_limited,
            registry,
            created,
            reopened,
            ended,
            rejections,
            rejections_vec,
            active_sessions,
            store_queue_depth,
            store_pool_connections,
            cluster_listener_ready,
            cluster_listener_reconnects,
            cluster_propagation_seconds,
            worker_active_peers,
            signaling_seconds,
            ice_connect_seconds,
            media_packets_in: packets.with_label_values(&["in"]),
            media_packets_out: packets.with_label_values(&["out"]),
            media_bytes_in: bytes.with_label_values(&["in"]),
            media_bytes_out: bytes.with_label_values(&["out"]),
            media_send_dropped,
            media_tcp_connections,
            media_tcp_closed,
            calls_ended,
            usage,
            first_token,
            voice_turn,
            voice_errors,
            barge_ins,
            false_interruptions,
            backchannels,
            ice_restarts,
            calls_waiting_for_network,
            playout_underruns,
            realtime_unknown_events,
            early_recognitions_used: early.with_label_values(&["used"]),
            early_recognitions_dropped: early.with_label_values(&["dropped"]),
            http_requests,
        }
    }

    /// An HTTP request answered `took` after it arrived. `route` is the pattern that matched
    /// (`/v1/sessions/{id}`), never the path, and `unmatched` when none did: ids and
    /// probes for random paths make no series.
    pub fn http_request(&self, route: Option<&str>, method: &str, status: u16, took: std::time::Duration) {
        let method = HTTP_METHODS.into_iter().find(|m| *m == method).unwrap_or("other");
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.http_requests
            .with_label_values(&[route.unwrap_or("unmatched"), method, status])
            .observe(took.as_secs_f64());
    }

    /// Exports the store's own latency histograms.
    pub fn register_store(&self, timings: &crate::store::StoreTimings) {
        for h in [&timings.commit_seconds, &timings.read_seconds] {
            if let Err(e) = self.registry.register(Box::new(h.clone())) {
                tracing::warn!(error = %e, "store metric not registered");
            }
        }
    }

    /// A change another node announced was applied `lag_seconds` after it was committed.
    pub fn cluster_heard(&self, lag_seconds: f64) {
        self.cluster_propagation_seconds.observe(lag_seconds);
    }

    pub fn session_created(&self, modes: ModeSet) {
        for (m, c) in &self.created {
            if modes.contains(*m) {
                c.inc();
            }
        }
    }

    pub fn session_reopened(&self, modes: ModeSet) {
        for (m, c) in &self.reopened {
            if modes.contains(*m) {
                c.inc();
            }
        }
    }

    pub fn session_ended(&self, modes: ModeSet, reason: EndReason) {
        for (m, r, c) in &self.ended {
            if *r == reason && modes.contains(*m) {
                c.inc();
            }
        }
    }

    pub fn call_ended(&self, reason: EndReason) {
        if let Some((_, c)) = self.calls_ended.iter().find(|(r, _)| *r == reason) {
            c.inc();
        }
    }

    pub fn usage_recorded(
        &self,
        kind: UsageKind,
        class: UsageClass,
        environment: Environment,
        quantity: u64,
    ) {
        let per_unit = match kind {
            UsageKind::VoiceMinute => 60,
            UsageKind::TextMessage => 1,
        };
        if let Some((.., c)) =
            self.usage.iter().find(|(k, e, cl, _)| *k == kind && *e == environment && *cl == class)
        {
            c.inc_by(quantity * per_unit);
        }
    }

    /// Counts a refusal by a rate limit.
    pub fn rate_limited(&self, kind: voxgate_engine::limit::LimitKind) {
        if let Some((_, c)) = self.rate_limited.iter().find(|(k, _)| *k == kind) {
            c.inc();
        }
    }

    pub fn browser_rejected(&self, code: ErrorCode) {
        match self.rejections.iter().find(|(c, _)| *c == code) {
            Some((_, c)) => c.inc(),
            // A code outside the browser list is a bug worth seeing, not one to hide.
            None => self.rejections_vec.with_label_values(&[code.as_str()]).inc(),
        }
    }

    /// Records an agent's time to first token; `backend` is one of [`AGENT_BACKENDS`].
    pub fn first_token(&self, backend: &str, seconds: f64) {
        if let Some((_, h)) = self.first_token.iter().find(|(b, _)| *b == backend) {
            h.observe(seconds);
        }
    }
}

impl Metrics {
    /// A tool call ended with `outcome` (`ok` or `error`) after `took`.
    pub fn tool_called(&self, kind: ToolKind, outcome: &str, took: std::time::Duration) {
        if let Some((_, c)) = self.tool_calls.iter().find(|((k, o), _)| *k == kind && *o == outcome) {
            c.inc();
        }
        if let Some((_, h)) = self.tool_seconds.iter().find(|(k, _)| *k == kind) {
            h.observe(took.as_secs_f64());
        }
    }

    pub fn voice_turn(&self, stage: VoiceTurnStage, took: std::time::Duration) {
        if let Some((_, h)) = self.voice_turn.iter().find(|(s, _)| *s == stage) {
            h.observe(took.as_secs_f64());
        }
    }

    pub fn voice_provider_error(&self, backend: &str, stage: TurnStage, code: ErrorCode) {
        if let Some((_, c)) =
            self.voice_errors.iter().find(|((b, s, c), _)| *b == backend && *s == stage && *c == code)
        {
            c.inc();
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
