//! Widgets: one embeddable configuration of an agent for a set of web origins.

use crate::ids::{AgentId, WidgetId, WorkspaceId};
use crate::origin::OriginPolicy;
use crate::session::{Environment, Mode, ModeSet};
use crate::spec::{self, SpecError, Validate};
use crate::Timestamp;
use serde::{Deserialize, Serialize};

const WEB: &[&str] = &["https", "http"];

/// Everything a workspace configures on a widget; the body of create, the target of PATCH.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetSpec {
    /// The agent that answers; a widget without one cannot start sessions.
    #[serde(default)]
    pub agent_id: Option<AgentId>,
    pub name: String,
    #[serde(default)]
    pub environment: Environment,
    #[serde(default = "all_modes")]
    pub modes: Vec<Mode>,
    /// Origins that may embed the widget; empty allows every origin (a warning on production).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub appearance: Appearance,
    #[serde(default)]
    pub content: Content,
    #[serde(default)]
    pub features: Features,
    #[serde(default)]
    pub actions: Vec<WidgetAction>,
    /// The page actions (the agent's `client` tools, by name) this widget's site runs; the
    /// agent is offered no other client tool in its sessions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub page_actions: Vec<String>,
    #[serde(default)]
    pub privacy: Privacy,
    /// Sessions this widget may start per minute (0: no limit): a bot hammering a site's session
    /// route spends this widget's allowance, not the workspace's.
    #[serde(default = "default_sessions_per_minute")]
    pub sessions_per_minute: u32,
}

/// Generous: a busy site starts a few sessions a second at most.
pub const DEFAULT_SESSIONS_PER_MINUTE: u32 = 600;

fn default_sessions_per_minute() -> u32 {
    DEFAULT_SESSIONS_PER_MINUTE
}

fn all_modes() -> Vec<Mode> {
    Mode::ALL.to_vec()
}

/// How the widget looks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Appearance {
    pub title: String,
    pub primary_color: String,
    pub background_color: String,
    pub text_color: String,
    pub position: Position,
    pub avatar_url: Option<String>,
}

impl Default for Appearance {
    fn default() -> Self {
        Appearance {
            title: "Chat with us".into(),
            primary_color: "#1f6feb".into(),
            background_color: "#ffffff".into(),
            text_color: "#1f2328".into(),
            position: Position::BottomRight,
            avatar_url: None,
        }
    }
}

/// Which corner the launcher sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Position {
    #[default]
    BottomRight,
    BottomLeft,
}

/// The words the widget shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Content {
    pub greeting: Option<String>,
    pub input_placeholder: String,
    pub launcher_label: String,
}

impl Default for Content {
    fn default() -> Self {
        Content {
            greeting: None,
            input_placeholder: "Type a message".into(),
            launcher_label: "Talk to us".into(),
        }
    }
}

/// Optional behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Features {
    /// Show the running transcript of a voice call.
    pub transcript: bool,
    /// Offer a mute button during calls.
    pub mute_button: bool,
}

impl Default for Features {
    fn default() -> Self {
        Features { transcript: true, mute_button: true }
    }
}

/// A link button the widget offers (for example "Book a demo").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetAction {
    pub label: String,
    pub url: String,
}

/// Consent, terms, recordings and Trust Center settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Privacy {
    /// No session is created before the visitor accepts `terms_text`.
    pub consent_required: bool,
    pub terms_text: Option<String>,
    /// Whether this widget's calls are recorded: only with the visitor's consent to terms that
    /// say so.
    pub recording: Recording,
    /// Days a recording is kept before it is deleted; a save applies to recordings made before.
    pub recording_retention_days: u32,
    pub trust_center: TrustCenter,
}

/// Thirty days: long enough to review a week's calls, short enough to keep little.
pub const DEFAULT_RECORDING_RETENTION_DAYS: u32 = 30;

/// Ten years: longer is keeping forever, which a retention setting is there to prevent.
pub const MAX_RECORDING_RETENTION_DAYS: u32 = 3650;

impl Default for Privacy {
    fn default() -> Self {
        Privacy {
            consent_required: false,
            terms_text: None,
            recording: Recording::Off,
            recording_retention_days: DEFAULT_RECORDING_RETENTION_DAYS,
            trust_center: TrustCenter::default(),
        }
    }
}

/// Whether calls are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Recording {
    #[default]
    Off,
    On,
}

/// Terms that mention recording ("recorded", "recording", "records").
fn terms_mention_recording(terms: &str) -> bool {
    terms.to_lowercase().contains("record")
}

