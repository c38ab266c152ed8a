//! Request rate limits: per client address on browser endpoints and sign-in, per session on
//! messages, offers and trickles, per workspace key on the control plane, and per widget on the
//! sessions created (a widget's own setting: a bot hammering a site's session route is that
//! site's exposure). GCRA limiters from governor; idle keys are pruned, so memory stays bounded
//! however many distinct addresses arrive.

use crate::metrics::Metrics;
use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use voxgate_engine::ids::{KeyId, SessionId, WidgetId};
pub use voxgate_engine::limit::LimitKind;
use voxgate_engine::widget::Widget;

/// Keys a limiter holds before it drops idle ones (those whose quota has fully come back); what
/// remains is the keys active within one window.
const PRUNE_ABOVE: usize = 10_000;

/// A limiter keyed by `K`, pruning keys that have gone idle once it holds many.
pub struct KeyedLimiter<K: Hash + Eq + Clone, C: Clock + Clone = DefaultClock> {
    limiter: RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<C::Instant>>,
    clock: C,
    checks: AtomicUsize,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// `n` per `window`, up to `n` at once.
    pub fn new(n: NonZeroU32, window: Duration) -> Self {
        KeyedLimiter::with_clock(n, window, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> KeyedLimiter<K, C> {
    pub fn with_clock(n: NonZeroU32, window: Duration, clock: C) -> Self {
        let period = (window / n.get()).max(Duration::from_micros(1));
        let quota = Quota::with_period(period).unwrap_or_else(|| Quota::per_second(n)).allow_burst(n);
        KeyedLimiter {
            limiter: RateLimiter::dashmap_with_clock(quota, clock.clone()),
            clock,
            checks: AtomicUsize::new(0),
        }
    }

    /// Takes one unit for `key`; when none is left, how long until one is.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed).is_multiple_of(1024)
            && self.limiter.len() > PRUNE_ABOVE
        {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(key).map(|_| ()).map_err(|n| n.wait_time_from(self.clock.now()))
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

/// A request refused by a limit, and when to try again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}; try again in {} s", describe(*kind), retry_after.as_secs().max(1))]
pub struct RateLimited {
    pub kind: LimitKind,
    pub retry_after: Duration,
}

fn describe(kind: LimitKind) -> &'static str {
    match kind {
        LimitKind::Address => "too many requests from this address",
        LimitKind::Messages => "too many messages in this session",
        LimitKind::Offers => "too many call offers in this session",
        LimitKind::Trickles => "too many ICE candidate updates in this call",
        LimitKind::Key => "too many requests with this workspace key",
        LimitKind::WidgetSessions => "this widget's sessions_per_minute is spent",
    }
}

/// Per-minute limits; `None` turns one off.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitPolicy {
    pub per_address: Option<NonZeroU32>,
    pub messages_per_session: Option<NonZeroU32>,
    pub offers_per_session: Option<NonZeroU32>,
    pub trickles_per_session: Option<NonZeroU32>,
    pub per_key: Option<NonZeroU32>,
}

impl Default for RateLimitPolicy {
    /// Generous: well above what a person or a well-behaved backend does.
    fn default() -> Self {
        let n = |v: u32| NonZeroU32::new(v);
        RateLimitPolicy {
            per_address: n(1200),
            messages_per_session: n(30),
            offers_per_session: n(10),
            trickles_per_session: n(600),
            per_key: n(6000),
        }
    }
}

const MINUTE: Duration = Duration::from_secs(60);

/// Every limit of the node.
pub struct RateLimits {
    addresses: Option<KeyedLimiter<IpAddr>>,
    messages: Option<KeyedLimiter<SessionId>>,
    offers: Option<KeyedLimiter<SessionId>>,
    trickles: Option<KeyedLimiter<SessionId>>,
    keys: Option<KeyedLimiter<KeyId>>,
    /// Each widget's limiter, made again when its `sessions_per_minute` changes.
    widgets: DashMap<WidgetId, (u32, Arc<DefaultDirectRateLimiter>)>,
    metrics: Arc<Metrics>,
}

impl RateLimits {
    pub fn new(policy: RateLimitPolicy, metrics: Arc<Metrics>) -> Self {
        fn keyed<K: Hash + Eq + Clone>(n: Option<NonZeroU32>) -> Option<KeyedLimiter<K>> {
            n.map(|n| KeyedLimiter::new(n, MINUTE))
        }
        RateLimits {
            addresses: keyed(policy.per_address),
            messages: keyed(policy.messages_per_session),
            offers: keyed(policy.offers_per_session),
            trickles: keyed(policy.trickles_per_session),
            keys: keyed(policy.per_key),
            widgets: DashMap::new(),
            metrics,
        }
    }

    fn refuse(&self, kind: LimitKind, retry_after: Duration) -> RateLimited {
        self.metrics.rate_limited(kind);
        RateLimited { kind, retry_after }
    }

    fn take<K: Hash + Eq + Clone>(
        &self,
        limiter: &Option<KeyedLimiter<K>>,
        key: &K,
        kind: LimitKind,
    ) -> Result<(), RateLimited> {
        match limiter {
            Some(l) => l.check(key).map_err(|wait| self.refuse(kind, wait)),
            None => Ok(()),
        }
    }

    /// A browser request, or a sign-in, from `address`.
    pub fn address(&self, address: IpAddr) -> Result<(), RateLimited> {
        self.take(&self.addresses, &address, LimitKind::Address)
    }

    /// A visitor's message in `session`.
    pub fn message(&self, session: &SessionId) -> Result<(), RateLimited> {
        self.take(&self.messages, session, LimitKind::Messages)
    }

    /// A call offer in `session`.
    pub fn offer(&self, session: &SessionId) -> Result<(), RateLimited> {
        self.take(&self.offers, session, LimitKind::Offers)
    }

    /// A trickled candidate update in `session`.
    pub fn trickle(&self, session: &SessionId) -> Result<(), RateLimited> {
        self.take(&self.trickles, session, LimitKind::Trickles)
    }

    /// A control-plane request with `key`.
    pub fn key(&self, key: &KeyId) -> Result<(), RateLimited> {
        self.take(&self.keys, key, LimitKind::Key)
    }

    /// A session created for `widget`, against the widget's own `sessions_per_minute`.
    pub fn widget_session(&self, widget: &Widget) -> Result<(), RateLimited> {
        let per_minute = widget.spec.sessions_per_minute;
        let Some(n) = NonZeroU32::new(per_minute) else { return Ok(()) };
        let limiter = {
            let mut entry = self
                .widgets
                .entry(widget.id.clone())
                .or_insert_with(|| (per_minute, Arc::new(RateLimiter::direct(Quota::per_minute(n)))));
            if entry.0 != per_minute {
                *entry = (per_minute, Arc::new(RateLimiter::direct(Quota::per_minute(n))));
            }
            entry.1.clone()
        };
        limiter.check().map_err(|not_until| {
            self.refuse(LimitKind::WidgetSessions, not_until.wait_time_from(DefaultClock::default().now()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn a_key_gets_its_quota_then_waits() {
        let clock = FakeRelativeClock::default();
        let l = KeyedLimiter::with_clock(NonZeroU32::new(3).unwrap(), MINUTE, clock.clone());
        for _ in 0..3 {
            assert_eq!(l.check(&"a"), Ok(()));
        }
        let wait = l.check(&"a").unwrap_err();
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20), "{wait:?}");
        assert_eq!(l.check(&"b"), Ok(()), "keys are apart");
        clock.advance(Duration::from_secs(20));
        assert_eq!(l.check(&"a"), Ok(()));
    }

    #[test]
    fn many_distinct_addresses_do_not_grow_memory_without_end() {
        let clock = FakeRelativeClock::default();
        let l = KeyedLimiter::with_clock(NonZeroU32::new(60).unwrap(), MINUTE, clock.clone());
        for round in 0..5u32 {
            for i in 0..20_000u32 {
                let ip = IpAddr::from((round * 20_000 + i).to_be_bytes());
                let _ = l.check(&ip);
            }
            // A minute later every address has its whole quota back: idle, and prunable.
            clock.advance(MINUTE);
        }
        // What stays is the addresses active within one window (here the last round's 20,000),
        // not every address ever seen.
        assert!(l.len() <= 20_000 + 1024, "held {} keys after 100,000 addresses", l.len());
    }
}
