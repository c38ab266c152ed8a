//! `/dashboard/conversations`: every session's record, filtered by widget, agent, environment,
//! mode and day, newest first and paged; and one conversation with its transcript, calls,
//! origin, metadata and usage.

use super::auth::SignedIn;
use super::page::{html, DashboardError, FormState};
use super::Chrome;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use std::collections::HashMap;
use voxgate_actors::control::{ConversationRecord, ConversationSummary};
use voxgate_engine::conversation::{ConversationFilter, Cursor};
use voxgate_engine::ids::{AgentId, ConversationId, WidgetId};
use voxgate_engine::session::{Environment, Mode};
use voxgate_engine::Timestamp;

/// Conversations per page.
const PAGE: usize = 25;
const DAY_MS: i64 = 86_400_000;

/// A choice in a filter's select.
pub struct Choice {
    pub id: String,
    pub name: String,
}

/// One row of the list.
pub struct Row {
    pub id: String,
    pub started: String,
    pub widget: String,
    pub agent: String,
    pub environment: &'static str,
    pub modes: String,
    pub preview: bool,
    pub origin: String,
    pub messages: u64,
    pub calls: u64,
    pub snippet: String,
    pub voice_minutes: u64,
    pub status: String,
}

#[derive(Template)]
#[template(path = "dashboard/conversations.html")]
struct ListPage {
    chrome: Chrome,
    widgets: Vec<Choice>,
    agents: Vec<Choice>,
    form: FormState,
    rows: Vec<Row>,
    next: Option<String>,
}

/// A line of a transcript as the page shows it.
pub struct Line {
    pub role: String,
    pub text: String,
    pub when: String,
    pub status: String,
    pub source: Option<String>,
    pub error_code: Option<String>,
    /// A tool line's call: `name(arguments)`, and its result or error.
    pub tool: Option<ToolCallLine>,
    /// An agent's answer in a call: its stages (`waited 812 ms · stt 102 ms · ...`).
    pub latency: Option<String>,
    /// A line said in a recorded call: the call, and seconds into its recording.
    pub seek: Option<(String, String)>,
}

/// An answer's stages in words, the visitor's wait first.
fn stages(l: &voxgate_engine::talk::TurnLatency) -> String {
    [
        ("waited", l.end_of_speech_to_first_audio),
        ("stt", l.stt),
        ("first token", l.first_token),
        ("first audio", l.first_audio),
        ("tools", l.tool),
    ]
    .iter()
    .filter_map(|(name, ms)| ms.map(|ms| format!("{name} {ms} ms")))
    .collect::<Vec<_>>()
    .join(" · ")
}

/// p50 and p95 of what visitors waited for the answers of a conversation, in words.
fn waits(lines: &[voxgate_actors::control::TranscriptMessage]) -> Option<String> {
    let mut waited: Vec<u32> =
        lines.iter().filter_map(|m| m.latency.and_then(|l| l.end_of_speech_to_first_audio)).collect();
    if waited.is_empty() {
        return None;
    }
    waited.sort_unstable();
    let at = |p: usize| waited[((waited.len() - 1) * p).div_ceil(100)];
    Some(format!("p50 {} ms, p95 {} ms over {} answered turns", at(50), at(95), waited.len()))
}

/// A tool call as the transcript shows it.
pub struct ToolCallLine {
    pub kind: &'static str,
    pub call: String,
    pub outcome: String,
    pub failed: bool,
    pub duration_ms: u64,
}

/// A call as the page shows it.
pub struct CallLine {
    pub id: String,
    pub started: String,
    pub connected: String,
    pub duration: String,
    pub end_reason: String,
    pub minutes: i64,
    /// Where the dashboard plays its recording, and what the recording holds.
    pub recording: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "dashboard/conversation.html")]
struct DetailPage {
    chrome: Chrome,
    id: String,
    widget: String,
    agent: String,
    environment: &'static str,
    modes: String,
    preview: bool,
    origin: String,
    started: String,
    ended: String,
    end_reason: String,
    metadata: String,
    variables: String,
    warnings: Vec<String>,
    /// What visitors waited for answers in its calls: p50 and p95.
    turn_waits: Option<String>,
    usage_class: String,
    text_messages: u64,
    voice_minutes: u64,
    lines: Vec<Line>,
    calls: Vec<CallLine>,
    /// Some call was recorded: the page plays it beside the transcript.
    recorded: bool,
}

fn names(state: &AppState, who: &SignedIn) -> (HashMap<String, String>, HashMap<String, String>) {
    let ws = &who.user.workspace_id;
    let widgets = state.control.widgets(ws).iter().map(|w| (w.id.to_string(), w.spec.name.clone())).collect();
    let agents = state.control.agents(ws).iter().map(|a| (a.id.to_string(), a.spec.name.clone())).collect();
    (widgets, agents)
}

