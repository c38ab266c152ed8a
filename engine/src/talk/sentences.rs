//! Cutting a streamed answer into sentences, so speech synthesis can start on the first one
//! while the rest is still being written. A sentence ends at `.`, `!`, `?` or `…` followed by
//! white space, or at a line break; decimals (`9.5`), common abbreviations (`e.g.`, `Dr.`) and
//! initials (`J. Smith`) do not end one.

/// Words that end in a period without ending the sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "approx", "no", "inc",
    "ltd", "co", "fig", "mt", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
    "dec",
];

/// A sentence shorter than this joins the next one (a lone "Sure." sounds clipped as its own
/// utterance, and costs a synthesis request of its own), unless it is the first: the first
/// sentence goes out as soon as it is complete, to start speaking early.
const MIN_CHARS: usize = 12;

/// Text pushed in pieces, sentences out.
#[derive(Debug, Default)]
pub struct Sentences {
    pending: String,
    /// Sentences handed out so far.
    emitted: usize,
}

impl Sentences {
    pub fn new() -> Sentences {
        Sentences::default()
    }

    /// Adds a piece of the answer; returns the sentences it completed, trimmed, in order.
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        self.pending.push_str(delta);
        let mut out = Vec::new();
        let mut from = 0;
        while let Some(end) = self.boundary(from) {
            let candidate = self.pending[..end].trim();
            let long_enough = self.emitted == 0 || candidate.chars().count() >= MIN_CHARS;
            if long_enough && !candidate.is_empty() {
                out.push(candidate.to_string());
                self.emitted += 1;
                self.pending.drain(..end);
                from = 0;
            } else {
                from = end;
            }
        }
        out
    }

    /// The answer is complete: whatever is left, if anything.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.pending);
        let rest = rest.trim();
        (!rest.is_empty()).then(|| {
            self.emitted += 1;
            rest.to_string()
        })
    }

    /// The byte index just past the first sentence end at or after `from`.
    fn boundary(&self, from: usize) -> Option<usize> {
        let text = &self.pending;
        let mut chars = text[from..].char_indices().map(|(i, c)| (i + from, c)).peekable();
        while let Some((i, c)) = chars.next() {
            if c == '\n' {
                return Some(i + 1);
            }
            if !matches!(c, '.' | '!' | '?' | '…') {
                continue;
            }
            // Closing quotes and brackets belong to the sentence they end.
            let mut end = i + c.len_utf8();
            while let Some(&(j, q)) = chars.peek() {
                if matches!(q, '"' | '\'' | ')' | '”' | '’' | '.' | '!' | '?') {
                    end = j + q.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            // Only white space after it ends a sentence; at the end of the text, wait for more.
            match chars.peek() {
                Some(&(_, next)) if next.is_whitespace() => {}
                _ => continue,
            }
            if c == '.' && self.is_abbreviation(i) {
                continue;
            }
            return Some(end);
        }
        None
    }

    /// Whether the period at `dot` ends an abbreviation or an initial rather than a sentence.
    fn is_abbreviation(&self, dot: usize) -> bool {
        let before = &self.pending[..dot];
        let word = before.rsplit(|c: char| c.is_whitespace() || c == '(').next().unwrap_or("");
        if word.chars().count() == 1 && word.chars().all(|c| c.is_uppercase()) {
            return true;
        }
        ABBREVIATIONS.contains(&word.to_lowercase().as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(pieces: &[&str]) -> Vec<String> {
        let mut s = Sentences::new();
        let mut out: Vec<String> = pieces.iter().flat_map(|p| s.push(p)).collect();
        out.extend(s.finish());
        out
    }

    #[test]
    fn sentences_come_out_as_soon_as_they_end() {
        let mut s = Sentences::new();
        assert!(s.push("Hello there.").is_empty(), "the period may be a decimal point until a space follows");
        assert_eq!(s.push(" How"), ["Hello there."]);
        assert_eq!(s.push(" can I help you today? I"), ["How can I help you today?"]);
        assert_eq!(s.finish().as_deref(), Some("I"));
    }

    #[test]
    fn decimals_abbreviations_and_initials_do_not_end_a_sentence() {
        assert_eq!(
            split(&[
                "Express costs 9.50 euros, e.g. for Dr. Smith and J. Doe. Orders over 50 euros ship free."
            ]),
            ["Express costs 9.50 euros, e.g. for Dr. Smith and J. Doe.", "Orders over 50 euros ship free."]
        );
    }

    #[test]
    fn short_sentences_after_the_first_join_the_next() {
        assert_eq!(
            split(&["Sure. Yes. Okay. We ship within three days!\n", "Thanks"]),
            ["Sure.", "Yes. Okay. We ship within three days!", "Thanks"]
        );
        assert_eq!(
            split(&["He said \"stop.\" Then he left the room."]),
            ["He said \"stop.\"", "Then he left the room."]
        );
    }
}
