//! Agents: what answers the visitor, and whether it can run.

use crate::agent_voice::{self, VoiceSpec};
use crate::analysis::AnalysisSpec;
use crate::ids::{AgentId, WorkspaceId};
use crate::spec::{self, SpecError, Validate};
use crate::tools::{self, ToolSpec};
use crate::Timestamp;
use serde::{Deserialize, Serialize};

/// Everything a workspace configures on an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    pub name: String,
    /// System instructions.
    #[serde(default)]
    pub prompt: String,
    /// The first thing the agent says.
    #[serde(default)]
    pub greeting: Option<String>,
    /// Reference texts the agent answers from.
    #[serde(default)]
    pub knowledge: Vec<KnowledgeAttachment>,
    #[serde(default)]
    pub backend: AgentBackend,
    /// Expected answers, run by `POST /v1/agents/{id}/test-runs`.
    #[serde(default)]
    pub tests: Vec<AgentTest>,
    /// Delay before the builtin voice echo plays audio back (0 for measurements).
    #[serde(default)]
    pub echo_delay_ms: u32,
    /// What answers a call: an echo (the default), a speech pipeline or a realtime relay.
    #[serde(default, skip_serializing_if = "VoiceSpec::is_echo")]
    pub voice: VoiceSpec,
    /// What the agent may do besides talking (agents with a model only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    /// In a call, a tool that has not answered after this long gets the `filler` line said,
    /// once per answer (0: never).
    #[serde(default = "default_filler_after_ms", skip_serializing_if = "is_default_filler_after_ms")]
    pub filler_after_ms: u32,
    #[serde(default = "default_filler", skip_serializing_if = "is_default_filler")]
    pub filler: String,
    /// What to extract from each conversation once it ends (agents with a model only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisSpec>,
}

/// The defaults of `filler_after_ms` and `filler`.
pub const DEFAULT_FILLER_AFTER_MS: u32 = 700;
pub const DEFAULT_FILLER: &str = "One moment, I'm checking that.";

fn default_filler_after_ms() -> u32 {
    DEFAULT_FILLER_AFTER_MS
}
fn is_default_filler_after_ms(ms: &u32) -> bool {
    *ms == DEFAULT_FILLER_AFTER_MS
}
fn default_filler() -> String {
    DEFAULT_FILLER.to_string()
}
fn is_default_filler(line: &String) -> bool {
    line == DEFAULT_FILLER
}

/// A titled reference text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeAttachment {
    pub title: String,
    pub text: String,
}

/// Where the agent's answers come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AgentBackend {
    /// Built in: answers from greeting, prompt and knowledge; voice echoes.
    #[default]
    Builtin,
    /// Any OpenAI-compatible `/v1/chat/completions` endpoint. The key is read from the server's
    /// environment variable `api_key_env`; the key itself is never stored.
    Openai {
        base_url: String,
        model: String,
        #[serde(default)]
        api_key_env: Option<String>,
    },
    /// An external agent service over WebSocket.
    Bridge { url: String },
}

impl AgentBackend {
    pub fn kind(&self) -> &'static str {
        match self {
            AgentBackend::Builtin => "builtin",
            AgentBackend::Openai { .. } => "openai",
            AgentBackend::Bridge { .. } => "bridge",
        }
    }
}

/// One expected behaviour of the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentTest {
    pub input: String,
    pub expect: Expectation,
}

/// What a test's answer must satisfy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Expectation {
    /// The answer contains this text, ignoring case.
    Contains(String),
    /// The answer matches this regular expression somewhere.
    Regex(String),
}

/// Deepest nesting (groups, classes, repetitions) an expectation's regex may have. The regex
/// parser recurses once per level, and a site owner's pattern must not run a thread out of
/// stack: fuzz/spec_patch found a 600-character run of `+` and `*` that did, in a debug build.
const REGEX_NEST_LIMIT: u32 = 64;

/// Most memory a compiled expectation may take.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles an expectation's pattern within those limits.
fn expectation_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern).nest_limit(REGEX_NEST_LIMIT).size_limit(REGEX_SIZE_LIMIT).build()
}

impl Expectation {
    /// Whether `answer` satisfies it. A regex that does not compile (validation refuses those)
    /// satisfies nothing.
    pub fn holds(&self, answer: &str) -> bool {
        match self {
            Expectation::Contains(text) => answer.to_lowercase().contains(&text.to_lowercase()),
            Expectation::Regex(pattern) => expectation_regex(pattern).is_ok_and(|r| r.is_match(answer)),
        }
    }
}