fn named(names: &HashMap<String, String>, id: &str) -> String {
    names.get(id).cloned().unwrap_or_else(|| id.to_string())
}

fn time(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    // `2026-11-30T07:39:05.939Z` → `2026-11-30 07:39:05 UTC`
    s.get(..19).map_or(s.clone(), |head| format!("{} UTC", head.replace('T', " ")))
}

/// A `YYYY-MM-DD` day as its first millisecond (UTC).
fn day(text: &str) -> Option<Timestamp> {
    let ok = text.len() == 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-';
    ok.then(|| Timestamp::parse(&format!("{text}T00:00:00Z"))).flatten()
}

fn filter(query: &HashMap<String, String>, form: &mut FormState) -> ConversationFilter {
    let text = |k: &str| query.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut filter = ConversationFilter { limit: PAGE, ..Default::default() };
    for key in ["widget", "agent", "environment", "mode", "from", "to"] {
        form.set(key, text(key).unwrap_or(""));
    }
    if let Some(w) = text("widget") {
        match WidgetId::parse(w) {
            Ok(id) => filter.widget = Some(id),
            Err(_) => form.set_error("widget", format!("{w:?} is not a widget id")),
        }
    }
    if let Some(a) = text("agent") {
        match AgentId::parse(a) {
            Ok(id) => filter.agent = Some(id),
            Err(_) => form.set_error("agent", format!("{a:?} is not an agent id")),
        }
    }
    if let Some(e) = text("environment") {
        match Environment::ALL.into_iter().find(|x| x.as_str() == e) {
            Some(env) => filter.environment = Some(env),
            None => form.set_error("environment", format!("{e:?} is not production or staging")),
        }
    }
    if let Some(m) = text("mode") {
        match Mode::ALL.into_iter().find(|x| x.as_str() == m) {
            Some(mode) => filter.mode = Some(mode),
            None => form.set_error("mode", format!("{m:?} is not voice or text")),
        }
    }
    if let Some(f) = text("from") {
        match day(f) {
            Some(t) => filter.from = Some(t),
            None => form.set_error("from", format!("{f:?} is not a day (YYYY-MM-DD)")),
        }
    }
    if let Some(t) = text("to") {
        match day(t) {
            Some(at) => filter.to = Some(at.plus_millis(DAY_MS)),
            None => form.set_error("to", format!("{t:?} is not a day (YYYY-MM-DD)")),
        }
    }
    if let (Some(f), Some(t)) = (filter.from, filter.to) {
        if t <= f {
            form.set_error("to", "must not be before the first day");
        }
    }
    if let Some(c) = text("cursor") {
        match Cursor::decode(c) {
            Some(cursor) => filter.after = Some(cursor),
            None => form.set_error("cursor", format!("{c:?} is not a page of this list")),
        }
    }
    filter
}

fn row(s: &ConversationSummary, widgets: &HashMap<String, String>, agents: &HashMap<String, String>) -> Row {
    Row {
        id: s.id.to_string(),
        started: time(s.created_at),
        widget: named(widgets, &s.widget_id),
        agent: named(agents, &s.agent_id),
        environment: s.environment,
        modes: if s.modes.is_empty() { "none yet".into() } else { s.modes.join(", ") },
        preview: s.preview,
        origin: s.origin.clone().unwrap_or_else(|| "-".into()),
        messages: s.messages,
        calls: s.calls,
        snippet: s.snippet.clone().unwrap_or_default(),
        voice_minutes: s.usage.voice_minutes,
        status: s.end_reason.map_or_else(|| "live".to_string(), |r| format!("ended: {r}")),
    }
}

fn query_string(form: &FormState, cursor: &str) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for key in ["widget", "agent", "environment", "mode", "from", "to"] {
        if !form.value(key).is_empty() {
            q.append_pair(key, form.value(key));
        }
    }
    q.append_pair("cursor", cursor);
    q.finish()
}

