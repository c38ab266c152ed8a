//! Talking over the agent: an interruption, a backchannel, or nothing at all.
//!
//! A visitor who talks over the agent for `interrupt_min_ms` may be interrupting, or may be
//! saying "uh-huh", or coughing. The call cannot tell until it has heard the words, so the agent
//! is held (its playout pauses at once, its answer goes on coming) while the visitor's speech is
//! recognised. Words that are more than a backchannel interrupt: the held answer is cut where it
//! paused and the words are answered. A backchannel, or nothing the recogniser accepts within
//! `false_interruption_ms`, resumes the agent at the very sample it paused at (LiveKit's
//! "resume after false interruption"). Speech too brief to interrupt is heard out too, and kept
//! as a backchannel line if it was words.

use std::collections::BTreeSet;
use std::time::Instant;

/// What the visitor's words over the agent turn out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overheard {
    /// Nothing the recogniser accepts: a cough, a door, a breath.
    Nothing,
    /// "Uh-huh", "yeah", "okay", "right", "mm-hmm": listening, not taking the floor.
    Backchannel,
    /// Words of their own: the visitor takes the floor.
    Interruption,
}

/// Words that, alone or two or three together ("oh okay", "yeah right"), only say the
/// visitor is listening.
const BACKCHANNEL_WORDS: &[&str] = &[
    "uh", "huh", "uhhuh", "mm", "mmhmm", "mhm", "hmm", "hm", "um", "yeah", "yes", "yep", "yup", "okay", "ok",
    "right", "sure", "alright", "oh", "ah", "aha", "i", "see", "got", "it", "cool", "nice", "great",
];

/// The longest run of words still heard as a backchannel.
const BACKCHANNEL_MAX_WORDS: usize = 3;

/// Whether `text`, recognised from the visitor's speech over the agent, interrupts it.
pub fn classify(text: &str) -> Overheard {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || (c.is_ascii_punctuation() && c != '-' && c != '\''))
        .map(|w| w.trim_matches(|c| c == '-' || c == '\''))
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return Overheard::Nothing;
    }
    // "uh-huh" and "mm-hmm" are one word with or without their hyphen.
    let listening = words.len() <= BACKCHANNEL_MAX_WORDS
        && words.iter().all(|w| {
            let joined = w.replace('-', "");
            BACKCHANNEL_WORDS.contains(&joined.as_str())
                || w.split('-').all(|part| BACKCHANNEL_WORDS.contains(&part))
        });
    if listening {
        Overheard::Backchannel
    } else {
        Overheard::Interruption
    }
}

/// The agent's answer, held while the visitor's speech over it is heard out.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Held {
    /// When the visitor's speech over the agent began.
    pub at: Instant,
    /// Past this, with nothing accepted and the visitor silent, the agent resumes.
    pub deadline: Instant,
    /// The deadline has passed: the agent resumes once the visitor is silent.
    pub expired: bool,
    /// Overlaps (`TalkEvent::OverlapEnded` ids) whose words are not back yet.
    pub hearing: BTreeSet<u64>,
    /// A backchannel was heard during the hold (it resumes as one, not as a false interruption).
    pub backchannel: bool,
}

/// What an overlap the agent was asked to hear out was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overlap {
    /// Speech too brief to interrupt (`TurnEvent::SpokeOver`): a backchannel line at most.
    Brief { started: Instant },
    /// Speech that held the agent: its words may interrupt.
    Held { started: Instant, ended: Instant },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backchannels_are_told_from_interruptions_and_from_nothing() {
        for said in [
            "uh-huh",
            "Uh huh.",
            "mm-hmm",
            "Mhm",
            "yeah",
            "Okay.",
            "right",
            "oh okay",
            "I see",
            "yeah, right",
        ] {
            assert_eq!(classify(said), Overheard::Backchannel, "{said}");
        }
        for said in ["", "  ", ".", "-"] {
            assert_eq!(classify(said), Overheard::Nothing, "{said:?}");
        }
        for said in [
            "wait",
            "no",
            "stop please",
            "yeah but what about Sunday",
            "okay okay okay okay",
            "right, cancel it",
        ] {
            assert_eq!(classify(said), Overheard::Interruption, "{said}");
        }
    }
}
