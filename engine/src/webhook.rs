//! Webhooks: endpoints a workspace registers to hear of its conversations, what each event is
//! called, when a failed delivery is tried again, and which addresses a delivery may reach.
//! Delivery itself (the outbox, signing, HTTP) is the actors' work; the rules are here.

use crate::spec::{self, SpecError, Validate};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::time::Duration;

/// Most endpoints of one workspace.
pub const MAX_ENDPOINTS: usize = 10;
/// How long an event is tried before it is given up, and how long an endpoint may fail
/// throughout before it is disabled.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// How long a rotated secret goes on signing beside the new one.
pub const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// What happened, as a webhook's `type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WebhookEvent {
    #[serde(rename = "conversation.started")]
    ConversationStarted,
    #[serde(rename = "conversation.ended")]
    ConversationEnded,
    #[serde(rename = "conversation.analyzed")]
    ConversationAnalyzed,
    #[serde(rename = "conversation.deleted")]
    ConversationDeleted,
    #[serde(rename = "call.started")]
    CallStarted,
    #[serde(rename = "call.ended")]
    CallEnded,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 6] = [
        WebhookEvent::ConversationStarted,
        WebhookEvent::ConversationEnded,
        WebhookEvent::ConversationAnalyzed,
        WebhookEvent::ConversationDeleted,
        WebhookEvent::CallStarted,
        WebhookEvent::CallEnded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::ConversationStarted => "conversation.started",
            WebhookEvent::ConversationEnded => "conversation.ended",
            WebhookEvent::ConversationAnalyzed => "conversation.analyzed",
            WebhookEvent::ConversationDeleted => "conversation.deleted",
            WebhookEvent::CallStarted => "call.started",
            WebhookEvent::CallEnded => "call.ended",
        }
    }

    pub fn parse(text: &str) -> Option<WebhookEvent> {
        WebhookEvent::ALL.into_iter().find(|e| e.as_str() == text)
    }
}

/// An endpoint as a workspace configures it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    pub url: String,
    pub events: Vec<WebhookEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Validate for WebhookSpec {
    fn validate(&self) -> Result<(), SpecError> {
        spec::url("url", &self.url, &["https", "http"])?;
        if self.events.is_empty() {
            return Err(SpecError::new(
                "events",
                format!(
                    "name at least one event: {}",
                    WebhookEvent::ALL.map(WebhookEvent::as_str).join(", ")
                ),
            ));
        }
        spec::opt_text("description", &self.description, 500)
    }
}

/// Why an endpoint's URL may not be delivered to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RefusedTarget(pub String);

impl WebhookSpec {
    /// Checks the URL against the server's policy: `https` only, and no private, loopback or
    /// link-local address written in it, unless `allow_private` (`--allow-private-webhooks`).
    /// A host name is checked again when it is resolved, at each delivery.
    pub fn check_target(&self, allow_private: bool) -> Result<(), SpecError> {
        target_allowed(&self.url, allow_private).map_err(|e| SpecError::new("url", e.0))
    }
}

/// Whether `url` may be delivered to under the policy (see [`WebhookSpec::check_target`]).
pub fn target_allowed(url: &str, allow_private: bool) -> Result<(), RefusedTarget> {
    let parsed = url::Url::parse(url).map_err(|e| RefusedTarget(format!("{url:?} is not a URL ({e})")))?;
    if allow_private {
        return Ok(());
    }
    if parsed.scheme() != "https" {
        return Err(RefusedTarget(format!(
            "{url:?} must use https (http is allowed only with --allow-private-webhooks)"
        )));
    }
    let private = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => is_private(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_private(IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost") || d.ends_with(".localhost"),
        None => true,
    };
    if private {
        return Err(RefusedTarget(format!(
            "{url:?} is a private, loopback or link-local address (allowed only with --allow-private-webhooks)"
        )));
    }
    Ok(())
}

/// Whether deliveries must not reach `ip` without `--allow-private-webhooks`: loopback,
/// private (RFC 1918, unique local), link-local, unspecified, shared (CGNAT), multicast,
/// documentation and broadcast addresses, and IPv4 mapped into IPv6.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || (a == 100 && (64..128).contains(&b))
                || a == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// When the `attempt`th failed delivery (1 for the first failure) is tried again, before
/// jitter: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, then every 6 h until the day is
/// out (about 24 h in all, as the README's schedule says). `scale` shortens it for tests.
pub fn retry_delay(attempt: u32, scale: f64) -> Duration {
    const SCHEDULE: [u64; 8] = [5, 30, 120, 600, 1800, 3600, 7200, 14_400];
    let seconds = SCHEDULE.get(attempt.saturating_sub(1) as usize).copied().unwrap_or(21_600);
    Duration::from_secs_f64(seconds as f64 * scale.max(0.0))
}

/// `delay` spread by `jitter` in `[-1, 1]` over ±20 %, so endpoints that failed together are
/// not all tried again at once.
pub fn with_jitter(delay: Duration, jitter: f64) -> Duration {
    delay.mul_f64(1.0 + 0.2 * jitter.clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_keep_their_names() {
        for e in WebhookEvent::ALL {
            assert_eq!(WebhookEvent::parse(e.as_str()), Some(e));
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
    }

    #[test]
    fn private_targets_are_refused_without_the_flag() {
        for url in [
            "http://example.com/hook",
            "https://127.0.0.1/hook",
            "https://10.1.2.3/hook",
            "https://192.168.1.1/hook",
            "https://169.254.169.254/latest",
            "https://[::1]/hook",
            "https://[fd00::1]/hook",
            "https://[::ffff:10.0.0.1]/hook",
            "https://localhost:8443/hook",
            "https://100.64.0.1/hook",
        ] {
            assert!(target_allowed(url, false).is_err(), "{url}");
            assert!(target_allowed(url, true).is_ok(), "{url}");
        }
        assert!(target_allowed("https://hooks.example.com/voxgate", false).is_ok());
        assert!(target_allowed("https://8.8.8.8/x", false).is_ok());
    }

    #[test]
    fn retries_back_off_for_about_a_day() {
        assert_eq!(retry_delay(1, 1.0), Duration::from_secs(5));
        assert_eq!(retry_delay(2, 1.0), Duration::from_secs(30));
        assert_eq!(retry_delay(9, 1.0), Duration::from_secs(21_600));
        assert_eq!(retry_delay(1, 0.01), Duration::from_millis(50));
        let mut total = Duration::ZERO;
        let mut attempt = 1;
        while total < GIVE_UP_AFTER {
            total += retry_delay(attempt, 1.0);
            attempt += 1;
        }
        assert!((10..=13).contains(&attempt), "{attempt} attempts in a day");
        assert_eq!(with_jitter(Duration::from_secs(10), 1.0), Duration::from_secs(12));
        assert_eq!(with_jitter(Duration::from_secs(10), -5.0), Duration::from_secs(8));
    }

    #[test]
    fn a_spec_needs_events() {
        let spec = WebhookSpec { url: "https://a.example/x".into(), events: vec![], description: None };
        assert_eq!(spec.validate().unwrap_err().field, "events");
    }
}
