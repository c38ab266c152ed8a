//! `/dashboard/agents`: list, create and edit agents (knowledge pasted or uploaded as `.txt` and
//! `.md` files), and run their tests. Saves go through the control plane's own validation.

use super::auth::SignedIn;
use super::form::{read_form, FormData, UploadedFile};
use super::page::{form_refusal, html, redirect, DashboardError, FormState};
use super::patch::{field_of, lines, replacing};
use super::Chrome;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use voxgate_actors::agent_tests::TestRun;
use voxgate_engine::agent::{Agent, AgentSpec, Expectation};
use voxgate_engine::ids::AgentId;

/// The fields the agent form edits, as the spec names them.
const FIELDS: &[&str] = &[
    "name",
    "prompt",
    "greeting",
    "backend",
    "backend.type",
    "backend.base_url",
    "backend.model",
    "backend.api_key_env",
    "backend.url",
    "voice",
    "voice.type",
    "voice.builtin_voice",
    "voice.words_per_minute",
    "voice.transcription.base_url",
    "voice.transcription.model",
    "voice.transcription.language",
    "voice.transcription.api_key_env",
    "voice.speech.base_url",
    "voice.speech.model",
    "voice.speech.voice",
    "voice.speech.api_key_env",
    "voice.base_url",
    "voice.model",
    "voice.voice",
    "voice.api_key_env",
    "voice.transcription_model",
    "voice.turn_detection.threshold",
    "voice.turn_detection.prefix_padding_ms",
    "voice.turn_detection.silence_duration_ms",
    "voice.turn_detection.interrupt_min_ms",
    "voice.turn_detection.false_interruption_ms",
    "voice.turn_detection.idle_timeout_ms",
    "voice.turn_detection.type",
    "voice.turn_detection.eagerness",
    "voice.turn_detection.min_silence_ms",
    "voice.turn_detection.max_wait_ms",
    "voice.fallback",
    "voice.idle_prompt",
    "tests",
    "knowledge",
    "knowledge.new.title",
    "knowledge.new.text",
    "knowledge.files",
];

/// Top-level spec keys the form owns (others, such as `echo_delay_ms`, are left as saved).
const OWNED: &[&str] = &["name", "prompt", "greeting", "backend", "voice", "tests", "knowledge"];

/// One row of the agents list.
pub struct AgentRow {
    pub id: String,
    pub name: String,
    pub backend: &'static str,
    pub voice: &'static str,
    pub knowledge: usize,
    pub tests: usize,
    pub version: u64,
}

#[derive(Template)]
#[template(path = "dashboard/agents.html")]
struct AgentsPage {
    chrome: Chrome,
    agents: Vec<AgentRow>,
}

/// A knowledge attachment as the form lists it: its saved title and size, and the names of
/// the fields that edit it.
pub struct AttachmentRow {
    pub index: usize,
    pub title: String,
    pub chars: usize,
    pub title_field: String,
    pub text_field: String,
}

fn attachment_field(index: usize, part: &str) -> String {
    format!("knowledge.{index}.{part}")
}

#[derive(Template)]
#[template(path = "dashboard/agent.html")]
struct AgentPage {
    chrome: Chrome,
    /// None while creating.
    id: Option<String>,
    version: u64,
    form: FormState,
    knowledge: Vec<AttachmentRow>,
    run: Option<TestRun>,
}

fn agent_id(path: &str) -> Result<AgentId, DashboardError> {
    AgentId::parse(path).map_err(|_| DashboardError::not_found("such agent"))
}

fn own_agent(state: &AppState, who: &SignedIn, id: &AgentId) -> Result<Arc<Agent>, DashboardError> {
    state
        .control
        .agent(&who.user.workspace_id, id)
        .map_err(|_| DashboardError::not_found(&format!("agent {id}")))
}

pub async fn list(state: web::Data<AppState>, who: SignedIn) -> HttpResponse {
    let agents = state
        .control
        .agents(&who.user.workspace_id)
        .iter()
        .map(|a| AgentRow {
            id: a.id.to_string(),
            name: a.spec.name.clone(),
            backend: a.spec.backend.kind(),
            voice: a.spec.voice.kind(),
            knowledge: a.spec.knowledge.len(),
            tests: a.spec.tests.len(),
            version: a.version,
        })
        .collect();
    html(StatusCode::OK, &AgentsPage { chrome: Chrome::new(&state, &who, "agents"), agents })
}

