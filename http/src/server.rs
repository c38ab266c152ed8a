//! Starting and stopping the server: bind, start the runtime (`voxgate_actors::runtime`), serve
//! the edge from its handles, announce; on SIGTERM drain (no new work, live calls go on for
//! `--drain-seconds`), then stop the runtime, which ends calls, then answers, then the store.

use crate::error::ApiError;
use crate::state::{AppState, EdgeSettings};
use crate::{browser, control, health, metrics};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use voxgate_actors::media::MediaConfig;
use voxgate_actors::runtime::{Node, Runtime, RuntimeConfig};
use voxgate_actors::usage::UsageLimits;
use voxgate_engine::session::EndReason;
use voxgate_engine::ErrorCode;

/// Everything `serve` and `demo` need.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub http: String,
    /// This node's id among the nodes on one database, and its lease.
    pub node: String,
    pub node_lease: std::time::Duration,
    /// A separate listener for `/metrics`; without it the HTTP listener serves them.
    pub metrics_addr: Option<String>,
    pub data_dir: PathBuf,
    /// PostgreSQL instead of SQLite in the data dir (several nodes share it).
    pub database_url: Option<String>,
    pub public_url: Option<String>,
    pub ice_servers: serde_json::Value,
    pub turn: Option<voxgate_engine::turn_credentials::TurnServers>,
    pub trusted_proxies: crate::client_address::TrustedProxies,
    pub rate_limits: voxgate_actors::rate_limits::RateLimitPolicy,
    pub webhooks: voxgate_actors::webhooks::WebhookPolicy,
    pub recordings: voxgate_actors::recordings::RecordingsConfig,
    pub turn_model: Option<PathBuf>,
    pub min_ttl_seconds: u32,
    pub demo: bool,
    pub media_ip: Option<std::net::IpAddr>,
    pub media_port: u16,
    pub media_workers: usize,
    /// Most ICE-TCP connections per media worker; 0 offers no TCP candidate.
    pub media_tcp_connections: usize,
    pub connect_timeout: std::time::Duration,
    /// A call whose visitor's network went silent this long ends (`network_lost`).
    pub call_grace: std::time::Duration,
    pub metering_minute: std::time::Duration,
    /// No call and no message for this long: the conversation ends as `visitor_left`.
    pub conversation_idle: std::time::Duration,
    /// How long a text answer whose stream dropped waits to be resumed.
    pub answer_resume: std::time::Duration,
    /// Idle time before an answer stream gets an SSE keep-alive comment.
    pub sse_keep_alive: std::time::Duration,
    /// Pause between the builtin agent's streamed words.
    pub builtin_word_pace: std::time::Duration,
    /// How long an upstream agent may take to answer, and to send each next chunk.
    pub agent_timeout: std::time::Duration,
    /// A Python with pocketsphinx, for the builtin voice's recogniser.
    pub speech_python: Option<std::path::PathBuf>,
    pub limits: UsageLimits,
    /// How long live calls and answers may go on after SIGTERM (0: end them at once).
    pub drain: std::time::Duration,
    /// Dashboard sign-ins: lifetime and attempt limits.
    pub sign_in: voxgate_actors::dashboard_sign_in::SignInPolicy,
}

/// Runs the server until it is told to stop.
pub fn run(opts: ServeOptions) -> Result<(), String> {
    actix_web::rt::System::new().block_on(serve(opts))
}

/// The origin (scheme, host, port) of the public URL.
fn own_origin(public_url: &str) -> Option<voxgate_engine::origin::Origin> {
    let scheme_end = public_url.find("://")? + 3;
    let end = public_url[scheme_end..].find('/').map_or(public_url.len(), |i| scheme_end + i);
    voxgate_engine::origin::Origin::parse_header(&public_url[..end]).ok()
}

async fn not_routed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(ErrorCode::NotFound, format!("no endpoint {} {}", req.method(), req.path())))
}

