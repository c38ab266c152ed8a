//! `/dashboard/webhooks`: the workspace's endpoints (create with the new secret shown once,
//! delete), each with its recent deliveries (status, attempts, latency, response code),
//! "Send test event" and "Resend" (the same `webhook-id` again).

use super::auth::SignedIn;
use super::form::read_form;
use super::page::{form_refusal, html, redirect, DashboardError};
use super::Chrome;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde_json::json;
use voxgate_actors::webhooks::{DeliveryRow, EndpointRow};
use voxgate_engine::ids::{DeliveryId, WebhookId};
use voxgate_engine::webhook::WebhookEvent;

/// An endpoint as the list shows it.
pub struct EndpointLine {
    pub id: String,
    pub url: String,
    pub events: String,
    /// `enabled`, or why it was disabled.
    pub state: String,
}

fn line(e: &EndpointRow) -> EndpointLine {
    EndpointLine {
        id: e.id.to_string(),
        url: e.spec.url.clone(),
        events: e.spec.events.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", "),
        state: match &e.disabled_reason {
            Some(why) => format!("disabled: {why}"),
            None => "enabled".into(),
        },
    }
}

#[derive(Template)]
#[template(path = "dashboard/webhooks.html")]
struct ListPage {
    chrome: Chrome,
    endpoints: Vec<EndpointLine>,
    events: Vec<&'static str>,
    error: Option<String>,
    url: String,
}

#[derive(Template)]
#[template(path = "dashboard/webhook.html")]
struct EndpointPage {
    chrome: Chrome,
    endpoint: EndpointLine,
    /// Shown once, right after the endpoint was made.
    secret: Option<String>,
    deliveries: Vec<DeliveryRow>,
    notice: Option<String>,
}

fn webhook_id(path: &str) -> Result<WebhookId, DashboardError> {
    WebhookId::parse(path).map_err(|_| DashboardError::not_found("such webhook"))
}

async fn list_page(
    state: &AppState,
    who: &SignedIn,
    error: Option<String>,
    url: String,
) -> Result<ListPage, DashboardError> {
    let endpoints = state.webhooks.list(&who.user.workspace_id).await?;
    Ok(ListPage {
        chrome: Chrome::new(state, who, "webhooks"),
        endpoints: endpoints.iter().map(line).collect(),
        events: WebhookEvent::ALL.iter().map(|e| e.as_str()).collect(),
        error,
        url,
    })
}

pub async fn list(state: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, DashboardError> {
    Ok(html(StatusCode::OK, &list_page(&state, &who, None, String::new()).await?))
}

pub async fn create(
    state: web::Data<AppState>,
    who: SignedIn,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, DashboardError> {
    let data = read_form(&req, body).await?;
    who.check_csrf(&req, data.get("csrf"))?;
    let url = data.get("url").unwrap_or("").trim().to_string();
    let events: Vec<&str> = data.all("events");
    match state.webhooks.create(&who.user.workspace_id, json!({"url": url, "events": events})).await {
        Ok(created) => {
            let page = EndpointPage {
                chrome: Chrome::new(&state, &who, "webhooks"),
                endpoint: line(&created.endpoint),
                secret: Some(created.secret),
                deliveries: Vec::new(),
                notice: None,
            };
            Ok(html(StatusCode::CREATED, &page))
        }
        Err(e) => {
            let (_, message) = form_refusal(e, None)?;
            Ok(html(StatusCode::BAD_REQUEST, &list_page(&state, &who, Some(message), url).await?))
        }
    }
}

/// `?notice=...` after an action's redirect.
#[derive(Debug, serde::Deserialize)]
pub struct Notice {
    #[serde(default)]
    pub notice: Option<String>,
}

pub async fn get(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<String>,
    query: web::Query<Notice>,
) -> Result<HttpResponse, DashboardError> {
    let (endpoint, deliveries) = state.webhooks.get(&who.user.workspace_id, &webhook_id(&path)?).await?;
    let notice = match query.notice.as_deref() {
        Some("test") => Some("A test event is on its way.".to_string()),
        Some("resent") => Some("The delivery is on its way again, with the same webhook-id.".to_string()),
        _ => None,
    };
    let page = EndpointPage {
        chrome: Chrome::new(&state, &who, "webhooks"),
        endpoint: line(&endpoint),
        secret: None,
        deliveries,
        notice,
    };
    Ok(html(StatusCode::OK, &page))
}

/// `POST /dashboard/webhooks/{id}/{action}`: `test`, `delete`, or `resend` with a `delivery`.
pub async fn act(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, DashboardError> {
    let data = read_form(&req, body).await?;
    who.check_csrf(&req, data.get("csrf"))?;
    let (id, action) = path.into_inner();
    let id = webhook_id(&id)?;
    let ws = &who.user.workspace_id;
    match action.as_str() {
        "test" => {
            state.webhooks.send_test(ws, &id).await?;
            Ok(redirect(&format!("/dashboard/webhooks/{id}?notice=test")))
        }
        "resend" => {
            let delivery = DeliveryId::parse(data.get("delivery").unwrap_or(""))
                .map_err(|_| DashboardError::not_found("such delivery"))?;
            state.webhooks.resend(ws, &id, &delivery).await?;
            Ok(redirect(&format!("/dashboard/webhooks/{id}?notice=resent")))
        }
        "delete" => {
            state.webhooks.delete(ws, &id).await?;
            Ok(redirect("/dashboard/webhooks"))
        }
        _ => Err(DashboardError::not_found("such action")),
    }
}
