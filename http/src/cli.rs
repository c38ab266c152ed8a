//! The `voxgate` command line. Every `serve` flag can also come from a `VOXGATE_*` variable.

use crate::server::{self, ServeOptions};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use voxgate_actors::offline_store::StoreAt;

#[derive(Parser, Debug)]
#[command(name = "voxgate", version, about = "The server behind website voice and text agent widgets.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Run the server with a demo workspace, agent, staging widget and demo page.
    Demo(ServeArgs),
    /// Copy a data dir (the store, consistently, and the signing key) while a server runs on
    /// it. The copy is a data dir of its own: restore by starting a server on it.
    Backup {
        #[arg(long, env = "VOXGATE_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// A new folder for the copy.
        #[arg(long)]
        to: PathBuf,
    },
    /// Manage workspace API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage dashboard users (people who sign in at /dashboard).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
}

#[derive(Subcommand, Debug)]
enum UsersCommand {
    /// Create a dashboard user of a workspace (created if needed). Prints a one-time password
    /// alone on stdout, or, with --password-stdin, takes the password from stdin's first line.
    Create {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
        /// The email the user signs in with.
        #[arg(long)]
        email: String,
        /// Read the password from stdin instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        /// Create a new store in the data dir if there is none.
        #[arg(long)]
        init: bool,
    },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Create a workspace API key (the workspace too, if needed) and print it alone on stdout;
    /// which data dir and workspace it went to is said on stderr.
    Create {
        /// The store of the servers the key is for (the one `voxgate serve` uses).
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
        /// Create a new store in the data dir if there is none (otherwise that is an error:
        /// a key in a store no server reads would be refused as unknown).
        #[arg(long)]
        init: bool,
    },
    /// List the keys: id, workspace, created, last used, revoked (never the key itself).
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Only this workspace's keys.
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Revoke a key by its id (key_...): every server on the data dir refuses it from the next
    /// request on.
    Revoke {
        #[command(flatten)]
        store: StoreArgs,
        /// The key's id, as `voxgate keys list` shows it.
        id: String,
    },
}

/// Which store a command works on: the data dir's SQLite file, or a shared PostgreSQL.
#[derive(Args, Debug, Clone)]
struct StoreArgs {
    /// Where the SQLite database (and the signing key) live.
    #[arg(long, env = "VOXGATE_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// A PostgreSQL database shared by several nodes (postgres://user@host/db), instead of
    /// SQLite in the data dir.
    #[arg(long, env = "VOXGATE_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

impl StoreArgs {
    fn at(&self) -> StoreAt<'_> {
        StoreAt { data_dir: &self.data_dir, database_url: self.database_url.as_deref() }
    }
}

