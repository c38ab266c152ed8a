//! Fixed lines (the fallback line, the idle prompt) kept as audio once synthesised, per voice:
//! said again without a provider round trip, and the fallback line can still be said when the
//! speech provider itself is what failed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Most lines kept (a few per agent voice).
const MAX_LINES: usize = 1024;

/// Audio of fixed lines, by voice and text.
#[derive(Default)]
pub struct SpokenLines {
    lines: Mutex<Lines>,
}

#[derive(Default)]
struct Lines {
    audio: HashMap<(String, String), Arc<[i16]>>,
    /// Lines being synthesised ahead of need, so a burst of calls asks once.
    pending: HashSet<(String, String)>,
}

impl SpokenLines {
    pub fn get(&self, voice: &str, text: &str) -> Option<Arc<[i16]>> {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.audio.get(&(voice.to_string(), text.to_string())).cloned()
    }

    pub fn put(&self, voice: &str, text: &str, audio: Arc<[i16]>) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let key = (voice.to_string(), text.to_string());
        lines.pending.remove(&key);
        if lines.audio.len() >= MAX_LINES {
            lines.audio.clear();
        }
        lines.audio.insert(key, audio);
    }

    /// Whether the caller should synthesise this line ahead of need: not kept, and nobody is
    /// on it. A caller told yes must end with [`SpokenLines::put`] or [`SpokenLines::abandon`].
    pub fn claim(&self, voice: &str, text: &str) -> bool {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let key = (voice.to_string(), text.to_string());
        !lines.audio.contains_key(&key) && lines.pending.insert(key)
    }

    pub fn abandon(&self, voice: &str, text: &str) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.pending.remove(&(voice.to_string(), text.to_string()));
    }
}
