//! The tools saved on an agent, and the rules they must keep. A model provider refuses a
//! request whose function schema it dislikes, which would fail every answer of the agent; so
//! whatever a provider refuses is refused here at save, with the field named.

use super::schema;
use crate::agent_voice;
use crate::spec::{self, SpecError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Most tools on one agent.
pub const MAX_TOOLS: usize = 32;
/// The name `end_call` is reserved for the tool that ends a call.
const END_CALL: &str = "end_call";
const DEFAULT_SERVER_TIMEOUT_MS: u32 = 5_000;
const DEFAULT_CLIENT_TIMEOUT_MS: u32 = 10_000;

/// One thing an agent may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ToolSpec {
    /// A POST to the customer's backend, signed the Standard Webhooks way with the `whsec_`
    /// secret in the server's environment variable `secret_env` (never the secret itself).
    Server {
        name: String,
        description: String,
        #[serde(default = "empty_parameters")]
        parameters: Value,
        url: String,
        secret_env: String,
        #[serde(default = "server_timeout")]
        timeout_ms: u32,
    },
    /// A function the visitor's page registered with the widget.
    Client {
        name: String,
        description: String,
        #[serde(default = "empty_parameters")]
        parameters: Value,
        #[serde(default = "client_timeout")]
        timeout_ms: u32,
    },
    /// Lets the agent end the call once its last sentence has played.
    EndCall {
        #[serde(default = "end_call_description")]
        description: String,
    },
}

fn empty_parameters() -> Value {
    json!({"type": "object", "properties": {}})
}
fn server_timeout() -> u32 {
    DEFAULT_SERVER_TIMEOUT_MS
}
fn client_timeout() -> u32 {
    DEFAULT_CLIENT_TIMEOUT_MS
}
fn end_call_description() -> String {
    "End the call when the visitor says goodbye or asks to hang up. Say goodbye first.".to_string()
}

/// What kind of tool it is: a label in metrics and the transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolKind {
    Server,
    Client,
    EndCall,
}

impl ToolKind {
    pub const ALL: [ToolKind; 3] = [ToolKind::Server, ToolKind::Client, ToolKind::EndCall];

    pub fn as_str(self) -> &'static str {
        match self {
            ToolKind::Server => "server",
            ToolKind::Client => "client",
            ToolKind::EndCall => "end_call",
        }
    }
}

impl ToolSpec {
    pub fn name(&self) -> &str {
        match self {
            ToolSpec::Server { name, .. } | ToolSpec::Client { name, .. } => name,
            ToolSpec::EndCall { .. } => END_CALL,
        }
    }

    pub fn kind(&self) -> ToolKind {
        match self {
            ToolSpec::Server { .. } => ToolKind::Server,
            ToolSpec::Client { .. } => ToolKind::Client,
            ToolSpec::EndCall { .. } => ToolKind::EndCall,
        }
    }

    pub fn description(&self) -> &str {
        match self {
            ToolSpec::Server { description, .. }
            | ToolSpec::Client { description, .. }
            | ToolSpec::EndCall { description } => description,
        }
    }

    pub fn parameters(&self) -> Value {
        match self {
            ToolSpec::Server { parameters, .. } | ToolSpec::Client { parameters, .. } => parameters.clone(),
            ToolSpec::EndCall { .. } => empty_parameters(),
        }
    }

    /// How long a call may take before the model is told it timed out.
    pub fn timeout_ms(&self) -> u32 {
        match self {
            ToolSpec::Server { timeout_ms, .. } | ToolSpec::Client { timeout_ms, .. } => *timeout_ms,
            ToolSpec::EndCall { .. } => 0,
        }
    }

    /// The tool as chat completions' `tools` lists it.
    pub fn chat_definition(&self) -> Value {
        json!({"type": "function", "function": {
            "name": self.name(), "description": self.description(), "parameters": self.parameters()}})
    }

    /// The tool as a Realtime session's `tools` lists it.
    pub fn realtime_definition(&self) -> Value {
        json!({"type": "function", "name": self.name(), "description": self.description(),
            "parameters": self.parameters()})
    }
}

