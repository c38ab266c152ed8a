//! Wall-clock time as the server writes it, for tests that compare a recorded moment (an
//! `ended_at`, an `expires_at`) with one the test saw: what the server recorded is measured,
//! not how long the test took to look.

use std::time::{Instant, SystemTime, UNIX_EPOCH};
use voxgate_engine::Timestamp;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Milliseconds since the Unix epoch at `at`, a moment the test took with `Instant::now()`.
pub fn unix_ms(at: Instant) -> i64 {
    now_ms() - Instant::now().saturating_duration_since(at).as_millis() as i64
}

/// Milliseconds since the Unix epoch of an RFC 3339 time as the server writes it, read by the
/// server's own parser (`Timestamp::parse`).
pub fn rfc3339_ms(t: &str) -> i64 {
    Timestamp::parse(t).unwrap_or_else(|| panic!("not an RFC 3339 time: {t}")).millis()
}

#[cfg(test)]
mod tests {
    use super::rfc3339_ms;

    #[test]
    fn rfc3339_times_become_unix_milliseconds() {
        assert_eq!(rfc3339_ms("1970-01-01T00:00:00Z"), 0);
        assert_eq!(rfc3339_ms("2026-11-30T20:24:08.5Z"), 1_796_070_248_500);
        assert_eq!(rfc3339_ms("2000-02-29T23:59:59.999Z"), 951_868_799_999);
    }
}