pub async fn list(
    state: web::Data<AppState>,
    who: SignedIn,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, DashboardError> {
    let mut form = FormState::default();
    let filter = filter(&query, &mut form);
    let (widgets, agents) = names(&state, &who);
    let choices = |m: &HashMap<String, String>| {
        let mut v: Vec<Choice> =
            m.iter().map(|(id, name)| Choice { id: id.clone(), name: name.clone() }).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    };
    let mut page = ListPage {
        chrome: Chrome::new(&state, &who, "conversations"),
        widgets: choices(&widgets),
        agents: choices(&agents),
        form,
        rows: Vec::new(),
        next: None,
    };
    if page.form.has_errors() {
        page.form.notice = Some("Fix the filter to list conversations.".into());
        return Ok(html(StatusCode::BAD_REQUEST, &page));
    }
    let (found, next) = state.control.conversations(&who.user.workspace_id, filter).await?;
    page.rows = found.iter().map(|s| row(s, &widgets, &agents)).collect();
    page.next = next.map(|c| query_string(&page.form, &c.encode()));
    Ok(html(StatusCode::OK, &page))
}

fn detail(state: &AppState, who: &SignedIn, r: ConversationRecord) -> DetailPage {
    let (widgets, agents) = names(state, who);
    let s = &r.summary;
    let recorded: Vec<&str> =
        r.calls.iter().filter(|c| c.recording.is_some()).map(|c| c.call_id.as_str()).collect();
    let lines = r
        .transcript
        .iter()
        .map(|m| Line {
            role: m.role.as_str().to_string(),
            text: m.text.clone(),
            when: match m.offset_ms {
                Some(ms) => format!("{:.1} s into the call", ms as f64 / 1000.0),
                None => time(m.created_at),
            },
            status: m.status.as_str().to_string(),
            source: m.source.clone(),
            error_code: m.error_code.clone(),
            tool: m.tool.as_ref().map(|t| ToolCallLine {
                kind: t.kind.as_str(),
                call: format!("{}({})", t.name, t.arguments_text()),
                outcome: match (&t.result, &t.error) {
                    (_, Some(e)) => e.clone(),
                    (Some(v), None) => v.to_string(),
                    (None, None) => "null".into(),
                },
                failed: t.error.is_some(),
                duration_ms: t.duration_ms,
            }),
            latency: m.latency.as_ref().map(stages),
            seek: match (&m.call_id, m.offset_ms) {
                (Some(call), Some(ms)) if recorded.contains(&call.as_str()) => {
                    Some((call.clone(), format!("{:.2}", ms.max(0) as f64 / 1000.0)))
                }
                _ => None,
            },
        })
        .collect();
    let calls = r
        .calls
        .iter()
        .map(|c| CallLine {
            id: c.call_id.clone(),
            started: time(c.created_at),
            connected: c.connected_at.map_or_else(|| "never".into(), time),
            duration: match (c.connected_at, c.ended_at) {
                (Some(a), Some(b)) => format!("{:.1} s", a.millis_until(b).max(0) as f64 / 1000.0),
                (Some(_), None) => "live".into(),
                _ => "-".into(),
            },
            end_reason: c.end_reason.clone().unwrap_or_else(|| "-".into()),
            minutes: c.minutes,
            recording: c.recording.as_ref().map(|rec| {
                let src = format!("/dashboard/conversations/{}/calls/{}/recording", s.id, c.call_id);
                let what = format!(
                    "{:.1} s, {} KB{}",
                    rec.duration_ms as f64 / 1000.0,
                    (rec.bytes.max(0) + 1023) / 1024,
                    if rec.status == "complete" { String::new() } else { format!(", {}", rec.status) }
                );
                (src, what)
            }),
        })
        .collect();
    DetailPage {
        chrome: Chrome::new(state, who, "conversations"),
        id: s.id.to_string(),
        widget: named(&widgets, &s.widget_id),
        agent: named(&agents, &s.agent_id),
        environment: s.environment,
        modes: if s.modes.is_empty() { "none yet".into() } else { s.modes.join(", ") },
        preview: s.preview,
        origin: s.origin.clone().unwrap_or_else(|| "-".into()),
        started: time(s.created_at),
        ended: s.ended_at.map_or_else(|| "live".into(), time),
        end_reason: s.end_reason.unwrap_or("-").to_string(),
        metadata: serde_json::to_string_pretty(&r.metadata).unwrap_or_default(),
        variables: serde_json::to_string_pretty(&r.variables).unwrap_or_default(),
        turn_waits: waits(&r.transcript),
        warnings: r.warnings.clone(),
        usage_class: s.usage.class.clone(),
        text_messages: s.usage.text_messages,
        voice_minutes: s.usage.voice_minutes,
        recorded: !recorded.is_empty(),
        lines,
        calls,
    }
}

pub async fn get(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, DashboardError> {
    let id = ConversationId::parse(&path).map_err(|_| DashboardError::not_found("such conversation"))?;
    let record = state
        .control
        .conversation(&who.user.workspace_id, &id)
        .await
        .map_err(|_| DashboardError::not_found(&format!("conversation {id}")))?;
    Ok(html(StatusCode::OK, &detail(&state, &who, record)))
}

/// A recorded call's audio for the conversation page's player (ranges, so it can seek).
pub async fn recording(
    state: web::Data<AppState>,
    who: SignedIn,
    req: actix_web::HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, crate::error::ApiError> {
    let (conversation, call) = path.into_inner();
    let conversation = ConversationId::parse(&conversation).map_err(crate::error::bad_id)?;
    let call = voxgate_engine::ids::CallId::parse(&call).map_err(crate::error::bad_id)?;
    crate::control::recordings::serve(&state, &req, &who.user.workspace_id, &conversation, &call).await
}