/// The form's values for a saved spec.
fn values_of(spec: &AgentSpec) -> FormState {
    let mut form = FormState::default();
    form.set("name", spec.name.clone());
    form.set("prompt", spec.prompt.clone());
    form.set("greeting", spec.greeting.clone().unwrap_or_default());
    let backend = serde_json::to_value(&spec.backend).unwrap_or(Value::Null);
    for key in ["type", "base_url", "model", "api_key_env", "url"] {
        let text = backend.get(key).and_then(Value::as_str).unwrap_or("");
        form.set(&format!("backend.{key}"), text);
    }
    let voice = serde_json::to_value(&spec.voice).unwrap_or(Value::Null);
    form.set("voice", serde_json::to_string_pretty(&voice).unwrap_or_default());
    voice_values(&mut form, &voice);
    let tests: Vec<String> = spec
        .tests
        .iter()
        .map(|t| match &t.expect {
            Expectation::Contains(s) => format!("{} | {s}", t.input),
            Expectation::Regex(r) => format!("{} | /{r}/", t.input),
        })
        .collect();
    form.set("tests", tests.join("\n"));
    for (i, k) in spec.knowledge.iter().enumerate() {
        form.set(&attachment_field(i, "title"), k.title.clone());
        form.set(&attachment_field(i, "text"), k.text.clone());
    }
    form
}

fn attachments(spec: &AgentSpec) -> Vec<AttachmentRow> {
    spec.knowledge
        .iter()
        .enumerate()
        .map(|(index, k)| AttachmentRow {
            index,
            title: k.title.clone(),
            chars: k.text.chars().count(),
            title_field: attachment_field(index, "title"),
            text_field: attachment_field(index, "text"),
        })
        .collect()
}

fn page(
    state: &AppState,
    who: &SignedIn,
    agent: Option<&Agent>,
    form: FormState,
    run: Option<TestRun>,
) -> AgentPage {
    let blank = blank_spec();
    let spec = agent.map_or(&blank, |a| &a.spec);
    AgentPage {
        chrome: Chrome::new(state, who, "agents"),
        id: agent.map(|a| a.id.to_string()),
        version: agent.map_or(0, |a| a.version),
        knowledge: attachments(spec),
        form,
        run,
    }
}

/// What a new agent starts from: the spec's own defaults.
fn blank_spec() -> AgentSpec {
    AgentSpec {
        name: String::new(),
        prompt: String::new(),
        greeting: None,
        knowledge: Vec::new(),
        backend: Default::default(),
        tests: Vec::new(),
        echo_delay_ms: 0,
        voice: Default::default(),
        tools: Vec::new(),
        filler_after_ms: voxgate_engine::agent::DEFAULT_FILLER_AFTER_MS,
        filler: voxgate_engine::agent::DEFAULT_FILLER.into(),
        analysis: None,
    }
}

pub async fn new_form(state: web::Data<AppState>, who: SignedIn) -> HttpResponse {
    let form = values_of(&blank_spec());
    html(StatusCode::OK, &page(&state, &who, None, form, None))
}

pub async fn edit(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<String>,
    query: web::Query<Saved>,
) -> Result<HttpResponse, DashboardError> {
    let agent = own_agent(&state, &who, &agent_id(&path)?)?;
    let mut form = values_of(&agent.spec);
    if query.saved.is_some() {
        form.notice = Some(format!("Saved: version {}.", agent.version));
        form.section = Some("agent".into());
    }
    Ok(html(StatusCode::OK, &page(&state, &who, Some(&agent), form, None)))
}

/// `?saved=1` after a save's redirect.
#[derive(Debug, serde::Deserialize)]
pub struct Saved {
    #[serde(default)]
    pub saved: Option<String>,
}

/// A form problem found before the control plane sees the document.
struct FieldProblem {
    field: &'static str,
    message: String,
}

fn problem(field: &'static str, message: impl Into<String>) -> FieldProblem {
    FieldProblem { field, message: message.into() }
}

