//! `/dashboard/widgets/{id}/distribute`: Distribute → Web widget. The current snippet (one tag
//! with this server's public URL and the widget id), backend samples for the session route that
//! name the workspace key only as an environment variable, the allowed origins, and the checks
//! to make before going live.

use super::auth::SignedIn;
use super::page::{html, DashboardError};
use super::widgets::widget_at;
use super::Chrome;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use voxgate_engine::ids::WidgetId;
use voxgate_engine::session::Environment;

/// The environment variable every sample reads the workspace key from.
pub const KEY_ENV: &str = "VOXGATE_KEY";

#[derive(Template)]
#[template(path = "dashboard/distribute.html")]
struct DistributePage {
    chrome: Chrome,
    id: String,
    name: String,
    environment: &'static str,
    production: bool,
    version: u64,
    snippet: String,
    curl: String,
    node: String,
    python: String,
    origins: Vec<String>,
    warnings: Vec<String>,
    consent_required: bool,
    trust_center: bool,
    public_url: String,
}

impl DistributePage {
    fn chrome_public_url(&self) -> &str {
        &self.public_url
    }

    fn key_env(&self) -> &'static str {
        KEY_ENV
    }
}

/// The one tag a site embeds.
pub fn snippet(public_url: &str, widget: &WidgetId) -> String {
    format!(
        "<script src=\"{public_url}/widget.js\" data-widget=\"{widget}\" data-session-url=\"/api/voxgate-session\" defer></script>"
    )
}

fn curl(public_url: &str, widget: &WidgetId) -> String {
    format!(
        "curl -sS -X POST {public_url}/v1/widgets/{widget}/sessions \\\n  -H \"Authorization: Bearer ${KEY_ENV}\" \\\n  \
         -H \"Content-Type: application/json\" \\\n  -d '{{\"metadata\": {{\"page\": \"/pricing\"}}}}'"
    )
}

fn node(public_url: &str, widget: &WidgetId) -> String {
    format!(
        r#"// POST /api/voxgate-session on your server (Node.js 18+): the key stays on the server.
import {{ createServer }} from "node:http";

createServer(async (req, res) => {{
  if (req.method !== "POST" || req.url !== "/api/voxgate-session") return res.writeHead(404).end();
  // Your own checks go here: a signed-in visitor, your rate limits, what to put in metadata.
  const r = await fetch("{public_url}/v1/widgets/{widget}/sessions", {{
    method: "POST",
    headers: {{ Authorization: `Bearer ${{process.env.{KEY_ENV}}}`, "Content-Type": "application/json" }},
    body: JSON.stringify({{ metadata: {{ page: req.headers.referer ?? null }} }}),
  }});
  res.writeHead(r.status, {{ "Content-Type": "application/json", "Cache-Control": "no-store" }});
  res.end(await r.text());
}}).listen(3000);"#
    )
}

fn python(public_url: &str, widget: &WidgetId) -> String {
    format!(
        r#"# POST /api/voxgate-session on your server (Python 3.8+, standard library): the key stays there.
import json, os, urllib.error, urllib.request

def create_voxgate_session(page=None):
    request = urllib.request.Request(
        "{public_url}/v1/widgets/{widget}/sessions",
        data=json.dumps({{"metadata": {{"page": page}}}}).encode(),
        method="POST",
        headers={{"Authorization": "Bearer " + os.environ["{KEY_ENV}"], "Content-Type": "application/json"}},
    )
    try:
        with urllib.request.urlopen(request) as r:
            return r.status, r.read()  # return both to the browser as they are
    except urllib.error.HTTPError as e:
        return e.code, e.read()"#
    )
}

pub async fn page(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, DashboardError> {
    let w = widget_at(&state, &who, &path)?;
    let url = state.settings.public_url.trim_end_matches('/');
    let page = DistributePage {
        chrome: Chrome::new(&state, &who, "widgets"),
        id: w.id.to_string(),
        name: w.spec.name.clone(),
        environment: w.spec.environment.as_str(),
        production: w.spec.environment == Environment::Production,
        version: w.version,
        snippet: snippet(url, &w.id),
        curl: curl(url, &w.id),
        node: node(url, &w.id),
        python: python(url, &w.id),
        origins: w.spec.allowed_origins.clone(),
        warnings: w.spec.warnings(),
        consent_required: w.spec.privacy.consent_required,
        trust_center: w.spec.privacy.trust_center.enabled,
        public_url: url.to_string(),
    };
    Ok(html(StatusCode::OK, &page))
}
