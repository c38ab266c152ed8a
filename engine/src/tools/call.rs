//! One tool call as the model asked for it, how it ended, and the transcript line that keeps
//! both. What goes back to the model is always text: the tool's JSON, or `{"error": ...}`, so
//! a broken tool becomes something the model can apologise for instead of a failed answer.

use super::ToolKind;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Largest tool result passed to the model (a server's body, a page's answer), in bytes.
pub const RESULT_LIMIT: usize = 64 * 1024;

/// A call the model asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The provider's id for the call, echoed with its result.
    pub call_id: String,
    pub name: String,
    /// The arguments as the model wrote them (JSON text, perhaps malformed).
    pub arguments: String,
}

impl ToolCall {
    /// The arguments as a JSON object, or why they are not one (told to the model).
    pub fn parsed_arguments(&self) -> Result<Value, String> {
        let text = if self.arguments.trim().is_empty() { "{}" } else { self.arguments.as_str() };
        match serde_json::from_str::<Value>(text) {
            Ok(v) if v.is_object() => Ok(v),
            Ok(_) => Err("the arguments must be a JSON object".into()),
            Err(e) => Err(format!("the arguments are not valid JSON ({e})")),
        }
    }
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolOutcome {
    /// The tool's answer.
    Done(Value),
    /// Why there is no answer, in words for the model and the site owner.
    Failed(String),
}

impl ToolOutcome {
    /// The label in `voxgate_agent_tool_calls_total{outcome}`.
    pub fn label(&self) -> &'static str {
        match self {
            ToolOutcome::Done(_) => "ok",
            ToolOutcome::Failed(_) => "error",
        }
    }

    /// What the model reads as the call's output.
    pub fn for_model(&self) -> String {
        match self {
            ToolOutcome::Done(Value::String(s)) => s.clone(),
            ToolOutcome::Done(v) => v.to_string(),
            ToolOutcome::Failed(message) => json!({ "error": message }).to_string(),
        }
    }

    /// A result body read from a tool: JSON when it parses, else its text; refused past
    /// [`RESULT_LIMIT`].
    pub fn from_body(body: &[u8]) -> ToolOutcome {
        if body.len() > RESULT_LIMIT {
            return ToolOutcome::Failed(format!("the tool's answer is larger than {RESULT_LIMIT} bytes"));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(v) => ToolOutcome::Done(v),
            Err(_) => ToolOutcome::Done(Value::String(String::from_utf8_lossy(body).into_owned())),
        }
    }
}

/// A tool call in the conversation's transcript (a line with role `tool`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolLine {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ToolKind,
    pub call_id: String,
    pub arguments: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

impl ToolLine {
    pub fn new(call: &ToolCall, kind: ToolKind, outcome: &ToolOutcome, duration_ms: u64) -> ToolLine {
        let arguments = call.parsed_arguments().unwrap_or_else(|_| Value::String(call.arguments.clone()));
        let (result, error) = match outcome {
            ToolOutcome::Done(v) => (Some(v.clone()), None),
            ToolOutcome::Failed(m) => (None, Some(m.clone())),
        };
        ToolLine {
            name: call.name.clone(),
            kind,
            call_id: call.call_id.clone(),
            arguments,
            result,
            error,
            duration_ms,
        }
    }

    /// The call's outcome again, as the model reads it (for the history of a later turn).
    pub fn outcome(&self) -> ToolOutcome {
        match (&self.result, &self.error) {
            (_, Some(e)) => ToolOutcome::Failed(e.clone()),
            (Some(v), None) => ToolOutcome::Done(v.clone()),
            (None, None) => ToolOutcome::Done(Value::Null),
        }
    }

    /// The arguments as the model wrote them.
    pub fn arguments_text(&self) -> String {
        match &self.arguments {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_become_what_the_model_reads() {
        assert_eq!(ToolOutcome::from_body(br#"{"status":"shipped"}"#).for_model(), r#"{"status":"shipped"}"#);
        assert_eq!(ToolOutcome::from_body(b"shipped today").for_model(), "shipped today");
        let big = vec![b' '; RESULT_LIMIT + 1];
        assert!(matches!(ToolOutcome::from_body(&big), ToolOutcome::Failed(m) if m.contains("65536")));
        assert_eq!(ToolOutcome::Failed("timed out".into()).for_model(), r#"{"error":"timed out"}"#);
    }

    #[test]
    fn arguments_must_be_an_object() {
        let call = |a: &str| ToolCall { call_id: "c".into(), name: "n".into(), arguments: a.into() };
        assert_eq!(call(r#"{"a":1}"#).parsed_arguments().unwrap()["a"], 1);
        assert!(call("").parsed_arguments().unwrap().as_object().unwrap().is_empty());
        assert!(call("[1]").parsed_arguments().is_err());
        assert!(call("{oops").parsed_arguments().unwrap_err().contains("not valid JSON"));
    }

    #[test]
    fn a_line_round_trips_and_keeps_its_outcome() {
        let call = ToolCall {
            call_id: "call_1".into(),
            name: "check_order".into(),
            arguments: r#"{"order_id":"A1"}"#.into(),
        };
        let line =
            ToolLine::new(&call, ToolKind::Server, &ToolOutcome::Done(json!({"status": "shipped"})), 42);
        let v = serde_json::to_value(&line).unwrap();
        assert_eq!(v["type"], "server");
        assert_eq!(v["arguments"]["order_id"], "A1");
        assert!(v.get("error").is_none());
        let back: ToolLine = serde_json::from_value(v).unwrap();
        assert_eq!(back, line);
        assert_eq!(back.outcome().for_model(), r#"{"status":"shipped"}"#);
        assert_eq!(back.arguments_text(), r#"{"order_id":"A1"}"#);
    }
}
