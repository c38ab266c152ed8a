//! `/dashboard/widgets`: list and create widgets, and edit one in the seeds' sections (setup,
//! allowed origins, appearance with a live preview, content, features, actions, privacy). Each
//! section is its own form; a save is a merge patch through the control plane, so it applies
//! at once (the next browser request uses it; sessions on removed origins end).

use super::auth::SignedIn;
use super::form::{read_form, FormData};
use super::page::{form_refusal, html, redirect, DashboardError, FormState};
use super::patch::{field, field_of, field_value, flatten, lines, set_path, Field, Kind};
use super::Chrome;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use voxgate_engine::ids::WidgetId;
use voxgate_engine::tools::ToolKind;
use voxgate_engine::widget::{Widget, WidgetSpec};

/// A section of the widget page: its form's fields.
struct Section {
    name: &'static str,
    fields: &'static [Field],
}

const SECTIONS: &[Section] = &[
    Section {
        name: "setup",
        fields: &[
            field("name", Kind::Text),
            field("agent_id", Kind::OptText),
            field("environment", Kind::Text),
            field("modes", Kind::Lines),
            field("sessions_per_minute", Kind::Text),
        ],
    },
    Section { name: "origins", fields: &[field("allowed_origins", Kind::Lines)] },
    Section {
        name: "appearance",
        fields: &[
            field("appearance.title", Kind::Text),
            field("appearance.primary_color", Kind::Text),
            field("appearance.background_color", Kind::Text),
            field("appearance.text_color", Kind::Text),
            field("appearance.position", Kind::Text),
            field("appearance.avatar_url", Kind::OptText),
        ],
    },
    Section {
        name: "content",
        fields: &[
            field("content.greeting", Kind::OptText),
            field("content.input_placeholder", Kind::Text),
            field("content.launcher_label", Kind::Text),
        ],
    },
    Section {
        name: "features",
        fields: &[field("features.transcript", Kind::Bool), field("features.mute_button", Kind::Bool)],
    },
    Section { name: "actions", fields: &[field("actions", Kind::Lines), field("page_actions", Kind::Lines)] },
    Section {
        name: "privacy",
        fields: &[
            field("privacy.consent_required", Kind::Bool),
            field("privacy.terms_text", Kind::OptText),
            field("privacy.recording", Kind::Text),
            field("privacy.recording_retention_days", Kind::Text),
            field("privacy.trust_center.enabled", Kind::Bool),
            field("privacy.trust_center.privacy_policy_url", Kind::OptText),
            field("privacy.trust_center.subprocessors_url", Kind::OptText),
        ],
    },
];

fn all_fields() -> impl Iterator<Item = &'static str> {
    SECTIONS.iter().flat_map(|s| s.fields.iter().map(|f| f.name))
}

/// An agent the setup section can attach.
pub struct AgentChoice {
    pub id: String,
    pub name: String,
}

pub struct WidgetRow {
    pub id: String,
    pub name: String,
    pub environment: &'static str,
    pub modes: String,
    pub agent: String,
    pub origins: usize,
    pub version: u64,
}

#[derive(Template)]
#[template(path = "dashboard/widgets.html")]
struct WidgetsPage {
    chrome: Chrome,
    widgets: Vec<WidgetRow>,
    agents: Vec<AgentChoice>,
    form: FormState,
}

#[derive(Template)]
#[template(path = "dashboard/widget.html")]
struct WidgetPage {
    chrome: Chrome,
    id: String,
    version: u64,
    warnings: Vec<String>,
    agents: Vec<AgentChoice>,
    form: FormState,
    /// The attached agent's greeting: what the panel shows while the widget has none.
    agent_greeting: String,
    /// The page actions the widget may allow: the attached agent's client tools, and any
    /// name it allows that the agent no longer has.
    page_actions: Vec<PageAction>,
}

/// A client tool of the widget's agent, as the actions section lists it.
pub struct PageAction {
    pub name: String,
    pub description: String,
    /// False for a name the widget allows that is not (or no longer) one of the agent's tools.
    pub known: bool,
}