/// Parses `input | expected` lines (`/regex/` for a regular expression).
fn tests_of(text: &str) -> Result<Value, FieldProblem> {
    let mut out = Vec::new();
    for (n, line) in lines(text).iter().enumerate() {
        let Some((input, expect)) = line.split_once('|') else {
            return Err(problem(
                "tests",
                format!("line {}: write a test as `question | expected text`", n + 1),
            ));
        };
        let (input, expect) = (input.trim(), expect.trim());
        let expect = match expect.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
            Some(r) if !r.is_empty() => json!({"regex": r}),
            _ => json!({"contains": expect}),
        };
        out.push(json!({"input": input, "expect": expect}));
    }
    Ok(Value::Array(out))
}

/// A knowledge file's text, or why it cannot be one.
fn attachment_of(file: &UploadedFile) -> Result<Value, FieldProblem> {
    let name = file.filename.rsplit(['/', '\\']).next().unwrap_or(&file.filename).to_string();
    let lower = name.to_ascii_lowercase();
    let Some(stem) =
        lower.strip_suffix(".txt").or_else(|| lower.strip_suffix(".md")).map(|s| &name[..s.len()])
    else {
        return Err(problem("knowledge.files", format!("{name:?} is not a .txt or .md file")));
    };
    let text = String::from_utf8(file.bytes.clone())
        .map_err(|_| problem("knowledge.files", format!("{name:?} is not UTF-8 text")))?;
    let text = text.trim_start_matches('\u{feff}').trim().to_string();
    if text.is_empty() {
        return Err(problem("knowledge.files", format!("{name:?} is empty")));
    }
    let title = if stem.trim().is_empty() { name.clone() } else { stem.to_string() };
    Ok(json!({"title": title, "text": text}))
}

/// Text fields of the voice form and the JSON paths (under `voice`) they edit, by voice type.
const VOICE_TEXT: &[(&str, &[&str], &str)] = &[
    ("voice.builtin_voice", &["builtin"], "voice"),
    ("voice.transcription.base_url", &["pipeline"], "transcription.base_url"),
    ("voice.transcription.model", &["pipeline"], "transcription.model"),
    ("voice.transcription.language", &["pipeline"], "transcription.language"),
    ("voice.transcription.api_key_env", &["pipeline"], "transcription.api_key_env"),
    ("voice.speech.base_url", &["pipeline"], "speech.base_url"),
    ("voice.speech.model", &["pipeline"], "speech.model"),
    ("voice.speech.voice", &["pipeline"], "speech.voice"),
    ("voice.speech.api_key_env", &["pipeline"], "speech.api_key_env"),
    ("voice.base_url", &["realtime"], "base_url"),
    ("voice.model", &["realtime"], "model"),
    ("voice.voice", &["realtime"], "voice"),
    ("voice.api_key_env", &["realtime"], "api_key_env"),
    ("voice.transcription_model", &["realtime"], "transcription_model"),
    ("voice.turn_detection.type", TALKING, "turn_detection.type"),
    ("voice.turn_detection.eagerness", TALKING, "turn_detection.eagerness"),
    ("voice.fallback", TALKING, "fallback"),
    ("voice.idle_prompt", TALKING, "idle_prompt"),
];

/// The voice types that talk (every one but echo): they share turn detection and the lines.
const TALKING: &[&str] = &["builtin", "pipeline", "realtime"];

/// Number fields of the voice form: field, the voice types that have it, JSON path, and
/// whether it is a fraction (else whole milliseconds or words).
const VOICE_NUMBERS: &[(&str, &[&str], &str, bool)] = &[
    ("voice.words_per_minute", &["builtin"], "words_per_minute", false),
    ("voice.turn_detection.threshold", TALKING, "turn_detection.threshold", true),
    ("voice.turn_detection.prefix_padding_ms", TALKING, "turn_detection.prefix_padding_ms", false),
    ("voice.turn_detection.silence_duration_ms", TALKING, "turn_detection.silence_duration_ms", false),
    ("voice.turn_detection.interrupt_min_ms", TALKING, "turn_detection.interrupt_min_ms", false),
    (
        "voice.turn_detection.false_interruption_ms",
        &["builtin", "pipeline"],
        "turn_detection.false_interruption_ms",
        false,
    ),
    ("voice.turn_detection.idle_timeout_ms", TALKING, "turn_detection.idle_timeout_ms", false),
    ("voice.turn_detection.min_silence_ms", TALKING, "turn_detection.min_silence_ms", false),
    ("voice.turn_detection.max_wait_ms", TALKING, "turn_detection.max_wait_ms", false),
];