/// Public Trust Center links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TrustCenter {
    pub enabled: bool,
    pub privacy_policy_url: Option<String>,
    pub subprocessors_url: Option<String>,
}

impl Validate for WidgetSpec {
    fn validate(&self) -> Result<(), SpecError> {
        spec::text("name", &self.name, 1, 200)?;
        if self.modes.is_empty() {
            return Err(SpecError::new("modes", "must enable at least one of \"voice\", \"text\""));
        }
        spec::count("allowed_origins", &self.allowed_origins, 100)?;
        OriginPolicy::parse(&self.allowed_origins)
            .map_err(|e| SpecError::new(format!("allowed_origins[{}]", e.index), e.reason))?;
        let a = &self.appearance;
        spec::text("appearance.title", &a.title, 0, 100)?;
        spec::color("appearance.primary_color", &a.primary_color)?;
        spec::color("appearance.background_color", &a.background_color)?;
        spec::color("appearance.text_color", &a.text_color)?;
        spec::opt_url("appearance.avatar_url", &a.avatar_url, WEB)?;
        let c = &self.content;
        spec::opt_text("content.greeting", &c.greeting, 2000)?;
        spec::text("content.input_placeholder", &c.input_placeholder, 0, 200)?;
        spec::text("content.launcher_label", &c.launcher_label, 0, 60)?;
        if self.sessions_per_minute > 1_000_000 {
            return Err(SpecError::new(
                "sessions_per_minute",
                "must be at most 1000000 (0 turns the limit off)",
            ));
        }
        spec::count("actions", &self.actions, 10)?;
        for (i, action) in self.actions.iter().enumerate() {
            spec::text(&format!("actions[{i}].label"), &action.label, 1, 60)?;
            spec::url(&format!("actions[{i}].url"), &action.url, WEB)?;
        }
        spec::count("page_actions", &self.page_actions, crate::tools::MAX_TOOLS)?;
        for (i, name) in self.page_actions.iter().enumerate() {
            let ok = (1..=64).contains(&name.len())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                return Err(SpecError::new(
                    format!("page_actions[{i}]"),
                    format!("{name:?} must be a client tool's name: 1 to 64 letters, digits, _ or -"),
                ));
            }
        }
        let p = &self.privacy;
        spec::opt_text("privacy.terms_text", &p.terms_text, 8000)?;
        if p.consent_required && p.terms_text.as_deref().is_none_or(|t| t.trim().is_empty()) {
            return Err(SpecError::new(
                "privacy.terms_text",
                "must be set when privacy.consent_required is true: it is what the visitor consents to",
            ));
        }
        if p.recording == Recording::On {
            if !p.consent_required {
                return Err(SpecError::new(
                    "privacy.recording",
                    "\"on\" requires privacy.consent_required: true, so no call is recorded without the visitor's consent",
                ));
            }
            if !p.terms_text.as_deref().is_some_and(terms_mention_recording) {
                return Err(SpecError::new(
                    "privacy.terms_text",
                    "must tell the visitor that calls are recorded when privacy.recording is \"on\" (mention \"recorded\" or \"recording\")",
                ));
            }
        }
        if !(1..=MAX_RECORDING_RETENTION_DAYS).contains(&p.recording_retention_days) {
            return Err(SpecError::new(
                "privacy.recording_retention_days",
                format!("must be between 1 and {MAX_RECORDING_RETENTION_DAYS} days"),
            ));
        }
        let tc = &p.trust_center;
        spec::opt_url("privacy.trust_center.privacy_policy_url", &tc.privacy_policy_url, WEB)?;
        spec::opt_url("privacy.trust_center.subprocessors_url", &tc.subprocessors_url, WEB)?;
        if tc.enabled && tc.privacy_policy_url.is_none() {
            return Err(SpecError::new(
                "privacy.trust_center.privacy_policy_url",
                "must be set when the trust center is enabled",
            ));
        }
        Ok(())
    }
}

impl WidgetSpec {
    /// The canonical form: origins normalized, modes de-duplicated.
    pub fn canonicalize(mut self) -> Self {
        if let Ok(policy) = OriginPolicy::parse(&self.allowed_origins) {
            self.allowed_origins = policy.entries();
        }
        self.modes = ModeSet::of(&self.modes).modes();
        self
    }

    pub fn mode_set(&self) -> ModeSet {
        ModeSet::of(&self.modes)
    }

    /// Things that are allowed but probably a mistake.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.environment == Environment::Production && self.allowed_origins.is_empty() {
            out.push(
                "allowed_origins is empty: any website can embed this production widget; list your sites' origins"
                    .to_string(),
            );
        }
        if self.agent_id.is_none() {
            out.push(
                "agent_id is not set: sessions cannot be created until an agent is attached".to_string(),
            );
        }
        out
    }
}

