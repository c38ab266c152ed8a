//! The JSON Schema of a tool's parameters, checked as the model providers check it: OpenAI
//! and Realtime refuse a function whose parameters are not an object schema, that combines
//! schemas at the top level, or whose `required` names no property; refusing those at save
//! keeps one bad tool from failing every answer.

use crate::spec::SpecError;
use serde_json::Value;

/// Largest schema, serialized: providers bound the size of a request's tool definitions.
const MAX_SCHEMA_BYTES: usize = 16 * 1024;
const TYPES: &[&str] = &["object", "array", "string", "number", "integer", "boolean", "null"];
/// Keywords OpenAI refuses at the top level of a function's parameters.
const TOP_LEVEL_REFUSED: &[&str] = &["anyOf", "oneOf", "allOf", "not", "enum"];

/// Checks `schema` as a function's parameters.
pub fn check(field: &str, schema: &Value) -> Result<(), SpecError> {
    let size = schema.to_string().len();
    if size > MAX_SCHEMA_BYTES {
        return Err(SpecError::new(field, format!("is {size} bytes; the limit is {MAX_SCHEMA_BYTES}")));
    }
    let Some(top) = schema.as_object() else {
        return Err(SpecError::new(
            field,
            "must be a JSON Schema object such as {\"type\": \"object\", \"properties\": {...}}",
        ));
    };
    if top.get("type").and_then(Value::as_str) != Some("object") {
        return Err(SpecError::new(
            field,
            "must have \"type\": \"object\" at the top level; providers refuse other schemas",
        ));
    }
    if let Some(k) = TOP_LEVEL_REFUSED.iter().find(|k| top.contains_key(**k)) {
        return Err(SpecError::new(
            field,
            format!("must not use {k:?} at the top level; providers refuse it"),
        ));
    }
    subschema(field, schema)
}

/// Checks a schema and what it nests (`properties`, `items`, combinations), iteratively.
fn subschema(field: &str, schema: &Value) -> Result<(), SpecError> {
    let mut stack = vec![(field.to_string(), schema)];
    while let Some((at, value)) = stack.pop() {
        let Some(object) = value.as_object() else {
            return Err(SpecError::new(at, "must be a JSON Schema object"));
        };
        match object.get("type") {
            None => {}
            Some(Value::String(t)) if TYPES.contains(&t.as_str()) => {}
            Some(Value::Array(ts)) if ts.iter().all(|t| t.as_str().is_some_and(|t| TYPES.contains(&t))) => {}
            Some(other) => {
                return Err(SpecError::new(
                    format!("{at}.type"),
                    format!("{other} is not a JSON Schema type ({})", TYPES.join(", ")),
                ))
            }
        }
        if let Some(properties) = object.get("properties") {
            let Some(properties) = properties.as_object() else {
                return Err(SpecError::new(format!("{at}.properties"), "must be an object of schemas"));
            };
            for (name, property) in properties {
                if name.is_empty() || name.len() > 200 {
                    return Err(SpecError::new(
                        format!("{at}.properties"),
                        "property names must be 1 to 200 characters",
                    ));
                }
                stack.push((format!("{at}.properties.{name}"), property));
            }
        }
        if let Some(required) = object.get("required") {
            let Some(required) = required.as_array() else {
                return Err(SpecError::new(format!("{at}.required"), "must be an array of property names"));
            };
            for name in required {
                let known =
                    name.as_str().is_some_and(|n| object.get("properties").and_then(|p| p.get(n)).is_some());
                if !known {
                    return Err(SpecError::new(
                        format!("{at}.required"),
                        format!("names {name}, which is not in properties"),
                    ));
                }
            }
        }
        if let Some(items) = object.get("items") {
            stack.push((format!("{at}.items"), items));
        }
        for keyword in ["anyOf", "oneOf", "allOf"] {
            if let Some(list) = object.get(keyword) {
                let Some(list) = list.as_array() else {
                    return Err(SpecError::new(format!("{at}.{keyword}"), "must be an array of schemas"));
                };
                for (i, s) in list.iter().enumerate() {
                    stack.push((format!("{at}.{keyword}[{i}]"), s));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn object_schemas_pass() {
        check("p", &json!({"type": "object", "properties": {}})).unwrap();
        check(
            "p",
            &json!({"type": "object", "properties": {
                "sku": {"type": "string", "description": "the product"},
                "sizes": {"type": "array", "items": {"type": ["string", "null"]}},
                "when": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                "required": ["sku"], "additionalProperties": false}),
        )
        .unwrap();
    }

    #[test]
    fn what_providers_refuse_is_refused_with_its_path() {
        let e = |s: Value| check("p", &s).unwrap_err();
        assert!(e(json!("object")).message.contains("JSON Schema object"));
        assert!(e(json!({"properties": {}})).message.contains("\"type\": \"object\""));
        assert!(e(json!({"type": "object", "anyOf": []})).message.contains("anyOf"));
        assert_eq!(e(json!({"type": "object", "required": ["x"]})).field, "p.required");
        assert_eq!(
            e(json!({"type": "object", "properties": {"x": {"type": "text"}}})).field,
            "p.properties.x.type"
        );
        assert_eq!(e(json!({"type": "object", "properties": {"x": 3}})).field, "p.properties.x");
        assert_eq!(
            e(json!({"type": "object", "properties": {"x": {"type": "array", "items": {"type": 1}}}})).field,
            "p.properties.x.items.type"
        );
        let big: serde_json::Map<String, Value> =
            (0..2000).map(|i| (format!("field{i}"), json!({"type": "string"}))).collect();
        assert!(e(json!({"type": "object", "properties": big})).message.contains("limit"));
    }
}
