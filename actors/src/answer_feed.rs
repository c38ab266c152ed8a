//! A text answer's events, kept while it streams and until the session's next message, so a
//! visitor whose stream dropped resumes it (`Last-Event-ID`) and gets the rest, none twice.
//! The answer writes; each stream reads from where it stands. An answer nobody reads for the
//! resume window is abandoned (the visitor left): it stops, recorded as interrupted.

use futures_util::Stream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use voxgate_engine::ids::MessageId;
use voxgate_engine::{ErrorCode, Timestamp};

/// What a visitor's message stream carries, in order: `MessageCreated`, any number of `Delta`s,
/// then `Completed` or `Error`.
#[derive(Debug, Clone, PartialEq)]
pub enum TextEvent {
    MessageCreated {
        message_id: MessageId,
        text: String,
        created_at: Timestamp,
    },
    Delta {
        text: String,
    },
    /// The whole answer, and the knowledge attachment it quotes, when it quotes one.
    Completed {
        message_id: MessageId,
        text: String,
        source: Option<String>,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
    /// A page action the agent asks the visitor's page to run; the page answers with a POST
    /// beside the messages URL.
    ToolCall {
        call_id: String,
        name: String,
        arguments: serde_json::Value,
        timeout_ms: u64,
    },
}

/// One answer's events so far.
pub struct AnswerFeed {
    answer: MessageId,
    state: Mutex<FeedState>,
    changed: Notify,
}

struct FeedState {
    events: Vec<TextEvent>,
    done: bool,
    readers: usize,
    /// Since when nobody has been reading (`None` while someone is).
    unread_since: Option<Instant>,
}

impl AnswerFeed {
    pub fn new(answer: MessageId) -> Arc<AnswerFeed> {
        let state =
            FeedState { events: Vec::new(), done: false, readers: 0, unread_since: Some(Instant::now()) };
        Arc::new(AnswerFeed { answer, state: Mutex::new(state), changed: Notify::new() })
    }

    /// The answer's message id: it names the feed in each event's id.
    pub fn answer(&self) -> &MessageId {
        &self.answer
    }

    fn state(&self) -> MutexGuard<'_, FeedState> {
        // A reader or writer that panicked left whole events behind: the state stays usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next event of the answer.
    pub fn push(&self, event: TextEvent) {
        self.state().events.push(event);
        self.changed.notify_waiters();
    }

    /// The answer is over: readers end once they have read everything.
    pub fn finish(&self) {
        self.state().done = true;
        self.changed.notify_waiters();
    }

    /// A reader of the events after the first `after` (0: all of them).
    pub fn read_from(self: &Arc<AnswerFeed>, after: usize) -> FeedReader {
        let mut state = self.state();
        state.readers += 1;
        state.unread_since = None;
        drop(state);
        self.changed.notify_waiters();
        FeedReader { feed: self.clone(), next: after }
    }

    /// Events written so far.
    pub fn len(&self) -> usize {
        self.state().events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves once nobody has been reading for `window` on end.
    pub async fn abandoned(&self, window: Duration) {
        loop {
            let changed = self.changed.notified();
            let Some(since) = self.state().unread_since else {
                changed.await;
                continue;
            };
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep_until(since + window) => {
                    if self.state().unread_since == Some(since) {
                        return;
                    }
                }
            }
        }
    }
}

/// One stream's place in a feed; reading ends with the answer.
pub struct FeedReader {
    feed: Arc<AnswerFeed>,
    next: usize,
}

impl FeedReader {
    /// The next event and its number (1 for the first), waiting for it; `None` once the answer
    /// is over and everything is read.
    pub async fn next(&mut self) -> Option<(usize, TextEvent)> {
        loop {
            let changed = self.feed.changed.notified();
            {
                let state = self.feed.state();
                if let Some(event) = state.events.get(self.next) {
                    self.next += 1;
                    return Some((self.next, event.clone()));
                }
                if state.done {
                    return None;
                }
            }
            changed.await;
        }
    }

    pub fn answer(&self) -> &MessageId {
        self.feed.answer()
    }

    /// The events as a stream.
    pub fn into_stream(self) -> impl Stream<Item = (usize, TextEvent)> {
        futures_util::stream::unfold(self, |mut reader| async move {
            let next = reader.next().await?;
            Some((next, reader))
        })
    }
}

impl Drop for FeedReader {
    fn drop(&mut self) {
        let mut state = self.feed.state();
        state.readers = state.readers.saturating_sub(1);
        if state.readers == 0 {
            state.unread_since = Some(Instant::now());
        }
        drop(state);
        self.feed.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(text: &str) -> TextEvent {
        TextEvent::Delta { text: text.into() }
    }

    #[tokio::test]
    async fn a_reader_from_the_middle_gets_the_rest_once_and_ends_with_the_answer() {
        let feed = AnswerFeed::new(MessageId::generate(&mut rand::rng()));
        let mut first = feed.read_from(0);
        feed.push(delta("a"));
        feed.push(delta("b"));
        assert_eq!(first.next().await, Some((1, delta("a"))));
        drop(first);
        let mut resumed = feed.read_from(1);
        feed.push(delta("c"));
        feed.finish();
        assert_eq!(resumed.next().await, Some((2, delta("b"))));
        assert_eq!(resumed.next().await, Some((3, delta("c"))));
        assert_eq!(resumed.next().await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_nobody_reads_for_the_window_is_abandoned_and_a_reader_holds_it() {
        let feed = AnswerFeed::new(MessageId::generate(&mut rand::rng()));
        let reader = feed.read_from(0);
        let window = Duration::from_secs(5);
        let abandoned = feed.abandoned(window);
        tokio::pin!(abandoned);
        // Read: never abandoned, however long.
        assert!(tokio::time::timeout(Duration::from_secs(60), &mut abandoned).await.is_err());
        drop(reader);
        // Nobody reading: abandoned once the window passes, not before, however much the
        // answer goes on writing meanwhile.
        let started = tokio::time::Instant::now();
        let writing = async {
            loop {
                tokio::time::sleep(Duration::from_millis(300)).await;
                feed.push(delta("more"));
            }
        };
        tokio::select! {
            _ = &mut abandoned => {}
            _ = writing => unreachable!(),
        }
        let waited = started.elapsed();
        assert!(waited >= window && waited < window + Duration::from_millis(100), "{waited:?}");
    }
}
