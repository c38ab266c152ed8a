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

/// Number words, which corroborate no spoken answer (see [`BuiltinAgent::answer_heard`]).
const NUMBER_WORDS: &str = "zero one two three four five six seven eight nine ten eleven twelve \
    thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty \
    seventy eighty ninety hundred thousand million first second third half";

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

    /// The answer to a spoken question that a recogniser heard as `question` among the agent's
    /// own words, and as `open_text` among common English words too. A recogniser that knows
    /// only the agent's words hears any question as them, so a passage answers only when the
    /// open hearing shares one of its words (and not just a number: short number words are
    /// what noise is most often heard as), and when at least half of the open hearing's words
    /// are the knowledge's (an off-topic question is heard openly as other words); otherwise
    /// the question was off-topic or misheard.
    pub fn answer_heard(&self, question: &str, open_text: Option<&str>) -> Answer {
        let answer = self.answer(question);
        match (open_text, &answer.source) {
            (Some(open), Some(_)) if !self.corroborates(open, &answer) => {
                Answer { text: self.no_answer.clone(), source: None }
            }
            _ => answer,
        }
    }

    /// Whether the open hearing `open` bears out `answer` (see [`BuiltinAgent::answer_heard`]).
    fn corroborates(&self, open: &str, answer: &Answer) -> bool {
        use crate::knowledge::terms;
        let numbers = terms(NUMBER_WORDS);
        let heard: Vec<String> = terms(open).into_iter().filter(|t| !numbers.contains(t)).collect();
        let mut said = terms(&answer.text);
        said.extend(answer.source.iter().flat_map(|title| terms(title)));
        let known = heard.iter().filter(|t| self.knowledge.knows(t)).count();
        heard.iter().any(|t| said.contains(t)) && 2 * known >= heard.len()
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
            tools: Vec::new(),
            filler_after_ms: 700,
            filler: "One moment, I'm checking that.".into(),
            analysis: None,
        }
    }

    fn shop() -> BuiltinAgent {
        BuiltinAgent::spoken(&AgentSpec {
            knowledge: vec![
                KnowledgeAttachment {
                    title: "Shipping".into(),
                    text: "Shipping costs five euros. Orders over fifty euros ship free.".into(),
                },
                KnowledgeAttachment {
                    title: "Opening hours".into(),
                    text: "The shop is open from nine to six on weekdays.".into(),
                },
            ],
            ..agent_spec()
        })
    }

    #[test]
    fn a_spoken_answer_needs_the_open_hearing_to_share_a_word_with_it() {
        let agent = shop();
        let heard = agent.answer_heard("how much does shipping cost", Some("how much was shipping cost"));
        assert_eq!(heard.source.as_deref(), Some("Shipping"));
        // An off-topic question heard as the agent's words, and as what it was among common ones.
        let off = agent.answer_heard("what is the shop open", Some("what will the weather be like"));
        assert_eq!(off.source, None);
        assert!(off.text.starts_with("Sorry, I didn't catch that."), "{off:?}");
        // Heard openly mostly as words the knowledge does not use: off-topic, though one is shared.
        let football = agent.answer_heard("is the shop open", Some("wanna football game last night shop"));
        assert_eq!(football.source, None);
        // Shared number words are no evidence: noise is heard as them.
        let noise = agent.answer_heard("is the shop open from nine", Some("is there five nine"));
        assert_eq!(noise.source, None);
        // The title counts as the answer's words; with no open hearing the answer stands.
        assert_eq!(
            agent.answer_heard("opening hours", Some("hours")).source.as_deref(),
            Some("Opening hours")
        );
        assert_eq!(
            agent.answer_heard("when is the shop open", None).source.as_deref(),
            Some("Opening hours")
        );
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
            tools: Vec::new(),
            filler_after_ms: 700,
            filler: "One moment, I'm checking that.".into(),
            analysis: None,
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