/// A stored widget.
#[derive(Debug, Clone)]
pub struct Widget {
    pub id: WidgetId,
    pub workspace_id: WorkspaceId,
    pub spec: WidgetSpec,
    /// Parsed once per save, used on every browser request.
    pub origins: OriginPolicy,
    /// Bumped on every save.
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
}

impl Widget {
    pub fn new(
        id: WidgetId,
        workspace_id: WorkspaceId,
        spec: WidgetSpec,
        version: u64,
        created_at: Timestamp,
        updated_at: Timestamp,
        deleted_at: Option<Timestamp>,
    ) -> Self {
        // Specs are validated before they are saved, so this fails only for a store changed
        // by other means; then the widget fails closed and allows no origin.
        let origins = OriginPolicy::parse(&spec.allowed_origins)
            .unwrap_or_else(|_| OriginPolicy::refusing_every_origin());
        Widget { id, workspace_id, spec, origins, version, created_at, updated_at, deleted_at }
    }

    /// Whether the stored allowlist did not parse (the widget allows no origin until saved).
    pub fn origins_unreadable(&self) -> bool {
        self.origins.is_unreadable()
    }

    /// The control plane's view of the widget.
    pub fn view(&self) -> WidgetView<'_> {
        WidgetView {
            id: &self.id,
            workspace_id: &self.workspace_id,
            spec: &self.spec,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            warnings: self.spec.warnings(),
        }
    }

    /// What the embedded script may see: no allowlist, agent or secrets.
    /// The greeting a visitor sees first: the widget's own, else its agent's (`agent_greeting`).
    pub fn greeting(&self, agent_greeting: Option<&str>) -> Option<String> {
        let own = self.spec.content.greeting.as_deref().filter(|g| !g.trim().is_empty());
        own.or(agent_greeting.filter(|g| !g.trim().is_empty())).map(str::to_string)
    }

    /// What the embedded script renders. `agent_greeting` is the attached agent's greeting: the
    /// widget shows it when it has none of its own, so a new widget's panel opens with the words
    /// the agent will say, not an empty bubble.
    pub fn public_config(&self, agent_greeting: Option<&str>) -> PublicWidgetConfig<'_> {
        PublicWidgetConfig {
            widget_id: &self.id,
            version: self.version,
            environment: self.spec.environment,
            modes: &self.spec.modes,
            appearance: &self.spec.appearance,
            content: Content { greeting: self.greeting(agent_greeting), ..self.spec.content.clone() },
            features: &self.spec.features,
            actions: &self.spec.actions,
            privacy: &self.spec.privacy,
        }
    }
}

/// JSON shape of a widget on the control plane.
#[derive(Debug, Serialize)]
pub struct WidgetView<'a> {
    pub id: &'a WidgetId,
    /// Names the workspace's Trust Center (`/trust/{workspace_id}`).
    pub workspace_id: &'a WorkspaceId,
    #[serde(flatten)]
    pub spec: &'a WidgetSpec,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub warnings: Vec<String>,
}

