//! What a talking agent said, as the visitor heard it. An answer is spoken as several
//! utterances (a sentence each); the transcript keeps the words that were played, so an answer
//! the visitor interrupted is stored cut where they stopped hearing it.

use crate::talk::SPEAK_RATE;

/// How much of an utterance was played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    Not,
    /// Stopped after this many milliseconds.
    Partly(u32),
    Fully,
}

#[derive(Debug, Clone)]
struct Utterance {
    item: u64,
    text: String,
    /// Samples queued at the speaking rate.
    samples: u64,
    heard: Heard,
}

/// One answer: its utterances in the order they were queued.
#[derive(Debug, Clone, Default)]
pub struct SpokenAnswer {
    utterances: Vec<Utterance>,
}

impl SpokenAnswer {
    pub fn new() -> SpokenAnswer {
        SpokenAnswer::default()
    }

    fn utterance(&mut self, item: u64) -> &mut Utterance {
        let at = match self.utterances.iter().position(|u| u.item == item) {
            Some(at) => at,
            None => {
                self.utterances.push(Utterance { item, text: String::new(), samples: 0, heard: Heard::Not });
                self.utterances.len() - 1
            }
        };
        &mut self.utterances[at]
    }

    /// Whether `item` is one of this answer's utterances.
    pub fn has(&self, item: u64) -> bool {
        self.utterances.iter().any(|u| u.item == item)
    }

    /// More words of utterance `item`, as they come (a streamed transcript's deltas join
    /// as they are).
    pub fn add_text(&mut self, item: u64, text: &str) {
        self.utterance(item).text.push_str(text);
    }

    /// Audio of utterance `item` was queued: `samples` at the speaking rate.
    pub fn add_audio(&mut self, item: u64, samples: usize) {
        self.utterance(item).samples += samples as u64;
    }

    /// Utterance `item` played to its end.
    pub fn finished(&mut self, item: u64) {
        self.utterance(item).heard = Heard::Fully;
    }

    /// Utterance `item` was stopped after `played_ms`; nothing after it will be heard.
    pub fn stopped(&mut self, item: u64, played_ms: u32) {
        self.utterance(item).heard = Heard::Partly(played_ms);
    }

    /// The words of utterance `item` so far.
    pub fn text_of(&self, item: u64) -> &str {
        self.utterances.iter().find(|u| u.item == item).map_or("", |u| u.text.as_str())
    }

    /// Everything the answer meant to say.
    pub fn text(&self) -> String {
        join(self.utterances.iter().map(|u| u.text.trim()))
    }

    /// Whether every utterance was heard to its end.
    pub fn fully_heard(&self) -> bool {
        self.utterances.iter().all(|u| u.heard == Heard::Fully)
    }

    /// Whether nothing queued is still to play: every utterance with audio played or stopped.
    pub fn played_out(&self) -> bool {
        self.utterances.iter().all(|u| u.samples == 0 || u.heard != Heard::Not)
    }

    /// The words the visitor heard: whole utterances that played, then the share of the
    /// stopped one's words that its played time covers.
    pub fn heard(&self) -> String {
        join(self.utterances.iter().map(|u| match u.heard {
            Heard::Fully => u.text.trim(),
            Heard::Not => "",
            Heard::Partly(ms) => {
                let total_ms = u.samples * 1000 / u64::from(SPEAK_RATE);
                let words: Vec<(usize, &str)> = word_ends(&u.text);
                if total_ms == 0 || words.is_empty() {
                    return "";
                }
                let share = (words.len() as u64 * u64::from(ms) / total_ms) as usize;
                match share.min(words.len()) {
                    0 => "",
                    n => u.text[..words[n - 1].0].trim(),
                }
            }
        }))
    }
}

/// Each word with the byte index just past it.
fn word_ends(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push((i, &text[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((text.len(), &text[s..]));
    }
    out
}

fn join<'a>(parts: impl Iterator<Item = &'a str>) -> String {
    parts.filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: usize = SPEAK_RATE as usize;

    #[test]
    fn an_interrupted_answer_keeps_the_words_that_played() {
        let mut a = SpokenAnswer::new();
        a.add_text(1, "We ship within three days.");
        a.add_audio(1, 2 * SECOND);
        a.add_text(2, "Express delivery costs nine euros and arrives tomorrow.");
        a.add_audio(2, 4 * SECOND);
        a.add_text(3, "Orders over fifty euros ship free.");
        a.finished(1);
        a.stopped(2, 2000);
        assert_eq!(a.heard(), "We ship within three days. Express delivery costs nine");
        assert_eq!(
            a.text(),
            "We ship within three days. Express delivery costs nine euros and arrives tomorrow. Orders over fifty euros ship free."
        );
        assert!(!a.fully_heard());
    }

    #[test]
    fn an_answer_played_to_its_end_is_heard_whole() {
        let mut a = SpokenAnswer::new();
        a.add_text(7, "Hello!");
        a.add_audio(7, SECOND / 2);
        a.finished(7);
        assert!(a.fully_heard());
        assert_eq!(a.heard(), "Hello!");
        let mut cut = SpokenAnswer::new();
        cut.add_text(8, "Stopped before a word played.");
        cut.add_audio(8, SECOND);
        cut.stopped(8, 20);
        assert_eq!(cut.heard(), "");
    }
}