/// The voice form's fields from a saved voice (its JSON).
fn voice_values(form: &mut FormState, voice: &Value) {
    let at = |path: &str| path.split('.').try_fold(voice, |v, k| v.get(k));
    form.set("voice.type", voice.get("type").and_then(Value::as_str).unwrap_or("echo"));
    for (field, _, path) in VOICE_TEXT {
        form.set(field, at(path).and_then(Value::as_str).unwrap_or(""));
    }
    for (field, _, path, _) in VOICE_NUMBERS {
        form.set(field, at(path).filter(|v| v.is_number()).map(Value::to_string).unwrap_or_default());
    }
    let interrupts = at("turn_detection.interrupt_response").and_then(Value::as_bool).unwrap_or(true);
    form.set_checked("voice.turn_detection.interrupt_response", interrupts);
}

/// The agent's voice as the form describes it: from the voice fields for a chosen type, or the
/// JSON as written when the type is `json` (or the form has no type, as an older page posts).
fn voice_of(data: &FormData) -> Result<Value, FieldProblem> {
    let kind = data.get("voice.type").unwrap_or("json");
    if kind == "json" {
        let text = data.get("voice").unwrap_or("").trim();
        if text.is_empty() {
            return Ok(json!({"type": "echo"}));
        }
        return serde_json::from_str::<Value>(text)
            .map_err(|e| problem("voice", format!("is not valid JSON: {e}")));
    }
    if !["echo", "builtin", "pipeline", "realtime"].contains(&kind) {
        return Err(problem(
            "voice.type",
            format!("{kind:?} is not a voice (echo, builtin, pipeline, realtime, or json)"),
        ));
    }
    let mut voice = Map::new();
    voice.insert("type".into(), json!(kind));
    for (field, kinds, path) in VOICE_TEXT {
        let text = data.get(field).map(str::trim).unwrap_or("");
        if kinds.contains(&kind) && !text.is_empty() {
            super::patch::set_path(&mut voice, path, json!(text));
        }
    }
    for (field, kinds, path, fraction) in VOICE_NUMBERS {
        let text = data.get(field).map(str::trim).unwrap_or("");
        if !kinds.contains(&kind) || text.is_empty() {
            continue;
        }
        let number = if *fraction {
            text.parse::<f64>().ok().filter(|n| n.is_finite()).map(|n| json!(n))
        } else {
            text.parse::<u64>().ok().map(|n| json!(n))
        };
        let Some(number) = number else {
            let what = if *fraction { "a number" } else { "a whole number" };
            return Err(problem(field, format!("{text:?} is not {what}")));
        };
        super::patch::set_path(&mut voice, path, number);
    }
    if TALKING.contains(&kind) {
        let interrupts = data.get("voice.turn_detection.interrupt_response").is_some();
        super::patch::set_path(&mut voice, "turn_detection.interrupt_response", json!(interrupts));
    }
    Ok(Value::Object(voice))
}