#[derive(Args, Debug, Clone)]
struct ServeArgs {
    /// Address for the HTTP listener (port 0 picks a free port).
    #[arg(long, env = "VOXGATE_HTTP", default_value = "127.0.0.1:8080")]
    http: String,
    #[command(flatten)]
    store: StoreArgs,
    /// This node's name among the nodes sharing one PostgreSQL (default: the host name). Its
    /// sessions name it, and their URLs lead to its --public-url.
    #[arg(long, env = "VOXGATE_NODE")]
    node: Option<String>,
    /// With PostgreSQL: a node that misses its heartbeats this long is taken for gone, and
    /// another node closes its calls and sessions (server_restart).
    #[arg(long, env = "VOXGATE_NODE_LEASE_SECONDS", default_value_t = 10.0)]
    node_lease_seconds: f64,
    /// Serve `/metrics` on this separate address (for example a private interface) instead of on
    /// the public HTTP listener.
    #[arg(long, env = "VOXGATE_METRICS_ADDR")]
    metrics_addr: Option<String>,
    /// Base URL browsers use to reach this server (default: http://<bound address>).
    #[arg(long, env = "VOXGATE_PUBLIC_URL")]
    public_url: Option<String>,
    /// ICE servers handed to browsers, as a JSON array of RTCIceServer objects.
    #[arg(long, env = "VOXGATE_ICE_SERVERS", default_value = "[]")]
    ice_servers: String,
    /// TURN servers (comma separated turn:/turns: URLs) whose credentials every voice session
    /// gets in webrtc_ice_servers, in the TURN REST API form coturn's use-auth-secret checks.
    #[arg(long, env = "VOXGATE_TURN_URLS", requires = "turn_secret")]
    turn_urls: Option<String>,
    /// The secret shared with the TURN servers (coturn's static-auth-secret), 16+ characters.
    #[arg(long, env = "VOXGATE_TURN_SECRET", requires = "turn_urls", hide_env_values = true)]
    turn_secret: Option<String>,
    /// Shortest ttl_seconds a session may ask for (30 in production; lower it for tests).
    #[arg(long, env = "VOXGATE_MIN_TTL_SECONDS", default_value_t = 30)]
    min_ttl_seconds: u32,
    /// IP the media sockets bind to and advertise in ICE candidates (default: the HTTP IP).
    #[arg(long, env = "VOXGATE_MEDIA_IP")]
    media_ip: Option<std::net::IpAddr>,
    /// First UDP port for media; worker i uses port + i. 0 picks free ports.
    #[arg(long, env = "VOXGATE_MEDIA_PORT", default_value_t = 0)]
    media_port: u16,
    /// Media workers (threads, each with its own UDP socket). Default: the number of cores.
    #[arg(long, env = "VOXGATE_MEDIA_WORKERS")]
    media_workers: Option<usize>,
    /// Most ICE-TCP connections per media worker. Each worker also listens on TCP (at its UDP
    /// port when free) and offers a passive TCP candidate, for visitors whose networks drop
    /// UDP. 0 offers none.
    #[arg(long, env = "VOXGATE_MEDIA_TCP_CONNECTIONS", default_value_t = 4096)]
    media_tcp_connections: usize,
    /// A call not connected this many seconds after its answer ends (connection_failed).
    #[arg(long, env = "VOXGATE_CONNECT_TIMEOUT_SECONDS", default_value_t = 15)]
    connect_timeout_seconds: u64,
    /// A call whose visitor's network goes silent (no packet, no consent check) waits this many
    /// seconds for it to come back (an ICE restart) before it ends as network_lost. Nothing is
    /// metered while it waits.
    #[arg(long, env = "VOXGATE_CALL_GRACE_SECONDS", default_value_t = 15.0)]
    call_grace_seconds: f64,
    /// Milliseconds between the builtin agent's streamed words (0: as fast as read; the demo
    /// uses 40 so answers appear the way a person types).
    #[arg(long, env = "VOXGATE_BUILTIN_WORD_DELAY_MS")]
    builtin_word_delay_ms: Option<u64>,
    /// Milliseconds an upstream agent (openai backend) may take to start answering, and between
    /// two chunks of its answer, before the answer ends with agent_timeout.
    #[arg(long, env = "VOXGATE_AGENT_TIMEOUT_MS", default_value_t = 30_000)]
    agent_timeout_ms: u64,
    /// A Python with PyPI's pocketsphinx 5: voxgate runs the builtin voice's speech recogniser
    /// with it (and restarts it if it exits). Without it, builtin voices cannot listen.
    /// scripts/demo and scripts/test set it up in target/speech-venv.
    #[arg(long, env = "VOXGATE_SPEECH_PYTHON")]
    speech_python: Option<std::path::PathBuf>,
    /// Idle milliseconds before an answer stream gets an SSE keep-alive comment.
    #[arg(long, env = "VOXGATE_SSE_KEEP_ALIVE_MS", default_value_t = 15_000)]
    sse_keep_alive_ms: u64,
    /// Seconds with no live call and no message after which a conversation ends as
    /// `visitor_left` (a later message or offer on its valid token reopens it).
    #[arg(long, env = "VOXGATE_CONVERSATION_IDLE_SECONDS", default_value_t = 120.0)]
    conversation_idle_seconds: f64,
    /// Seconds a text answer whose stream dropped goes on waiting to be resumed with
    /// Last-Event-ID; nobody back by then, it stops (recorded as interrupted).
    #[arg(long, env = "VOXGATE_ANSWER_RESUME_SECONDS", default_value_t = 5.0)]
    answer_resume_seconds: f64,
    /// Let webhooks reach `http` URLs and loopback, private and link-local addresses (for a
    /// receiver on the same machine or network; never on a multi-tenant server).
    #[arg(long, env = "VOXGATE_ALLOW_PRIVATE_WEBHOOKS")]
    allow_private_webhooks: bool,
    /// Multiplies the webhook retry schedule (1 = 5 s, 30 s, 2 min, ... for a day); lower it
    /// only for tests.
    #[arg(long, env = "VOXGATE_WEBHOOK_RETRY_SCALE", default_value_t = 1.0)]
    webhook_retry_scale: f64,
    /// Where finished call recordings go: `s3://bucket/prefix` in any S3-compatible store
    /// (credentials, region and endpoint from the usual `AWS_*` variables). Without it they stay
    /// in `<data dir>/recordings`.
    #[arg(long, env = "VOXGATE_RECORDINGS_URL")]
    recordings_url: Option<String>,
    /// Length of a day of recording retention in milliseconds (86400000; lower it only for
    /// tests).
    #[arg(long, env = "VOXGATE_RECORDING_DAY_MS", default_value_t = 86_400_000)]
    recording_day_ms: u64,
    /// How often expired recordings are looked for, in milliseconds.
    #[arg(long, env = "VOXGATE_RECORDINGS_SWEEP_MS", default_value_t = 60_000)]
    recordings_sweep_ms: u64,
    /// The end-of-turn model for agents whose turn detection is `semantic`: a directory with
    /// `smart-turn-v3.2-cpu.onnx` and ONNX Runtime's `libonnxruntime.so` (scripts/test makes
    /// target/turn-model). Without it, `semantic` falls back to the silence rule.
    #[arg(long, env = "VOXGATE_TURN_MODEL")]
    turn_model: Option<PathBuf>,
    /// Length of a metered voice minute in milliseconds (60000; lower it only for tests).
    #[arg(long, env = "VOXGATE_METERING_MINUTE_MS", default_value_t = 60_000)]
    metering_minute_ms: u64,
    /// Production voice minutes per workspace per calendar month (UTC); unlimited if unset.
    #[arg(long, env = "VOXGATE_VOICE_MINUTES_PER_MONTH")]
    voice_minutes_per_month: Option<u64>,
    /// Production text messages per workspace per calendar month (UTC); unlimited if unset.
    #[arg(long, env = "VOXGATE_TEXT_MESSAGES_PER_MONTH")]
    text_messages_per_month: Option<u64>,
    /// Fair use of previews: voice minutes per workspace per day (UTC).
    #[arg(long, env = "VOXGATE_PREVIEW_VOICE_MINUTES_PER_DAY", default_value_t = 60)]
    preview_voice_minutes_per_day: u64,
    /// Fair use of previews: text messages per workspace per day (UTC).
    #[arg(long, env = "VOXGATE_PREVIEW_TEXT_MESSAGES_PER_DAY", default_value_t = 500)]
    preview_text_messages_per_day: u64,
    /// Fair use of agent test runs: voice minutes per workspace per day (UTC).
    #[arg(long, env = "VOXGATE_TEST_RUN_VOICE_MINUTES_PER_DAY", default_value_t = 60)]
    test_run_voice_minutes_per_day: u64,
    /// Fair use of agent test runs: text messages per workspace per day (UTC).
    #[arg(long, env = "VOXGATE_TEST_RUN_TEXT_MESSAGES_PER_DAY", default_value_t = 1000)]
    test_run_text_messages_per_day: u64,
    /// On SIGTERM, how long live calls and answers may go on (no new sessions or calls are
    /// taken, /readyz is 503) before they end with server_shutdown. 0 ends them at once.
    #[arg(long, env = "VOXGATE_DRAIN_SECONDS", default_value_t = 30)]
    drain_seconds: u64,
    /// Requests per minute from one client address to browser endpoints and sign-in (0: off).
    #[arg(long, env = "VOXGATE_RATE_LIMIT_PER_ADDRESS", default_value_t = 1200)]
    rate_limit_per_address: u32,
    /// Visitor messages per minute in one session (0: off).
    #[arg(long, env = "VOXGATE_RATE_LIMIT_MESSAGES_PER_SESSION", default_value_t = 30)]
    rate_limit_messages_per_session: u32,
    /// Call offers per minute in one session (0: off).
    #[arg(long, env = "VOXGATE_RATE_LIMIT_OFFERS_PER_SESSION", default_value_t = 10)]
    rate_limit_offers_per_session: u32,
    /// Trickled ICE candidate updates per minute in one session (0: off).
    #[arg(long, env = "VOXGATE_RATE_LIMIT_TRICKLES_PER_SESSION", default_value_t = 600)]
    rate_limit_trickles_per_session: u32,
    /// Control-plane requests per minute with one workspace key (0: off).
    #[arg(long, env = "VOXGATE_RATE_LIMIT_PER_KEY", default_value_t = 6000)]
    rate_limit_per_key: u32,
    /// Proxies (addresses or CIDR ranges, comma separated) whose X-Forwarded-For / Forwarded
    /// headers name the client address; from anyone else those headers are ignored.
    #[arg(long, env = "VOXGATE_TRUSTED_PROXIES", default_value = "")]
    trusted_proxies: String,
    /// How long a dashboard sign-in lasts, in seconds.
    #[arg(long, env = "VOXGATE_SIGN_IN_TTL_SECONDS", default_value_t = 12 * 3600)]
    sign_in_ttl_seconds: u64,
    /// Failed dashboard sign-ins per account per 15 minutes (then 429 with Retry-After); a
    /// success clears the account's count, and successes never count.
    #[arg(long, env = "VOXGATE_SIGN_IN_ATTEMPTS_PER_ACCOUNT", default_value_t = 5)]
    sign_in_attempts_per_account: u32,
    /// Failed dashboard sign-ins per client address per 15 minutes.
    #[arg(long, env = "VOXGATE_SIGN_IN_ATTEMPTS_PER_ADDRESS", default_value_t = 20)]
    sign_in_attempts_per_address: u32,
    /// Log format: text or json.
    #[arg(long, env = "VOXGATE_LOG_FORMAT", default_value = "text")]
    log_format: String,
}