async fn serve(opts: ServeOptions) -> Result<(), String> {
    let listener = std::net::TcpListener::bind(&opts.http)
        .map_err(|e| format!("cannot listen on {}: {e}", opts.http))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let media_ip = opts.media_ip.unwrap_or(addr.ip());
    if media_ip.is_unspecified() {
        return Err(
            "the HTTP listener is on all interfaces: set --media-ip to the address browsers reach for media"
                .into(),
        );
    }
    let public_url = opts.public_url.clone().unwrap_or_else(|| {
        if addr.ip().is_unspecified() {
            tracing::warn!(%addr, "listening on all interfaces without --public-url: browser URLs will name 127.0.0.1; set --public-url");
            format!("http://127.0.0.1:{}", addr.port())
        } else {
            format!("http://{addr}")
        }
    });
    let runtime = Arc::new(
        Runtime::start(RuntimeConfig {
            data_dir: opts.data_dir.clone(),
            database_url: opts.database_url.clone(),
            node: Node { id: opts.node.clone(), public_url: public_url.clone(), lease: opts.node_lease },
            session_secret: std::env::var("VOXGATE_SESSION_SECRET").ok(),
            min_ttl_seconds: opts.min_ttl_seconds,
            media: MediaConfig {
                ip: media_ip,
                port: opts.media_port,
                workers: opts.media_workers,
                connect_timeout: opts.connect_timeout,
                call_grace: opts.call_grace,
                socket_buffer_bytes: 4 << 20,
                tcp_connections: opts.media_tcp_connections,
            },
            metering_minute: opts.metering_minute,
            conversation_idle: opts.conversation_idle,
            answer_resume: opts.answer_resume,
            builtin_word_pace: opts.builtin_word_pace,
            agent_timeout: opts.agent_timeout,
            limits: opts.limits,
            speech_python: opts.speech_python.clone(),
            sign_in: opts.sign_in,
            rate_limits: opts.rate_limits,
            webhooks: opts.webhooks,
            recordings: opts.recordings.clone(),
            turn_model: opts.turn_model.clone(),
        })
        .await?,
    );
    let state = AppState {
        control: runtime.control.clone(),
        metrics: runtime.metrics.clone(),
        media: runtime.media.clone(),
        texts: runtime.texts.clone(),
        webhooks: runtime.webhooks.clone(),
        recordings: runtime.recordings.clone(),
        agents: runtime.agents.clone(),
        dashboard: runtime.dashboard.clone(),
        runtime: runtime.clone(),
        settings: Arc::new(EdgeSettings {
            own_origin: own_origin(&public_url),
            public_url: public_url.clone(),
            ice_servers: opts.ice_servers.clone(),
            turn: opts.turn.clone(),
            trusted_proxies: opts.trusted_proxies.clone(),
            sse_keep_alive: opts.sse_keep_alive,
        }),
    };
    let demo_text =
        if opts.demo { Some(crate::demo::prepare(&state, addr, &opts.data_dir).await?) } else { None };
    let demo = opts.demo;
    let data = web::Data::new(state);
    let metrics_listener = match &opts.metrics_addr {
        Some(a) => Some(
            std::net::TcpListener::bind(a).map_err(|e| format!("cannot listen on {a} for metrics: {e}"))?,
        ),
        None => None,
    };
    let metrics_here = metrics_listener.is_none();
    let app_data = data.clone();
    let server = HttpServer::new(move || {
        let app = App::new()
            .app_data(app_data.clone())
            .wrap(actix_web::middleware::Logger::new("%r %s %Dms").log_target("voxgate::http"))
            .wrap(actix_web::middleware::from_fn(crate::request_timing::observe))
            .route("/healthz", web::get().to(health::healthz))
            .route("/readyz", web::get().to(health::readyz))
            .route("/widget.js", web::get().to(crate::widget_script::get))
            .route("/trust/{workspace}", web::get().to(crate::trust_center::page));
        let app = if metrics_here { app.route("/metrics", web::get().to(metrics::render)) } else { app };
        let app =
            app.configure(browser::routes).configure(control::routes).configure(crate::dashboard::routes);
        let app = if demo { app.configure(crate::demo::routes) } else { app };
        app.default_service(web::to(not_routed))
    })
    // Answer streams write many small SSE events: without TCP_NODELAY, Nagle's algorithm holds
    // each behind the previous one's delayed ACK (about 40 ms on Linux).
    .on_connect(|conn, _| {
        if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            let _ = tcp.set_nodelay(true);
        }
    })
    .listen(listener)
    .map_err(|e| e.to_string())?
    .shutdown_timeout(10)
    .disable_signals()
    .run();
    let http = server.handle();
    let serving = actix_web::rt::spawn(server);
    let metrics_server = match metrics_listener {
        Some(listener) => {
            let metrics_addr = listener.local_addr().map_err(|e| e.to_string())?;
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .route("/metrics", web::get().to(metrics::render))
                    .route("/healthz", web::get().to(health::healthz))
                    .route("/readyz", web::get().to(health::readyz))
                    .default_service(web::to(not_routed))
            })
            .workers(1)
            .listen(listener)
            .map_err(|e| e.to_string())?
            .disable_signals()
            .run();
            println!("voxgate metrics on http://{metrics_addr}/metrics");
            let handle = server.handle();
            actix_web::rt::spawn(server);
            Some(handle)
        }
        None => None,
    };
    println!("voxgate listening on http://{addr}");
    if let Some(text) = demo_text {
        print!("{text}");
    }
    let _ = std::io::stdout().flush();
    tracing::info!(%addr, %public_url, data_dir = %opts.data_dir.display(), "voxgate started");

    let mut signals = StopSignals::new();
    let first = signals.next().await;
    let reason = drain(&runtime, opts.drain, first, &mut signals).await;
    let stop_edge = async {
        http.stop(true).await;
        if let Some(m) = metrics_server {
            m.stop(true).await;
        }
    };
    runtime.shutdown(reason, stop_edge).await;
    let result = match serving.await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    tracing::info!("voxgate stopped");
    result
}

