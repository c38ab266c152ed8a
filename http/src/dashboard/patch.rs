//! From a dashboard form to the JSON merge patch the control plane takes, and from a saved
//! document back to form values. The form's field names are the documents' own dotted paths
//! (`appearance.primary_color`), so an error the validation names lands on its input.

use serde_json::{Map, Value};

/// How one form field becomes JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string, as typed.
    Text,
    /// A string, or null when left empty.
    OptText,
    /// A checkbox: present is true.
    Bool,
    /// One entry per line, blank lines dropped.
    Lines,
}

/// A field of a section's form.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
}

pub const fn field(name: &'static str, kind: Kind) -> Field {
    Field { name, kind }
}

/// Sets `value` at the dotted `path` inside `doc`, making objects on the way.
pub fn set_path(doc: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            doc.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let entry = doc.entry(head.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(inner) = entry {
                set_path(inner, rest, value);
            }
        }
    }
}

/// The JSON a field's submitted text stands for.
pub fn field_value(kind: Kind, text: Option<&str>) -> Value {
    match kind {
        Kind::Text => Value::String(text.unwrap_or("").to_string()),
        Kind::OptText => match text.map(str::trim) {
            None | Some("") => Value::Null,
            Some(_) => Value::String(text.unwrap_or("").to_string()),
        },
        Kind::Bool => Value::Bool(text.is_some()),
        Kind::Lines => Value::Array(lines(text.unwrap_or("")).into_iter().map(Value::String).collect()),
    }
}

/// The non-blank lines of a textarea, trimmed.
pub fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// A merge patch that makes the object at `current` equal `new`: keys that `new` leaves out
/// are set to null (a merge patch otherwise keeps them), recursively.
pub fn replacing(current: Option<&Value>, new: Value) -> Value {
    match (current, new) {
        (Some(Value::Object(old)), Value::Object(mut fresh)) => {
            for (k, v) in old {
                match fresh.remove(k) {
                    Some(n) => {
                        fresh.insert(k.clone(), replacing(Some(v), n));
                    }
                    None => {
                        fresh.insert(k.clone(), Value::Null);
                    }
                }
            }
            Value::Object(fresh)
        }
        (_, new) => new,
    }
}

/// Every leaf of a document as (dotted path, value), for filling a form.
pub fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&path, v, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

/// The form field an error's path is about: the longest field name that starts it
/// (`allowed_origins[2]` is the `allowed_origins` textarea).
pub fn field_of<'a>(error_path: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    names
        .into_iter()
        .filter(|n| {
            error_path == *n
                || error_path
                    .strip_prefix(n)
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
        .max_by_key(|n| n.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_build_nested_objects() {
        let mut doc = Map::new();
        set_path(&mut doc, "privacy.trust_center.enabled", json!(true));
        set_path(&mut doc, "privacy.consent_required", json!(false));
        assert_eq!(
            Value::Object(doc),
            json!({"privacy": {"trust_center": {"enabled": true}, "consent_required": false}})
        );
    }

    #[test]
    fn replacing_nulls_what_the_new_object_leaves_out() {
        let old = json!({"type": "openai", "base_url": "https://x", "model": "m"});
        assert_eq!(
            replacing(Some(&old), json!({"type": "builtin"})),
            json!({"type": "builtin", "base_url": null, "model": null})
        );
    }

    #[test]
    fn an_error_path_finds_its_field() {
        let names = ["allowed_origins", "appearance.title", "actions"];
        assert_eq!(field_of("allowed_origins[2]", names), Some("allowed_origins"));
        assert_eq!(field_of("actions[0].url", names), Some("actions"));
        assert_eq!(field_of("appearance.title", names), Some("appearance.title"));
        assert_eq!(field_of("appearance.titles", names), None);
    }

    #[test]
    fn fields_become_json() {
        assert_eq!(field_value(Kind::OptText, Some("  ")), Value::Null);
        assert_eq!(field_value(Kind::Bool, None), json!(false));
        assert_eq!(field_value(Kind::Lines, Some(" a \n\n b")), json!(["a", "b"]));
    }
}
