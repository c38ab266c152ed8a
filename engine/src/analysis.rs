//! Post-call analysis: what an agent with a model extracts from a conversation once it ends, a
//! summary and data to a JSON Schema of the site owner's, and the request that asks for it
//! (an OpenAI-compatible chat completion with `response_format: json_schema`).

use crate::spec::SpecError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Attempts before an analysis is recorded as failed.
pub const MAX_ATTEMPTS: u32 = 3;

/// What to extract when a conversation ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSpec {
    /// A few sentences on what the visitor wanted and what happened.
    #[serde(default = "yes")]
    pub summary: bool,
    /// The fields to extract, as a JSON Schema object (for example the visitor's e-mail, the
    /// product they asked about).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

fn yes() -> bool {
    true
}

impl AnalysisSpec {
    pub fn validate(&self) -> Result<(), SpecError> {
        if let Some(data) = &self.data {
            crate::tools::check_schema("analysis.data", data)?;
        }
        if !self.summary && self.data.is_none() {
            return Err(SpecError::new("analysis", "ask for a summary, data, or both"));
        }
        Ok(())
    }

    /// The JSON Schema the model's answer must follow.
    pub fn answer_schema(&self) -> Value {
        let mut properties = serde_json::Map::new();
        let mut required = Vec::new();
        if self.summary {
            properties.insert("summary".into(), json!({"type": "string"}));
            required.push("summary");
        }
        if let Some(data) = &self.data {
            properties.insert("data".into(), data.clone());
            required.push("data");
        }
        json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
    }

    /// The chat completion body that asks `model` for the analysis of `transcript` (one line
    /// per turn, `role: text`).
    pub fn request(&self, model: &str, transcript: &str) -> Value {
        let mut task = String::from(
            "You analyse a finished conversation between a website's visitor and its assistant.",
        );
        if self.summary {
            task.push_str(" Summarise in two or three sentences what the visitor wanted and what happened.");
        }
        if self.data.is_some() {
            task.push_str(
                " Extract the data the schema asks for; leave out what the conversation does not say.",
            );
        }
        json!({
            "model": model,
            "stream": false,
            "messages": [
                {"role": "system", "content": task},
                {"role": "user", "content": transcript},
            ],
            "response_format": {"type": "json_schema",
                "json_schema": {"name": "conversation_analysis", "schema": self.answer_schema()}},
        })
    }

    /// The analysis from a chat completion's body: its first choice's content, parsed as JSON
    /// and holding what was asked; or why not.
    pub fn read_answer(&self, body: &Value) -> Result<Value, String> {
        let content = body["choices"][0]["message"]["content"]
            .as_str()
            .ok_or_else(|| "the model's answer has no message content".to_string())?;
        let analysis: Value =
            serde_json::from_str(content).map_err(|e| format!("the model's answer is not JSON ({e})"))?;
        if self.summary && !analysis["summary"].is_string() {
            return Err("the model's answer has no summary".into());
        }
        if self.data.is_some() && !analysis["data"].is_object() {
            return Err("the model's answer has no data object".into());
        }
        Ok(analysis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> AnalysisSpec {
        serde_json::from_value(
            json!({"data": {"type": "object", "properties": {"email": {"type": "string"}}}}),
        )
        .unwrap()
    }

    #[test]
    fn the_request_asks_for_a_schema_and_the_answer_is_read_back() {
        let s = spec();
        s.validate().unwrap();
        let body = s.request("gpt-4o-mini", "visitor: Mail me at ana@example.com");
        assert_eq!(body["response_format"]["type"], "json_schema");
        let schema = &body["response_format"]["json_schema"]["schema"];
        assert_eq!(schema["required"], json!(["summary", "data"]));
        let answer = json!({"choices": [{"message": {"content": "{\"summary\": \"Wants mail.\", \"data\": {\"email\": \"ana@example.com\"}}"}}]});
        assert_eq!(s.read_answer(&answer).unwrap()["data"]["email"], "ana@example.com");
        assert!(s.read_answer(&json!({"choices": [{"message": {"content": "nope"}}]})).is_err());
        assert!(s
            .read_answer(&json!({"choices": [{"message": {"content": "{\"summary\": \"x\"}"}}]}))
            .is_err());
    }

    #[test]
    fn bad_specs_name_the_field() {
        let bad: AnalysisSpec = serde_json::from_value(json!({"data": {"type": "string"}})).unwrap();
        assert_eq!(bad.validate().unwrap_err().field, "analysis.data");
        let empty = AnalysisSpec { summary: false, data: None };
        assert_eq!(empty.validate().unwrap_err().field, "analysis");
    }
}
