//! Ranked retrieval over an agent's knowledge attachments: each attachment is cut into passages
//! (paragraphs, long ones by sentence), and a question is scored against them with Okapi BM25,
//! so the builtin agent can quote the passage that best answers it.

use crate::agent::KnowledgeAttachment;
use std::collections::HashMap;

/// BM25 term-frequency saturation.
const K1: f64 = 1.2;
/// BM25 length normalisation.
const B: f64 = 0.75;
/// Longest passage, in characters, before a paragraph is cut at sentence ends.
const PASSAGE_CHARS: usize = 480;

/// Words too common to say anything about a question.
const STOPWORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "by", "can", "could", "do", "does", "for", "from",
    "has", "have", "how", "i", "if", "in", "is", "it", "its", "me", "my", "of", "on", "or", "our", "so",
    "that", "the", "their", "there", "this", "to", "was", "we", "what", "when", "where", "which", "who",
    "why", "will", "with", "would", "you", "your", "tell", "please", "much", "many",
];

/// One quotable piece of an attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    /// The attachment's title.
    pub title: String,
    pub text: String,
}

/// The best passage for a question, with its BM25 score.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<'a> {
    pub passage: &'a Passage,
    pub score: f64,
}

/// A BM25 index over an agent's attachments.
#[derive(Debug, Clone, Default)]
pub struct KnowledgeIndex {
    passages: Vec<Passage>,
    terms: Vec<HashMap<String, u32>>,
    lengths: Vec<usize>,
    document_frequency: HashMap<String, usize>,
    average_length: f64,
}

/// Lower-cased word stems of `text`, without stopwords.
pub fn terms(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .map(|w| stem(&w))
        .collect()
}

/// A light suffix stripper so "calls", "calling" and "called" meet "call".
fn stem(word: &str) -> String {
    for suffix in ["ing", "ies", "ed", "es", "s"] {
        if let Some(base) = word.strip_suffix(suffix) {
            if base.chars().count() >= 3 {
                return if suffix == "ies" { format!("{base}y") } else { base.to_string() };
            }
        }
    }
    word.to_string()
}

/// Cuts `text` into paragraphs, and paragraphs longer than [`PASSAGE_CHARS`] at sentence ends.
fn passages_of(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for paragraph in text.split("\n\n").map(|p| p.split_whitespace().collect::<Vec<_>>().join(" ")) {
        if paragraph.is_empty() {
            continue;
        }
        let mut current = String::new();
        for sentence in split_sentences(&paragraph) {
            if !current.is_empty() && current.len() + sentence.len() + 1 > PASSAGE_CHARS {
                out.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(sentence);
        }
        if !current.is_empty() {
            out.push(current);
        }
    }
    out
}

fn split_sentences(paragraph: &str) -> Vec<&str> {
    let mut sentences = Vec::new();
    let mut start = 0;
    let bytes = paragraph.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        let ends = matches!(b, b'.' | b'!' | b'?') && bytes.get(i + 1).is_none_or(|n| *n == b' ');
        if ends {
            sentences.push(paragraph[start..=i].trim());
            start = i + 1;
        }
    }
    if start < paragraph.len() && !paragraph[start..].trim().is_empty() {
        sentences.push(paragraph[start..].trim());
    }
    sentences
}

impl KnowledgeIndex {
    pub fn build(attachments: &[KnowledgeAttachment]) -> KnowledgeIndex {
        let mut index = KnowledgeIndex::default();
        for a in attachments {
            for text in passages_of(&a.text) {
                let words = terms(&format!("{} {}", a.title, text));
                let mut counts: HashMap<String, u32> = HashMap::new();
                for w in &words {
                    *counts.entry(w.clone()).or_insert(0) += 1;
                }
                for term in counts.keys() {
                    *index.document_frequency.entry(term.clone()).or_insert(0) += 1;
                }
                index.lengths.push(words.len());
                index.terms.push(counts);
                index.passages.push(Passage { title: a.title.clone(), text });
            }
        }
        let total: usize = index.lengths.iter().sum();
        index.average_length =
            if index.passages.is_empty() { 0.0 } else { total as f64 / index.passages.len() as f64 };
        index
    }

    pub fn len(&self) -> usize {
        self.passages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.passages.is_empty()
    }

    /// The passage that best answers `question`, if any shares a meaningful word with it.
    pub fn best(&self, question: &str) -> Option<Hit<'_>> {
        self.top(question, 1).into_iter().next()
    }

    /// The `k` best passages for `question`, best first (only passages that share a
    /// meaningful word with it).
    pub fn top(&self, question: &str, k: usize) -> Vec<Hit<'_>> {
        let mut hits = self.scores(question);
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(k);
        hits
    }

    fn scores(&self, question: &str) -> Vec<Hit<'_>> {
        let mut query = terms(question);
        query.sort();
        query.dedup();
        let n = self.passages.len() as f64;
        let mut hits = Vec::new();
        for (i, counts) in self.terms.iter().enumerate() {
            let length_norm = 1.0 - B + B * self.lengths[i] as f64 / self.average_length.max(1.0);
            let mut score = 0.0;
            for term in &query {
                let Some(&tf) = counts.get(term) else { continue };
                let df = self.document_frequency.get(term).copied().unwrap_or(0) as f64;
                let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
                let tf = tf as f64;
                score += idf * tf * (K1 + 1.0) / (tf + K1 * length_norm);
            }
            if score > 0.0 {
                hits.push(Hit { passage: &self.passages[i], score });
            }
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attachment(title: &str, text: &str) -> KnowledgeAttachment {
        KnowledgeAttachment { title: title.into(), text: text.into() }
    }

    fn index() -> KnowledgeIndex {
        KnowledgeIndex::build(&[
            attachment(
                "Shipping",
                "We ship to every country in the EU within three working days.\n\nExpress shipping costs 9 euros and arrives the next day.",
            ),
            attachment("Returns", "Returns are free within 30 days. Print the label from your account page."),
        ])
    }

    #[test]
    fn the_passage_sharing_the_rarest_words_wins() {
        let index = index();
        assert_eq!(index.len(), 3);
        let hit = index.best("How much does express shipping cost?").expect("a hit");
        assert!(hit.passage.text.starts_with("Express shipping costs 9 euros"), "{hit:?}");
        let hit = index.best("Can I return a product?").expect("a hit");
        assert_eq!(hit.passage.title, "Returns");
    }

    #[test]
    fn a_question_about_nothing_here_has_no_hit() {
        assert_eq!(index().best("What is the capital of Peru?"), None);
        assert_eq!(index().best("what is it?"), None, "stopwords alone match nothing");
        assert_eq!(KnowledgeIndex::build(&[]).best("shipping"), None);
    }

    #[test]
    fn top_ranks_every_matching_passage_best_first() {
        let index = index();
        let hits = index.top("shipping costs and returns", 5);
        assert_eq!(hits.len(), 3);
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        assert_eq!(index.top("shipping", 1).len(), 1);
    }

    #[test]
    fn long_paragraphs_are_cut_at_sentence_ends() {
        let long = "This sentence is about voice calls and takes some room. ".repeat(20);
        let index = KnowledgeIndex::build(&[attachment("Long", &long)]);
        assert!(index.len() > 1);
        assert!(index.passages.iter().all(|p| p.text.len() <= PASSAGE_CHARS && p.text.ends_with('.')));
    }

    #[test]
    fn word_forms_meet_at_their_stem() {
        assert_eq!(terms("Calls calling called"), vec!["call", "call", "call"]);
        assert_eq!(terms("policies"), vec!["policy"]);
    }
}
