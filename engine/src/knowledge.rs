//! Ranked retrieval over an agent's knowledge attachments: each attachment is cut into passages
//! (paragraphs, long ones by sentence), and a question is scored against them with Okapi BM25,
//! so the builtin agent can quote the passage that best answers it. A passage is an answer only
//! when it covers enough of what the question asks (see [`KnowledgeIndex::best`]), so a
//! question that shares one weak word with a passage is not answered with it.

use crate::agent::KnowledgeAttachment;
use std::collections::HashMap;

/// BM25 term-frequency saturation.
const K1: f64 = 1.2;
/// BM25 length normalisation.
const B: f64 = 0.75;
/// Longest passage, in characters, before a paragraph is cut at sentence ends.
const PASSAGE_CHARS: usize = 480;

/// Share of a question's information (IDF weight) a passage must hold, more than, to answer it.
const MIN_COVERAGE: f64 = 0.5;

/// Words that say nothing about what a question is about: function words, question words, and
/// the filler of a spoken or typed request ("can you tell me", "how much does it").
const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "done",
    "each",
    "either",
    "else",
    "ever",
    "every",
    "few",
    "for",
    "from",
    "get",
    "gets",
    "getting",
    "give",
    "go",
    "going",
    "got",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "him",
    "his",
    "how",
    "however",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "know",
    "let",
    "like",
    "may",
    "me",
    "might",
    "mine",
    "more",
    "most",
    "much",
    "many",
    "must",
    "my",
    "need",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "often",
    "on",
    "once",
    "one",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "out",
    "over",
    "own",
    "per",
    "please",
    "quite",
    "really",
    "same",
    "say",
    "shall",
    "she",
    "should",
    "so",
    "some",
    "such",
    "tell",
    "than",
    "thank",
    "thanks",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "then",
    "there",
    "these",
    "they",
    "thing",
    "things",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "us",
    "use",
    "very",
    "want",
    "was",
    "way",
    "we",
    "well",
    "were",
    "what",
    "whats",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "whom",
    "whose",
    "why",
    "will",
    "with",
    "would",
    "yes",
    "yet",
    "you",
    "your",
    "yours",
    "yourself",
    "hi",
    "hello",
    "hey",
    "ok",
    "okay",
    // The verbs and adverbs of asking, not of what is asked about.
    "long",
    "take",
    "takes",
    "send",
    "make",
    "find",
    "see",
    "look",
    "happen",
    "happens",
    "mean",
    "means",
    "offer",
    "provide",
    "available",
    "possible",
    "able",
    "anything",
    "something",
    "someone",
    "anyone",
    "exactly",
    "actually",
    "currently",
    "usually",
];

/// One quotable piece of an attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    /// The attachment's title.
    pub title: String,
    pub text: String,
}

/// A passage for a question: its BM25 score, the share of the question's information it
/// covers (0 to 1), and whether the question names the passage's title.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<'a> {
    pub passage: &'a Passage,
    pub score: f64,
    pub coverage: f64,
    /// The share of what the knowledge knows of the question (its known words) it covers.
    pub known_coverage: f64,
    pub names_title: bool,
    /// How many of the question's words no passage uses.
    pub unknown_words: usize,
}

/// A BM25 index over an agent's attachments.
#[derive(Debug, Clone, Default)]
pub struct KnowledgeIndex {
    passages: Vec<Passage>,
    terms: Vec<HashMap<String, u32>>,
    /// Each passage's title words.
    titles: Vec<Vec<String>>,
    lengths: Vec<usize>,
    document_frequency: HashMap<String, usize>,
    average_length: f64,
}

/// Lower-cased word stems of `text` (Snowball English, so "pricing" and "prices" meet "price"),
/// without stopwords and stray letters.
pub fn terms(text: &str) -> Vec<String> {
    let stemmer = rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English);
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\'').to_lowercase())
        // "what's" is "whats"; "don't" is "dont"; a possessive's "s" goes.
        .map(|w| w.strip_suffix("'s").map(str::to_string).unwrap_or(w).replace('\'', ""))
        .filter(|w| !w.is_empty() && (w.chars().count() > 1 || w.chars().all(|c| c.is_numeric())))
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .map(|w| stemmer.stem(&w).into_owned())
        .collect()
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

