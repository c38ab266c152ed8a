//! `voxgate demo`: a demo workspace, agent and staging widget, a demo page, and a stand-in for
//! "your backend" that creates sessions. The page is served as `http://localhost:PORT` while
//! the API is reached as `http://127.0.0.1:PORT`, so the page is a real cross-origin embedder.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use voxgate_actors::talk::RecognizerState;
use voxgate_engine::ids::{WidgetId, WorkspaceId};
use voxgate_engine::ErrorCode;

const AGENT_NAME: &str = "voxgate demo agent";
const WIDGET_NAME: &str = "voxgate demo widget";
/// The demo's dashboard user; its password is new at every start and printed.
pub const DEMO_USER: &str = "demo@localhost";

/// The demo's workspace and widget, found or created at start.
#[derive(Debug, Clone)]
pub struct Demo {
    pub workspace: WorkspaceId,
    pub widget: WidgetId,
    pub page_url: String,
    /// Its calls talk (the builtin recogniser is on), else they echo.
    pub talks: bool,
}

/// Creates (or finds) the demo workspace, agent and widget; answers what to print (what to
/// open, the dashboard's password), which the server prints once it listens, after the
/// start-up logs, where it stays in view.
pub async fn prepare(state: &AppState, addr: SocketAddr, data_dir: &Path) -> Result<String, String> {
    use std::fmt::Write as _;
    let mut out = String::new();
    let control = &state.control;
    let ws = control.ensure_workspace("demo").await.map_err(|e| e.to_string())?;
    let agent = match control.agents(&ws).into_iter().find(|a| a.spec.name == AGENT_NAME) {
        Some(a) => a,
        None => control
            .create_agent(
                &ws,
                json!({
                    "name": AGENT_NAME,
                    "prompt": "You are the voxgate demo agent. Answer briefly from the knowledge given.",
                    "greeting": "Hi! I'm the voxgate demo agent. Ask me about voxgate, or start a call and I'll echo you.",
                    "echo_delay_ms": 1000,
                    "knowledge": demo_knowledge(),
                }),
            )
            .await
            .map_err(|e| e.to_string())?,
    };
    // With the builtin recogniser (scripts/demo sets it up), the demo's calls talk: the agent
    // greets out loud and answers spoken questions from its knowledge. Without it, they echo.
    // The knowledge is this build's, also on a data dir an older demo made.
    let talks = state.runtime.recognizer_state() != RecognizerState::Off;
    let voice = if talks {
        json!({
            "greeting": "Hi! I'm the voxgate demo agent. Ask me about voxgate, out loud or in the chat.",
            "voice": {"type": "builtin"},
            "knowledge": demo_knowledge(),
        })
    } else {
        json!({
            "greeting": "Hi! I'm the voxgate demo agent. Ask me about voxgate, or start a call and I'll echo you.",
            "voice": null,
            "knowledge": demo_knowledge(),
        })
    };
    let agent = control.update_agent(&ws, &agent.id, voice).await.map_err(|e| e.to_string())?;
    let port = addr.port();
    let page_origin = format!("http://localhost:{port}");
    let privacy =
        json!({"trust_center": {"enabled": true, "privacy_policy_url": format!("{page_origin}/#privacy")}});
    let widget = match control.widgets(&ws).into_iter().find(|w| w.spec.name == WIDGET_NAME) {
        Some(w) => {
            let patch = json!({"agent_id": agent.id, "allowed_origins": [page_origin], "privacy": privacy});
            control.update_widget(&ws, &w.id, patch).await.map_err(|e| e.to_string())?
        }
        None => control
            .create_widget(
                &ws,
                json!({
                    "name": WIDGET_NAME,
                    "agent_id": agent.id,
                    "environment": "staging",
                    "allowed_origins": [page_origin],
                    "appearance": {"title": "voxgate demo"},
                    "content": {"greeting": "Hi! Ask me about voxgate, or start a voice call.", "launcher_label": "Ask voxgate"},
                    "privacy": privacy
                }),
            )
            .await
            .map_err(|e| e.to_string())?,
    };
    let page_url = format!("{page_origin}/");
    let password = state.dashboard.issue_password(&ws, DEMO_USER).await.map_err(|e| e.to_string())?;
    let _ = writeln!(out, "voxgate demo: open {page_url}");
    let _ = writeln!(
        out,
        "  dashboard: {}/dashboard  (sign in as {DEMO_USER}, password {password})",
        state.settings.public_url
    );
    let _ = writeln!(out, "  workspace {ws}, agent {}, staging widget {}", agent.id, widget.id);
    // Commands that work as printed: this binary's own path and this demo's data dir.
    let binary =
        std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "voxgate".into());
    let data_dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let shell = |p: &str| if p.contains(char::is_whitespace) { format!("'{p}'") } else { p.to_string() };
    let (binary, data_dir) = (shell(&binary), shell(&data_dir.display().to_string()));
    let _ = writeln!(
        out,
        "  an API key for the demo workspace: {binary} keys create --data-dir {data_dir} --workspace demo"
    );
    let _ = writeln!(out, "  keys so far:                       {binary} keys list --data-dir {data_dir}");
    if !talks {
        let _ = writeln!(
            out,
            "  calls echo your voice: start with --speech-python (scripts/demo does) for an agent that talks"
        );
    }
    DEMO.set(Demo { workspace: ws, widget: widget.id.clone(), page_url, talks }).ok();
    Ok(out)
}