/// The document the form describes (only the keys it owns).
fn document(data: &FormData, current: &AgentSpec) -> Result<(Map<String, Value>, Vec<String>), FieldProblem> {
    let mut doc = Map::new();
    doc.insert("name".into(), json!(data.get("name").unwrap_or("")));
    doc.insert("prompt".into(), json!(data.get("prompt").unwrap_or("")));
    let greeting = data.get("greeting").map(str::trim).filter(|g| !g.is_empty());
    doc.insert("greeting".into(), greeting.map_or(Value::Null, |g| json!(g)));
    let kind = data.get("backend.type").unwrap_or("builtin");
    let text = |k: &str| data.get(k).map(str::trim).unwrap_or("").to_string();
    let backend = match kind {
        "builtin" => json!({"type": "builtin"}),
        "openai" => {
            let mut b = json!({"type": "openai", "base_url": text("backend.base_url"), "model": text("backend.model")});
            let env = text("backend.api_key_env");
            if !env.is_empty() {
                b["api_key_env"] = json!(env);
            }
            b
        }
        "bridge" => json!({"type": "bridge", "url": text("backend.url")}),
        other => {
            return Err(problem(
                "backend.type",
                format!("{other:?} is not a backend (builtin, openai or bridge)"),
            ))
        }
    };
    doc.insert("backend".into(), backend);
    doc.insert("voice".into(), voice_of(data)?);
    doc.insert("tests".into(), tests_of(data.get("tests").unwrap_or(""))?);

    let removed: Vec<usize> = data.all("knowledge.remove").iter().filter_map(|v| v.parse().ok()).collect();
    // Saved attachments as edited in the form (as saved where the form has no field for one).
    let mut knowledge: Vec<Value> = Vec::new();
    for (i, k) in current.knowledge.iter().enumerate().filter(|(i, _)| !removed.contains(i)) {
        let title = data.get(&attachment_field(i, "title")).map_or(k.title.as_str(), str::trim);
        let body = data.get(&attachment_field(i, "text")).map_or(k.text.as_str(), str::trim);
        if title.is_empty() {
            let message = format!("attachment {} has no title: give it one, or tick remove", i + 1);
            return Err(problem("knowledge", message));
        }
        if body.is_empty() {
            return Err(problem(
                "knowledge",
                format!("attachment {title:?} has no text: write it, or tick remove"),
            ));
        }
        knowledge.push(json!({"title": title, "text": body}));
    }
    let (title, pasted) =
        (text("knowledge.new.title"), data.get("knowledge.new.text").unwrap_or("").trim().to_string());
    match (title.is_empty(), pasted.is_empty()) {
        (true, true) => {}
        (false, false) => knowledge.push(json!({"title": title, "text": pasted})),
        (true, false) => return Err(problem("knowledge.new.title", "give the pasted text a title")),
        (false, true) => {
            return Err(problem("knowledge.new.text", "paste the attachment's text, or clear its title"))
        }
    }
    for file in data.files("knowledge.files") {
        knowledge.push(attachment_of(file)?);
    }
    let titles = knowledge.iter().map(|k| k["title"].as_str().unwrap_or("").to_string()).collect();
    doc.insert("knowledge".into(), Value::Array(knowledge));
    Ok((doc, titles))
}

/// The submitted text fields, to show again after a refusal.
fn resubmitted(data: &FormData) -> FormState {
    let mut form = FormState::default();
    for name in [
        "name",
        "prompt",
        "greeting",
        "backend.type",
        "backend.base_url",
        "backend.model",
        "backend.api_key_env",
        "backend.url",
        "voice",
        "voice.type",
        "tests",
        "knowledge.new.title",
        "knowledge.new.text",
    ] {
        form.set(name, data.get(name).unwrap_or(""));
    }
    for (field, ..) in VOICE_TEXT {
        form.set(field, data.get(field).unwrap_or(""));
    }
    for (field, ..) in VOICE_NUMBERS {
        form.set(field, data.get(field).unwrap_or(""));
    }
    let interrupts = data.get("voice.turn_detection.interrupt_response").is_some();
    form.set_checked("voice.turn_detection.interrupt_response", interrupts);
    if data.get("voice.type").is_none() {
        form.set("voice.type", "json");
    }
    // Edits of saved attachments, so a refused save loses none of them.
    for i in 0.. {
        let (title, text) = (attachment_field(i, "title"), attachment_field(i, "text"));
        let Some(t) = data.get(&title) else { break };
        form.set(&title, t);
        form.set(&text, data.get(&text).unwrap_or(""));
    }
    form
}