/// How many sentences `text` has.
pub fn sentence_count(text: &str) -> usize {
    split_sentences(text).len()
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
                index.titles.push(terms(&a.title));
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

    /// Whether some passage uses `term` (a stem, as [`terms`] gives).
    pub fn knows(&self, term: &str) -> bool {
        self.document_frequency.contains_key(term)
    }

    pub fn is_empty(&self) -> bool {
        self.passages.is_empty()
    }

    /// The passage that best answers `question`, if it covers enough of it to be an answer.
    ///
    /// A question's words the knowledge never uses are either what it is really about (an
    /// off-topic question shares a word or two with the knowledge by chance) or the asker's own
    /// phrasing ("how does voice *work*", "can I *cancel* my subscription"). So such a word
    /// weighs as much as the rarest word the knowledge does use (not more, or one of them
    /// outweighs every word the question shares with a passage), and a passage answers when
    /// either
    /// - it holds more than half of the question's information so weighed, or
    /// - the question names the passage's title (its topic), the passage holds at least half of
    ///   the information of the question's known words, and at most one word is unknown.
    pub fn best(&self, question: &str) -> Option<Hit<'_>> {
        self.top(question, 1).into_iter().next().filter(|hit| {
            hit.coverage > MIN_COVERAGE
                || (hit.names_title && hit.known_coverage >= MIN_COVERAGE && hit.unknown_words <= 1)
        })
    }

    /// The `k` best passages for `question`, best first (only passages that share a
    /// meaningful word with it).
    pub fn top(&self, question: &str, k: usize) -> Vec<Hit<'_>> {
        let mut hits = self.scores(question);
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(k);
        hits
    }

    /// How informative `term` is: BM25's IDF, where a word no passage uses weighs as a word
    /// one passage uses (see [`KnowledgeIndex::best`]).
    fn idf(&self, term: &str) -> f64 {
        let n = self.passages.len() as f64;
        let df = self.document_frequency.get(term).copied().unwrap_or(1) as f64;
        ((n - df + 0.5) / (df + 0.5) + 1.0).ln()
    }

    fn scores(&self, question: &str) -> Vec<Hit<'_>> {
        let mut query = terms(question);
        query.sort();
        query.dedup();
        let weights: Vec<f64> = query.iter().map(|t| self.idf(t)).collect();
        let total: f64 = weights.iter().sum();
        let known_total: f64 =
            query.iter().zip(&weights).filter(|(t, _)| self.knows(t)).map(|(_, w)| w).sum();
        let unknown_words = query.iter().filter(|t| !self.knows(t)).count();
        let mut hits = Vec::new();
        for (i, counts) in self.terms.iter().enumerate() {
            let length_norm = 1.0 - B + B * self.lengths[i] as f64 / self.average_length.max(1.0);
            let (mut score, mut covered) = (0.0, 0.0);
            for (term, idf) in query.iter().zip(&weights) {
                let Some(&tf) = counts.get(term) else { continue };
                let tf = tf as f64;
                score += idf * tf * (K1 + 1.0) / (tf + K1 * length_norm);
                covered += idf;
            }
            if score > 0.0 {
                hits.push(Hit {
                    passage: &self.passages[i],
                    score,
                    coverage: covered / total,
                    known_coverage: covered / known_total,
                    names_title: self.titles[i].iter().any(|t| query.contains(t)),
                    unknown_words,
                });
            }
        }
        hits
    }

    /// The sentence of `passage` that covers most of `question` (the first of equals).
    pub fn best_sentence<'p>(&self, passage: &'p Passage, question: &str) -> &'p str {
        let query = terms(question);
        let mut best = (f64::MIN, passage.text.as_str());
        for sentence in split_sentences(&passage.text) {
            let words = terms(sentence);
            let weight: f64 = query.iter().filter(|q| words.contains(q)).map(|q| self.idf(q)).sum::<f64>();
            if weight > best.0 {
                best = (weight, sentence);
            }
        }
        best.1
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
        let hit = index.best("Are returns free?").expect("a hit");
        assert_eq!(hit.passage.title, "Returns");
    }

    #[test]
    fn a_question_about_nothing_here_has_no_hit() {
        assert_eq!(index().best("What is the capital of Peru?"), None);
        assert_eq!(index().best("what is it?"), None, "stopwords alone match nothing");
        assert_eq!(index().best("How much does it cost per month?"), None);
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
        assert_eq!(terms("pricing prices"), vec!["price", "price"]);
        assert_eq!(terms("What's the customer's 30-day policy?"), vec!["custom", "30", "day", "polici"]);
    }

    #[test]
    fn one_weak_shared_word_is_not_an_answer() {
        let index = index();
        // "cost" meets "costs", but "month" is nowhere: half the question is unanswered.
        assert_eq!(index.best("How much does it cost per month?"), None);
        assert!(index.best("How much does express shipping cost?").is_some());
    }

    #[test]
    fn a_question_naming_a_title_may_add_one_word_of_its_own() {
        let index = KnowledgeIndex::build(&[
            attachment("Voice", "Voice runs over WebRTC. The voice answers in speech."),
            attachment("Origins", "Each widget lists the origins allowed to embed it."),
            attachment("Text", "Typed messages stream the answer word by word."),
        ]);
        // "work" is nowhere in the knowledge; "voice" names a title.
        assert_eq!(index.best("How does voice work?").map(|h| &h.passage.title[..]), Some("Voice"));
        // Two words of its own: what it asks about is not here.
        assert_eq!(index.best("What does Darth Vader's voice sound like?"), None);
        // One word of its own, but no title named: "run" is shared by chance.
        assert_eq!(index.best("Can I run it on Windows?"), None);
    }
}