/// A graceful drain after the first stop signal: no new sessions or calls (`/readyz` 503 at
/// once, so a load balancer stops sending), live calls and answers go on until they end or
/// `grace` passes; a second signal cuts it short. Returns why what is left ends.
async fn drain(
    runtime: &Runtime,
    grace: Duration,
    signal: &'static str,
    signals: &mut StopSignals,
) -> EndReason {
    runtime.begin_drain();
    let (calls, answers) = runtime.live_work();
    if grace.is_zero() || (calls, answers) == (0, 0) {
        tracing::info!(signal, calls, answers, "stopping");
        return EndReason::ServerShutdown;
    }
    tracing::info!(
        signal,
        calls,
        answers,
        grace_seconds = grace.as_secs(),
        "draining: no new sessions or calls"
    );
    tokio::select! {
        ended = runtime.drained_by(Instant::now() + grace) => {
            if ended {
                tracing::info!("drained: every call and answer ended by itself");
            } else {
                tracing::info!("drain time is up: ending what is left");
            }
        }
        second = signals.next() => tracing::info!(signal = second, "second stop signal: ending everything now"),
    }
    EndReason::ServerShutdown
}

/// SIGTERM and SIGINT, as they come.
struct StopSignals {
    term: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn new() -> StopSignals {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate())
            .inspect_err(|e| tracing::error!(error = %e, "cannot watch SIGTERM; stopping on Ctrl-C only"))
            .ok();
        StopSignals { term }
    }

    /// Waits for the next signal and names it.
    async fn next(&mut self) -> &'static str {
        let term = async {
            match &mut self.term {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = term => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "SIGINT",
        }
    }
}
