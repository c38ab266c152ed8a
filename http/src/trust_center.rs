//! `GET /trust/{workspace}`: a workspace's public Trust Center page: its privacy policy and
//! subprocessors links and each public widget's privacy posture (consent, terms). A widget is
//! public here when its `privacy.trust_center.enabled` is set; with none, there is no page. It is
//! read by people, so its errors are pages too.

use crate::state::AppState;
use actix_web::{web, HttpResponse};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use std::collections::BTreeSet;
use voxgate_engine::ids::WorkspaceId;

/// The Trust Center URL for a workspace, under the server's public URL.
pub fn url(public_url: &str, ws: &WorkspaceId) -> String {
    format!("{public_url}/trust/{ws}")
}

const HEAD: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
const STYLE: &str = "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;color:#1f2328}\
     table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #d0d7de;padding:.5rem;text-align:left;vertical-align:top}</style>";

fn html(status: actix_web::http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=60"))
        .insert_header(("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"))
        .body(body)
}

/// No such Trust Center: a page that says so, for the person who followed the link.
fn not_found() -> HttpResponse {
    html(
        actix_web::http::StatusCode::NOT_FOUND,
        format!(
            "{HEAD}<title>No Trust Center here</title>{STYLE}</head><body><main><h1>No Trust Center here</h1>\
             <p>This organisation has not published a Trust Center at this address. The assistant on the \
             website you came from may link to its privacy policy instead.</p></main></body></html>"
        ),
    )
}

pub async fn page(state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    let Ok(ws) = WorkspaceId::parse(&path) else {
        return not_found();
    };
    let config = state.control.config();
    let Some(name) = config.workspace(&ws).map(|w| w.name) else {
        return not_found();
    };
    let mut widgets: Vec<_> = config
        .widgets_of(&ws)
        .into_iter()
        .filter(|w| w.deleted_at.is_none() && w.spec.privacy.trust_center.enabled)
        .collect();
    if widgets.is_empty() {
        return not_found();
    }
    widgets.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
    let links = |pick: fn(&voxgate_engine::widget::TrustCenter) -> &Option<String>| -> BTreeSet<String> {
        widgets.iter().filter_map(|w| pick(&w.spec.privacy.trust_center).clone()).collect()
    };
    let (policies, subprocessors) = (links(|t| &t.privacy_policy_url), links(|t| &t.subprocessors_url));
    let mut html = String::new();
    html.push_str(&format!(
        "{HEAD}<title>Trust Center: {0}</title>{STYLE}</head><body><main><h1>Trust Center: {0}</h1>",
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
    self::html(actix_web::http::StatusCode::OK, html)
}