/// What is logged unless `VOXGATE_LOG` says otherwise. str0m warns about every malformed SDP it
/// parses; those offers are refused with `invalid_sdp` already, and a visitor must not be able
/// to fill the log by sending them.
const DEFAULT_LOG_FILTER: &str = "info,actix_server=warn,str0m=error";

/// The demo's default: no line per request, which would scroll what it printed to open out of
/// view (`VOXGATE_LOG=info` shows them).
const DEMO_LOG_FILTER: &str = "info,actix_server=warn,str0m=error,voxgate::http=warn";

fn init_logging(format: &str) {
    init_logging_with(format, DEFAULT_LOG_FILTER);
}

fn init_logging_with(format: &str, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VOXGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

impl ServeArgs {
    fn into_options(self, demo: bool) -> Result<ServeOptions, String> {
        let ice_servers: serde_json::Value = serde_json::from_str(&self.ice_servers)
            .map_err(|e| format!("--ice-servers must be a JSON array of RTCIceServer objects: {e}"))?;
        if !ice_servers.is_array() {
            return Err("--ice-servers must be a JSON array of RTCIceServer objects".into());
        }
        let turn = match (&self.turn_urls, &self.turn_secret) {
            (Some(urls), Some(secret)) => Some(
                voxgate_engine::turn_credentials::TurnServers::parse(urls, secret)
                    .map_err(|e| e.to_string())?,
            ),
            _ => None,
        };
        if self.min_ttl_seconds == 0 || self.min_ttl_seconds > 3600 {
            return Err("--min-ttl-seconds must be between 1 and 3600".into());
        }
        let workers = self
            .media_workers
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        if workers == 0 || workers > 256 {
            return Err("--media-workers must be between 1 and 256".into());
        }
        if !(self.call_grace_seconds.is_finite() && (0.1..=3600.0).contains(&self.call_grace_seconds)) {
            return Err("--call-grace-seconds must be between 0.1 and 3600".into());
        }
        if self.metering_minute_ms == 0 {
            return Err("--metering-minute-ms must be positive".into());
        }
        if self.recording_day_ms == 0 || self.recordings_sweep_ms == 0 {
            return Err("--recording-day-ms and --recordings-sweep-ms must be positive".into());
        }
        if !(self.webhook_retry_scale.is_finite() && (0.0001..=100.0).contains(&self.webhook_retry_scale)) {
            return Err("--webhook-retry-scale must be between 0.0001 and 100".into());
        }
        if !(0.1..=600.0).contains(&self.answer_resume_seconds) {
            return Err("--answer-resume-seconds must be between 0.1 and 600".into());
        }
        if !(0.1..=86_400.0).contains(&self.conversation_idle_seconds) {
            return Err("--conversation-idle-seconds must be between 0.1 and 86400".into());
        }
        let attempts = |n: u32, flag: &str| {
            std::num::NonZeroU32::new(n).ok_or_else(|| format!("--{flag} must be at least 1"))
        };
        if self.sign_in_ttl_seconds == 0 {
            return Err("--sign-in-ttl-seconds must be at least 1".into());
        }
        let sign_in = voxgate_actors::dashboard_sign_in::SignInPolicy {
            ttl: std::time::Duration::from_secs(self.sign_in_ttl_seconds),
            attempts_per_account: attempts(
                self.sign_in_attempts_per_account,
                "sign-in-attempts-per-account",
            )?,
            attempts_per_address: attempts(
                self.sign_in_attempts_per_address,
                "sign-in-attempts-per-address",
            )?,
            ..Default::default()
        };
        let per_minute = std::num::NonZeroU32::new;
        let rate_limits = voxgate_actors::rate_limits::RateLimitPolicy {
            per_address: per_minute(self.rate_limit_per_address),
            messages_per_session: per_minute(self.rate_limit_messages_per_session),
            offers_per_session: per_minute(self.rate_limit_offers_per_session),
            trickles_per_session: per_minute(self.rate_limit_trickles_per_session),
            per_key: per_minute(self.rate_limit_per_key),
        };
        let trusted_proxies = crate::client_address::TrustedProxies::parse(&self.trusted_proxies)?;
        let node = self.node.unwrap_or_else(voxgate_actors::runtime::Node::default_id);
        voxgate_actors::runtime::Node::check_id(&node)?;
        if !(self.node_lease_seconds.is_finite() && (0.2..=3600.0).contains(&self.node_lease_seconds)) {
            return Err("--node-lease-seconds must be between 0.2 and 3600".into());
        }
        Ok(ServeOptions {
            node,
            node_lease: std::time::Duration::from_secs_f64(self.node_lease_seconds),
            sign_in,
            rate_limits,
            trusted_proxies,
            metering_minute: std::time::Duration::from_millis(self.metering_minute_ms),
            turn_model: self.turn_model,
            recordings: voxgate_actors::recordings::RecordingsConfig {
                dir: self.store.data_dir.join("recordings"),
                url: self.recordings_url,
                sweep: std::time::Duration::from_millis(self.recordings_sweep_ms),
                day: std::time::Duration::from_millis(self.recording_day_ms),
            },
            conversation_idle: std::time::Duration::from_secs_f64(self.conversation_idle_seconds),
            answer_resume: std::time::Duration::from_secs_f64(self.answer_resume_seconds),
            webhooks: voxgate_actors::webhooks::WebhookPolicy {
                allow_private: self.allow_private_webhooks,
                retry_scale: self.webhook_retry_scale,
                ..Default::default()
            },
            sse_keep_alive: std::time::Duration::from_millis(self.sse_keep_alive_ms.max(100)),
            agent_timeout: std::time::Duration::from_millis(self.agent_timeout_ms.max(1)),
            speech_python: self.speech_python,
            builtin_word_pace: std::time::Duration::from_millis(
                self.builtin_word_delay_ms.unwrap_or(if demo { 40 } else { 0 }),
            ),
            limits: voxgate_actors::usage::UsageLimits {
                voice_minutes_per_month: self.voice_minutes_per_month,
                text_messages_per_month: self.text_messages_per_month,
                preview_voice_minutes_per_day: Some(self.preview_voice_minutes_per_day),
                preview_text_messages_per_day: Some(self.preview_text_messages_per_day),
                test_run_voice_minutes_per_day: Some(self.test_run_voice_minutes_per_day),
                test_run_text_messages_per_day: Some(self.test_run_text_messages_per_day),
            },
            media_ip: self.media_ip,
            media_port: self.media_port,
            media_tcp_connections: self.media_tcp_connections,
            media_workers: workers,
            connect_timeout: std::time::Duration::from_secs(self.connect_timeout_seconds.max(1)),
            call_grace: std::time::Duration::from_secs_f64(self.call_grace_seconds),
            http: self.http,
            metrics_addr: self.metrics_addr,
            data_dir: self.store.data_dir,
            database_url: self.store.database_url,
            public_url: self.public_url.map(|u| u.trim_end_matches('/').to_string()),
            ice_servers,
            turn,
            min_ttl_seconds: self.min_ttl_seconds,
            drain: std::time::Duration::from_secs(self.drain_seconds),
            demo,
        })
    }
}

fn when(t: Option<voxgate_engine::Timestamp>) -> String {
    t.map_or_else(|| "-".to_string(), |t| t.to_rfc3339())
}

/// `voxgate keys ...`: stdout carries only what a script reads (the key, the table).
fn keys(command: KeysCommand) -> Result<(), String> {
    use voxgate_actors::api_keys;
    match command {
        KeysCommand::Create { store, workspace, init } => {
            let created = api_keys::create_in(store.at(), &workspace, init).map_err(|e| e.to_string())?;
            eprintln!(
                "voxgate: key {} for workspace {workspace:?} ({}) in {}",
                created.key_id, created.workspace_id, created.store
            );
            println!("{}", created.secret);
        }
        KeysCommand::List { store, workspace } => {
            let keys = api_keys::list_in(store.at(), workspace.as_deref()).map_err(|e| e.to_string())?;
            println!("{:<26}  {:<20}  {:<24}  {:<24}  revoked", "id", "workspace", "created", "last used");
            for k in keys {
                println!(
                    "{:<26}  {:<20}  {:<24}  {:<24}  {}",
                    k.id.as_str(),
                    k.workspace,
                    k.created_at.to_rfc3339(),
                    when(k.last_used_at),
                    when(k.revoked_at)
                );
            }
        }
        KeysCommand::Revoke { store, id } => {
            let key = api_keys::revoke_in(store.at(), &id).map_err(|e| e.to_string())?;
            eprintln!("voxgate: revoked key {} of workspace {:?}", key.id, key.workspace);
        }
    }
    Ok(())
}

/// `voxgate users ...`: stdout carries only the generated password.
fn users(command: UsersCommand) -> Result<(), String> {
    use voxgate_actors::dashboard_users;
    match command {
        UsersCommand::Create { store, workspace, email, password_stdin, init } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
                let line = line.trim_end_matches(['\r', '\n']).to_string();
                Some(line)
            } else {
                None
            };
            let created = dashboard_users::create_in(store.at(), &workspace, &email, password, init)
                .map_err(|e| e.to_string())?;
            eprintln!(
                "voxgate: dashboard user {} ({}) of workspace {workspace:?} ({}) in {}",
                created.email, created.id, created.workspace_id, created.store
            );
            if let Some(p) = created.generated_password {
                eprintln!("voxgate: its one-time password follows; it is stored only as a hash");
                println!("{p}");
            }
        }
    }
    Ok(())
}

/// Entry point of the `voxgate` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => {
            init_logging(&args.log_format);
            args.into_options(false).and_then(server::run)
        }
        Command::Demo(args) => {
            init_logging_with(&args.log_format, DEMO_LOG_FILTER);
            args.into_options(true).and_then(server::run)
        }
        Command::Keys { command } => {
            init_logging("text");
            keys(command)
        }
        Command::Users { command } => {
            init_logging("text");
            users(command)
        }
        Command::Backup { data_dir, to } => {
            init_logging("text");
            voxgate_actors::backup::backup(&data_dir, &to).map_err(|e| e.to_string()).map(|report| {
                eprintln!("voxgate: backed up {} to {}", data_dir.display(), report.database.display());
                match report.signing_key {
                    Some(k) => eprintln!("voxgate: and the session-signing key to {}", k.display()),
                    None => eprintln!(
                        "voxgate: no signing key in the data dir (VOXGATE_SESSION_SECRET holds it): keep that secret too"
                    ),
                }
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("voxgate: {e}");
            ExitCode::FAILURE
        }
    }
}
