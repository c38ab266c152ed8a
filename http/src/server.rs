//! Starting and stopping the server: open the store, load the caches, start the supervisors,
//! bind, announce, and on SIGINT/SIGTERM stop accepting, end live calls, drain the store.

use crate::error::ApiError;
use crate::state::{AppState, EdgeSettings};
use crate::{browser, control, health, metrics};
use actix::Actor;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use voxgate_actors::agents::{AgentRuntime, UpstreamTimeouts};
use voxgate_actors::config::ConfigCache;
use voxgate_actors::control::ControlPlane;
use voxgate_actors::media::{MediaConfig, MediaWorkers};
use voxgate_actors::metrics::Metrics;
use voxgate_actors::sessions::SessionRegistry;
use voxgate_actors::signing::load_signer;
use voxgate_actors::store::Store;
use voxgate_actors::supervisors::{TokenSupervisor, VoiceMeter};
use voxgate_actors::text_session::TextSessions;
use voxgate_actors::usage::{UsageLedger, UsageLimits};
use voxgate_actors::workspaces;
use voxgate_engine::session::TtlPolicy;
use voxgate_engine::ErrorCode;

/// Everything `serve` and `demo` need.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub http: String,
    /// A separate listener for `/metrics`; without it the HTTP listener serves them.
    pub metrics_addr: Option<String>,
    pub data_dir: PathBuf,
    pub public_url: Option<String>,
    pub ice_servers: serde_json::Value,
    pub min_ttl_seconds: u32,
    pub demo: bool,
    pub media_ip: Option<std::net::IpAddr>,
    pub media_port: u16,
    pub media_workers: usize,
    pub connect_timeout: std::time::Duration,
    pub metering_minute: std::time::Duration,
    /// Idle time before an answer stream gets an SSE keep-alive comment.
    pub sse_keep_alive: std::time::Duration,
    /// Pause between the builtin agent's streamed words.
    pub builtin_word_pace: std::time::Duration,
    /// How long an upstream agent may take to answer, and to send each next chunk.
    pub agent_timeout: std::time::Duration,
    pub limits: UsageLimits,
}

/// Runs the server until it is told to stop.
pub fn run(opts: ServeOptions) -> Result<(), String> {
    actix_web::rt::System::new().block_on(serve(opts))
}

async fn not_routed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(ErrorCode::NotFound, format!("no endpoint {} {}", req.method(), req.path())))
}

async fn serve(opts: ServeOptions) -> Result<(), String> {
    let store = Store::open(&opts.data_dir).map_err(|e| e.to_string())?;
    let secret_env = std::env::var("VOXGATE_SESSION_SECRET").ok();
    let signer = load_signer(&opts.data_dir, secret_env.as_deref())?;
    let metrics = Arc::new(Metrics::new());
    let config = Arc::new(ConfigCache::load(store.clone()).map_err(|e| e.to_string())?);
    let sessions = Arc::new(SessionRegistry::new(store.clone(), metrics.clone()));
    let reloaded = sessions.load().map_err(|e| e.to_string())?;
    let expiry = TokenSupervisor::new(sessions.clone()).start();
    let ttl = TtlPolicy { min_seconds: opts.min_ttl_seconds, ..TtlPolicy::default() };
    let ledger = Arc::new(UsageLedger::new(store.clone(), opts.limits, metrics.clone()));
    let meter = VoiceMeter::new(ledger.clone(), sessions.clone(), opts.metering_minute).start();
    let control = Arc::new(ControlPlane::new(config, sessions, signer, ttl, expiry, ledger));
    control.track_reloaded(&reloaded);

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
    let media_config = MediaConfig {
        ip: media_ip,
        port: opts.media_port,
        workers: opts.media_workers,
        connect_timeout: opts.connect_timeout,
        socket_buffer_bytes: 4 << 20,
    };
    let media = Arc::new(MediaWorkers::start(
        &media_config,
        control.sessions().clone(),
        metrics.clone(),
        store.clone(),
        meter,
    )?);
    let public_url = opts.public_url.clone().unwrap_or_else(|| {
        if addr.ip().is_unspecified() {
            tracing::warn!(%addr, "listening on all interfaces without --public-url: browser URLs will name 127.0.0.1; set --public-url");
            format!("http://127.0.0.1:{}", addr.port())
        } else {
            format!("http://{addr}")
        }
    });
    let upstream = UpstreamTimeouts { response: opts.agent_timeout, idle: opts.agent_timeout };
    let agents = Arc::new(AgentRuntime::new(opts.builtin_word_pace, upstream));
    let texts = Arc::new(TextSessions::new(control.clone(), agents.clone()));
    let state = AppState {
        control: control.clone(),
        metrics,
        media: media.clone(),
        texts: texts.clone(),
        agents,
        settings: Arc::new(EdgeSettings {
            public_url: public_url.clone(),
            ice_servers: opts.ice_servers.clone(),
            sse_keep_alive: opts.sse_keep_alive,
        }),
    };
    if opts.demo {
        crate::demo::prepare(&state, addr).await?;
    }
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
            .route("/healthz", web::get().to(health::healthz))
            .route("/readyz", web::get().to(health::readyz))
            .route("/widget.js", web::get().to(crate::widget_script::get))
            .route("/trust/{workspace}", web::get().to(crate::trust_center::page));
        let app = if metrics_here { app.route("/metrics", web::get().to(metrics::render)) } else { app };
        let app = app.configure(browser::routes).configure(control::routes);
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
    let _ = std::io::stdout().flush();
    tracing::info!(%addr, %public_url, data_dir = %opts.data_dir.display(), "voxgate started");

    let signal = stop_signal().await;
    tracing::info!(signal, live_calls = media.calls().live_count(), "stopping: ending calls first");
    // Calls end while every actor and the store are alive, so each end is recorded.
    media.shutdown().await;
    // Streaming answers end and their partial text is recorded before HTTP stops.
    texts.shutdown().await;
    http.stop(true).await;
    if let Some(m) = metrics_server {
        m.stop(true).await;
    }
    let result = match serving.await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    tracing::info!(live_sessions = control.sessions().live().len(), "shutting down: draining the store");
    store.close();
    tracing::info!("voxgate stopped");
    result
}

/// Waits for SIGTERM or SIGINT and names it.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot watch SIGTERM; stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}

/// `voxgate keys create`: the workspace if needed, then a new key (returned, never stored).
pub fn create_key(data_dir: &Path, workspace: &str) -> Result<String, String> {
    let store = Store::open(data_dir).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let key = rt.block_on(async {
        let ws = workspaces::ensure_workspace(&store, workspace).await?;
        workspaces::create_key(&store, &ws).await
    });
    store.close();
    let (_, key) = key.map_err(|e| e.to_string())?;
    Ok(key.secret)
}