/// The page actions to list for `spec`: its agent's client tools, then stale allowed names.
fn page_actions(state: &AppState, spec: &WidgetSpec) -> Vec<PageAction> {
    let agent = spec.agent_id.as_ref().and_then(|id| state.control.config().agent(id));
    let mut listed: Vec<PageAction> = agent
        .iter()
        .flat_map(|a| a.spec.tools.iter())
        .filter(|t| t.kind() == ToolKind::Client)
        .map(|t| PageAction {
            name: t.name().to_string(),
            description: t.description().to_string(),
            known: true,
        })
        .collect();
    for name in &spec.page_actions {
        if !listed.iter().any(|p| &p.name == name) {
            listed.push(PageAction { name: name.clone(), description: String::new(), known: false });
        }
    }
    listed
}

fn widget_id(path: &str) -> Result<WidgetId, DashboardError> {
    WidgetId::parse(path).map_err(|_| DashboardError::not_found("such widget"))
}

/// The signed-in user's widget named by a path segment; any other is "not found".
pub(super) fn widget_at(state: &AppState, who: &SignedIn, path: &str) -> Result<Arc<Widget>, DashboardError> {
    own_widget(state, who, &widget_id(path)?)
}

pub(super) fn own_widget(
    state: &AppState,
    who: &SignedIn,
    id: &WidgetId,
) -> Result<Arc<Widget>, DashboardError> {
    state
        .control
        .widget(&who.user.workspace_id, id)
        .map_err(|_| DashboardError::not_found(&format!("widget {id}")))
}

/// The workspace's agents for a menu; agents that share a name are told apart by their ids.
fn agent_choices(state: &AppState, who: &SignedIn) -> Vec<AgentChoice> {
    let agents = state.control.agents(&who.user.workspace_id);
    let shared = |name: &str| agents.iter().filter(|a| a.spec.name == name).count() > 1;
    agents
        .iter()
        .map(|a| AgentChoice {
            id: a.id.to_string(),
            name: if shared(&a.spec.name) {
                format!("{} ({})", a.spec.name, a.id)
            } else {
                a.spec.name.clone()
            },
        })
        .collect()
}

/// The form values of a saved widget.
fn values_of(spec: &WidgetSpec) -> FormState {
    let mut form = FormState::default();
    let doc = serde_json::to_value(spec).unwrap_or(Value::Null);
    let mut leaves = Vec::new();
    flatten("", &doc, &mut leaves);
    for (path, value) in leaves {
        match value {
            Value::Bool(b) => form.set_checked(&path, b),
            Value::String(s) => form.set(&path, s),
            Value::Null => form.set(&path, ""),
            Value::Number(n) => form.set(&path, n.to_string()),
            Value::Array(_) | Value::Object(_) => {}
        }
    }
    form.set("allowed_origins", spec.allowed_origins.join("\n"));
    for m in &spec.modes {
        form.set_checked(&format!("modes.{}", m.as_str()), true);
    }
    let actions: Vec<String> = spec.actions.iter().map(|a| format!("{} | {}", a.label, a.url)).collect();
    form.set("actions", actions.join("\n"));
    for name in &spec.page_actions {
        form.set_checked(&format!("page_actions.{name}"), true);
    }
    form
}

/// Shows what was submitted in `section` over the saved values.
fn overlay(form: &mut FormState, section: &Section, data: &FormData) {
    for f in section.fields {
        match (f.name, f.kind) {
            ("modes", _) => {
                let chosen = data.all("modes");
                for m in ["voice", "text"] {
                    form.set_checked(&format!("modes.{m}"), chosen.contains(&m));
                }
            }
            ("page_actions", _) => {
                for name in data.all("page_actions") {
                    form.set_checked(&format!("page_actions.{name}"), true);
                }
            }
            (name, Kind::Bool) => form.set_checked(name, data.get(name).is_some()),
            (name, _) => form.set(name, data.get(name).unwrap_or("")),
        }
    }
}

