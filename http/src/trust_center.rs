//! `GET /trust/{workspace}`: a workspace's public Trust Center page: its privacy policy and
//! subprocessors links and each public widget's privacy posture (consent, terms). A widget is
//! public here when its `privacy.trust_center.enabled` is set; with none, there is no page.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use std::collections::BTreeSet;
use voxgate_engine::ids::WorkspaceId;
use voxgate_engine::ErrorCode;

/// The Trust Center URL for a workspace, under the server's public URL.
pub fn url(public_url: &str, ws: &WorkspaceId) -> String {
    format!("{public_url}/trust/{ws}")
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "this workspace has no public Trust Center")
}

pub async fn page(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let ws = WorkspaceId::parse(&path).map_err(|_| not_found())?;
    let config = state.control.config();
    let name = config.workspace(&ws).ok_or_else(not_found)?.name;
    let mut widgets: Vec<_> = config
        .widgets_of(&ws)
        .into_iter()
        .filter(|w| w.deleted_at.is_none() && w.spec.privacy.trust_center.enabled)
        .collect();
    if widgets.is_empty() {
        return Err(not_found());
    }
    widgets.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
    let links = |pick: fn(&voxgate_engine::widget::TrustCenter) -> &Option<String>| -> BTreeSet<String> {
        widgets.iter().filter_map(|w| pick(&w.spec.privacy.trust_center).clone()).collect()
    };
    let (policies, subprocessors) = (links(|t| &t.privacy_policy_url), links(|t| &t.subprocessors_url));
    let mut html = String::new();
    html.push_str(&format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Trust Center: {0}</title><style>body{{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;color:#1f2328}}\
         table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #d0d7de;padding:.5rem;text-align:left;vertical-align:top}}</style></head>\
         <body><main><h1>Trust Center: {0}</h1>",
        text(&name)
    ));
    html.push_str("<p>How the assistants on this organisation's websites handle your conversations.</p>");
    for (title, set) in [("Privacy policy", &policies), ("Subprocessors", &subprocessors)] {
        if set.is_empty() {
            continue;
        }
        html.push_str(&format!("<h2>{title}</h2><ul>"));
        for link in set {
            html.push_str(&format!(
                "<li><a href=\"{}\" rel=\"noopener\">{}</a></li>",
                attr(link),
                text(link)
            ));
        }
        html.push_str("</ul>");
    }
    html.push_str("<h2>Assistants</h2><table><thead><tr><th scope=\"col\">Assistant</th><th scope=\"col\">Modes</th><th scope=\"col\">Consent before recording</th><th scope=\"col\">Terms shown</th></tr></thead><tbody>");
    for w in &widgets {
        let p = &w.spec.privacy;
        let modes: Vec<&str> = w.spec.modes.iter().map(|m| m.as_str()).collect();
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(&w.spec.appearance.title),
            modes.join(", "),
            if p.consent_required { "Required" } else { "Not asked" },
            text(p.terms_text.as_deref().unwrap_or("None")),
        ));
    }
    html.push_str("</tbody></table><p>Conversations are recorded: text messages and voice call times, with the website they came from.</p></main></body></html>");
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=60"))
        .insert_header(("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"))
        .body(html))
}