/// The form again, with the fault on its field; nothing was saved.
fn refused(
    state: &AppState,
    who: &SignedIn,
    agent: Option<&Agent>,
    data: &FormData,
    field: Option<&str>,
    message: String,
) -> HttpResponse {
    let mut form = resubmitted(data);
    // A missing field is the form field that would have held it, where there is one.
    let missing = message
        .split("missing field `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .zip(field)
        .map(|(name, at)| format!("{at}.{name}"));
    let field = missing.as_deref().filter(|m| FIELDS.contains(m)).or(field);
    let mut target = field.and_then(|f| field_of(f, FIELDS.iter().copied())).unwrap_or("name");
    // Written as JSON, a fault anywhere in the voice is the JSON box's.
    if target.starts_with("voice") && data.get("voice.type").unwrap_or("json") == "json" {
        target = "voice";
    }
    form.refuse("agent", target, message);
    html(StatusCode::BAD_REQUEST, &page(state, who, agent, form, None))
}

/// Names a knowledge attachment by its title in a validation message about `knowledge[i]`.
fn readable(field: Option<&str>, message: String, titles: &[String]) -> String {
    let index = field
        .and_then(|f| f.strip_prefix("knowledge["))
        .and_then(|rest| rest.split(']').next())
        .and_then(|i| i.parse::<usize>().ok());
    match index.and_then(|i| titles.get(i)) {
        Some(title) => format!("attachment {title:?}: {message}"),
        None => message,
    }
}

pub async fn create(
    state: web::Data<AppState>,
    who: SignedIn,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, DashboardError> {
    let data = read_form(&req, body).await?;
    who.check_csrf(&req, data.get("csrf"))?;
    let (doc, titles) = match document(&data, &blank_spec()) {
        Ok(d) => d,
        Err(p) => return Ok(refused(&state, &who, None, &data, Some(p.field), p.message)),
    };
    match state.control.create_agent(&who.user.workspace_id, Value::Object(doc)).await {
        Ok(agent) => Ok(redirect(&format!("/dashboard/agents/{}?saved=1", agent.id))),
        Err(e) => {
            let (field, message) = form_refusal(e, None)?;
            let message = readable(field.as_deref(), message, &titles);
            Ok(refused(&state, &who, None, &data, field.as_deref(), message))
        }
    }
}

pub async fn save(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, DashboardError> {
    let id = agent_id(&path)?;
    let agent = own_agent(&state, &who, &id)?;
    let data = read_form(&req, body).await?;
    who.check_csrf(&req, data.get("csrf"))?;
    let (doc, titles) = match document(&data, &agent.spec) {
        Ok(d) => d,
        Err(p) => return Ok(refused(&state, &who, Some(&agent), &data, Some(p.field), p.message)),
    };
    let current = serde_json::to_value(&agent.spec).unwrap_or(Value::Null);
    let mut patch = Map::new();
    for (key, value) in doc {
        if OWNED.contains(&key.as_str()) {
            patch.insert(key.clone(), replacing(current.get(&key), value));
        }
    }
    match state.control.update_agent(&who.user.workspace_id, &id, Value::Object(patch)).await {
        Ok(saved) => Ok(redirect(&format!("/dashboard/agents/{}?saved=1", saved.id))),
        Err(e) => {
            let (field, message) = form_refusal(e, None)?;
            let message = readable(field.as_deref(), message, &titles);
            Ok(refused(&state, &who, Some(&agent), &data, field.as_deref(), message))
        }
    }
}

/// Runs the agent's tests (test-run usage, never production) and shows each case.
pub async fn run_tests(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, DashboardError> {
    let agent = own_agent(&state, &who, &agent_id(&path)?)?;
    let data = read_form(&req, body).await?;
    who.check_csrf(&req, data.get("csrf"))?;
    let run = voxgate_actors::agent_tests::run(&agent, &state.agents, state.control.ledger())
        .await
        .map_err(|e| DashboardError::new(e.code(), e.to_string()))?;
    let mut form = values_of(&agent.spec);
    form.section = Some("tests".into());
    form.notice = Some(format!("{} passed, {} failed, {} errors.", run.passed, run.failed, run.errors));
    Ok(html(StatusCode::OK, &page(&state, &who, Some(&agent), form, Some(run))))
}

#[derive(Template)]
#[template(path = "dashboard/agent_latency.html")]
struct LatencyPage {
    chrome: Chrome,
    id: String,
    name: String,
    days: u32,
    turns: usize,
    /// Stage, p50 and p95 in ms.
    stages: Vec<(&'static str, u32, u32)>,
}

/// `/dashboard/agents/{id}/latency?days=N`: how long the agent's answers in calls took.
pub async fn latency(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<String>,
    query: web::Query<crate::control::agents::Period>,
) -> Result<HttpResponse, DashboardError> {
    let agent = own_agent(&state, &who, &agent_id(&path)?)?;
    let days = crate::control::agents::period_days(&query).unwrap_or(7);
    let summary = state.control.agent_latency(&who.user.workspace_id, &agent.id, days).await?;
    let page = LatencyPage {
        chrome: Chrome::new(&state, &who, "agents"),
        id: agent.id.to_string(),
        name: agent.spec.name.clone(),
        days,
        turns: summary.turns,
        stages: summary.stages.iter().map(|(k, [p50, p95])| (*k, *p50, *p95)).collect(),
    };
    Ok(html(StatusCode::OK, &page))
}
