//! Parsing and validating configuration documents (agents, widgets) from JSON.
//!
//! Every error names the field it is about (`appearance.primary_color: ...`), so a platform
//! team fixing a 400 never has to guess. Updates are JSON merge patches (RFC 7396) applied to
//! the current document and then validated whole, so a patch can never leave an invalid config.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// A configuration document that is wrong: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", if field.is_empty() { message.clone() } else { format!("{field}: {message}") })]
pub struct SpecError {
    /// Dotted path of the offending field (`privacy.trust_center.privacy_policy_url`), or empty.
    pub field: String,
    pub message: String,
}

impl SpecError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError { field: field.into(), message: message.into() }
    }
}

/// Rules a document must satisfy beyond its types.
pub trait Validate {
    fn validate(&self) -> Result<(), SpecError>;
}

/// Deserializes and validates a whole document.
pub fn parse<T: DeserializeOwned + Validate>(value: Value) -> Result<T, SpecError> {
    if !value.is_object() {
        return Err(SpecError::new("", "the request body must be a JSON object"));
    }
    check_depth(&value)?;
    let doc: T = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        SpecError::new(field, e.into_inner().to_string())
    })?;
    doc.validate()?;
    Ok(doc)
}

/// Applies a JSON merge patch to `current` and validates the result.
pub fn merge<T: Serialize + DeserializeOwned + Validate>(current: &T, patch: &Value) -> Result<T, SpecError> {
    if !patch.is_object() {
        return Err(SpecError::new("", "a PATCH body must be a JSON object (a JSON merge patch)"));
    }
    check_depth(patch)?;
    let mut doc = serde_json::to_value(current).map_err(|e| SpecError::new("", e.to_string()))?;
    json_patch::merge(&mut doc, patch);
    parse(doc)
}

/// Deepest nesting of objects and arrays a spec or patch may have. Specs are a few levels deep;
/// merging and deserializing recurse once per level, so a deeper document (JSON allows 128)
/// is refused before it can run a thread out of stack.
pub const MAX_DEPTH: usize = 32;

/// Refuses a document nested deeper than [`MAX_DEPTH`], without recursing itself.
fn check_depth(value: &Value) -> Result<(), SpecError> {
    let mut stack = vec![(value, 1usize)];
    while let Some((v, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(SpecError::new("", format!("the document is nested deeper than {MAX_DEPTH} levels")));
        }
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|x| (x, depth + 1))),
            Value::Object(fields) => stack.extend(fields.values().map(|x| (x, depth + 1))),
            _ => {}
        }
    }
    Ok(())
}

/// Checks a text field's length in characters.
pub fn text(field: &str, value: &str, min: usize, max: usize) -> Result<(), SpecError> {
    let n = value.chars().count();
    if n < min {
        return Err(SpecError::new(
            field,
            if min == 1 {
                "must not be empty".to_string()
            } else {
                format!("must be at least {min} characters")
            },
        ));
    }
    if n > max {
        return Err(SpecError::new(field, format!("is {n} characters long; the limit is {max}")));
    }
    Ok(())
}

/// Checks an optional text field.
pub fn opt_text(field: &str, value: &Option<String>, max: usize) -> Result<(), SpecError> {
    match value {
        Some(v) => text(field, v, 0, max),
        None => Ok(()),
    }
}

/// Checks that `value` is an absolute URL with one of `schemes`.
pub fn url(field: &str, value: &str, schemes: &[&str]) -> Result<(), SpecError> {
    text(field, value, 1, 2048)?;
    let parsed = url::Url::parse(value)
        .map_err(|e| SpecError::new(field, format!("{value:?} is not an absolute URL ({e})")))?;
    if !schemes.contains(&parsed.scheme()) {
        return Err(SpecError::new(field, format!("{value:?} must use {}", schemes.join(" or "))));
    }
    Ok(())
}

/// Checks an optional URL.
pub fn opt_url(field: &str, value: &Option<String>, schemes: &[&str]) -> Result<(), SpecError> {
    match value {
        Some(v) => url(field, v, schemes),
        None => Ok(()),
    }
}

/// Checks a CSS hex color (`#rgb` or `#rrggbb`).
pub fn color(field: &str, value: &str) -> Result<(), SpecError> {
    let ok = value
        .strip_prefix('#')
        .is_some_and(|h| (h.len() == 3 || h.len() == 6) && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(SpecError::new(field, format!("{value:?} is not a hex color such as #1f6feb")))
    }
}

/// Checks a list's length.
pub fn count<T>(field: &str, items: &[T], max: usize) -> Result<(), SpecError> {
    if items.len() > max {
        return Err(SpecError::new(field, format!("has {} entries; the limit is {max}", items.len())));
    }
    Ok(())
}

/// Checks that a number lies in `min..=max`.
pub fn range(field: &str, value: u32, min: u32, max: u32) -> Result<(), SpecError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(SpecError::new(field, format!("is {value}; it must be between {min} and {max}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> Value {
        let mut v = Value::from(1);
        for _ in 0..levels {
            v = serde_json::json!({ "a": v });
        }
        v
    }

    #[test]
    fn a_document_nested_too_deep_is_refused_before_it_is_merged() {
        // JSON allows 128 levels; merging and deserializing recurse once per level.
        let widget: crate::widget::WidgetSpec = parse(serde_json::json!({"name": "x"})).unwrap();
        let e = merge(&widget, &serde_json::json!({"appearance": nested(MAX_DEPTH)})).unwrap_err();
        assert!(e.message.contains("nested deeper than 32"), "{e:?}");
        let e = parse::<crate::widget::WidgetSpec>(nested(120)).unwrap_err();
        assert!(e.message.contains("nested deeper"), "{e:?}");
        // A patch as deep as real specs go is judged on its fields as before.
        let e = merge(&widget, &serde_json::json!({"privacy": {"trust_center": {"privacy_policy_url": 7}}}))
            .unwrap_err();
        assert_eq!(e.field, "privacy.trust_center.privacy_policy_url");
    }
}
