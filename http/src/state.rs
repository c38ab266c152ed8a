//! What every handler can reach: handles to the live state, and the server's public settings.

use std::sync::Arc;
use voxgate_actors::control::ControlPlane;
use voxgate_actors::media::MediaWorkers;
use voxgate_actors::metrics::Metrics;

/// Settings the edge needs to render URLs and browser values.
#[derive(Debug, Clone)]
pub struct EdgeSettings {
    /// Base URL browsers reach this server at (`https://voice.example.com`), no trailing slash.
    pub public_url: String,
    /// The origin of `public_url`: the dashboard's pages, whose preview may use any widget.
    pub own_origin: Option<voxgate_engine::origin::Origin>,
    /// The `webrtc_ice_servers` handed to browsers (RTCIceServer objects).
    pub ice_servers: serde_json::Value,
    /// TURN servers whose credentials each session gets, valid until it expires.
    pub turn: Option<voxgate_engine::turn_credentials::TurnServers>,
    /// Proxies whose forwarding headers name the client's address.
    pub trusted_proxies: crate::client_address::TrustedProxies,
    /// How often an idle answer stream gets an SSE comment, so proxies do not cut it.
    pub sse_keep_alive: std::time::Duration,
}

/// Shared application state (cheap to clone into every worker).
#[derive(Clone)]
pub struct AppState {
    pub control: Arc<ControlPlane>,
    pub metrics: Arc<Metrics>,
    pub media: Arc<MediaWorkers>,
    pub texts: Arc<voxgate_actors::text_session::TextSessions>,
    pub webhooks: Arc<voxgate_actors::webhooks::Webhooks>,
    pub recordings: Arc<voxgate_actors::recordings::Recordings>,
    /// The agents' responders (builtin, openai) and their HTTP client.
    pub agents: Arc<voxgate_actors::agents::AgentRuntime>,
    /// Dashboard sign-ins.
    pub dashboard: Arc<voxgate_actors::dashboard_sign_in::DashboardAuth>,
    /// The node as a whole: readiness, drain, the store's queue.
    pub runtime: Arc<voxgate_actors::runtime::Runtime>,
    pub settings: Arc<EdgeSettings>,
}