impl Validate for AgentSpec {
    fn validate(&self) -> Result<(), SpecError> {
        spec::text("name", &self.name, 1, 200)?;
        spec::text("prompt", &self.prompt, 0, 32_000)?;
        spec::opt_text("greeting", &self.greeting, 2000)?;
        spec::count("knowledge", &self.knowledge, 200)?;
        for (i, k) in self.knowledge.iter().enumerate() {
            spec::text(&format!("knowledge[{i}].title"), &k.title, 1, 200)?;
            spec::text(&format!("knowledge[{i}].text"), &k.text, 1, 200_000)?;
        }
        match &self.backend {
            AgentBackend::Builtin => {}
            AgentBackend::Openai { base_url, model, api_key_env } => {
                spec::url("backend.base_url", base_url, &["https", "http"])?;
                spec::text("backend.model", model, 1, 200)?;
                agent_voice::key_env("backend.api_key_env", api_key_env)?;
            }
            AgentBackend::Bridge { url } => spec::url("backend.url", url, &["wss", "ws"])?,
        }
        spec::count("tests", &self.tests, 100)?;
        for (i, t) in self.tests.iter().enumerate() {
            spec::text(&format!("tests[{i}].input"), &t.input, 1, 4000)?;
            match &t.expect {
                Expectation::Contains(s) => spec::text(&format!("tests[{i}].expect.contains"), s, 1, 4000)?,
                Expectation::Regex(r) => {
                    spec::text(&format!("tests[{i}].expect.regex"), r, 1, 1000)?;
                    expectation_regex(r).map_err(|e| {
                        SpecError::new(
                            format!("tests[{i}].expect.regex"),
                            format!("is not a valid regex: {e}"),
                        )
                    })?;
                }
            }
        }
        if self.echo_delay_ms > 10_000 {
            return Err(SpecError::new("echo_delay_ms", "must be at most 10000"));
        }
        self.voice.validate()?;
        tools::validate_tools(&self.tools)?;
        spec::range("filler_after_ms", self.filler_after_ms, 0, 10_000)?;
        spec::text("filler", &self.filler, 1, 300)?;
        if let Some(analysis) = &self.analysis {
            analysis.validate()?;
            if !matches!(self.backend, AgentBackend::Openai { .. }) {
                return Err(SpecError::new(
                    "analysis",
                    format!(
                        "the {} backend has no model to analyse conversations; give the agent an openai backend first",
                        self.backend.kind()
                    ),
                ));
            }
        }
        let has_model = matches!(self.backend, AgentBackend::Openai { .. })
            || matches!(self.voice, VoiceSpec::Realtime { .. });
        if !self.tools.is_empty() && !has_model {
            return Err(SpecError::new(
                "tools",
                format!(
                    "the {} backend has no model to call tools; give the agent an openai backend first",
                    self.backend.kind()
                ),
            ));
        }
        if matches!(self.backend, AgentBackend::Bridge { .. }) && !self.voice.is_echo() {
            return Err(SpecError::new(
                "voice.type",
                "a bridge agent receives the call's audio itself; its voice must be echo (the default)",
            ));
        }
        Ok(())
    }
}

/// Whether an agent can serve sessions right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Why not, in words for the customer's developer.
    NotConfigured(String),
}

impl AgentSpec {
    /// The texts a session's variables fill, with their fields: the prompt, the greeting and
    /// the voice's fallback and idle lines.
    pub fn templates(&self) -> Vec<(&'static str, &str)> {
        let mut texts = vec![("prompt", self.prompt.as_str())];
        if let Some(g) = &self.greeting {
            texts.push(("greeting", g));
        }
        if let Some((fallback, idle)) = self.voice.lines() {
            texts.push(("voice.fallback", fallback));
            texts.push(("voice.idle_prompt", idle));
        }
        texts
    }

    /// The spec with `variables` filled into its prompt, greeting and voice lines (an unknown
    /// name left empty): what one session's call runs with.
    pub fn with_variables(&self, variables: &crate::variables::Variables) -> AgentSpec {
        let mut spec = self.clone();
        spec.prompt = variables.fill(&spec.prompt).text;
        spec.greeting = spec.greeting.map(|g| variables.fill(&g).text);
        spec.voice.fill_lines(|line| variables.fill(line).text);
        spec
    }

    /// Whether any of its texts has a `{{name}}` to fill.
    pub fn uses_variables(&self) -> bool {
        self.templates().iter().any(|(_, t)| t.contains("{{"))
    }

    /// What a session with `variables` lacks: a warning for each variable the agent's texts use
    /// that the session does not set (each is left empty).
    pub fn variable_warnings(&self, variables: &crate::variables::Variables) -> Vec<String> {
        let mut warnings = Vec::new();
        for (field, text) in self.templates() {
            for name in variables.fill(text).unknown {
                warnings.push(format!(
                    "the agent's {field} uses {{{{{name}}}}}, which the session does not set; it was left empty"
                ));
            }
        }
        warnings
    }