/// JSON shape of `GET /v1/widgets/{id}/config`.
#[derive(Debug, Serialize)]
pub struct PublicWidgetConfig<'a> {
    pub widget_id: &'a WidgetId,
    pub version: u64,
    pub environment: Environment,
    pub modes: &'a [Mode],
    pub appearance: &'a Appearance,
    pub content: Content,
    pub features: &'a Features,
    pub actions: &'a [WidgetAction],
    pub privacy: &'a Privacy,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<WidgetSpec, SpecError> {
        spec::parse(v)
    }

    #[test]
    fn minimal_widget_gets_defaults() {
        let w = parse(json!({"name": "Site"})).unwrap();
        assert_eq!(w.modes, vec![Mode::Voice, Mode::Text]);
        assert_eq!(w.environment, Environment::Production);
        assert!(w.warnings().iter().any(|m| m.contains("allowed_origins is empty")));
    }

    #[test]
    fn errors_name_the_field() {
        let e =
            parse(json!({"name": "x", "allowed_origins": ["https://a.test", "example.com"]})).unwrap_err();
        assert_eq!(e.field, "allowed_origins[1]");
        assert!(e.message.contains("no scheme"));
        let e = parse(json!({"name": "x", "colour": "red"})).unwrap_err();
        assert!(e.to_string().contains("unknown field `colour`"), "{e}");
        let e = parse(json!({"name": "x", "privacy": {"consent_required": "yes"}})).unwrap_err();
        assert_eq!(e.field, "privacy.consent_required");
        let e = parse(json!({"name": "x".repeat(201)})).unwrap_err();
        assert_eq!(e.field, "name");
        let e = parse(json!({"name": "x", "appearance": {"primary_color": "blue"}})).unwrap_err();
        assert_eq!(e.field, "appearance.primary_color");
        let e = parse(json!({"name": "x", "privacy": {"consent_required": true}})).unwrap_err();
        assert_eq!(e.field, "privacy.terms_text");
    }

    #[test]
    fn recording_needs_consent_to_terms_that_say_so() {
        let e = parse(json!({"name": "x", "privacy": {"recording": "on"}})).unwrap_err();
        assert_eq!(e.field, "privacy.recording");
        let terms = |t: &str| json!({"name": "x", "privacy": {"recording": "on", "consent_required": true, "terms_text": t}});
        let e = parse(terms("We answer your questions.")).unwrap_err();
        assert_eq!(e.field, "privacy.terms_text");
        assert!(e.message.contains("recorded"), "{}", e.message);
        let ok = parse(terms("Calls are Recorded to improve answers.")).unwrap();
        assert_eq!((ok.privacy.recording, ok.privacy.recording_retention_days), (Recording::On, 30));
        let e = parse(json!({"name": "x", "privacy": {"recording": "yes"}})).unwrap_err();
        assert_eq!(e.field, "privacy.recording");
        let e = parse(json!({"name": "x", "privacy": {"recording_retention_days": 0}})).unwrap_err();
        assert_eq!(e.field, "privacy.recording_retention_days");
        assert_eq!(parse(json!({"name": "x"})).unwrap().privacy.recording, Recording::Off);
        let e = parse(json!({"name": "x", "modes": ["fax"]})).unwrap_err();
        assert!(e.field.starts_with("modes"), "{e:?}");
    }

    #[test]
    fn merge_patch_updates_nested_fields_only() {
        let w = parse(json!({"name": "x", "appearance": {"title": "Hi"}})).unwrap();
        let patched: WidgetSpec = spec::merge(&w, &json!({"appearance": {"primary_color": "#000"}})).unwrap();
        assert_eq!(patched.appearance.title, "Hi");
        assert_eq!(patched.appearance.primary_color, "#000");
        let err = spec::merge(&w, &json!({"allowed_origins": ["nope"]})).unwrap_err();
        assert_eq!(err.field, "allowed_origins[0]");
    }

    /// A widget as loaded from the store, with `spec` as saved.
    fn stored(spec: WidgetSpec) -> Widget {
        let mut rng = crate::test_rng();
        Widget::new(
            WidgetId::generate(&mut rng),
            WorkspaceId::generate(&mut rng),
            spec,
            1,
            Timestamp(0),
            Timestamp(0),
            None,
        )
    }

    #[test]
    fn the_greeting_is_the_widgets_own_else_its_agents() {
        let own = stored(parse(json!({"name": "x", "content": {"greeting": "Hi from the site"}})).unwrap());
        assert_eq!(own.greeting(Some("Hi from the agent")).as_deref(), Some("Hi from the site"));
        let none = stored(parse(json!({"name": "x"})).unwrap());
        assert_eq!(none.greeting(Some("Hi from the agent")).as_deref(), Some("Hi from the agent"));
        assert_eq!(none.greeting(Some("  ")), None);
        let json = serde_json::to_value(none.public_config(Some("Hi from the agent"))).unwrap();
        assert_eq!(json["content"]["greeting"], "Hi from the agent");
    }

    #[test]
    fn public_config_has_no_allowlist_or_agent() {
        let spec =
            parse(json!({"name": "x", "allowed_origins": ["https://a.test"], "agent_id": "ag_abc"})).unwrap();
        let w = stored(spec);
        let json = serde_json::to_string(&w.public_config(None)).unwrap();
        assert!(!json.contains("allowed_origins") && !json.contains("ag_abc"), "{json}");
    }

    #[test]
    fn a_stored_allowlist_that_does_not_parse_allows_no_origin() {
        // Validation keeps this out of the store; a hand-edited store can still hold it.
        let mut spec = parse(json!({"name": "x", "allowed_origins": ["https://a.test"]})).unwrap();
        spec.allowed_origins.push("not an origin".into());
        let w = stored(spec);
        assert!(w.origins_unreadable());
        assert!(!w.origins.allows_every_origin());
        let listed = crate::origin::Origin::parse_header("https://a.test").unwrap();
        assert!(!w.origins.allows(&listed), "fails closed, even for an origin that was listed");
    }
}
