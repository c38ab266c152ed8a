//! Failed sign-in attempts per key (an account, a client address), in a sliding window: only a
//! failure counts, so a user who signs in ten times a day is never locked out, while a guesser
//! gets `limit` tries per window. A success clears the account's failures. Time is passed in.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Keys held before idle ones (no failure left in the window) are dropped.
const PRUNE_ABOVE: usize = 10_000;

/// The failures of each key within the last `window`, at most `limit` of them.
#[derive(Debug)]
pub struct FailedAttempts<K> {
    limit: usize,
    window: Duration,
    failures: HashMap<K, VecDeque<Instant>>,
}

impl<K: Hash + Eq + Clone> FailedAttempts<K> {
    /// `limit` failures per `window` (a limit of 0 counts as 1).
    pub fn new(limit: usize, window: Duration) -> Self {
        FailedAttempts { limit: limit.max(1), window, failures: HashMap::new() }
    }

    /// `Ok` while `key` has failed fewer than `limit` times in the window ending `now`;
    /// otherwise how long until its oldest failure leaves the window.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let Some(times) = self.failures.get(key) else { return Ok(()) };
        let recent: Vec<&Instant> = times.iter().filter(|t| now.duration_since(**t) < self.window).collect();
        match recent.first() {
            Some(oldest) if recent.len() >= self.limit => Err(self.window - now.duration_since(**oldest)),
            _ => Ok(()),
        }
    }

    /// Counts one failure of `key` at `now`.
    pub fn fail(&mut self, key: &K, now: Instant) {
        if self.failures.len() > PRUNE_ABOVE {
            let window = self.window;
            self.failures.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let times = self.failures.entry(key.clone()).or_default();
        while times.front().is_some_and(|t| now.duration_since(*t) >= self.window)
            || times.len() >= self.limit
        {
            times.pop_front();
        }
        times.push_back(now);
    }

    /// Forgets `key`'s failures (a success).
    pub fn clear(&mut self, key: &K) {
        self.failures.remove(key);
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.failures.len()
    }

    pub fn is_empty(&self) -> bool {
        self.failures.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn only_failures_count_and_a_success_clears_them() {
        let start = Instant::now();
        let mut f = FailedAttempts::new(3, MINUTE);
        for i in 0..3 {
            assert_eq!(f.check(&"ana", start), Ok(()), "attempt {i}");
            f.fail(&"ana", start + Duration::from_secs(i));
        }
        // Three failures at 0, 1 and 2 s: refused until the first leaves the window at 60 s.
        assert_eq!(f.check(&"ana", start + Duration::from_secs(10)), Err(Duration::from_secs(50)));
        assert_eq!(f.check(&"bob", start + Duration::from_secs(10)), Ok(()), "keys are apart");
        assert_eq!(f.check(&"ana", start + MINUTE), Ok(()), "the oldest failure has left the window");
        f.clear(&"ana");
        assert_eq!(f.check(&"ana", start + Duration::from_secs(10)), Ok(()));
        assert!(f.is_empty());
    }

    #[test]
    fn a_key_holds_at_most_limit_failures() {
        let start = Instant::now();
        let mut f = FailedAttempts::new(2, MINUTE);
        for i in 0..100 {
            f.fail(&1, start + Duration::from_millis(i));
        }
        assert_eq!(f.failures[&1].len(), 2);
        // The newest two count: refused until 60.098 s.
        assert_eq!(f.check(&1, start + MINUTE), Err(Duration::from_millis(98)));
    }

    #[test]
    fn idle_keys_are_pruned_once_many() {
        let start = Instant::now();
        let mut f = FailedAttempts::new(1, MINUTE);
        for key in 0..=PRUNE_ABOVE {
            f.fail(&key, start);
        }
        f.fail(&usize::MAX, start + 2 * MINUTE);
        assert_eq!(f.len(), 1);
    }
}