/// A count typed in a form field: its default when left empty, else a whole number of `unit`.
fn whole_number(data: &FormData, field: &str, default: u32, unit: &str) -> Result<Value, (String, String)> {
    match data.get(field).map(str::trim) {
        None | Some("") => Ok(json!(default)),
        Some(text) => text
            .parse::<u32>()
            .map(|n| json!(n))
            .map_err(|_| (field.to_string(), format!("{text:?} is not a whole number of {unit}"))),
    }
}

/// The merge patch a section's form stands for.
fn section_patch(section: &Section, data: &FormData) -> Result<Value, (String, String)> {
    let mut doc = Map::new();
    for f in section.fields {
        let value = match f.name {
            "modes" => Value::Array(data.all("modes").into_iter().map(|m| json!(m)).collect()),
            "page_actions" => Value::Array(data.all("page_actions").into_iter().map(|n| json!(n)).collect()),
            "sessions_per_minute" => whole_number(
                data,
                f.name,
                voxgate_engine::widget::DEFAULT_SESSIONS_PER_MINUTE,
                "sessions (0 turns the limit off)",
            )?,
            // A form that leaves it out (or an old page) records nothing.
            "privacy.recording" => match data.get("privacy.recording").map(str::trim) {
                None | Some("") => json!("off"),
                Some(value) => json!(value),
            },
            "privacy.recording_retention_days" => {
                whole_number(data, f.name, voxgate_engine::widget::DEFAULT_RECORDING_RETENTION_DAYS, "days")?
            }
            "actions" => {
                let mut actions = Vec::new();
                for (n, line) in lines(data.get("actions").unwrap_or("")).iter().enumerate() {
                    let Some((label, url)) = line.split_once('|') else {
                        return Err((
                            "actions".into(),
                            format!("line {}: write an action as `Label | https://…`", n + 1),
                        ));
                    };
                    actions.push(json!({"label": label.trim(), "url": url.trim()}));
                }
                Value::Array(actions)
            }
            name => field_value(f.kind, data.get(name)),
        };
        set_path(&mut doc, f.name, value);
    }
    Ok(Value::Object(doc))
}

fn row(w: &Widget, state: &AppState) -> WidgetRow {
    let agent = w
        .spec
        .agent_id
        .as_ref()
        .and_then(|a| state.control.config().agent(a))
        .map_or_else(|| "none".to_string(), |a| a.spec.name.clone());
    WidgetRow {
        id: w.id.to_string(),
        name: w.spec.name.clone(),
        environment: w.spec.environment.as_str(),
        modes: w.spec.modes.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", "),
        agent,
        origins: w.spec.allowed_origins.len(),
        version: w.version,
    }
}

fn list_page(state: &AppState, who: &SignedIn, form: FormState) -> WidgetsPage {
    let widgets = state.control.widgets(&who.user.workspace_id).iter().map(|w| row(w, state)).collect();
    WidgetsPage {
        chrome: Chrome::new(state, who, "widgets"),
        widgets,
        agents: agent_choices(state, who),
        form,
    }
}

pub async fn list(state: web::Data<AppState>, who: SignedIn) -> HttpResponse {
    let mut form = FormState::default();
    form.set("environment", "staging");
    form.set("sessions_per_minute", voxgate_engine::widget::DEFAULT_SESSIONS_PER_MINUTE.to_string());
    form.set_checked("modes.voice", true);
    form.set_checked("modes.text", true);
    html(StatusCode::OK, &list_page(&state, &who, form))
}

