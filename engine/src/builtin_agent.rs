//! The builtin text agent: needs nothing external. It greets with the agent's greeting, answers
//! from the agent's knowledge with the passage that answers the question (BM25 with a relevance
//! floor, see `knowledge`), or the sentence of it that does when the passage is long, and says
//! plainly when it does not know. The passage's title is the answer's source, shown apart from
//! the answer. Answers stream as small deltas, one word at a time.

use crate::agent::AgentSpec;
use crate::knowledge::KnowledgeIndex;

/// What the builtin agent says when no passage matches.
pub const DONT_KNOW: &str = "I don't know that yet.";

/// Visitor openers the greeting answers.
const GREETINGS: &[&str] =
    &["hi", "hello", "hey", "hallo", "hola", "good morning", "good afternoon", "good evening"];

/// Passages longer than this many sentences are answered with their best sentence.
const WHOLE_PASSAGE_SENTENCES: usize = 2;

/// What the builtin agent says, and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub text: String,
    /// The title of the knowledge attachment the answer quotes.
    pub source: Option<String>,
}

/// An agent's builtin answerer, built once per agent version.
#[derive(Debug, Clone)]
pub struct BuiltinAgent {
    greeting: Option<String>,
    knowledge: KnowledgeIndex,
    /// What it says when no passage answers.
    no_answer: String,
}

/// What a talking builtin agent says when no passage answers: the question may have been
/// misheard rather than unknown, so it says so and names what it can be asked about (the first
/// five knowledge titles).
pub fn spoken_no_answer(spec: &AgentSpec) -> String {
    let titles: Vec<&str> =
        spec.knowledge.iter().map(|k| k.title.trim()).filter(|t| !t.is_empty()).take(5).collect();
    match titles.as_slice() {
        [] => "Sorry, I didn't catch that.".into(),
        [one] => format!("Sorry, I didn't catch that. You can ask me about {one}."),
        [rest @ .., last] => {
            format!("Sorry, I didn't catch that. You can ask me about {} and {last}.", rest.join(", "))
        }
    }
}

impl BuiltinAgent {
    pub fn new(spec: &AgentSpec) -> BuiltinAgent {
        BuiltinAgent {
            greeting: spec.greeting.clone().filter(|g| !g.trim().is_empty()),
            knowledge: KnowledgeIndex::build(&spec.knowledge),
            no_answer: DONT_KNOW.into(),
        }
    }

    /// The same answerer for a call: no passage gets [`spoken_no_answer`].
    pub fn spoken(spec: &AgentSpec) -> BuiltinAgent {
        BuiltinAgent { no_answer: spoken_no_answer(spec), ..BuiltinAgent::new(spec) }
    }

    /// The whole answer to `question`.
    pub fn answer(&self, question: &str) -> Answer {
        let normalized: String = question
            .trim()
            .trim_end_matches(['!', '.', '?', ' '])
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(greeting) = &self.greeting {
            if GREETINGS.contains(&normalized.as_str()) {
                return Answer { text: greeting.clone(), source: None };
            }
        }
        let Some(hit) = self.knowledge.best(question) else {
            return Answer { text: self.no_answer.clone(), source: None };
        };
        let text = if crate::knowledge::sentence_count(&hit.passage.text) > WHOLE_PASSAGE_SENTENCES {
            self.knowledge.best_sentence(hit.passage, question).to_string()
        } else {
            hit.passage.text.clone()
        };
        Answer { text, source: Some(hit.passage.title.clone()) }
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

    fn agent_spec() -> AgentSpec {
        AgentSpec {
            name: "Support".into(),
            prompt: String::new(),
            greeting: None,
            knowledge: vec![],
            backend: Default::default(),
            tests: vec![],
            echo_delay_ms: 0,
            voice: Default::default(),
        }
    }

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
            voice: Default::default(),
        })
    }

    #[test]
    fn quotes_the_best_passage_or_says_it_does_not_know() {
        let a = agent();
        let answer = a.answer("How is voice billed?");
        assert_eq!(answer.text, "Voice is billed per started minute of connected media.");
        assert_eq!(answer.source.as_deref(), Some("Pricing"));
        assert_eq!(a.answer("Who won the 1998 World Cup?"), Answer { text: DONT_KNOW.into(), source: None });
        assert_eq!(a.answer("Hi!").text, "Hello! Ask me about voxgate.");
    }

    #[test]
    fn on_a_call_no_passage_names_what_can_be_asked() {
        let titled = |titles: &[&str]| AgentSpec {
            knowledge: titles
                .iter()
                .map(|t| KnowledgeAttachment { title: t.to_string(), text: format!("{t} text.") })
                .collect(),
            ..agent_spec()
        };
        let spec = titled(&["Shipping", "Returns", "Opening hours"]);
        let line = "Sorry, I didn't catch that. You can ask me about Shipping, Returns and Opening hours.";
        assert_eq!(spoken_no_answer(&spec), line);
        assert_eq!(BuiltinAgent::spoken(&spec).answer("Who won the 1998 World Cup?").text, line);
        assert_eq!(BuiltinAgent::new(&spec).answer("Who won the 1998 World Cup?").text, DONT_KNOW);
        assert_eq!(
            spoken_no_answer(&titled(&["Shipping"])),
            "Sorry, I didn't catch that. You can ask me about Shipping."
        );
        assert_eq!(spoken_no_answer(&titled(&[])), "Sorry, I didn't catch that.");
    }

    #[test]
    fn a_long_passage_is_answered_with_its_best_sentence() {
        let a = BuiltinAgent::new(&AgentSpec {
            knowledge: vec![KnowledgeAttachment {
                title: "Shipping".into(),
                text: "We ship within three days. Express delivery costs 9 euros. Orders over 50 euros ship free.".into(),
            }],
            ..agent_spec()
        });
        assert_eq!(a.answer("How much is express delivery?").text, "Express delivery costs 9 euros.");
    }

    #[test]
    fn deltas_join_to_the_text() {
        let text = "Voice  is\nbilled per minute.";
        let d = deltas(text);
        assert_eq!(d, vec!["Voice  ", "is\n", "billed ", "per ", "minute."]);
        assert_eq!(d.concat(), text);
        assert!(deltas("").is_empty());
    }
}
