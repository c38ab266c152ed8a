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

/// The repository's Node.js route (`examples/backend-node/server.mjs`, run by the tests) with
/// this server and widget filled in as its defaults.
fn node(public_url: &str, widget: &WidgetId) -> String {
    include_str!("../../../examples/backend-node/server.mjs")
        .replace(
            r#"process.env.VOXGATE_URL ?? "http://127.0.0.1:8080""#,
            &format!(r#"process.env.VOXGATE_URL ?? "{public_url}""#),
        )
        .replace("process.env.VOXGATE_WIDGET;", &format!(r#"process.env.VOXGATE_WIDGET ?? "{widget}";"#))
}

/// The repository's Python route (`examples/backend-python/server.py`), the same shape as the
/// Node one, with this server and widget filled in as its defaults.
fn python(public_url: &str, widget: &WidgetId) -> String {
    include_str!("../../../examples/backend-python/server.py")
        .replace(
            r#"os.environ.get("VOXGATE_URL", "http://127.0.0.1:8080")"#,
            &format!(r#"os.environ.get("VOXGATE_URL", "{public_url}")"#),
        )
        .replace(
            r#"os.environ["VOXGATE_WIDGET"]"#,
            &format!(r#"os.environ.get("VOXGATE_WIDGET", "{widget}")"#),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_samples_are_the_examples_with_this_server_and_widget_filled_in() {
        let widget = WidgetId::parse("wgt_abc").expect("an id");
        let node = node("https://vg.example.com", &widget);
        assert!(node.contains(r#"process.env.VOXGATE_URL ?? "https://vg.example.com""#), "{node}");
        assert!(node.contains(r#"process.env.VOXGATE_WIDGET ?? "wgt_abc";"#), "{node}");
        let python = python("https://vg.example.com", &widget);
        assert!(python.contains(r#"os.environ.get("VOXGATE_URL", "https://vg.example.com")"#), "{python}");
        assert!(python.contains(r#"os.environ.get("VOXGATE_WIDGET", "wgt_abc")"#), "{python}");
    }
}
