//! The builtin text agent: needs nothing external. It greets with the agent's greeting, answers
//! from the agent's knowledge by quoting the best passage (BM25, see `knowledge`), and says
//! plainly when it does not know. Answers stream as small deltas, one word at a time.

use crate::agent::AgentSpec;
use crate::knowledge::KnowledgeIndex;

/// What the builtin agent says when no passage matches.
pub const DONT_KNOW: &str = "I don't know that yet.";

/// Visitor openers the greeting answers.
const GREETINGS: &[&str] =
    &["hi", "hello", "hey", "hallo", "hola", "good morning", "good afternoon", "good evening"];

/// An agent's builtin answerer, built once per agent version.
#[derive(Debug, Clone)]
pub struct BuiltinAgent {
    greeting: Option<String>,
    knowledge: KnowledgeIndex,
}

impl BuiltinAgent {
    pub fn new(spec: &AgentSpec) -> BuiltinAgent {
        BuiltinAgent {
            greeting: spec.greeting.clone().filter(|g| !g.trim().is_empty()),
            knowledge: KnowledgeIndex::build(&spec.knowledge),
        }
    }

    /// The whole answer to `question`.
    pub fn answer(&self, question: &str) -> String {
        let normalized: String = question
            .trim()
            .trim_end_matches(['!', '.', '?', ' '])
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(greeting) = &self.greeting {
            if GREETINGS.contains(&normalized.as_str()) {
                return greeting.clone();
            }
        }
        match self.knowledge.best(question) {
            Some(hit) => format!("From \"{}\": {}", hit.passage.title, hit.passage.text),
            None => DONT_KNOW.to_string(),
        }
    }
}

/// Splits `text` into streaming deltas of one word each (with the whitespace that follows it),
/// so the deltas joined are exactly `text`.
pub fn deltas(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else if in_space {
            out.push(&text[start..i]);
            start = i;
            in_space = false;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::KnowledgeAttachment;

    fn agent() -> BuiltinAgent {
        BuiltinAgent::new(&AgentSpec {
            name: "Support".into(),
            prompt: String::new(),
            greeting: Some("Hello! Ask me about voxgate.".into()),
            knowledge: vec![KnowledgeAttachment {
                title: "Pricing".into(),
                text: "Voice is billed per started minute of connected media.".into(),
            }],
            backend: Default::default(),
            tests: vec![],
            echo_delay_ms: 0,
        })
    }

    #[test]
    fn quotes_the_best_passage_or_says_it_does_not_know() {
        let a = agent();
        assert_eq!(
            a.answer("How is voice billed?"),
            "From \"Pricing\": Voice is billed per started minute of connected media."
        );
        assert_eq!(a.answer("Who won the 1998 World Cup?"), DONT_KNOW);
        assert_eq!(a.answer("Hi!"), "Hello! Ask me about voxgate.");
    }

    #[test]
    fn deltas_join_to_the_text() {
        let text = "From \"Pricing\":  Voice is\nbilled.";
        let d = deltas(text);
        assert_eq!(d, vec!["From ", "\"Pricing\":  ", "Voice ", "is\n", "billed."]);
        assert_eq!(d.concat(), text);
        assert!(deltas("").is_empty());
    }
}