/// The demo agent's knowledge: a file of its own, so the builtin agent's relevance set
/// (`bench/relevance.json`) can hold the same passages and a test can keep them equal.
fn demo_knowledge() -> serde_json::Value {
    serde_json::from_str(include_str!("demo-knowledge.json")).unwrap_or_default()
}

/// What the page says of calls when they talk.
const TALKS: &str = "<p data-voice=\"talks\">Start a voice call: the agent greets you out loud and \
answers spoken questions from the same knowledge, with live captions. Speech is recognised and \
spoken on this machine (PocketSphinx and espeak-ng).</p>";

/// What the page says of calls when the recogniser is off.
const ECHOES: &str =
    "<p data-voice=\"echoes\"><strong>Voice calls echo your voice back after a second</strong>: \
this server started without <code>--speech-python</code>, so it cannot listen. Start it with \
<code>./scripts/demo</code>, which sets up the recogniser, for an agent that talks.</p>";

/// The knowledge titles, as the page's list of what the agent knows.
fn knows() -> String {
    let knowledge = demo_knowledge();
    let titles = knowledge.as_array().into_iter().flatten().filter_map(|k| k["title"].as_str());
    titles.map(|t| format!("<li>{}</li>", html_escape::encode_text(t))).collect()
}

static DEMO: std::sync::OnceLock<Demo> = std::sync::OnceLock::new();

/// Demo-only routes: the page and the stand-in backend.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(page)).route("/demo/session", web::post().to(create_session));
}

fn loopback_only(req: &HttpRequest) -> Result<(), ApiError> {
    match req.peer_addr() {
        Some(a) if a.ip().is_loopback() => Ok(()),
        _ => Err(ApiError::new(ErrorCode::NotFound, "the demo backend only answers on localhost")),
    }
}

/// Stands in for a customer's backend: creates a session server-side and returns the
/// browser-safe values, exactly as a real backend route would.
async fn create_session(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    loopback_only(&req)?;
    let demo = DEMO.get().ok_or_else(|| ApiError::new(ErrorCode::Unavailable, "demo not prepared"))?;
    let issued =
        state.control.create_session(&demo.workspace, &demo.widget, json!({"preview": true})).await?;
    Ok(HttpResponse::Created().json(crate::control::sessions::browser_values(&state, &issued)))
}

async fn page(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    loopback_only(&req)?;
    let demo = DEMO.get().ok_or_else(|| ApiError::new(ErrorCode::Unavailable, "demo not prepared"))?;
    let html = include_str!("../../web/demo.html")
        .replace("{{API}}", &state.settings.public_url)
        .replace("{{PAGE}}", &demo.page_url)
        .replace("{{WIDGET}}", demo.widget.as_str())
        .replace("{{KNOWS}}", &knows())
        .replace("{{VOICE}}", if demo.talks { TALKS } else { ECHOES });
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html))
}
