//! Whether the visitor's words so far end a sentence: the words half of semantic end of turn.
//!
//! An audio model hears how the visitor said it; the words say whether it is done: "I need help
//! with my" is not, whatever the voice did. This scores the last word by how often a sentence
//! ends after it in English: the probability of the end of the sentence after that word, from
//! the bigrams of a 3-gram language model (CMU Sphinx's US English model, which ships in PyPI's
//! `pocketsphinx`; `need_turn_model` writes its table). A table of about 50,000 words, a lookup
//! per pause.

use std::collections::HashMap;

/// The end-of-sentence score at which the words count as even odds (so `eagerness` `medium`
/// ends a turn above it), in the table's units. Set on bench/turn-holds.json (the only set we
/// have, so it is tuned on what it is measured on): after a hold's first part a sentence's end
/// scores at most -16,325, after a whole sentence mostly above -16,000.
const EVEN: f32 = -16_700.0;

/// How sharply the score turns into a probability around `EVEN` (table units per e-fold):
/// `eagerness` `low` (0.7) then needs -16,100, `high` (0.3) -17,300.
const SPREAD: f32 = 700.0;

/// The end-of-sentence log-probability after each word, and for any other word, in
/// PocketSphinx's units (log base 1.0001: -23,026 is 0.1).
#[derive(Debug, Clone, PartialEq)]
pub struct SentenceEnds {
    after: HashMap<String, f32>,
    unknown: f32,
}

/// What is wrong with a table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sentence-end table line {line}: {reason}")]
pub struct SentenceEndsError {
    pub line: usize,
    pub reason: &'static str,
}

impl SentenceEnds {
    /// Reads `word<TAB>log-probability` lines; the line for `<unk>` is the score of any word not
    /// listed (required).
    pub fn parse(table: &str) -> Result<SentenceEnds, SentenceEndsError> {
        let mut after = HashMap::new();
        for (i, line) in table.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let error = |reason| SentenceEndsError { line: i + 1, reason };
            let (word, score) = line.split_once('\t').ok_or(error("no tab between word and score"))?;
            let score: f32 = score.trim().parse().map_err(|_| error("the score is not a number"))?;
            if !score.is_finite() || score > 0.0 {
                return Err(error("the score is not a log-probability"));
            }
            after.insert(word.to_string(), score);
        }
        let unknown = after.remove("<unk>").ok_or(SentenceEndsError { line: 0, reason: "no <unk> line" })?;
        Ok(SentenceEnds { after, unknown })
    }

    /// The probability, 0 to 1, that `words` (what the visitor has said so far in this turn)
    /// end a sentence; `None` with no words.
    pub fn finished(&self, words: &str) -> Option<f32> {
        let last = words
            .split_whitespace()
            .rev()
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'').to_lowercase())
            .find(|w| !w.is_empty())?;
        let score = self.after.get(&last).copied().unwrap_or(self.unknown);
        Some(1.0 / (1.0 + (-(score - EVEN) / SPREAD).exp()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "<unk>\t-25929\nweek\t-12162\nsaturday\t-13100\nmy\t-54220\nthe\t-46554\n";

    #[test]
    fn a_sentence_that_stops_on_my_or_the_is_not_finished_and_one_on_week_is() {
        let ends = SentenceEnds::parse(TABLE).unwrap();
        let p = |words: &str| ends.finished(words).unwrap();
        assert!(p("I need help with my order from last week.") > 0.9);
        assert!(p("An electric bike for Saturday") > 0.9);
        assert!(p("I need help with my") < 0.01);
        assert!(p("I'm calling about the") < 0.01);
        // A word the table does not know scores as the model's unknown word: not finished.
        assert!(p("I'd like to rent") < 0.01);
        assert_eq!(ends.finished("  ... "), None);
    }

    #[test]
    fn a_bad_table_names_its_line() {
        assert_eq!(SentenceEnds::parse("week -12162\n<unk>\t-1").unwrap_err().line, 1);
        assert_eq!(SentenceEnds::parse("week\t-1\nmy\tx").unwrap_err().line, 2);
        assert_eq!(SentenceEnds::parse("week\t5\n").unwrap_err().line, 1);
        assert_eq!(SentenceEnds::parse("week\t-5\n").unwrap_err().reason, "no <unk> line");
    }
}