/// Creates a widget from the setup section.
pub async fn create(
    state: web::Data<AppState>,
    who: SignedIn,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, DashboardError> {
    let data = read_form(&req, body).await?;
    who.check_csrf(&req, data.get("csrf"))?;
    let setup = &SECTIONS[0];
    let refuse = |field: Option<&str>, message: String| {
        let mut form = FormState::default();
        overlay(&mut form, setup, &data);
        let target = field.and_then(|f| field_of(f, setup.fields.iter().map(|f| f.name))).unwrap_or("name");
        form.refuse("setup", target, message);
        html(StatusCode::BAD_REQUEST, &list_page(&state, &who, form))
    };
    let doc = match section_patch(setup, &data) {
        Ok(d) => d,
        Err((f, m)) => return Ok(refuse(Some(&f), m)),
    };
    match state.control.create_widget(&who.user.workspace_id, doc).await {
        Ok(w) => Ok(redirect(&format!("/dashboard/widgets/{}?saved=setup", w.id))),
        Err(e) => {
            let (field, message) = form_refusal(e, Some("agent_id"))?;
            Ok(refuse(field.as_deref(), message))
        }
    }
}

/// `?saved=SECTION` after a save's redirect.
#[derive(Debug, serde::Deserialize)]
pub struct SavedSection {
    #[serde(default)]
    pub saved: Option<String>,
}

fn widget_page(state: &AppState, who: &SignedIn, w: &Widget, form: FormState) -> WidgetPage {
    WidgetPage {
        chrome: Chrome::new(state, who, "widgets"),
        id: w.id.to_string(),
        version: w.version,
        warnings: w.spec.warnings(),
        agents: agent_choices(state, who),
        form,
        agent_greeting: w
            .spec
            .agent_id
            .as_ref()
            .and_then(|id| state.control.config().agent(id))
            .and_then(|a| a.spec.greeting.clone())
            .unwrap_or_default(),
        page_actions: page_actions(state, &w.spec),
    }
}

/// What a saved section's notice says is live now.
fn saved_notice(section: &str, version: u64) -> String {
    let live = match section {
        "origins" => {
            " It is live: the next browser request is checked against these origins, and live sessions \
             from origins no longer listed have ended."
        }
        _ => " It is live: embedded widgets load it on their next start.",
    };
    format!("Saved as version {version}.{live}")
}

pub async fn edit(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<String>,
    query: web::Query<SavedSection>,
) -> Result<HttpResponse, DashboardError> {
    let w = own_widget(&state, &who, &widget_id(&path)?)?;
    let mut form = values_of(&w.spec);
    if let Some(section) = query.saved.as_deref().filter(|s| SECTIONS.iter().any(|x| x.name == *s)) {
        form.notice = Some(saved_notice(section, w.version));
        form.section = Some(section.to_string());
    }
    Ok(html(StatusCode::OK, &widget_page(&state, &who, &w, form)))
}

/// Saves one section.
pub async fn save(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, DashboardError> {
    let (id, section_name) = path.into_inner();
    let w = own_widget(&state, &who, &widget_id(&id)?)?;
    let section = SECTIONS
        .iter()
        .find(|s| s.name == section_name)
        .ok_or_else(|| DashboardError::not_found(&format!("widget section {section_name:?}")))?;
    let data = read_form(&req, body).await?;
    who.check_csrf(&req, data.get("csrf"))?;
    let refuse = |field: Option<&str>, message: String| {
        let mut form = values_of(&w.spec);
        overlay(&mut form, section, &data);
        let target = field.and_then(|f| field_of(f, all_fields())).unwrap_or(section.fields[0].name);
        form.refuse(section.name, target, message);
        html(StatusCode::BAD_REQUEST, &widget_page(&state, &who, &w, form))
    };
    let patch = match section_patch(section, &data) {
        Ok(p) => p,
        Err((f, m)) => return Ok(refuse(Some(&f), m)),
    };
    match state.control.update_widget(&who.user.workspace_id, &w.id, patch).await {
        Ok(saved) => Ok(redirect(&format!("/dashboard/widgets/{}?saved={}", saved.id, section.name))),
        Err(e) => {
            let (field, message) = form_refusal(e, Some("agent_id"))?;
            Ok(refuse(field.as_deref(), message))
        }
    }
}
