//! Metering arithmetic: voice is billed per started minute of connected media, text per
//! visitor message. Pure functions of durations so the meter supervisor and the tests agree.

/// How many metered minutes `connected_ms` of media has started (0 ms is 0; 1 ms is 1).
pub fn started_minutes(connected_ms: u64, minute_ms: u64) -> u64 {
    if minute_ms == 0 {
        return 0;
    }
    connected_ms.div_ceil(minute_ms)
}

/// Milliseconds after connect at which minute number `n` (1-based) starts.
pub fn minute_start_offset(n: u64, minute_ms: u64) -> u64 {
    n.saturating_sub(1).saturating_mul(minute_ms)
}

/// Whether one more unit fits under `limit` given `used` (None means unlimited).
pub fn fits(used: u64, limit: Option<u64>) -> bool {
    limit.is_none_or(|l| used < l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_minutes_rounds_up() {
        assert_eq!(started_minutes(0, 60_000), 0);
        assert_eq!(started_minutes(1, 60_000), 1);
        assert_eq!(started_minutes(60_000, 60_000), 1);
        assert_eq!(started_minutes(60_001, 60_000), 2);
        assert_eq!(minute_start_offset(1, 60_000), 0);
        assert_eq!(minute_start_offset(3, 100), 200);
    }

    #[test]
    fn limits() {
        assert!(fits(0, Some(1)));
        assert!(!fits(1, Some(1)));
        assert!(fits(1_000_000, None));
    }
}