    /// What the builtin recogniser listens for: the agent's own words (knowledge titles and
    /// texts, greeting, test inputs) and the frames visitors put questions in. Recognition
    /// constrained to these gets a site's questions right where a general English model does
    /// not (docs/DECISIONS.md).
    pub fn listening_corpus(&self) -> String {
        const QUESTION_FRAMES: &[&str] = &[
            "what is the",
            "what are the",
            "how much does it cost",
            "how much is",
            "how do i",
            "how does it work",
            "how long does it take",
            "can i",
            "do you",
            "is there",
            "tell me about",
            "where is",
            "when does",
            "why does",
            "who is",
            "which",
            "hello",
            "thank you",
            "yes",
            "no",
            // Backchannels, heard while the agent speaks (`talk::interruption`).
            "uh-huh",
            "mm-hmm",
            "yeah",
            "okay",
            "right",
        ];
        let mut corpus = String::new();
        for k in &self.knowledge {
            corpus.push_str(&k.title);
            corpus.push_str(".\n");
            corpus.push_str(&k.text);
            corpus.push('\n');
        }
        for line in self.greeting.iter().chain(self.tests.iter().map(|t| &t.input)) {
            corpus.push_str(line);
            corpus.push('\n');
        }
        for frame in QUESTION_FRAMES {
            corpus.push_str(frame);
            corpus.push_str(".\n");
        }
        corpus
    }

    /// `env` looks up the server's environment (passed in to keep the engine pure).
    pub fn readiness(&self, env: impl Fn(&str) -> Option<String>) -> Readiness {
        let missing = |name: &str| env(name).is_none_or(|v| v.is_empty());
        if let AgentBackend::Openai { api_key_env: Some(name), .. } = &self.backend {
            if missing(name) {
                return Readiness::NotConfigured(format!(
                    "the agent's openai backend reads its API key from the environment variable {name}, which is not set on the server"
                ));
            }
        }
        if let Some(name) = self.voice.key_envs().into_iter().find(|name| missing(name)) {
            return Readiness::NotConfigured(format!(
                "the agent's {} voice reads its API key from the environment variable {name}, which is not set on the server",
                self.voice.kind()
            ));
        }
        Readiness::Ready
    }
}

/// A stored agent.
#[derive(Debug, Clone)]
pub struct Agent {
    pub id: AgentId,
    pub workspace_id: WorkspaceId,
    pub spec: AgentSpec,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
}

impl Agent {
    pub fn view(&self) -> AgentView<'_> {
        AgentView {
            id: &self.id,
            spec: &self.spec,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// JSON shape of an agent on the control plane.
#[derive(Debug, Serialize)]
pub struct AgentView<'a> {
    pub id: &'a AgentId,
    #[serde(flatten)]
    pub spec: &'a AgentSpec,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {

    #[test]
    fn expectations_check_answers() {
        let contains = Expectation::Contains("Nine Euros".into());
        assert!(contains.holds("Express shipping costs nine euros."));
        assert!(!contains.holds("It is free."));
        let regex = Expectation::Regex(r"\b\d+ euros\b".into());
        assert!(regex.holds("It costs 9 euros."));
        assert!(!regex.holds("It costs nine euros."));
        assert!(!Expectation::Regex("(".into()).holds("("));
    }

    #[test]
    fn a_regex_nested_too_deep_is_refused_with_its_field() {
        let deep = format!("a{}", "+*".repeat(300));
        let spec = json!({"name": "a", "tests": [{"input": "q", "expect": {"regex": deep}}]});
        let e = spec::parse::<AgentSpec>(spec).unwrap_err();
        assert_eq!(e.field, "tests[0].expect.regex");
        assert!(!Expectation::Regex(deep).holds("aaa"));
        let fine = json!({"name": "a", "tests": [{"input": "q", "expect": {"regex": "(a(b(c)+)*)?"}}]});
        assert!(spec::parse::<AgentSpec>(fine).is_ok());
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn backends_parse_and_validate() {
        let a: AgentSpec = spec::parse(json!({"name": "a"})).unwrap();
        assert_eq!(a.backend, AgentBackend::Builtin);
        let a: AgentSpec = spec::parse(json!({"name": "a", "backend": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key_env": "OPENAI_KEY"}})).unwrap();
        assert_eq!(a.backend.kind(), "openai");
        assert!(matches!(a.readiness(|_| None), Readiness::NotConfigured(m) if m.contains("OPENAI_KEY")));
        assert_eq!(a.readiness(|_| Some("k".into())), Readiness::Ready);
        let e =
            spec::parse::<AgentSpec>(json!({"name": "a", "backend": {"type": "bridge", "url": "http://x"}}))
                .unwrap_err();
        assert_eq!(e.field, "backend.url");
        let e = spec::parse::<AgentSpec>(json!({"name": "a", "backend": {"type": "openai", "base_url": "http://x", "model": "m", "api_key_env": "sk-live-123"}})).unwrap_err();
        assert_eq!(e.field, "backend.api_key_env");
        let e = spec::parse::<AgentSpec>(
            json!({"name": "a", "tests": [{"input": "hi", "expect": {"regex": "("}}]}),
        )
        .unwrap_err();
        assert_eq!(e.field, "tests[0].expect.regex");
    }
}
