//! Session variables: values the customer's backend sets when it creates a session
//! (`"variables": {"customer_name": "Ana"}`), filled into `{{customer_name}}` in the agent's
//! prompt, greeting and fallback lines. They are never sent to the browser.
//!
//! The template language is only `{{name}}` (spaces inside the braces allowed): a prompt is
//! prose, and a full template engine would read `{%` or `{#` in it as syntax.

use crate::spec::SpecError;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Most variables on a session.
pub const MAX_VARIABLES: usize = 32;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024;

/// A session's variables, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Variables(BTreeMap<String, String>);

/// A template with its variables filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled {
    pub text: String,
    /// Names the template used that the session does not set (each left empty).
    pub unknown: Vec<String>,
}

impl Variables {
    /// Reads `variables` from a session request: an object of at most [`MAX_VARIABLES`]
    /// names (letters, digits, `_`; not starting with a digit) to strings, numbers or booleans
    /// of at most [`MAX_VALUE_BYTES`].
    pub fn parse(value: &Value) -> Result<Variables, SpecError> {
        let Some(object) = value.as_object() else {
            return Err(SpecError::new("variables", "must be a JSON object of names to values"));
        };
        if object.len() > MAX_VARIABLES {
            return Err(SpecError::new(
                "variables",
                format!("has {} entries; the limit is {MAX_VARIABLES}", object.len()),
            ));
        }
        let mut map = BTreeMap::new();
        for (name, value) in object {
            let field = format!("variables.{name}");
            if !is_name(name) {
                return Err(SpecError::new(
                    field,
                    "a variable's name is 1 to 64 letters, digits or _, not starting with a digit",
                ));
            }
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(SpecError::new(field, "must be a string, a number or a boolean")),
            };
            if text.len() > MAX_VALUE_BYTES {
                return Err(SpecError::new(
                    field,
                    format!("is {} bytes; the limit is {MAX_VALUE_BYTES}", text.len()),
                ));
            }
            map.insert(name.clone(), text);
        }
        Ok(Variables(map))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// As stored and sent to server tools: a JSON object of strings.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }

    /// Reads stored variables back; anything that is not an object of strings is dropped.
    pub fn from_stored(value: &Value) -> Variables {
        let map = value
            .as_object()
            .map(|o| o.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        Variables(map)
    }

    /// Fills each `{{name}}` of `template`; an unknown name becomes empty and is reported.
    pub fn fill(&self, template: &str) -> Filled {
        let mut text = String::with_capacity(template.len());
        let mut unknown: Vec<String> = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find("{{") {
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else { break };
            let name = after[..close].trim();
            text.push_str(&rest[..open]);
            if is_name(name) {
                match self.0.get(name) {
                    Some(value) => text.push_str(value),
                    None if !unknown.iter().any(|u| u == name) => unknown.push(name.to_string()),
                    None => {}
                }
            } else {
                // Not a variable (`{{ a b }}`, JSON in a prompt): kept as written.
                text.push_str(&rest[open..open + 2 + close + 2]);
            }
            rest = &after[close + 2..];
        }
        text.push_str(rest);
        Filled { text, unknown }
    }
}

fn is_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_fill_and_unknown_names_are_reported_once() {
        let v = Variables::parse(&json!({"customer_name": "Ana", "orders": 3, "vip": true})).unwrap();
        let f =
            v.fill("Hi {{customer_name}}, you have {{ orders }} orders{{missing}}.{{missing}} VIP: {{vip}}");
        assert_eq!(f.text, "Hi Ana, you have 3 orders. VIP: true");
        assert_eq!(f.unknown, vec!["missing".to_string()]);
    }

    #[test]
    fn what_is_not_a_variable_is_kept() {
        let v = Variables::default();
        let f = v.fill("JSON {{\"a\": 1}} and {{ a b }} and {{ open");
        assert_eq!(f.text, "JSON {{\"a\": 1}} and {{ a b }} and {{ open");
        assert!(f.unknown.is_empty());
        assert_eq!(v.fill("é{{x}}ü").text, "éü");
    }

    #[test]
    fn bad_variables_name_the_field() {
        assert_eq!(Variables::parse(&json!([1])).unwrap_err().field, "variables");
        assert_eq!(Variables::parse(&json!({"1a": "x"})).unwrap_err().field, "variables.1a");
        assert_eq!(Variables::parse(&json!({"a": {"b": 1}})).unwrap_err().field, "variables.a");
        assert_eq!(Variables::parse(&json!({"a": "x".repeat(1025)})).unwrap_err().field, "variables.a");
        let many: serde_json::Map<String, Value> = (0..33).map(|i| (format!("v{i}"), json!("x"))).collect();
        assert_eq!(Variables::parse(&Value::Object(many)).unwrap_err().field, "variables");
    }

    #[test]
    fn stored_variables_round_trip() {
        let v = Variables::parse(&json!({"a": "1", "b": 2})).unwrap();
        assert_eq!(Variables::from_stored(&v.to_json()), v);
        assert_eq!(v.get("b"), Some("2"));
    }
}
