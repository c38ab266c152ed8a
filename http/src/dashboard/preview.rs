//! `/dashboard/widgets/{id}/preview`: the widget itself, talking to its agent by text and voice
//! inside the dashboard. Its sessions are `preview: true`, so they count only toward the
//! preview fair-use allowance, never production; when that is spent the page says so.

use super::auth::SignedIn;
use super::page::{html_with_widget, DashboardError};
use super::usage::of_limit;
use super::widgets::{own_widget, widget_at};
use super::Chrome;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde_json::json;
use std::collections::HashMap;
use voxgate_engine::ids::WidgetId;
use voxgate_engine::metering::UsageClass;
use voxgate_engine::ErrorCode;

#[derive(Template)]
#[template(path = "dashboard/preview.html")]
struct PreviewPage {
    chrome: Chrome,
    id: String,
    name: String,
    session_url: String,
    voice: String,
    text: String,
    spent: Option<String>,
}

pub async fn page(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, DashboardError> {
    let w = widget_at(&state, &who, &path)?;
    let periods = state.control.current_periods(&who.user.workspace_id).await?;
    let preview = periods.iter().find(|p| p.class == UsageClass::Preview);
    let (voice, text, spent) = match preview {
        Some(p) => {
            let spent_voice = p.voice_minutes.1.is_some_and(|l| p.voice_minutes.0 >= l);
            let spent_text = p.text_messages.1.is_some_and(|l| p.text_messages.0 >= l);
            let spent = match (spent_voice, spent_text) {
                (false, false) => None,
                (v, t) => Some(format!(
                    "Today's preview fair use is spent ({}). It renews at midnight UTC; production usage and the live widget are not affected.",
                    match (v, t) {
                        (true, true) => "voice minutes and text messages",
                        (true, false) => "voice minutes",
                        _ => "text messages",
                    }
                )),
            };
            (
                of_limit(p.voice_minutes.0, p.voice_minutes.1),
                of_limit(p.text_messages.0, p.text_messages.1),
                spent,
            )
        }
        None => (String::new(), String::new(), None),
    };
    let page = PreviewPage {
        chrome: Chrome::new(&state, &who, "widgets"),
        id: w.id.to_string(),
        name: w.spec.name.clone(),
        session_url: format!("/dashboard/widgets/{}/preview-sessions?csrf={}", w.id, who.csrf),
        voice,
        text,
        spent,
    };
    Ok(html_with_widget(&page))
}

/// The preview's session route (the widget's `data-session-url`): a `preview: true` session,
/// answered as JSON like a customer's backend route would.
pub async fn create_session(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let as_api = |e: DashboardError| {
        let mut a = ApiError::new(e.code, e.message);
        a.field = e.field;
        a
    };
    who.check_csrf(&req, query.get("csrf").map(String::as_str)).map_err(as_api)?;
    let id = WidgetId::parse(&path).map_err(|_| ApiError::new(ErrorCode::NotFound, "no such widget"))?;
    own_widget(&state, &who, &id).map_err(as_api)?;
    let body = json!({"preview": true, "metadata": {"source": "dashboard preview", "user": who.user.email}});
    let issued = state.control.create_session(&who.user.workspace_id, &id, body).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(crate::control::sessions::browser_values(&state, &issued)))
}