/// Checks an agent's `tools`: at most [`MAX_TOOLS`], unique names the providers accept,
/// schemas they accept, and settings in range.
pub fn validate_tools(tools: &[ToolSpec]) -> Result<(), SpecError> {
    spec::count("tools", tools, MAX_TOOLS)?;
    for (i, tool) in tools.iter().enumerate() {
        let field = |name: &str| format!("tools[{i}].{name}");
        if let Some(j) = tools[..i].iter().position(|t| t.name() == tool.name()) {
            return Err(SpecError::new(
                field("name"),
                format!("{:?} is also the name of tools[{j}]; tool names must be unique", tool.name()),
            ));
        }
        spec::text(&field("description"), tool.description(), 1, 1024)?;
        match tool {
            ToolSpec::EndCall { .. } => continue,
            ToolSpec::Server { name, parameters, url, secret_env, timeout_ms, .. } => {
                check_name(&field("name"), name)?;
                schema::check(&field("parameters"), parameters)?;
                spec::url(&field("url"), url, &["https", "http"])?;
                agent_voice::key_env(&field("secret_env"), &Some(secret_env.clone()))?;
                spec::range(&field("timeout_ms"), *timeout_ms, 100, 30_000)?;
            }
            ToolSpec::Client { name, parameters, timeout_ms, .. } => {
                check_name(&field("name"), name)?;
                schema::check(&field("parameters"), parameters)?;
                spec::range(&field("timeout_ms"), *timeout_ms, 100, 30_000)?;
            }
        }
    }
    Ok(())
}

/// A function name as OpenAI and Realtime accept it: 1 to 64 of `a-z A-Z 0-9 _ -`.
fn check_name(field: &str, name: &str) -> Result<(), SpecError> {
    if name == END_CALL {
        return Err(SpecError::new(field, "\"end_call\" is reserved; add {\"type\": \"end_call\"} instead"));
    }
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(SpecError::new(field, format!("{name:?} must be 1 to 64 letters, digits, _ or -")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<Vec<ToolSpec>, SpecError> {
        let tools: Vec<ToolSpec> =
            serde_json::from_value(v).map_err(|e| SpecError::new("", e.to_string()))?;
        validate_tools(&tools).map(|()| tools)
    }

    fn server(name: &str) -> Value {
        json!({"type": "server", "name": name, "description": "Look up an order.",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
            "url": "https://shop.example.com/tools", "secret_env": "SHOP_TOOL_SECRET"})
    }

    #[test]
    fn the_issue_example_is_accepted_with_defaults() {
        let tools = parse(json!([server("check_order"),
            {"type": "client", "name": "show_product", "description": "Show a product.",
             "parameters": {"type": "object", "properties": {"sku": {"type": "string"}}}},
            {"type": "end_call"}]))
        .unwrap();
        assert_eq!(tools[0].timeout_ms(), 5000);
        assert_eq!(tools[1].timeout_ms(), 10_000);
        assert_eq!(tools[2].name(), "end_call");
        assert_eq!(tools[2].kind(), ToolKind::EndCall);
        assert_eq!(tools[0].chat_definition()["function"]["name"], "check_order");
        assert_eq!(tools[1].realtime_definition()["name"], "show_product");
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse(json!([server("check_order"), server("check_order")])).unwrap_err();
        assert_eq!(e.field, "tools[1].name");
        let e = parse(json!([server("check order")])).unwrap_err();
        assert_eq!(e.field, "tools[0].name");
        let e = parse(json!([server("end_call")])).unwrap_err();
        assert!(e.message.contains("reserved"), "{e}");
        let mut s = server("x");
        s["secret_env"] = json!("whsec_abc+/=");
        assert_eq!(parse(json!([s])).unwrap_err().field, "tools[0].secret_env");
        let mut s = server("x");
        s["timeout_ms"] = json!(60_000);
        assert_eq!(parse(json!([s])).unwrap_err().field, "tools[0].timeout_ms");
        let mut s = server("x");
        s["url"] = json!("ftp://x");
        assert_eq!(parse(json!([s])).unwrap_err().field, "tools[0].url");
        let mut s = server("x");
        s["parameters"] = json!({"type": "string"});
        assert_eq!(parse(json!([s])).unwrap_err().field, "tools[0].parameters");
        let many: Vec<Value> = (0..33).map(|i| server(&format!("t{i}"))).collect();
        assert_eq!(parse(Value::Array(many)).unwrap_err().field, "tools");
        assert!(parse(json!([{"type": "server", "name": "x"}])).is_err());
        assert!(parse(json!([{"type": "magic", "name": "x"}])).is_err());
    }
}
